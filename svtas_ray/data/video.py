"""RGB frames decoded with decord, opened lazily in the process that reads them.

decord is not fork-safe: a reader opened in one process must not be used in another (a forked
child that decodes after its parent did can deadlock), so the reader is created on first use,
re-created when the process id changes, and never pickled. Processes that decode should be
spawned (Ray actors, ``AsyncVectorEnv(context="spawn")``), not forked from a decoding parent.
torch is imported before decord: both bundle native libraries, and this order is the safe one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from svtas_ray.errors import DataError


def _decord() -> Any:
    with contextlib.suppress(ImportError):  # torch is a dependency; loaded before decord's ffmpeg
        import torch  # noqa: F401
    import decord

    decord.logging.set_level(decord.logging.ERROR)
    return decord


class VideoSource:
    """Random access to the frames of one video file, resized to ``size``.

    Args:
        path: a video file decord can read.
        size: (height, width) of the returned frames.
        num_threads: decoder threads (0: decord's default).
    """

    def __init__(self, path: str | Path, size: tuple[int, int], num_threads: int = 1) -> None:
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        self.num_threads = num_threads
        self._reader: Any = None
        self._pid = -1

    def _open(self) -> Any:
        if self._reader is None or self._pid != os.getpid():
            if not self.path.is_file():
                raise DataError(f"{self.path}: video file not found")
            decord = _decord()
            try:
                self._reader = decord.VideoReader(
                    str(self.path),
                    ctx=decord.cpu(0),
                    width=self.size[1],
                    height=self.size[0],
                    num_threads=self.num_threads,
                )
            except Exception as exc:  # decord raises its own DECORDError / RuntimeError
                raise DataError(f"{self.path}: unreadable video ({_first_line(exc)})") from None
            self._pid = os.getpid()
        return self._reader

    @property
    def num_frames(self) -> int:
        """Number of frames the container reports."""
        return len(self._open())

    def read(self, frames: np.ndarray) -> np.ndarray:
        """Frames ``frames`` ``(n,)`` as uint8 ``(n, H, W, 3)``."""
        reader = self._open()
        idx = np.asarray(frames, dtype=np.int64)
        if idx.size == 0:
            return np.empty((0, *self.size, 3), dtype=np.uint8)
        if idx.min() < 0 or idx.max() >= len(reader):
            raise IndexError(f"{self.path}: frame index out of range 0..{len(reader) - 1}")
        try:
            batch = reader.get_batch(idx.tolist()).asnumpy()
        except Exception as exc:
            raise DataError(
                f"{self.path}: cannot decode frames {int(idx[0])}..{int(idx[-1])}, "
                f"the video is corrupt or truncated ({_first_line(exc)})"
            ) from None
        return np.asarray(batch, dtype=np.uint8)

    def validate(self, expected_frames: int | None = None, deep: bool = False) -> None:
        """Check the video opens, has ``expected_frames`` frames and decodes.

        The default decodes the first, middle and last frames (catches truncation); ``deep``
        decodes every frame in blocks.
        """
        n = self.num_frames
        if n == 0:
            raise DataError(f"{self.path}: video has no frames")
        if expected_frames is not None and n != expected_frames:
            raise DataError(
                f"{self.path}: video has {n} frames but its labels have {expected_frames}"
            )
        if deep:
            for start in range(0, n, 256):
                self.read(np.arange(start, min(n, start + 256)))
        else:
            self.read(np.unique(np.array([0, n // 2, n - 1])))

    def close(self) -> None:
        self._reader = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        # A decord reader never crosses processes: the receiver opens its own.
        return {**self.__dict__, "_reader": None, "_pid": -1}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[-1] if text else type(exc).__name__
    return line[-200:]
