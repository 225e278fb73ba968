"""StreamingScorer: after every clip it equals score_video of the prefix computed from scratch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svtas_ray.metrics import METRIC_NAMES, score_video
from svtas_ray.streaming_scorer import StreamingScorer


def assert_same_as_from_scratch(scorer, pred_prefix, gt_prefix, background):
    expected = score_video(pred_prefix, gt_prefix, background)
    got = scorer.video_score()
    assert (got.frames, got.correct) == (expected.frames, expected.correct)
    assert (got.tp, got.fp, got.fn) == (expected.tp, expected.fp, expected.fn)
    assert got.edit == pytest.approx(expected.edit, abs=1e-9)
    assert scorer.scores() == pytest.approx(expected.metrics(), abs=1e-9)


@st.composite
def streamed_videos(draw):
    """(pred, gt, background, clip lengths, masks); the last clip always has a mask."""
    num_classes = draw(st.integers(1, 6))
    background = draw(st.sets(st.integers(0, num_classes - 1), max_size=num_classes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 120))
    gt = np.repeat(rng.integers(0, num_classes, n), rng.integers(1, 12, n))[:n]
    style = draw(st.sampled_from(["noisy", "random", "one_long", "shifted", "grid"]))
    if style == "noisy":
        pred = gt.copy()
        for _ in range(rng.integers(0, 10)):
            a = rng.integers(0, n)
            pred[a : a + rng.integers(1, 8)] = rng.integers(0, num_classes)
    elif style == "random":
        pred = np.repeat(rng.integers(0, num_classes, n), rng.integers(1, 5, n))[:n]
    elif style == "one_long":  # a collapsed policy: one class, a few blips
        pred = np.full(n, rng.integers(0, num_classes))
        pred[rng.integers(0, n, 3)] = rng.integers(0, num_classes)
    elif style == "shifted":  # the ground truth, late by a few frames
        pred = np.concatenate((np.full(3, gt[0]), gt))[:n]
    else:  # equal-length runs on both sides: many exactly equal IoUs, so tie-breaking matters
        gt = np.repeat(rng.integers(0, num_classes, n), rng.integers(1, 5))[:n]
        pred = np.repeat(rng.integers(0, num_classes, n), rng.integers(1, 9))
        pred = pred[rng.integers(0, 4) :][:n]
        n = pred.size
        gt = gt[:n]
    clips = []
    while sum(clips) < n:
        clips.append(draw(st.integers(1, 16)))
    masks = []
    for i, length in enumerate(clips):
        if i == len(clips) - 1 or draw(st.integers(0, 4)) == 0:
            masks.append(rng.random(length) < draw(st.sampled_from([0.0, 0.5, 0.9])))
        else:
            masks.append(None)
    return pred.astype(np.int64), gt.astype(np.int64), background, clips, masks


@settings(max_examples=1000, deadline=None)
@given(streamed_videos())
def test_streaming_scores_equal_from_scratch_scores_after_every_clip(video):
    pred, gt, background, clips, masks = video
    scorer = StreamingScorer(background)
    kept_pred, kept_gt = [], []
    start = 0
    for length, mask in zip(clips, masks, strict=True):
        p, g = pred[start : start + length], gt[start : start + length]
        m = np.ones(len(p), bool) if mask is None else mask[: len(p)]
        start += length
        result = scorer.update(p, g, None if mask is None else m)
        kept_pred.extend(p[m].tolist())
        kept_gt.extend(g[m].tolist())
        assert_same_as_from_scratch(scorer, kept_pred, kept_gt, background)
        assert result == scorer.scores()


def test_clips_of_one_frame_give_the_same_result_as_one_clip():
    gt = np.array([0, 1, 1, 1, 2, 2, 0, 0, 1, 1, 3])
    pred = np.array([1, 1, 1, 2, 2, 2, 0, 1, 1, 1, 3])
    one_by_one = StreamingScorer(background=(0,))
    for t in range(len(gt)):
        one_by_one.update(pred[t : t + 1], gt[t : t + 1])
    whole = StreamingScorer(background=(0,))
    whole.update(pred, gt)
    assert one_by_one.video_score() == whole.video_score() == score_video(pred, gt, (0,))


def test_tie_between_a_closed_and_the_open_true_segment_goes_to_the_closed_one():
    pred = np.array([0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    gt = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1])
    scorer = StreamingScorer()
    for t in range(len(gt)):
        scorer.update(pred[t : t + 1], gt[t : t + 1])
        assert scorer.video_score() == score_video(pred[: t + 1], gt[: t + 1])
    assert scorer.video_score().tp == (2, 2, 1)


def test_fully_masked_clip_changes_nothing():
    scorer = StreamingScorer()
    before = scorer.update([1, 1, 2], [1, 2, 2])
    after = scorer.update([3, 3], [1, 1], mask=[False, False])
    assert after == before
    assert scorer.frames == 3


def test_masked_frames_are_dropped_from_the_prefix():
    scorer = StreamingScorer()
    scorer.update([1, 9, 1], [1, 9, 2], mask=[True, False, True])
    assert scorer.video_score() == score_video([1, 1], [1, 2])


def test_empty_prefix_scores_like_an_empty_video():
    scorer = StreamingScorer()
    assert scorer.video_score() == score_video(np.array([], int), np.array([], int))
    assert set(scorer.scores()) == set(METRIC_NAMES)


def test_reset_starts_a_new_video():
    scorer = StreamingScorer(background=(0,))
    scorer.update([1, 1, 2], [2, 2, 2])
    scorer.reset()
    scorer.update([3, 3], [3, 3])
    assert scorer.video_score() == score_video([3, 3], [3, 3], (0,))


def test_video_score_carries_the_name():
    scorer = StreamingScorer()
    scorer.update([1], [1])
    assert scorer.video_score("S1_Cheese_C1").video == "S1_Cheese_C1"


def test_clip_length_mismatch_is_rejected():
    with pytest.raises(ValueError, match="frames"):
        StreamingScorer().update([1, 2], [1])
    with pytest.raises(ValueError, match="mask"):
        StreamingScorer().update([1, 2], [1, 2], mask=[True])


def test_long_video_in_128_frame_clips_matches_from_scratch_at_the_end():
    rng = np.random.default_rng(0)
    gt = np.repeat(rng.integers(0, 11, 400), rng.integers(5, 60, 400))
    pred = gt.copy()
    for a in rng.integers(0, gt.size, 300):
        pred[a : a + rng.integers(1, 6)] = rng.integers(0, 11)
    scorer = StreamingScorer(background=(10,))
    for start in range(0, gt.size, 128):
        scorer.update(pred[start : start + 128], gt[start : start + 128])
    assert scorer.video_score() == score_video(pred, gt, (10,))
