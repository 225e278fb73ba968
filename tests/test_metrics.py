"""svtas_ray.metrics against hand-computed answers and a transcription of MS-TCN's eval.py."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svtas_ray import metrics
from svtas_ray.errors import DataError
from svtas_ray.metrics import (
    METRIC_NAMES,
    THRESHOLDS,
    VideoScore,
    edit_score,
    f1_counts,
    levenshtein,
    per_video_table,
    score_video,
    score_videos,
    segments,
    summarize,
)

# --------------------------------------------------------------------------- reference oracle
# A short transcription of yabufarha/ms-tcn eval.py (get_labels_start_end_time, levenstein,
# f_score), plus this project's documented values where upstream divides by zero or raises.


def ref_segments(frames, bg):
    labels, starts, ends = [], [], []
    if len(frames) == 0:
        return labels, starts, ends
    last = frames[0]
    if last not in bg:
        labels.append(last)
        starts.append(0)
    for i, label in enumerate(frames):
        if label != last:
            if label not in bg:
                labels.append(label)
                starts.append(i)
            if last not in bg:
                ends.append(i)
            last = label
    if last not in bg:
        ends.append(len(frames))
    return labels, starts, ends


def ref_levenshtein(p, y):
    d = np.zeros((len(p) + 1, len(y) + 1))
    d[:, 0] = np.arange(len(p) + 1)
    d[0, :] = np.arange(len(y) + 1)
    for j in range(1, len(y) + 1):
        for i in range(1, len(p) + 1):
            if y[j - 1] == p[i - 1]:
                d[i, j] = d[i - 1, j - 1]
            else:
                d[i, j] = min(d[i - 1, j], d[i, j - 1], d[i - 1, j - 1]) + 1
    return d[-1, -1]


def ref_edit(pred, gt, bg):
    p, y = ref_segments(pred, bg)[0], ref_segments(gt, bg)[0]
    if max(len(p), len(y)) == 0:
        return 100.0  # upstream: 0/0
    return (1 - ref_levenshtein(p, y) / max(len(p), len(y))) * 100


def ref_f_score(pred, gt, overlap, bg):
    p_label, p_start, p_end = ref_segments(pred, bg)
    y_label, y_start, y_end = ref_segments(gt, bg)
    y_start, y_end = np.array(y_start), np.array(y_end)
    tp = fp = 0
    hits = np.zeros(len(y_label))
    for j in range(len(p_label)):
        if len(y_label) == 0:  # upstream: argmax of an empty array raises
            fp += 1
            continue
        intersection = np.minimum(p_end[j], y_end) - np.maximum(p_start[j], y_start)
        union = np.maximum(p_end[j], y_end) - np.minimum(p_start[j], y_start)
        iou = (1.0 * intersection / union) * [p_label[j] == y for y in y_label]
        idx = np.array(iou).argmax()
        if iou[idx] >= overlap and not hits[idx]:
            tp += 1
            hits[idx] = 1
        else:
            fp += 1
    return tp, fp, len(y_label) - int(sum(hits))


def ref_summary(videos, bg):
    correct = total = 0
    edit = 0.0
    tp, fp, fn = np.zeros(3), np.zeros(3), np.zeros(3)
    for pred, gt in videos:
        correct += sum(int(a == b) for a, b in zip(pred, gt, strict=True))
        total += len(gt)
        edit += ref_edit(pred, gt, bg)
        for s, overlap in enumerate(THRESHOLDS):
            counts = ref_f_score(pred, gt, overlap, bg)
            tp[s], fp[s], fn[s] = tp[s] + counts[0], fp[s] + counts[1], fn[s] + counts[2]
    f1 = []
    for s in range(3):
        if tp[s] + fp[s] + fn[s] == 0:
            f1.append(100.0)  # upstream: 0/0
        elif tp[s] == 0:
            f1.append(0.0)  # upstream: nan_to_num
        else:
            precision, recall = tp[s] / (tp[s] + fp[s]), tp[s] / (tp[s] + fn[s])
            f1.append(2.0 * (precision * recall) / (precision + recall) * 100)
    acc = 100 * correct / total if total else 0.0
    return dict(zip(METRIC_NAMES, (acc, edit / len(videos), *f1), strict=True))


# --------------------------------------------------------------------------- golden cases


def test_segments_are_runs_with_exclusive_ends_and_background_dropped():
    labels, starts, ends = segments(np.array([1, 1, 2, 2, 2, 0, 1]), background={0})
    assert labels.tolist() == [1, 2, 1]
    assert starts.tolist() == [0, 2, 6]
    assert ends.tolist() == [2, 5, 7]


def test_segments_split_around_background_stay_two_segments():
    assert segments(np.array([3, 3, 0, 3]), background=(0,))[0].tolist() == [3, 3]


def test_single_segment_perfect_prediction_scores_100():
    score = score_video(np.full(5, 2), np.full(5, 2))
    assert score.metrics() == dict.fromkeys(METRIC_NAMES, 100.0)
    assert score.tp == (1, 1, 1) and score.fp == (0, 0, 0) and score.fn == (0, 0, 0)


def test_all_background_video_has_no_segments_and_perfect_scores():
    score = score_video(np.zeros(6, int), np.zeros(6, int), background=(0,))
    assert score.metrics() == dict.fromkeys(METRIC_NAMES, 100.0)
    assert score.tp == score.fp == score.fn == (0, 0, 0)


def test_predicted_segments_with_empty_ground_truth_are_false_positives():
    score = score_video(np.array([0, 1, 1, 0, 2]), np.zeros(5, int), background=(0,))
    assert score.edit == 0.0
    assert score.tp == (0, 0, 0) and score.fp == (2, 2, 2) and score.fn == (0, 0, 0)
    assert score.metrics()["f1@10"] == 0.0
    assert score.metrics()["acc"] == pytest.approx(40.0)


def test_empty_prediction_with_true_segments_gives_false_negatives():
    score = score_video(np.zeros(5, int), np.array([1, 1, 0, 2, 2]), background=(0,))
    assert score.edit == 0.0
    assert score.tp == (0, 0, 0) and score.fp == (0, 0, 0) and score.fn == (2, 2, 2)
    assert score.metrics()["f1@50"] == 0.0


def test_last_segment_ending_at_final_frame_is_counted():
    labels, starts, ends = segments(np.array([0, 0, 4, 4]), background=(0,))
    assert (labels.tolist(), starts.tolist(), ends.tolist()) == ([4], [2], [4])
    assert f1_counts(np.array([0, 4, 4, 4]), np.array([0, 0, 4, 4]), 0.5, (0,)) == (1, 0, 0)


def test_over_segmentation_costs_edit_and_precision():
    gt = np.ones(10, int)
    pred = np.array([1, 1, 1, 1, 2, 2, 1, 1, 1, 1])  # 1[0,4) 2[4,6) 1[6,10) vs 1[0,10)
    score = score_video(pred, gt)
    assert score.edit == pytest.approx((1 - 2 / 3) * 100)
    # IoU 0.4, 0 (label), 0.4 (already used): tp 1, fp 2 at 10 and 25; nothing at 50
    assert score.tp == (1, 1, 0) and score.fp == (2, 2, 3) and score.fn == (0, 0, 1)
    assert score.metrics()["f1@10"] == pytest.approx(50.0)
    assert score.metrics()["f1@50"] == 0.0


def test_equal_iou_goes_to_first_true_segment_and_threshold_is_inclusive():
    gt = np.array([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0])  # A=1[0,4), B=1[6,10)
    pred = np.array([0, 0, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1])  # 1[2,8), 2[8,9), 1[9,12)
    # 1[2,8) has IoU 2/8 with A and with B: it takes A, so 1[9,12) (IoU 1/6 with B) takes B at 10.
    score = score_video(pred, gt, background=(0,))
    assert score.tp == (2, 1, 0) and score.fp == (1, 2, 3) and score.fn == (0, 1, 2)
    row = score.metrics()
    assert row["f1@10"] == pytest.approx(80.0)
    assert row["f1@25"] == pytest.approx(40.0)
    assert row["edit"] == pytest.approx(100 * 2 / 3)
    assert row["acc"] == pytest.approx(100 * 5 / 12)


def test_equal_iou_goes_to_first_true_segment_even_when_it_is_already_used():
    pred = np.array([0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1])  # 0[0,3) 1[3,4) 0[4,6) 1[6,14)
    gt = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1])  # 0[0,2) 1[2,9) 0[9,12) 1[12,14)
    # 1[6,14) has IoU 3/12 with 1[2,9) and 2/8 with 1[12,14): it claims 1[2,9), which 1[3,4)
    # (IoU 1/7) already took at 10, so it is an FP there although 1[12,14) is free.
    assert score_video(pred, gt).tp == (2, 2, 1)
    assert score_video(pred, gt).fp == (2, 2, 3)


def test_levenshtein_counts_edits_of_segment_labels():
    assert levenshtein([1, 2, 3], [1, 3]) == 1
    assert levenshtein([], [4, 4]) == 2
    assert levenshtein([5, 6, 7, 8], [6, 5, 8, 7]) == 3  # +6, 5=5, 6->8, 7=7, -8
    assert levenshtein(np.arange(200), np.arange(1, 201)) == 2


def test_edit_score_on_different_lengths_uses_the_longer_sequence():
    assert edit_score(np.array([1, 2, 1]), np.array([1, 1, 1])) == pytest.approx(100 / 3)


def test_accuracy_is_pooled_over_frames_not_averaged_over_videos():
    long = score_video(np.ones(10, int), np.ones(10, int))
    short = score_video(np.zeros(2, int), np.ones(2, int))
    assert summarize([long, short])["acc"] == pytest.approx(100 * 10 / 12)


def test_f1_counts_are_summed_over_videos_before_f1():
    a = VideoScore("a", 1, 1, 100.0, tp=(1, 1, 1), fp=(0, 0, 0), fn=(0, 0, 0))
    b = VideoScore("b", 1, 0, 0.0, tp=(0, 0, 0), fp=(3, 3, 3), fn=(1, 1, 1))
    summary = summarize([a, b])
    # pooled: P = 1/4, R = 1/2 -> F1 = 1/3 (the mean of per-video F1 would be 50)
    assert summary["f1@10"] == pytest.approx(100 / 3)
    assert summary["edit"] == pytest.approx(50.0)


def test_empty_cases_give_documented_values_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = score_video(np.array([], int), np.array([], int))
        assert empty.metrics() == {"acc": 0.0, "edit": 100.0, "f1@10": 100.0} | {
            "f1@25": 100.0,
            "f1@50": 100.0,
        }
        assert summarize([]) == dict.fromkeys(METRIC_NAMES, 0.0)
        assert summarize([empty])["acc"] == 0.0
        assert edit_score([], []) == 100.0
        assert f1_counts([], [], 0.5) == (0, 0, 0)


def test_length_mismatch_raises_naming_the_video():
    with pytest.raises(ValueError, match="rgb_22"):
        score_video(np.zeros(3, int), np.zeros(4, int), video="rgb_22")


def test_non_integer_labels_are_rejected():
    with pytest.raises(ValueError, match="integer"):
        segments(np.array([0.5, 1.0]))


def test_threshold_outside_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="threshold"):
        f1_counts([1], [1], 0.0)


def test_score_videos_requires_the_same_videos():
    with pytest.raises(DataError, match="no prediction for \\['b'\\]"):
        score_videos({"a": np.ones(2, int)}, {"a": np.ones(2, int), "b": np.ones(2, int)})
    with pytest.raises(DataError, match="no ground truth for \\['c'\\]"):
        score_videos({"a": np.ones(2, int), "c": np.ones(1, int)}, {"a": np.ones(2, int)})


def test_score_videos_returns_summary_and_per_video_scores_in_ground_truth_order():
    gts = {"b": np.array([1, 1, 2]), "a": np.array([2, 2])}
    preds = {"a": np.array([2, 1]), "b": np.array([1, 1, 2])}
    summary, scores = score_videos(preds, gts)
    assert [s.video for s in scores] == ["b", "a"]
    assert summary == summarize(scores)
    assert summary["acc"] == pytest.approx(80.0)


def test_per_video_table_has_one_row_per_video_and_the_metric_columns():
    scores = [score_video([1, 1], [1, 2], video="x"), score_video([3], [3], video="y")]
    table = per_video_table(scores)
    assert table["video"].tolist() == ["x", "y"]
    assert set(METRIC_NAMES) <= set(table.columns)
    assert table.loc[0, "acc"] == pytest.approx(50.0)
    assert {"tp@10", "fp@25", "fn@50"} <= set(table.columns)
    assert list(per_video_table([]).columns) == list(table.columns)


# --------------------------------------------------------------------------- against the oracle


@st.composite
def labelled_videos(draw, max_len=60):
    """(pred, gt, background): gt runs of random lengths, pred = gt with random relabelled spans."""
    num_classes = draw(st.integers(1, 6))
    background = draw(st.sets(st.integers(0, num_classes - 1), max_size=num_classes))
    n = draw(st.integers(1, max_len))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    gt = np.repeat(rng.integers(0, num_classes, size=n), rng.integers(1, 8, size=n))[:n].astype(
        np.int64
    )
    pred = gt.copy()
    for _ in range(rng.integers(0, 6)):
        a = rng.integers(0, n)
        pred[a : a + rng.integers(1, 6)] = rng.integers(0, num_classes)
    if draw(st.booleans()):
        pred = rng.integers(0, num_classes, size=n)
    return pred, gt, background


@settings(max_examples=400, deadline=None)
@given(labelled_videos())
def test_video_scores_match_reference_eval(video):
    pred, gt, bg = video
    score = score_video(pred, gt, background=bg)
    assert score.edit == pytest.approx(ref_edit(pred.tolist(), gt.tolist(), bg), abs=1e-9)
    for i, tau in enumerate(THRESHOLDS):
        expected = ref_f_score(pred.tolist(), gt.tolist(), tau, bg)
        assert (score.tp[i], score.fp[i], score.fn[i]) == expected
        assert f1_counts(pred, gt, tau, bg) == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(labelled_videos(max_len=40), min_size=1, max_size=4))
def test_dataset_summary_matches_reference_eval(videos):
    bg = videos[0][2]
    preds = {f"v{i}": v[0] for i, v in enumerate(videos)}
    gts = {f"v{i}": v[1] for i, v in enumerate(videos)}
    summary, _ = score_videos(preds, gts, background=bg)
    expected = ref_summary([(v[0].tolist(), v[1].tolist()) for v in videos], bg)
    assert summary == pytest.approx(expected, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 4), max_size=70),
    st.lists(st.integers(0, 4), max_size=70),
)
def test_bit_parallel_levenshtein_matches_dynamic_programming(a, b):
    assert levenshtein(np.array(a, int), np.array(b, int)) == ref_levenshtein(a, b)


def test_long_sequences_cross_word_boundaries():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 3, 150), rng.integers(0, 3, 130)
    assert levenshtein(a, b) == ref_levenshtein(a.tolist(), b.tolist())


def test_module_has_no_torch_or_ray_dependency():
    source = Path(metrics.__file__).read_text()
    assert "import torch" not in source and "import ray" not in source
