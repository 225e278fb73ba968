"""Can a learned hold/switch decision beat the hand rule when both learn from the same
validation videos? Measured on finished runs.

The policy's own gate (``model.hold_gate``) learns on training rollouts, where the segmenter is
surer and more often right than on unseen videos, and it lost to the hand rule tuned on
validation videos. This probe removes that difference: the run's last weights stream the
validation videos once, and a hold/switch gate is trained on those streamed probabilities by the
segmental reward, then applied to the test videos; the hand rule is tuned on the same streams.

The gate: at a frame whose arg-max differs from the previous emitted label it holds with
probability ``sigmoid(w · f)``, ``f`` = (max probability, probability of the previous label,
log run length of the previous label, log streak of the current arg-max, 1, the hand rule's own
decision), run lengths as ``log(1 + n) / log(1 + longest training video in stream frames)``.
Greedy decoding holds where the logit is positive. Three ways to fit ``w``, each keeping the
weights with the best validation score (never-hold is a candidate, so none is worse than raw on
validation):

- ``reinforce``: start from a logistic regression on the frames where exactly one of holding and
  switching is right (the arg-max path), then REINFORCE on sampled hold decisions with the
  per-video selection score (mean of Acc, Edit, F1@{10,25,50}, what the rule is tuned by) as the
  reward and the mean of the other samples as the baseline (rule feature off);
- ``cem``: the cross-entropy method on the greedy validation score (rule feature off);
- ``rule+cem``: the same, started at the tuned rule (only the rule feature on) with the rule
  feature available, so it can keep the rule and learn corrections.

How to run::

    .venv/bin/python benchmarks/learned_hold_probe.py RUN_DIR [RUN_DIR ...] [--out FILE]

e.g. ``runs/bench/offline_vs_streaming/recipe-salads/runs/*/*``. Each run takes a few seconds
(two streamed passes and the fits, one thread). The run directories are only read.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from svtas_ray.data.layout import Dataset
from svtas_ray.evaluate import hold_stage, stream_videos
from svtas_ray.metrics import score_video, summarize
from svtas_ray.models.checkpoint import load_segmenter
from svtas_ray.models.postprocess import HoldSettings, expand, selection_score
from svtas_ray.rl.trainer import split_videos

FEATURES = 6
NEVER = np.array([0, 0, 0, 0, -1.0, 0])
"""Weights that never hold (the raw arg-max)."""
RULE = np.array([0, 0, 0, 0, -3.0, 6.0])
"""Weights that follow the tuned hand rule's decision."""

Video = tuple[np.ndarray, np.ndarray]
"""Streamed probabilities ``(T_s, C)`` of a video and its raw-frame labels ``(T,)``."""


