"""Clip plans: how a video of T raw frames is cut into clips of sampled frames.

Clip k holds ``clip_len`` sampled frames taken every ``sample_rate`` raw frames, starting at raw
frame ``k * clip_len * sample_rate``; clips do not overlap and together cover every raw frame
exactly once (sampled slot j stands for raw frames ``[j*s, (j+1)*s)`` of its clip). The last clip is
padded: slots past the end repeat the last raw frame and are masked out.

A prediction per sampled slot is expanded back to every raw frame for scoring (each raw frame
takes the prediction of the slot that covers it), as the SVTAS code does for ``sample_rate > 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from svtas_ray.errors import ConfigError

IGNORE_INDEX = -100
"""Label of padded (masked) slots; torch's cross-entropy skips it by default."""


@dataclass(frozen=True)
class ClipPlan:
    """The clips of one video.

    Attributes:
        num_frames: raw frames T of the video.
        clip_len: sampled frames L per clip.
        sample_rate: raw frames s between two sampled frames.
    """

    num_frames: int
    clip_len: int
    sample_rate: int = 1

    def __post_init__(self) -> None:
        if self.clip_len < 1:
            raise ConfigError(f"clip_len must be >= 1, got {self.clip_len}")
        if self.sample_rate < 1:
            raise ConfigError(f"sample_rate must be >= 1, got {self.sample_rate}")
        if self.num_frames < 1:
            raise ConfigError(f"a clip plan needs at least one frame, got {self.num_frames}")

    @property
    def span(self) -> int:
        """Raw frames covered by one clip: ``clip_len * sample_rate``."""
        return self.clip_len * self.sample_rate

    @property
    def num_clips(self) -> int:
        return math.ceil(self.num_frames / self.span)

    @property
    def num_slots(self) -> int:
        """Sampled slots over the whole video (valid ones): ``ceil(T / sample_rate)``."""
        return math.ceil(self.num_frames / self.sample_rate)

    def raw_range(self, k: int) -> tuple[int, int]:
        """Raw frames ``[start, stop)`` covered by clip ``k`` (stop clipped to T)."""
        self._check(k)
        start = k * self.span
        return start, min(start + self.span, self.num_frames)

    def frames(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw frame index of each slot of clip ``k`` and the validity mask.

        Returns:
            frames: ``(clip_len,)`` int64; padded slots repeat the last valid frame.
            mask: ``(clip_len,)`` bool; False for padded slots.
        """
        self._check(k)
        idx = k * self.span + np.arange(self.clip_len, dtype=np.int64) * self.sample_rate
        mask = idx < self.num_frames
        return np.minimum(idx, self.num_frames - 1), mask

    def sample(self, labels: np.ndarray, k: int) -> np.ndarray:
        """Labels ``(clip_len,)`` of clip ``k``'s slots; padded slots get ``IGNORE_INDEX``."""
        frames, mask = self.frames(k)
        out = np.asarray(labels)[frames].astype(np.int64)
        out[~mask] = IGNORE_INDEX
        return out

    def expand_clip(self, slot_values: np.ndarray, k: int) -> np.ndarray:
        """Clip ``k``'s per-slot values ``(clip_len, ...)`` to its raw frames ``(n_raw, ...)``.

        Padded slots are dropped (they cover no raw frame).
        """
        start, stop = self.raw_range(k)
        offsets = np.arange(stop - start) // self.sample_rate
        return np.asarray(slot_values)[offsets]

    def expand(self, slot_values: np.ndarray) -> np.ndarray:
        """Per-slot values of the whole video to raw frames.

        Args:
            slot_values: ``(num_clips * clip_len, ...)`` (padded slots included) or
                ``(num_slots, ...)`` (valid slots only), in time order.

        Returns:
            ``(num_frames, ...)``.
        """
        values = np.asarray(slot_values)
        if values.shape[0] not in (self.num_slots, self.num_clips * self.clip_len):
            raise ValueError(
                f"expected {self.num_slots} or {self.num_clips * self.clip_len} slot values, "
                f"got {values.shape[0]}"
            )
        return values[np.arange(self.num_frames) // self.sample_rate]

    def _check(self, k: int) -> None:
        if not 0 <= k < self.num_clips:
            raise IndexError(f"clip index {k} out of range 0..{self.num_clips - 1}")
