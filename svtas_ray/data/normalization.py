"""Per-dimension standardisation of features with statistics of the training split.

Features of real datasets (I3D: non-negative, dims with very different scales) and of the
synthetic generator (per-video offsets and gains) are far from zero mean and unit variance; a
network's first layer then trains slowly or not at all at a fixed learning rate. The statistics
are computed once over the training videos and stored with the model (:meth:`FeatureStats.to_dict`)
so evaluation and deployment apply exactly the same map.

Bounded memory: frames are read in blocks through :class:`~svtas_ray.data.features.FeatureSource`
(:func:`iter_feature_blocks`) and merged with Chan et al.'s pairwise update of (count, mean, M2)
in float64, which stays accurate when the offset is large against the spread (sums of squares
would cancel catastrophically).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from svtas_ray.data.features import Alignment, FeatureSource
from svtas_ray.data.layout import Dataset

STD_FLOOR = 1e-6
"""Smallest std as a fraction of the mean std over dimensions: a constant dim is not blown up."""
_BLOCK_BYTES = 16 * 1024**2  # frames read per block: at most this much float32

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True, eq=False)
class FeatureStats:
    """Mean and std of each feature dimension over ``count`` training frames.

    Attributes:
        mean: ``(D,)`` float32.
        std: ``(D,)`` float32, floored at ``STD_FLOOR`` times its mean over dimensions (1 where
            every dimension is constant).
        count: frames the statistics were computed from.
    """

    mean: np.ndarray
    std: np.ndarray
    count: int

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if mean.shape != std.shape or mean.size == 0:
            raise ValueError(f"mean {mean.shape} and std {std.shape} must be equal 1-D shapes")
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
            raise ValueError("feature statistics must be finite with a positive std")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    @classmethod
    def from_moments(cls, count: int, mean: np.ndarray, m2: np.ndarray) -> FeatureStats:
        """Stats from a running (count, mean, sum of squared deviations); floors the std."""
        if count < 1:
            raise ValueError("feature statistics need at least one frame")
        std = np.sqrt(np.maximum(m2, 0.0) / count)
        scale = float(std.mean())
        std = np.maximum(std, STD_FLOOR * scale) if scale > 0 else np.ones_like(std)
        return cls(mean.astype(np.float32), std.astype(np.float32), int(count))

    @classmethod
    def from_blocks(cls, blocks: Iterable[np.ndarray]) -> FeatureStats:
        """Stats of the frames of ``blocks``, each ``(n, D)``, merged in float64."""
        acc = MomentAccumulator()
        for block in blocks:
            acc.update(block)
        return acc.stats()

    @classmethod
    def from_dataset(
        cls,
        ds: Dataset,
        videos: Sequence[str],
        sample_rate: int = 1,
        alignment: Alignment = "strict",
    ) -> FeatureStats:
        """Stats over every ``sample_rate``-th frame of ``videos`` (the training split)."""
        blocks = (
            block
            for video in videos
            for block in iter_feature_blocks(
                FeatureSource(ds.feature_path(video), len(ds.labels(video)), alignment),
                sample_rate,
            )
        )
        return cls.from_blocks(blocks)

    def apply(self, x: ArrayT) -> ArrayT:
        """``(x - mean) / std`` over the last axis of ``x (..., D)`` (numpy or torch, same type)."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"features have {x.shape[-1]} dims, the statistics {self.dim}")
        if isinstance(x, torch.Tensor):
            dtype = x.dtype if x.is_floating_point() else torch.float32
            mean = torch.as_tensor(self.mean, dtype=dtype, device=x.device)
            std = torch.as_tensor(self.std, dtype=dtype, device=x.device)
            return (x.to(dtype) - mean) / std
        array = np.asarray(x)
        dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float32
        return ((array - self.mean.astype(dtype)) / self.std.astype(dtype)).astype(dtype)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and ints (JSON- and ``torch.save``-friendly)."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "count": self.count}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureStats:
        missing = {"mean", "std", "count"} - set(data)
        if missing:
            raise ValueError(f"feature statistics lack {sorted(missing)}")
        return cls(np.asarray(data["mean"]), np.asarray(data["std"]), int(data["count"]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureStats):
            return NotImplemented
        return (
            self.count == other.count
            and np.array_equal(self.mean, other.mean)
            and np.array_equal(self.std, other.std)
        )

    __hash__ = None  # type: ignore[assignment]  # arrays: equal by value, not hashable


class MomentAccumulator:
    """Running count, mean and M2 (sum of squared deviations) per dimension, in float64."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def update(self, block: np.ndarray) -> None:
        """Merge the frames of ``block (n, D)`` (Chan, Golub & LeVeque's pairwise formula)."""
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"a block of features must be (n, D), got shape {x.shape}")
        n = x.shape[0]
        if n == 0:
            return
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean_b, m2_b
            return
        if mean_b.shape != self.mean.shape:
            raise ValueError(f"blocks have {mean_b.size} dims, earlier ones {self.mean.size}")
        total = self.count + n
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n / total)
        self.count = total

    def stats(self) -> FeatureStats:
        if self.mean is None or self.m2 is None:
            raise ValueError("feature statistics need at least one frame")
        return FeatureStats.from_moments(self.count, self.mean, self.m2)


def iter_feature_blocks(
    source: FeatureSource, sample_rate: int = 1, block_bytes: int = _BLOCK_BYTES
) -> Iterator[np.ndarray]:
    """Every ``sample_rate``-th frame of ``source`` as float32 blocks ``(n, D)``, in time order.

    Each block holds at most ``block_bytes`` of features; the source is closed at the end.
    """
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be >= 1, got {sample_rate}")
    frames = max(1, block_bytes // (4 * source.dim)) * sample_rate
    try:
        for start in range(0, source.num_frames, frames):
            stop = min(start + frames, source.num_frames)
            yield source.read(np.arange(start, stop, sample_rate))
    finally:
        source.close()
