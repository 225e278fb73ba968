"""Pre-extracted features read from memory-mapped ``(D, T)`` ``.npy`` files.

The file is opened with ``np.load(mmap_mode="r")``: only the pages of the frames asked for are
read, so memory does not grow with video length (a 1,000,000-frame file streams in bounded memory).
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Literal

import numpy as np

from svtas_ray.errors import DataError

Alignment = Literal["strict", "crop", "resample"]

_SCAN_CHUNK = 65536  # frames per block when scanning a whole file for NaN/inf
# Pages of a memory map that were read stay in the process's resident set until unmapped. After
# this many bytes have been read the whole map is advised away (MADV_DONTNEED: pages are dropped
# and re-read from the page cache on the next touch), so resident memory stays bounded.
_RELEASE_BYTES = 32 * 1024**2


class FeatureSource:
    """Frames of one video's features, aligned to its ``num_frames`` labels.

    Args:
        path: a ``.npy`` file holding a float array of shape ``(D, T_feat)``.
        num_frames: the label length T that frame indices refer to.
        alignment: when ``T_feat != T``: 'strict' refuses; 'crop' accepts ``T_feat > T`` and ignores
            the trailing feature frames; 'resample' maps label frame t to feature frame
            ``floor(t * T_feat / T)`` (features at another frame rate).
    """

    def __init__(self, path: str | Path, num_frames: int, alignment: Alignment = "strict") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: feature file not found")
        try:
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{self.path}: not a readable .npy array ({exc})") from None
        if array.ndim != 2:
            raise DataError(
                f"{self.path}: features must be 2-D (D, T), got shape {tuple(array.shape)}"
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise DataError(f"{self.path}: features must be floating point, got {array.dtype}")
        dim, length = array.shape
        if length == 0 or dim == 0:
            raise DataError(f"{self.path}: feature file is empty (shape {tuple(array.shape)})")
        if length != num_frames:
            if alignment == "strict":
                raise DataError(
                    f"{self.path}: feature length {length} != label length {num_frames} "
                    "(set data.alignment to 'crop' or 'resample' to accept it)"
                )
            if alignment == "crop" and length < num_frames:
                raise DataError(
                    f"{self.path}: feature length {length} < label length {num_frames}; "
                    "'crop' only drops trailing feature frames, it never pads"
                )
        self._array = array
        self.dim = int(dim)
        self.num_frames = int(num_frames)
        self._feat_len = int(length)
        self._alignment = alignment
        self._bytes_since_release = 0

    def feature_index(self, frames: np.ndarray) -> np.ndarray:
        """Feature-file frame indices for label frame indices ``frames``."""
        if self._alignment == "resample" and self._feat_len != self.num_frames:
            return (frames.astype(np.int64) * self._feat_len) // self.num_frames
        return frames

    def read(self, frames: np.ndarray) -> np.ndarray:
        """Features of label frames ``frames`` ``(n,)`` as float32 ``(n, D)``.

        Raises DataError naming the file and frame if the rows hold NaN or inf.
        """
        idx = self.feature_index(np.asarray(frames, dtype=np.int64))
        if idx.size and (idx.min() < 0 or idx.max() >= self._feat_len):
            raise IndexError(f"{self.path}: frame index out of range 0..{self.num_frames - 1}")
        if idx.size and idx[-1] - idx[0] == idx.size - 1 and np.all(np.diff(idx) == 1):
            block = self._array[:, idx[0] : idx[-1] + 1]  # contiguous: one slice, no fancy copy
        else:
            block = self._array[:, idx]
        out = np.ascontiguousarray(block.T, dtype=np.float32)
        self._account(out.size * self._array.itemsize)
        if not np.isfinite(out).all():
            bad = int(idx[np.flatnonzero(~np.isfinite(out).all(axis=1))[0]])
            raise DataError(f"{self.path}: NaN or inf in features at frame {bad}")
        return out

    def validate(self) -> None:
        """Scan the whole file in blocks for NaN/inf (bounded memory)."""
        for start in range(0, self._feat_len, _SCAN_CHUNK):
            block = np.asarray(self._array[:, start : start + _SCAN_CHUNK])
            finite = np.isfinite(block).all(axis=0)
            self._account(block.nbytes)
            if not finite.all():
                bad = start + int(np.flatnonzero(~finite)[0])
                raise DataError(f"{self.path}: NaN or inf in features at frame {bad}")

    def _account(self, nbytes: int) -> None:
        self._bytes_since_release += nbytes
        if self._bytes_since_release >= _RELEASE_BYTES:
            self._bytes_since_release = 0
            mm = getattr(self._array, "_mmap", None)
            if mm is not None and hasattr(mm, "madvise"):
                mm.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        """Drop the memory map (reopen by constructing a new source)."""
        mm = getattr(self._array, "_mmap", None)
        self._array = np.empty((0, 0), dtype=np.float32)
        if mm is not None:
            mm.close()
