"""Frame-wise prediction files, in the two formats TAS codebases write.

- plain: one class name per line (the ``groundTruth/`` format);
- MS-TCN: a first line ``### Frame level recognition: ###``, then the class names separated by
  spaces (on one or more lines), as written by the MS-TCN / ASFormer ``predict`` functions.

Video names come from dataset files, so a prediction folder's files are found and written with
:func:`~svtas_ray.data.files.file_in`: ``<folder>/<video>.txt`` never lies outside the folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from svtas_ray.data.files import check_plain_name, file_in, read_text
from svtas_ray.data.layout import ClassMap
from svtas_ray.errors import DataError

MSTCN_HEADER = "### Frame level recognition: ###"
PredictionFormat = Literal["plain", "mstcn"]


def prediction_path(pred_dir: Path, video: str) -> Path:
    """The prediction file of ``video`` in ``pred_dir`` (``<video>.txt`` or plain ``<video>``)."""
    check_plain_name(video, str(pred_dir))
    for name in (f"{video}.txt", video):
        if (pred_dir / name).is_file():
            return pred_dir / name
    raise DataError(f"{pred_dir / (video + '.txt')}: prediction file not found")


def read_prediction(path: Path, classes: ClassMap) -> np.ndarray:
    """Class ids ``(T,)`` int64 from a prediction file in either format. A name that is not
    a class is refused naming its line (``FILE:N``, counted from 1 like the label files')."""
    lines = read_text(path, "prediction file").splitlines()
    if lines and lines[0].strip() == MSTCN_HEADER:
        names = [(n, name) for n, line in enumerate(lines[1:], 2) for name in line.split()]
    else:
        names = [(n, line.strip()) for n, line in enumerate(lines, 1)]
        while names and not names[-1][1]:
            names.pop()
    if not names:
        raise DataError(f"{path}: prediction file is empty")
    ids = np.empty(len(names), dtype=np.int64)
    for t, (lineno, name) in enumerate(names):
        if name not in classes:
            raise DataError(f"{path}:{lineno}: label {name!r} is not in the dataset's mapping.txt")
        ids[t] = classes.id_of(name)
    return ids


def write_prediction(
    path: Path, labels: np.ndarray, classes: ClassMap, fmt: PredictionFormat = "plain"
) -> None:
    """Write class names of ``labels`` ``(T,)`` to ``path``, a file the user chose.

    For a video of a dataset use :func:`write_video_prediction`, which keeps the file inside
    its folder whatever the video name.
    """
    names = [classes.names[int(i)] for i in labels]
    if fmt == "mstcn":
        path.write_text(MSTCN_HEADER + "\n" + " ".join(names) + "\n", encoding="utf-8")
    else:
        path.write_text("".join(n + "\n" for n in names), encoding="utf-8")


def write_video_prediction(
    folder: Path,
    video: str,
    labels: np.ndarray,
    classes: ClassMap,
    fmt: PredictionFormat = "plain",
) -> Path:
    """Write ``<folder>/<video>.txt``; refused (DataError) unless that file lies in ``folder``."""
    path = file_in(folder, video, ".txt")
    write_prediction(path, labels, classes, fmt)
    return path
