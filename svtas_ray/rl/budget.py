"""When a training run stops: iterations, seconds, or passes over the fitting videos.

A run stops at whichever of ``TrainConfig.iterations``, ``time_budget_s`` and ``max_epochs``
comes first, and the cosine learning-rate schedule decays over the same horizon (its progress is
the largest of the three fractions). An epoch is one pass over the fitting videos' clips: env
steps (one clip each) divided by the clips those videos hold at the run's clip length and sample
rate. The epoch cap makes a quick budget independent of the machine's speed on small datasets: on
GTEA-sized data a faster machine otherwise buys many more passes in the same seconds, and the
streaming recipe scored worse for it (docs/learning.md). It never stops a run before
``TrainConfig.min_iterations``: on a tiny dataset (one training video of 2,500 frames) 15 passes
are 10 iterations, far too few updates to learn from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from svtas_ray.config import TrainConfig
from svtas_ray.data.clips import ClipPlan
from svtas_ray.data.layout import Dataset


def epoch_clips(dataset: Dataset, videos: Sequence[str], clip_len: int, sample_rate: int) -> int:
    """Clips in one pass over ``videos``: what one epoch of env steps is."""
    return sum(ClipPlan(len(dataset.labels(v)), clip_len, sample_rate).num_clips for v in videos)


def run_epoch_clips(cfg: TrainConfig, dataset: Dataset, fit_videos: Sequence[str]) -> int:
    """:func:`epoch_clips` of a run's fitting videos at its clip settings; 0 (no labels read)
    when ``cfg.max_epochs`` is off."""
    if not cfg.max_epochs:
        return 0
    return epoch_clips(dataset, fit_videos, cfg.clip.clip_len, cfg.clip.sample_rate)


@dataclass
class Budget:
    """The stop rule of one ``train()`` call; a limit of 0 is off (``iterations`` never is)."""

    iterations: int
    """Stop once the run has done this many iterations in total."""
    seconds: float
    """Stop once this ``train()`` call has run this long."""
    epochs: float
    """Stop once the run's env steps reach this many passes over ``clips_per_epoch``."""
    clips_per_epoch: int
    """Clips of one pass over the fitting videos (:func:`epoch_clips`)."""
    min_iterations: int = 0
    """The epoch cap stops the run no earlier than this iteration."""
    start: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def epochs_done(self, env_steps: int) -> float:
        return env_steps / self.clips_per_epoch if self.clips_per_epoch else 0.0

    def progress(self, iteration: int, env_steps: int) -> float:
        """How far the run is, in [0, 1]: the largest fraction of any limit."""
        parts = [iteration / max(self.iterations, 1)]
        if self.seconds:
            parts.append(self.elapsed() / self.seconds)
        if self.epochs and self.clips_per_epoch:
            parts.append(self._epoch_limit(iteration, env_steps))
        return min(max(parts), 1.0)

    def done(self, iteration: int, env_steps: int) -> bool:
        """Whether any limit is reached."""
        return (
            iteration >= self.iterations
            or (self.seconds > 0 and self.elapsed() > self.seconds)
            or (self.epochs > 0 and self._epoch_limit(iteration, env_steps) >= 1.0)
        )

    def _epoch_limit(self, iteration: int, env_steps: int) -> float:
        """The epoch cap's fraction: 1 once both the passes and ``min_iterations`` are done."""
        passes = self.epochs_done(env_steps) / self.epochs
        return min(passes, iteration / self.min_iterations) if self.min_iterations else passes
