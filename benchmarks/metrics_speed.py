"""Speed of svtas_ray.metrics: full scoring vs upstream's pure Python, and the streaming scorer.

What it measures, in one run on synthetic GTEA-like videos (11 classes, one of them background,
true segments of 10-50 frames, predictions with jittered boundaries and short spurious segments):

(a) scoring one video (Acc, Edit, F1@{10,25,50}) with ``metrics.score_video`` vs a transcription
    of MS-TCN ``eval.py`` (Python loops, kept inside this file), at 1k, 10k and 100k frames;
(b) the ``StreamingScorer``'s cost per 128-frame clip at the start and at the end of a 100k-frame
    video (thousands of segments), vs rescoring the whole prefix from scratch at the end.

How to run::

    .venv/bin/python benchmarks/metrics_speed.py [--out results.md] [--sizes 1000 10000]

To debug, run a small size only (``--sizes 1000``); everything is single-process and seeded.

Expected results (2 CPU cores, shared): the upstream transcription takes ~0.2 s at 10k frames
and ~20 s at 100k; ``score_video`` takes ~0.5 ms at 10k (hundreds of times faster; target ≥ 20×)
and ~10 ms at 100k; a streaming update costs ~50-100 µs both at the start and at the end (target:
end ≤ 2× start) while rescoring the 100k prefix takes ~10 ms (~100-200× an update; target ≥ 50×).
The whole run takes ~25 s, almost all of it upstream's Edit at 100k. The script prints a markdown
table and whether each target holds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from svtas_ray.metrics import THRESHOLDS, score_video
from svtas_ray.streaming_scorer import StreamingScorer

NUM_CLASSES = 11
BACKGROUND = (10,)
CLIP = 128
T = TypeVar("T")

# --------------------------------------------------------------------------- upstream, in Python
# A transcription of yabufarha/ms-tcn eval.py (the per-video part of main()), for timing only.


def ref_segments(frames: list[int], bg: tuple[int, ...]) -> tuple[list, list, list]:
    labels, starts, ends = [], [], []
    last = frames[0]
    if last not in bg:
        labels.append(last)
        starts.append(0)
    for i in range(len(frames)):
        if frames[i] != last:
            if frames[i] not in bg:
                labels.append(frames[i])
                starts.append(i)
            if last not in bg:
                ends.append(i)
            last = frames[i]
    if last not in bg:
        ends.append(len(frames))
    return labels, starts, ends


def ref_edit(pred: list[int], gt: list[int], bg: tuple[int, ...]) -> float:
    p, y = ref_segments(pred, bg)[0], ref_segments(gt, bg)[0]
    d = np.zeros((len(p) + 1, len(y) + 1))
    d[:, 0] = np.arange(len(p) + 1)
    d[0, :] = np.arange(len(y) + 1)
    for j in range(1, len(y) + 1):
        for i in range(1, len(p) + 1):
            if y[j - 1] == p[i - 1]:
                d[i, j] = d[i - 1, j - 1]
            else:
                d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + 1)
    return (1 - d[-1, -1] / max(len(p), len(y))) * 100


def ref_f_score(pred: list[int], gt: list[int], overlap: float, bg: tuple[int, ...]) -> tuple:
    p_label, p_start, p_end = ref_segments(pred, bg)
    y_label, y_start, y_end = ref_segments(gt, bg)
    tp = fp = 0
    hits = np.zeros(len(y_label))
    for j in range(len(p_label)):
        intersection = np.minimum(p_end[j], y_end) - np.maximum(p_start[j], y_start)
        union = np.maximum(p_end[j], y_end) - np.minimum(p_start[j], y_start)
        iou = (1.0 * intersection / union) * [p_label[j] == y_label[x] for x in range(len(y_label))]
        idx = np.array(iou).argmax()
        if iou[idx] >= overlap and not hits[idx]:
            tp += 1
            hits[idx] = 1
        else:
            fp += 1
    return tp, fp, len(y_label) - sum(hits)


def ref_score(pred: list[int], gt: list[int]) -> tuple:
    correct = sum(1 for i in range(len(gt)) if gt[i] == pred[i])
    edit = ref_edit(pred, gt, BACKGROUND)
    return correct, edit, [ref_f_score(pred, gt, t, BACKGROUND) for t in THRESHOLDS]


# --------------------------------------------------------------------------- data and timing


def synthetic_video(frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pred, gt), each ``(frames,)``: GTEA-like truth and a noisy, over-segmented prediction."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(10, 51, frames // 10 + 1)
    gt = np.repeat(rng.integers(0, NUM_CLASSES, lengths.size), lengths)[:frames]
    pred = gt.copy()
    bounds = np.flatnonzero(np.diff(gt)) + 1
    for b in bounds:  # boundaries off by up to 5 frames
        shift = int(rng.integers(-5, 6))
        lo, hi = sorted((b, b + shift))
        pred[max(lo, 0) : min(hi, frames)] = gt[b - 1] if shift > 0 else gt[b]
    for a in rng.integers(0, frames, frames // 60):  # short spurious segments
        pred[a : a + rng.integers(1, 9)] = rng.integers(0, NUM_CLASSES)
    return pred.astype(np.int64), gt.astype(np.int64)


def best_time(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """(fastest of ``repeats`` wall times in s, the last result)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def full_scoring(sizes: list[int]) -> tuple[list[str], dict[int, float]]:
    rows, speedups = [], {}
    for frames in sizes:
        pred, gt = synthetic_video(frames, seed=frames)
        pred_list, gt_list = pred.tolist(), gt.tolist()
        fast, ours = best_time(partial(score_video, pred, gt, BACKGROUND), repeats=20)
        repeats = 3 if frames <= 10_000 else 1
        slow, ref = best_time(partial(ref_score, pred_list, gt_list), repeats)
        assert ours.correct == ref[0] and abs(ours.edit - ref[1]) < 1e-9
        assert [(ours.tp[i], ours.fp[i], ours.fn[i]) for i in range(3)] == ref[2]
        speedups[frames] = slow / fast
        segs = f"{ours.tp[0] + ours.fp[0]} / {ours.tp[0] + ours.fn[0]}"
        rows.append(
            f"| {frames:,} | {segs} | {slow * 1e3:,.1f} ms | {fast * 1e3:,.2f} ms "
            f"| {slow / fast:,.0f}× |"
        )
        print(f"  full scoring at {frames:,} frames done", file=sys.stderr)
    return rows, speedups


