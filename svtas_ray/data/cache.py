"""Synthetic datasets generated once and reused (``make run``, experiments, benchmarks, tests)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from svtas_ray.config import SynthConfig, to_dict
from svtas_ray.data.layout import Dataset
from svtas_ray.errors import DataError

log = logging.getLogger(__name__)

MARKER = "synth.json"
"""Marks a folder as made by ``svtas-ray synth``: written first (``{"complete": false}``, so an
interrupted generation is still recognised) and rewritten last with the exact settings."""


def ensure_synthetic(
    cfg: SynthConfig,
    out: str | Path,
    from_labels: str | Path | None = None,
    background: Sequence[str] = ("background",),
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Generate the dataset of ``cfg`` into ``out`` unless it is already there.

    A folder holding a dataset made with the same settings is reused. A non-empty folder made by
    this tool with other settings (it holds :data:`MARKER`) is an error unless ``overwrite``
    (then it is deleted first); any other non-empty folder, or a file, is never touched. With
    ``from_labels`` the label sequences, mapping and splits of that dataset are kept (its
    background classes are ``background``) and only features/videos are synthesised.
    """
    from svtas_ray.data import synthetic

    root = Path(out)
    wanted = {"synth": to_dict(cfg), "from_labels": str(from_labels) if from_labels else None}
    marker = root / MARKER
    if marker.is_file() and _read_marker(marker) == wanted:
        log.info("reusing synthetic dataset %s", root)
        return root
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: is a file, not a folder; choose a folder for the dataset")
    if from_labels is not None:  # a bad source is refused before an old dataset is replaced
        src = Dataset.open(from_labels, background)
        synthetic.source_bundles(src, set(synthetic.source_labels(src)))
    if root.exists() and any(root.iterdir()):
        if not marker.is_file():
            raise DataError(
                f"{root}: folder is not empty and was not made by svtas-ray synth (no {MARKER}), "
                "so it is never replaced; choose another --out"
            )
        if overwrite and root.is_symlink():
            raise DataError(f"{root}: is a symbolic link, which is never replaced; remove it first")
        if not overwrite:
            raise DataError(
                f"{root}: folder is not empty and was not made with these settings; "
                "pass --overwrite or choose another --out"
            )
        shutil.rmtree(root)
    if from_labels is not None:
        synthetic.synthesize_from_labels(from_labels, cfg, root, background, progress=progress)
    else:
        synthetic.generate(cfg, root, progress=progress)
    marker.write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return root


def _read_marker(path: Path) -> object:
    """The settings in a marker; None when it is not JSON text (then it matches no settings)."""
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
