"""Pre-extracted features of one video, read from a ``(D, T)`` ``.npy`` file in bounded memory.

The header is parsed with ``np.load(mmap_mode="r")`` (so any .npy numpy writes is accepted and
nothing is loaded), but frames are *not* read through that memory map: on current kernels a page
fault maps a whole large page-cache folio (up to 2 MiB), so touching 128 frames of a (64, T) file
made 109 MB resident here. Instead frames are read with positioned reads (``os.preadv``) into one
block buffer of at most ``_BLOCK_BYTES`` that slides along the video; resident memory is that
buffer, whatever the video length (a 1,000,000-frame file streams with < 100 MB growth: tested).
Files up to ``_WHOLE_FILE_BYTES`` are read whole, in one call.

The MS-TCN layout stores ``(D, T)`` in C order, so the D values of one frame lie ``T`` elements
apart and a clip costs D positioned reads (at load) and a transposing copy (per clip). The same
``(D, T)`` array saved in Fortran order (:func:`write_time_major`, ``svtas-ray time-major``) keeps
each frame's D values together: a clip is one contiguous read and a plain copy. ``np.load``
returns an equal array either way.

:func:`open_feature_file` opens a feature file outside a dataset (``svtas-ray stream``) with the
same checks training applies to a dataset's files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from svtas_ray.config import Alignment
from svtas_ray.data.alignment import check_alignment, source_index
from svtas_ray.errors import DataError

if TYPE_CHECKING:
    from svtas_ray.data.layout import Dataset

_BLOCK_BYTES = 16 * 1024**2  # the sliding block buffer (all D rows, a run of frames)
_WHOLE_FILE_BYTES = 32 * 1024**2  # smaller files are read whole with one call
_ROW_PAD = 16  # elements added to each row of the block buffer (see _load)
_BAND = 512  # feature rows copied per step: keeps the transposing copy cache-friendly


class FeatureSource:
    """Frames of one video's features, aligned to its ``num_frames`` labels.

    Args:
        path: a ``.npy`` file holding a float array of shape ``(D, T_feat)``.
        num_frames: the label length T that frame indices refer to (None: the file's T_feat).
        alignment: when ``T_feat != T``: 'strict' refuses; 'crop' accepts ``T_feat > T`` and ignores
            the trailing feature frames; 'resample' maps label frame t to feature frame
            ``floor(t * T_feat / T)`` (features at another frame rate).
    """

    def __init__(
        self, path: str | Path, num_frames: int | None, alignment: Alignment = "strict"
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: feature file not found")
        try:
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{self.path}: not a readable .npy array ({_why(exc)})") from None
        if not isinstance(array, np.memmap):  # an .npz archive loads as a lazy NpzFile
            array.close()
            raise DataError(f"{self.path}: is an .npz archive; features must be one .npy array")
        if array.ndim != 2:
            raise DataError(
                f"{self.path}: features must be 2-D (D, T), got shape {tuple(array.shape)}"
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise DataError(f"{self.path}: features must be floating point, got {array.dtype}")
        dim, length = array.shape
        if length == 0 or dim == 0:
            raise DataError(f"{self.path}: feature file is empty (shape {tuple(array.shape)})")
        num_frames = length if num_frames is None else num_frames
        check_alignment(self.path, "feature length", length, num_frames, alignment)
        self.dim = int(dim)
        self.num_frames = int(num_frames)
        self._feat_len = int(length)
        self._alignment = alignment
        self._dtype = array.dtype
        self._fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)
        self._data_offset = int(array.offset)
        del array  # the header is all we take from the memory map
        nbytes = self.dim * self._feat_len * self._dtype.itemsize
        row_bytes = self.dim * self._dtype.itemsize
        self._block = (
            self._feat_len
            if nbytes <= _WHOLE_FILE_BYTES
            else max(64, min(self._feat_len, _BLOCK_BYTES // row_bytes))
        )
        self._fd: int | None = None
        self._buf = np.empty((self.dim, 0), dtype=self._dtype)  # frames [_b0, _b0 + width)
        self._b0 = 0

    @property
    def time_major(self) -> bool:
        """True when the file keeps each frame's D values together (Fortran order on disk)."""
        return self._fortran

    def feature_index(self, frames: np.ndarray) -> np.ndarray:
        """Feature-file frame indices for label frame indices ``frames``."""
        return source_index(frames, self._feat_len, self.num_frames, self._alignment)

    def read(self, frames: np.ndarray) -> np.ndarray:
        """Features of label frames ``frames`` ``(n,)`` as float32 ``(n, D)``.

        Raises DataError naming the file and frame if the rows hold NaN or inf.
        """
        idx = self.feature_index(np.asarray(frames, dtype=np.int64))
        if idx.size and (idx.min() < 0 or idx.max() >= self._feat_len):
            raise IndexError(f"{self.path}: frame index out of range 0..{self.num_frames - 1}")
        out = np.empty((idx.size, self.dim), dtype=np.float32)
        if idx.size == 0:
            return out
        lo, hi = int(idx.min()), int(idx.max()) + 1
        if lo < self._b0 or hi > self._b0 + self._buf.shape[1]:
            width = min(self._feat_len - lo, max(self._block, hi - lo))
            self._buf, self._b0 = self._load(lo, width), lo
        rel = idx - self._b0
        step = int(rel[1] - rel[0]) if rel.size > 1 else 1
        if step > 0 and np.all(np.diff(rel) == step):
            block = self._buf[:, rel[0] : rel[-1] + 1 : step]  # evenly spaced: a view, no gather
        else:
            block = self._buf[:, rel]
        for row in range(0, self.dim, _BAND):
            out[:, row : row + _BAND] = block[row : row + _BAND].T
        if not np.isfinite(out).all():
            bad = int(idx[np.flatnonzero(~np.isfinite(out).all(axis=1))[0]])
            raise DataError(f"{self.path}: NaN or inf in features at frame {bad}")
        return out

    def validate(self) -> None:
        """Scan the whole file block by block for NaN/inf (bounded memory)."""
        for start in range(0, self._feat_len, self._block):
            block = self._load(start, min(self._block, self._feat_len - start))
            finite = np.isfinite(block).all(axis=0)
            if not finite.all():
                bad = start + int(np.flatnonzero(~finite)[0])
                raise DataError(f"{self.path}: NaN or inf in features at frame {bad}")

    def _load(self, start: int, width: int) -> np.ndarray:
        """Feature-file frames [start, start + width) of every row, ``(D, width)``."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        item = self._dtype.itemsize
        if self._fortran:  # frames are contiguous on disk: one read
            frames = np.empty((width, self.dim), dtype=self._dtype)
            self._pread(frames, self._data_offset + start * self.dim * item)
            return frames.T
        if width == self._feat_len:  # the whole (D, T) array: one read
            whole = np.empty((self.dim, width), dtype=self._dtype)
            self._pread(whole, self._data_offset)
            return whole
        # Rows are padded so their stride is not a power of two: the transposing copy in read()
        # walks down columns, and 8 KiB strides made every access collide in the same cache sets.
        buf = np.empty((self.dim, width + _ROW_PAD), dtype=self._dtype)[:, :width]
        for d in range(self.dim):  # one run of frames per feature row
            self._pread(buf[d], self._data_offset + (d * self._feat_len + start) * item)
        return buf

    def _pread(self, target: np.ndarray, offset: int) -> None:
        assert self._fd is not None
        got = os.preadv(self._fd, [memoryview(target).cast("B")], offset)  # type: ignore[arg-type]
        if got != target.nbytes:
            raise DataError(f"{self.path}: file is truncated (short read at byte {offset})")

    def close(self) -> None:
        """Release the file and the block buffer (the source reopens itself if read again)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._buf, self._b0 = np.empty((self.dim, 0), dtype=self._dtype), 0

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            self.close()

    def __getstate__(self) -> dict[str, Any]:
        # File descriptors and buffers never cross processes: the receiver opens its own.
        state = {**self.__dict__, "_fd": None, "_b0": 0}
        state["_buf"] = np.empty((self.dim, 0), dtype=self._dtype)
        return state


def write_time_major(path: str | Path) -> bool:
    """Rewrite the ``(D, T)`` feature file ``path`` in Fortran order (frames contiguous on disk).

    ``np.load`` returns an equal array afterwards (same shape, dtype and values); only the byte
    layout changes, so every reader of the MS-TCN layout still works and :class:`FeatureSource`
    reads a clip with one contiguous read instead of D strided ones. The copy runs in blocks of
    frames (bounded memory) into a temporary file beside ``path`` that then replaces it, so an
    interrupted conversion leaves the original. Returns False (and writes nothing) when the file
    already is time-major. Raises DataError, naming the file, when it is not a feature file.
    """
    path = Path(path)
    source = FeatureSource(path, None)  # the checks training applies
    try:
        if source.time_major:
            return False
        tmp = path.with_name(f".{path.name}.time-major.tmp")
        if tmp.exists() and not tmp.is_file():
            raise DataError(f"{tmp}: is in the way of the conversion (not a file); remove it")
        shape = (source.dim, source.num_frames)
        try:
            out = np.lib.format.open_memmap(tmp, "w+", source._dtype, shape, fortran_order=True)
            for start in range(0, source.num_frames, source._block):
                width = min(source._block, source.num_frames - start)
                out[:, start : start + width] = source._load(start, width)
            out.flush()
            del out
            os.replace(tmp, path)
        except OSError as exc:
            raise DataError(f"{path}: could not be rewritten time-major ({exc})") from None
        finally:
            tmp.unlink(missing_ok=True)
        return True
    finally:
        source.close()


def read_video_features(
    ds: Dataset, video: str, sample_rate: int = 1, alignment: Alignment = "strict"
) -> tuple[np.ndarray, np.ndarray]:
    """A whole video for offline models: features of every ``sample_rate``-th frame
    ``(T_s, D)`` float32 and all labels ``(T,)``."""
    labels = ds.labels(video)
    source = FeatureSource(ds.feature_path(video), len(labels), alignment)
    try:
        features = source.read(np.arange(0, len(labels), sample_rate))
    finally:
        source.close()
    return features, labels


def _why(exc: BaseException) -> str:
    """A short reason for a failed ``np.load`` (numpy's advice to load pickles is not given)."""
    text = str(exc).strip()
    if "pickle" in text:
        return "not a .npy file, or one holding Python objects, which are never unpickled"
    return text.splitlines()[0] if text else type(exc).__name__


def open_feature_file(path: str | Path, expected_dim: int | None = None) -> FeatureSource:
    """A validated feature file ``(D, T)`` read frame by frame (T = the file's length).

    Checks what training checks on a dataset's features, each failure one DataError sentence
    naming the file: a real ``.npy`` (loaded with ``allow_pickle=False``; object arrays, ``.npz``
    archives, other and truncated files are refused), a floating-point dtype, 2-D, ``D, T > 0``,
    ``D == expected_dim`` when given (the model's input size), and only finite values (the whole
    file is scanned, in bounded memory). ``read(frames)`` of the result gives ``(n, D)`` float32.
    """
    source = FeatureSource(path, None)
    if expected_dim is not None and source.dim != expected_dim:
        raise DataError(
            f"{source.path}: features have D={source.dim} per frame but the model expects "
            f"D={expected_dim}"
        )
    source.validate()
    return source
