"""Clip plans: every raw frame covered exactly once, masks, expand ∘ sample round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svtas_ray.data.clips import IGNORE_INDEX, ClipPlan
from svtas_ray.errors import ConfigError

plans = st.builds(
    ClipPlan,
    num_frames=st.integers(1, 3000),
    clip_len=st.integers(1, 130),
    sample_rate=st.integers(1, 9),
)


@settings(max_examples=200, deadline=None)
@given(plans)
def test_every_raw_frame_covered_exactly_once(plan: ClipPlan) -> None:
    covered = np.zeros(plan.num_frames, dtype=np.int64)
    for k in range(plan.num_clips):
        start, stop = plan.raw_range(k)
        covered[start:stop] += 1
        frames, mask = plan.frames(k)
        # valid slots are the sampled frames inside the clip's range, in time order
        assert np.array_equal(frames[mask], np.arange(start, stop, plan.sample_rate))
        assert frames.shape == mask.shape == (plan.clip_len,)
        assert frames.max() < plan.num_frames
        # only the last clip can be padded
        assert mask.all() or k == plan.num_clips - 1
    assert (covered == 1).all()
    assert sum(plan.frames(k)[1].sum() for k in range(plan.num_clips)) == plan.num_slots


@settings(max_examples=200, deadline=None)
@given(plans, st.integers(0, 2**31 - 1))
def test_expand_of_sample_round_trips_on_sampled_frames(plan: ClipPlan, seed: int) -> None:
    labels = np.random.default_rng(seed).integers(0, 5, plan.num_frames)
    sampled = np.concatenate([plan.sample(labels, k) for k in range(plan.num_clips)])
    assert (sampled == IGNORE_INDEX).sum() == plan.num_clips * plan.clip_len - plan.num_slots
    expanded = plan.expand(sampled)
    assert expanded.shape == (plan.num_frames,)
    on_sampled = np.arange(0, plan.num_frames, plan.sample_rate)
    assert np.array_equal(expanded[on_sampled], labels[on_sampled])
    # each raw frame takes the value of the sampled frame at or before it in its slot
    assert np.array_equal(
        expanded, labels[(np.arange(plan.num_frames) // plan.sample_rate) * plan.sample_rate]
    )
    # per-clip expansion agrees with whole-video expansion
    parts = [plan.expand_clip(plan.sample(labels, k), k) for k in range(plan.num_clips)]
    assert np.array_equal(np.concatenate(parts), expanded)


def test_hand_made_plan() -> None:
    plan = ClipPlan(num_frames=10, clip_len=2, sample_rate=3)
    assert plan.span == 6 and plan.num_clips == 2 and plan.num_slots == 4
    frames, mask = plan.frames(1)
    assert frames.tolist() == [6, 9] and mask.tolist() == [True, True]
    plan = ClipPlan(num_frames=7, clip_len=4, sample_rate=1)
    frames, mask = plan.frames(1)
    assert frames.tolist() == [4, 5, 6, 6] and mask.tolist() == [True, True, True, False]


@pytest.mark.parametrize(("clip_len", "sample_rate"), [(0, 1), (4, 0), (-1, 2)])
def test_bad_clip_settings(clip_len: int, sample_rate: int) -> None:
    with pytest.raises(ConfigError, match="must be >= 1"):
        ClipPlan(100, clip_len, sample_rate)