def streaming(frames: int, window: int = 50) -> tuple[list[str], float, float]:
    pred, gt = synthetic_video(frames, seed=7)
    scorer = StreamingScorer(BACKGROUND)
    costs = []
    for start in range(0, frames, CLIP):
        p, g = pred[start : start + CLIP], gt[start : start + CLIP]
        t0 = time.perf_counter()
        scorer.update(p, g)
        costs.append(time.perf_counter() - t0)
    assert scorer.video_score() == score_video(pred, gt, BACKGROUND)
    first = statistics.median(costs[1 : window + 1])  # skip the very first call (warm-up)
    last = statistics.median(costs[-window - 1 : -1])  # a full clip (the last one may be short)
    end = (len(costs) - 1) * CLIP
    rescore, _ = best_time(lambda: score_video(pred[:end], gt[:end], BACKGROUND), repeats=5)
    score = scorer.video_score()
    segs = f"{score.tp[0] + score.fp[0]} / {score.tp[0] + score.fn[0]}"
    rows = [
        f"| update, first {window} clips | {first * 1e6:,.0f} µs | |",
        f"| update, last {window} clips ({segs} segments so far) | {last * 1e6:,.0f} µs "
        f"| {last / first:.2f}× start |",
        f"| rescoring the {end:,}-frame prefix from scratch | {rescore * 1e6:,.0f} µs "
        f"| {rescore / last:,.0f}× an update |",
    ]
    return rows, last / first, rescore / last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--stream-frames", type=int, default=100_000)
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = parser.parse_args()

    full_rows, speedups = full_scoring(args.sizes)
    stream_rows, growth, cheaper = streaming(args.stream_frames)
    checks = []
    if 10_000 in speedups:
        checks.append(f"full scoring ≥ 20× faster at 10k frames: {speedups[10_000] >= 20}")
    checks.append(f"streaming update at the end ≤ 2× the start: {growth <= 2}")
    checks.append(f"streaming update ≥ 50× cheaper than rescoring: {cheaper >= 50}")
    lines = [
        "### Full scoring of one video (Acc, Edit, F1@{10,25,50})",
        "",
        "| frames | segments (pred / true) | MS-TCN eval.py (Python) | metrics.score_video "
        "| speed-up |",
        "|---:|---:|---:|---:|---:|",
        *full_rows,
        "",
        f"### StreamingScorer, {CLIP}-frame clips of a {args.stream_frames:,}-frame video "
        "(median per clip)",
        "",
        "| what | time | ratio |",
        "|---|---:|---:|",
        *stream_rows,
        "",
        *(f"- {c}" for c in checks),
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