class Task:
    """The validation or test videos of one run, with what decoding and scoring need."""

    def __init__(
        self, videos: Sequence[Video], longest: int, sr: int, bg: Sequence[int], rule: HoldSettings
    ) -> None:
        self.videos, self.sr, self.bg, self.rule = videos, sr, bg, rule
        self.scale = float(np.log1p(longest / sr))

    def decode(
        self, probs: np.ndarray, w: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labels ``(S, T_s)`` for weights ``w (S, F)`` (greedy, or sampled with ``rng``) and
        per row ``sum_t (hold_t - h_t) f_t`` ``(S, F)``, the gradient of the log-probability."""
        rows, length = len(w), len(probs)
        top, maxp = probs.argmax(1), probs.max(1)
        streak = np.ones(length)
        for t in range(1, length):
            streak[t] = streak[t - 1] + 1 if top[t] == top[t - 1] else 1
        streak = np.log1p(streak) / self.scale
        prev, run = np.full(rows, top[0]), np.ones(rows)
        out = np.empty((rows, length), np.int64)
        out[:, 0] = top[0]
        grad = np.zeros((rows, FEATURES))
        theta, min_len = self.rule.theta, self.rule.min_len
        for t in range(1, length):
            decide = prev != top[t]
            if decide.any():
                f = np.stack(
                    [
                        np.full(rows, maxp[t]),
                        probs[t, prev],
                        np.log1p(run) / self.scale,
                        np.full(rows, streak[t]),
                        np.ones(rows),
                        ((maxp[t] < theta) & (run < min_len)).astype(float),
                    ],
                    1,
                )
                logit = (f * w).sum(1)
                h = 1 / (1 + np.exp(-logit))
                hold = (rng.random(rows) < h if rng is not None else logit > 0) & decide
                grad += (decide * (hold - h))[:, None] * f
                switch = decide & ~hold
                prev = np.where(switch, top[t], prev)
                run = np.where(switch, 1, run + 1)
            else:
                run = run + 1
            out[:, t] = prev
        return out, grad

    def scores(self, w: np.ndarray) -> list[dict[str, float]]:
        """Pooled scores of each row of ``w`` (greedy) over the videos."""
        per = [
            [score_video(expand(lab, len(y), self.sr), y, self.bg) for lab in self.decode(p, w)[0]]
            for p, y in self.videos
        ]
        return [summarize([video[i] for video in per]) for i in range(len(w))]

    def reward(self, labels: np.ndarray, y: np.ndarray) -> float:
        """Selection score of one video's stream labels ``(T_s,)`` against its labels ``(T,)``."""
        score = score_video(expand(labels, len(y), self.sr), y, self.bg)
        return selection_score(summarize([score]))


def best_of(task: Task, candidates: np.ndarray) -> tuple[float, np.ndarray]:
    scores = [selection_score(s) for s in task.scores(candidates)]
    i = int(np.argmax(scores))
    return scores[i], candidates[i].copy()


def ce_init(task: Task) -> np.ndarray:
    """Logistic regression on the arg-max path's changes where exactly one choice is right."""
    x, target = [], []
    for p, y in task.videos:
        ys = y[:: task.sr][: len(p)]
        top = p.argmax(1)
        run = np.ones(len(top))
        for t in range(1, len(top)):
            run[t] = run[t - 1] + 1 if top[t] == top[t - 1] else 1
        for c in np.flatnonzero(top[1:] != top[:-1]) + 1:
            prev = int(top[c - 1])
            if (ys[c] == prev) != (ys[c] == top[c]):
                run_f, streak_f = np.log1p([run[c - 1], 1]) / task.scale  # a new arg-max: streak 1
                x.append([p[c].max(), p[c, prev], run_f, streak_f, 1, 0])
                target.append(float(ys[c] == prev))
    w = np.zeros(FEATURES)
    if x:
        xs, ts = np.array(x), np.array(target)
        for _ in range(300):
            w += xs.T @ (ts - 1 / (1 + np.exp(-xs @ w))) / len(ts) - 1e-3 * w
    return w


def fit_reinforce(task: Task, iters: int = 120, samples: int = 8, lr: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(0)
    w = ce_init(task)
    best = best_of(task, np.stack([NEVER, w]))
    m, v = np.zeros(FEATURES), np.zeros(FEATURES)
    for it in range(1, iters + 1):
        grad = np.zeros(FEATURES)
        rows = np.tile(w, (samples, 1))
        for p, y in task.videos:
            labels, g = task.decode(p, rows, rng)
            reward = np.array([task.reward(lab, y) for lab in labels])
            advantage = reward - (reward.sum() - reward) / (samples - 1)
            grad += (advantage[:, None] * g).mean(0)
        grad[5] = 0.0  # the rule feature stays off
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w = w + lr * (m / (1 - 0.9**it)) / (np.sqrt(v / (1 - 0.999**it)) + 1e-8)
        if it % 10 == 0:
            best = max(best, best_of(task, w[None]), key=lambda b: b[0])
    return best[1]


def fit_cem(task: Task, start: np.ndarray, free: np.ndarray, std: float) -> np.ndarray:
    """Cross-entropy method over the ``free`` weights, from ``start``, on the greedy score."""
    rng = np.random.default_rng(0)
    best = best_of(task, np.stack([NEVER, start]))
    mean, spread = start.copy(), np.where(free, std, 0.0)
    for _ in range(12):
        pop = mean + spread * rng.standard_normal((24, FEATURES))
        scores = np.array([selection_score(s) for s in task.scores(pop)])
        elite = pop[np.argsort(-scores)[:6]]
        if scores.max() > best[0]:
            best = (float(scores.max()), pop[int(np.argmax(scores))].copy())
        mean, spread = elite.mean(0), np.where(free, elite.std(0) + 0.1, 0.0)
    return best[1]


FITS: dict[str, Callable[[Task], np.ndarray]] = {
    "reinforce": fit_reinforce,
    "cem": lambda task: fit_cem(task, ce_init(task), np.arange(FEATURES) < 5, 2.0),
    "rule+cem": lambda task: fit_cem(task, RULE, np.ones(FEATURES, bool), 1.0),
}


def probe(run: Path) -> dict[str, Any]:
    """Test scores of the run's last weights: raw, hand rule, and each learned gate."""
    model, cfg, _ = load_segmenter(run / "checkpoints" / "last.pt")
    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    fit, val, test = split_videos(cfg)
    longest = max(len(ds.labels(v)) for v in fit)
    with torch.no_grad():
        val_rows = stream_videos(model, cfg, "train", val)
        test_rows = stream_videos(model, cfg, "test", test)
    with tempfile.TemporaryDirectory() as tmp:
        choice, rule = hold_stage(
            ds, val_rows, test_rows, longest, cfg.clip.sample_rate, Path(tmp), "hold"
        )

    def task(rows: list[dict[str, Any]]) -> Task:
        videos = [(r["probs"].astype(np.float32), ds.labels(r["video"])) for r in rows]
        return Task(videos, longest, cfg.clip.sample_rate, ds.background_ids, choice.settings)

    val_task, test_task = task(val_rows), task(test_rows)
    row: dict[str, Any] = {
        "run": f"{run.parent.parent.parent.name}/{run.parent.name}",
        "raw": summarize([r["video_score"] for r in test_rows]),
        "rule": rule,
    }
    for name, fit_gate in FITS.items():
        row[name] = test_task.scores(fit_gate(val_task)[None])[0]
    return row


COLUMNS = ("raw", "rule", *FITS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories (with checkpoints/)")
    p.add_argument("--out", type=Path, help="append one JSON line per run here")
    args = p.parse_args()
    torch.set_num_threads(1)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in args.runs:
        try:
            row = probe(run)
        except FileNotFoundError as exc:
            print(f"{run}: skipped ({exc})", flush=True)
            continue
        cells = " | ".join(f"{row[k]['edit']:.1f} / {row[k]['f1@50']:.1f}" for k in COLUMNS)
        print(f"| {row['run']} | {cells} |", flush=True)
        groups[row["run"].split("/")[0]].append(row)
        groups["all"].append(row)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    print("\nmean test Edit / F1@50 (wins/losses of each learned gate against the rule on F1@50)")
    print("| runs | n | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for group, rows in groups.items():
        means = []
        for k in COLUMNS:
            edit = np.mean([r[k]["edit"] for r in rows])
            f1 = np.mean([r[k]["f1@50"] for r in rows])
            gap = np.array([r[k]["f1@50"] - r["rule"]["f1@50"] for r in rows])
            wins = f" ({(gap > 0).sum()}/{(gap < 0).sum()})" if k in FITS else ""
            means.append(f"{edit:.1f} / {f1:.1f}{wins}")
        print(f"| {group} | {len(rows)} | " + " | ".join(means) + " |")


if __name__ == "__main__":
    main()
