"""Colour bars: ground truth and predictions of one video as horizontal strips (PNG).

A fixed palette (matplotlib's tab20, then tab20b) gives class ``c`` the same colour in every plot of
a dataset; background classes are light grey. Under each prediction an error strip marks the
frames that disagree with the ground truth in black.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from svtas_ray.data.layout import ClassMap

BACKGROUND_COLOUR = (0.85, 0.85, 0.85)
DEFAULT_SUFFIX = ".png"


def image_formats() -> list[str]:
    """The file suffixes matplotlib writes (``.png``, ``.pdf``, ``.svg``, ...), sorted."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(f".{ext}" for ext in FigureCanvasBase.get_supported_filetypes())


def image_path(path: str | Path) -> Path:
    """The file :func:`colour_bars` writes for ``path``: ``path`` itself, or ``path.png`` when it
    has no suffix. A folder, or a suffix matplotlib cannot write, is one sentence naming ``path``.
    """
    from svtas_ray.errors import ConfigError, DataError

    given = Path(path)
    if given.is_dir():
        raise DataError(f"{given}: is a folder; name the image file (e.g. {given / 'bars.png'})")
    out = given if given.suffix else given.with_suffix(DEFAULT_SUFFIX)
    if out.is_dir():
        raise DataError(f"{out}: is a folder, so the image {given} (.png added) cannot be written")
    formats = image_formats()
    if out.suffix.lower() not in formats:
        raise ConfigError(
            f"{given}: cannot write a {out.suffix} image; the supported suffixes are "
            f"{', '.join(formats)}"
        )
    return out


def palette(num_classes: int, background: Sequence[int] = ()) -> np.ndarray:
    """RGB colours ``(C, 3)`` in [0, 1]: a fixed colour per class id, grey for background."""
    from matplotlib import colormaps

    base = np.concatenate([colormaps["tab20"](np.arange(20)), colormaps["tab20b"](np.arange(20))])
    base = base[:, :3]
    colours = np.array([base[c % len(base)] for c in range(num_classes)], dtype=float)
    for c in background:
        colours[c] = BACKGROUND_COLOUR
    return colours


def colour_bars(
    path: str | Path,
    gt: np.ndarray | None,
    predictions: Mapping[str, np.ndarray],
    classes: ClassMap,
    background: Sequence[int] = (),
    title: str = "",
) -> Path:
    """Write a PNG of ``gt`` (T,) and each prediction (T,) with its error strip and a legend.

    With ``gt=None`` (a video without labels) only the predictions are drawn, without error strips.
    The file is ``image_path(path)`` (another suffix picks another format); it is returned.
    """
    from svtas_ray.data.files import make_folder
    from svtas_ray.errors import DataError

    path = image_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    colours = palette(classes.num_classes, background)
    rows: list[tuple[str, np.ndarray]] = [] if gt is None else [("ground truth", colours[gt])]
    for name, pred in predictions.items():
        rows.append((name, colours[pred]))
        if gt is None:
            continue
        if len(pred) != len(gt):
            raise ValueError(f"prediction {name!r} has {len(pred)} frames, ground truth {len(gt)}")
        errors = np.where((pred != gt)[:, None], 0.0, 1.0) * np.ones(3)
        rows.append((f"{name} errors", errors))
    if not rows:
        raise ValueError("nothing to draw: no ground truth and no prediction")
    length = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 0.45 * len(rows) + 1.2), squeeze=False)
    for ax, (label, strip) in zip(axes[:, 0], rows, strict=True):
        ax.imshow(strip[None], aspect="auto", interpolation="nearest")
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    axes[-1, 0].set_xticks(np.linspace(0, length - 1, 6).round())
    axes[-1, 0].set_xlabel("frame")
    shown = ([] if gt is None else [gt]) + list(predictions.values())
    used = sorted(set().union(*(np.unique(x).tolist() for x in shown)))
    handles = [Patch(color=colours[c], label=classes.names[c]) for c in used]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(8, len(handles)),
        fontsize=7,
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    try:
        make_folder(path.parent, "image")
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the image ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
    return path
