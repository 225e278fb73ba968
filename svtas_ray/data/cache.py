"""Synthetic datasets generated once and reused (``make run``, experiments, benchmarks, tests)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from svtas_ray.config import SynthConfig, to_dict
from svtas_ray.errors import DataError

log = logging.getLogger(__name__)

MARKER = "synth.json"
"""Written last into a generated dataset: the exact settings it was made with."""


def ensure_synthetic(
    cfg: SynthConfig,
    out: str | Path,
    from_labels: str | Path | None = None,
    background: Sequence[str] = ("background",),
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Generate the dataset of ``cfg`` into ``out`` unless it is already there.

    A folder holding a dataset made with the same settings is reused. A non-empty folder holding
    anything else is an error unless ``overwrite`` (then it is deleted first). With
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
    if root.exists() and any(root.iterdir()):
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
    marker.write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n")
    return root


def _read_marker(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
