"""The stop rule of a run: iterations, seconds or passes over the data, whichever comes first."""

from __future__ import annotations

from pathlib import Path

from trainer_helpers import tiny_gtea

from svtas_ray.data.layout import Dataset
from svtas_ray.rl.budget import Budget, epoch_clips

__all__ = ["tiny_gtea"]


def test_progress_is_the_largest_fraction_of_any_limit() -> None:
    budget = Budget(iterations=100, seconds=0.0, epochs=2.0, clips_per_epoch=40)
    assert budget.progress(10, 0) == 0.1
    assert budget.progress(10, 40) == 0.5  # one of two epochs beats 10 of 100 iterations
    assert budget.progress(10, 400) == 1.0  # clamped
    assert not budget.done(10, 79) and budget.done(10, 80) and budget.done(100, 0)


def test_the_epoch_cap_waits_for_min_iterations() -> None:
    """A tiny dataset: 2 passes are done at 8 clips, but the cap waits for iteration 6, and the
    schedule follows the later of the two."""
    budget = Budget(iterations=100, seconds=0.0, epochs=2.0, clips_per_epoch=4, min_iterations=6)
    assert budget.progress(3, 12) == 0.5 and not budget.done(3, 12) and not budget.done(5, 20)
    assert budget.done(6, 24) and budget.progress(6, 24) == 1.0
    # a large dataset: the passes come later than min_iterations, and alone set the horizon
    large = Budget(iterations=100, seconds=0.0, epochs=2.0, clips_per_epoch=40, min_iterations=6)
    assert large.progress(10, 40) == 0.5 and not large.done(10, 79) and large.done(20, 80)


def test_a_zero_limit_is_off() -> None:
    budget = Budget(iterations=5, seconds=0.0, epochs=0.0, clips_per_epoch=0)
    assert budget.progress(1, 10**9) == 0.2 and not budget.done(4, 10**9)
    timed = Budget(iterations=10**6, seconds=1e-9, epochs=0.0, clips_per_epoch=0)
    assert timed.done(0, 0) and timed.progress(0, 0) == 1.0


def test_an_epoch_is_every_clip_of_the_fitting_videos_once(tiny_gtea: Path) -> None:
    ds = Dataset.open(tiny_gtea, ("background",))
    videos = ds.split_videos(1, "train")
    lengths = [len(ds.labels(v)) for v in videos]
    assert epoch_clips(ds, videos, clip_len=1, sample_rate=1) == sum(lengths)
    # a clip of 16 slots every 2 frames covers 32 frames; the last clip of a video is partial
    assert epoch_clips(ds, videos, clip_len=16, sample_rate=2) == sum(-(-n // 32) for n in lengths)
