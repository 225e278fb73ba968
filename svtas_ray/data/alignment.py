"""The one rule that maps label frames to frames of a feature file or a video.

A source (feature file or video) of ``length`` frames serves labels of ``num_frames`` frames.
When the two differ, ``data.alignment`` decides: 'strict' refuses; 'crop' accepts a longer source
and ignores its trailing frames (never pads); 'resample' maps label frame t to source frame
``floor(t * length / num_frames)`` (a source at another frame rate).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from svtas_ray.config import Alignment
from svtas_ray.errors import DataError


def check_alignment(
    path: Path, what: str, length: int, num_frames: int, alignment: Alignment
) -> None:
    """Raise DataError (naming ``path``) when ``alignment`` does not accept the two lengths;
    ``what`` names the source in the sentence ('feature length', 'video frames')."""
    if length == num_frames:
        return
    if alignment == "strict":
        raise DataError(
            f"{path}: {what} {length} != label length {num_frames} "
            "(set data.alignment to 'crop' or 'resample' to accept it)"
        )
    if alignment == "crop" and length < num_frames:
        raise DataError(
            f"{path}: {what} {length} < label length {num_frames}; 'crop' only drops trailing "
            "frames, it never pads"
        )


def source_index(
    frames: np.ndarray, length: int, num_frames: int, alignment: Alignment
) -> np.ndarray:
    """Source frame indices ``(n,)`` for label frame indices ``frames (n,)``."""
    if alignment == "resample" and length != num_frames:
        return (frames.astype(np.int64) * length) // num_frames
    return frames


def aligned_index(
    path: Path, what: str, length: int, num_frames: int, alignment: Alignment
) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`source_index` for one source, after :func:`check_alignment` accepted it."""
    check_alignment(path, what, length, num_frames, alignment)
    return functools.partial(
        source_index, length=length, num_frames=num_frames, alignment=alignment
    )
