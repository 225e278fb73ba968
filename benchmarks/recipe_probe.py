"""Recipe probe: which supervised training recipe makes the streaming causal_mstcn beat the
trivial causal baselines, on any dataset, in a fixed wall-clock budget.

What it shows
    In one process (no Ray), the project's streaming ``causal_mstcn`` (built by
    ``models/build.py``) is trained supervised (CE + MS-TCN smoothing, ``models/losses.py``) on
    minibatches of chunks of consecutive clips, each chunk started from the state the current
    model leaves after the chunk's preceding clips (what the Ray learner's stored start state
    approximates), for ``--budget-s`` seconds of training. Every ``--budget-s / 4`` it is scored
    on validation videos carved from the training split; the best one is scored on the test
    split raw and with the OnlineTAS hold rule tuned on validation (``models/postprocess.py``).
    ``--trivial`` also scores the trivial causal baselines (``models/trivial.py``: nearest class
    mean and softmax regression on every raw frame, raw / hold / causal moving average / both).
    Each result is one JSON line in ``--out``; ``--table`` prints a markdown table of a file.
    Recipe knobs (``--set FIELD=VALUE``, see :class:`Recipe`): input normalisation, lr, warm-up,
    schedule, minibatch size, chunk length, an optimiser-step cap (to mimic the Ray trainer's
    one update per collected batch), dropout, clip lookahead, start state.

How to run
    python -m svtas_ray synth --preset breakfast --num-videos 120 --out /tmp/d/breakfast
    python benchmarks/recipe_probe.py --data /tmp/d/breakfast --preset breakfast --trivial \\
        --out /tmp/probe.jsonl                                    # default recipe, 120 s
    python benchmarks/recipe_probe.py --data /tmp/d/breakfast --preset breakfast \\
        --set normalize=false --set dropout=0.5 --tag old --out /tmp/probe.jsonl
    python benchmarks/recipe_probe.py --table /tmp/probe.jsonl
    Clips default to the upstream protocol (gtea 64x2, others 128x8); ``--threads`` 1.

How to debug
    ``--budget-s 10 --max-videos 12`` runs in well under a minute; everything is seeded
    (``--seed``) and single-threaded; timings move with the machine's load.

Expected results (2 shared CPU cores, 120 s per run; numbers in the report of the branch that
added this script): the default recipe beats the best trivial baseline on Acc and Edit and by
>= 10 F1@50 on the synthetic breakfast, salads, gtea and egtea presets and on breakfast
variants (noise, noise_corr, video offset/gain, feature_dim, confusion, features*50+20);
without normalisation, or with a few dozen optimiser steps (the Ray trainer's rate), it does not.
"""

# ruff: noqa: E402  (BLAS threads are fixed before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # numpy's BLAS threads fight over 2 shared cores

import argparse
import dataclasses
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from svtas_ray.cli.overrides import parse_overrides
from svtas_ray.cli.runner import run, script_parser
from svtas_ray.config import ModelConfig, override
from svtas_ray.data.clips import IGNORE_INDEX
from svtas_ray.data.features import read_video_features
from svtas_ray.data.layout import Dataset
from svtas_ray.data.normalization import FeatureStats
from svtas_ray.data.synthetic import PRESET_BACKGROUND
from svtas_ray.metrics import METRIC_NAMES, score_video, summarize
from svtas_ray.models.build import build_segmenter
from svtas_ray.models.interface import StreamingSegmenter, cat_states
from svtas_ray.models.losses import segmentation_loss
from svtas_ray.models.postprocess import expand, post_process, selection_score, tune_hold_rule
from svtas_ray.models.trivial import evaluate_trivial
from svtas_ray.rl.averaging import WeightAverage

log = logging.getLogger("recipe_probe")
CLIPS = {"gtea": (64, 2), "salads": (128, 8), "breakfast": (128, 8), "egtea": (128, 8)}
"""Upstream clip_len x sample_rate per preset (experiments/*.py)."""


@dataclass(frozen=True)
class Recipe:
    """How the streaming segmenter is trained (every field can be set with ``--set``)."""

    normalize: bool = True
    """Standardise features with the training split's per-dimension mean and std."""
    lr: float = 1e-3
    """Adam's peak learning rate."""
    warmup_steps: int = 50
    """Linear warm-up from 0 to ``lr`` over this many optimiser steps."""
    schedule: Literal["constant", "cosine"] = "cosine"
    """After warm-up: constant, or cosine decay to 0 over the time budget."""
    batch: int = 8
    """Chunks per minibatch (one optimiser step each)."""
    chunk_clips: int = 4
    """Consecutive clips per chunk (0: whole videos from their first clip)."""
    max_steps: int = 0
    """Stop after this many optimiser steps even if budget is left (0: no cap)."""
    dropout: float = 0.2
    """Dropout inside the TCN layers (MS-TCN: 0.5)."""
    lookahead: bool = True
    """model.clip_lookahead: centred convolutions inside the clip."""
    start_state: Literal["burnin", "zero"] = "burnin"
    """Chunk start state: the model's own state after the preceding clips, or zeros."""
    weight_decay: float = 0.0
    """Adam weight decay."""
    grad_clip: float = 0.0
    """Global gradient-norm clip (0: off; the Ray learner's default is 1.0)."""
    smooth_weight: float = 0.15
    """MS-TCN's truncated-MSE smoothing weight."""
    hidden_dim: int = 64
    """Channels of every TCN stage."""
    stages: int = 4
    """TCN stages."""
    ema_decay: float = 0.0
    """Validate and keep a Polyak average of the weights (``algo.ema_decay``; 0: off)."""
    pool: bool = False
    """Each slot's features are the mean of its ``sample_rate`` raw frames (all inside the
    slot's clip, so still causal at clip granularity) instead of the first frame's."""


@dataclass
class Videos:
    """Sampled features ``(T_s, D)`` (standardised or not), sampled labels and raw labels."""

    names: list[str]
    x: list[np.ndarray]
    y: list[np.ndarray]
    raw: list[np.ndarray]


def load(ds: Dataset, names: Sequence[str], sr: int, pool: bool = False) -> Videos:
    out = Videos([], [], [], [])
    for name in names:
        feats, labels = read_video_features(ds, name, 1 if pool else sr)
        if pool and sr > 1:  # mean over each slot's raw frames (the last slot may have fewer)
            slots = np.arange(len(feats)) // sr
            sums = np.zeros((slots[-1] + 1, feats.shape[1]), np.float64)
            np.add.at(sums, slots, feats)
            feats = (sums / np.bincount(slots)[:, None]).astype(np.float32)
        out.names.append(name)
        out.x.append(feats)
        out.y.append(labels[::sr])
        out.raw.append(labels)
    return out


# --------------------------------------------------------------------------- training


def sample_batch(
    model: StreamingSegmenter, data: Videos, recipe: Recipe, clip_len: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """``recipe.batch`` chunks: clips ``(B, K, L, D)``, labels ``(B, K*L)`` and start state."""
    n_clips = np.array([math.ceil(len(y) / clip_len) for y in data.y])
    chunk = recipe.chunk_clips or int(n_clips.max())
    if recipe.chunk_clips:  # every clip position equally likely: long videos count more
        picks = rng.choice(n_clips.sum(), size=recipe.batch)
        video = np.searchsorted(np.cumsum(n_clips), picks, side="right")
        first = picks - (np.cumsum(n_clips) - n_clips)[video]
    else:
        video, first = rng.integers(0, len(data.y), size=recipe.batch), np.zeros(recipe.batch, int)
    chunk = min(chunk, int((n_clips[video] - first).max()))
    dim = data.x[0].shape[1]
    clips = np.zeros((recipe.batch, chunk * clip_len, dim), np.float32)
    labels = np.full((recipe.batch, chunk * clip_len), IGNORE_INDEX, np.int64)
    states = []
    for b, (v, k) in enumerate(zip(video.tolist(), first.tolist(), strict=True)):
        lo = k * clip_len
        part = data.x[v][lo : lo + chunk * clip_len]
        clips[b, : len(part)] = part
        labels[b, : len(part)] = data.y[v][lo : lo + len(part)]
        states.append(start_state(model, data.x[v][:lo], clip_len, recipe.start_state))
    x = torch.from_numpy(clips).view(recipe.batch, chunk, clip_len, dim)
    return x, torch.from_numpy(labels), cat_states(states)


def start_state(
    model: StreamingSegmenter, prefix: np.ndarray, clip_len: int, kind: str
) -> tuple[torch.Tensor, ...]:
    """The state after ``prefix`` (whole clips) as the model streams it now (eval mode)."""
    if kind == "zero" or len(prefix) == 0:
        return model.initial_state(1)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        state = model.forward_video(torch.from_numpy(prefix)[None], block_len=clip_len).state
    model.train(was_training)
    return state


def lr_at(recipe: Recipe, step: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / recipe.warmup_steps) if recipe.warmup_steps else 1.0
    decay = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) if recipe.schedule == "cosine" else 1
    return recipe.lr * warm * decay


def predict_probs(model: StreamingSegmenter, data: Videos, clip_len: int) -> list[np.ndarray]:
    """Softmax ``(T_s, C)`` of every video streamed by the model (one causal pass = streaming)."""
    model.eval()
    out = []
    with torch.no_grad():
        for x in data.x:
            logits = model.forward_video(torch.from_numpy(x)[None], block_len=clip_len).final
            out.append(torch.softmax(logits[0], -1).numpy())
    model.train()
    return out


def scores_of(preds: Sequence[np.ndarray], data: Videos, bg: Sequence[int], sr: int) -> dict:
    per = [score_video(expand(p, len(y), sr), y, bg) for p, y in zip(preds, data.raw, strict=True)]
    return summarize(per)


def train(
    ds: Dataset,
    recipe: Recipe,
    train_v: Videos,
    val_v: Videos,
    clip_len: int,
    sr: int,
    budget_s: float,
    seed: int,
) -> tuple[StreamingSegmenter, dict[str, Any]]:
    """Train for ``budget_s`` seconds (validation excluded); return the best model on val."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = ModelConfig(dropout=recipe.dropout, clip_lookahead=recipe.lookahead)
    cfg = dataclasses.replace(cfg, hidden_dim=recipe.hidden_dim, tcn_stages=recipe.stages)
    model = build_segmenter(cfg, ds.num_classes, (train_v.x[0].shape[1],))
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    averaged = WeightAverage(model, recipe.ema_decay) if recipe.ema_decay > 0 else None
    evaluated: Any = averaged.module if averaged is not None else model
    bg = ds.background_ids
    best: tuple[float, dict[str, torch.Tensor], int] | None = None
    step, trained, frames, next_eval = 0, 0.0, 0, budget_s / 4
    wall = time.perf_counter()
    model.train()
    while trained < budget_s and (recipe.max_steps == 0 or step < recipe.max_steps):
        start = time.perf_counter()
        clips, labels, state = sample_batch(model, train_v, recipe, clip_len, rng)
        mask = (labels != IGNORE_INDEX).view(clips.shape[:3])
        logits, _, _ = model.forward_chunk(clips, state, mask)
        flat = [stage.flatten(1, 2) for stage in logits]
        loss = segmentation_loss(flat, labels, recipe.smooth_weight)
        for group in opt.param_groups:
            group["lr"] = lr_at(recipe, step, trained / budget_s)
        opt.zero_grad()
        loss.backward()
        if recipe.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        opt.step()
        if averaged is not None:
            averaged.update()
        step += 1
        frames += int(mask.sum())
        trained += time.perf_counter() - start
        last = trained >= budget_s or step == recipe.max_steps
        if trained >= next_eval or last:
            next_eval += budget_s / 4
            preds = [p.argmax(1) for p in predict_probs(evaluated, val_v, clip_len)]
            value = selection_score(scores_of(preds, val_v, bg, sr))
            log.info("step %d  %.0f s  loss %.3f  val %.1f", step, trained, float(loss), value)
            if best is None or value > best[0]:
                state_dict = {k: v.clone() for k, v in evaluated.state_dict().items()}
                best = (value, state_dict, step)
    assert best is not None
    model.load_state_dict(best[1])
    info = {"steps": step, "train_s": trained, "wall_s": time.perf_counter() - wall}
    info.update({"frames": frames, "best_step": best[2], "val_score": best[0]})
    return model, info


# --------------------------------------------------------------------------- one run


def run_model(args: argparse.Namespace, ds: Dataset, recipe: Recipe) -> dict[str, Any]:
    clip_len, sr = args.clip_len, args.sample_rate
    train_names, val_names, test_names = split(ds, args)
    train_v, val_v, test_v = (
        load(ds, names, sr, recipe.pool) for names in (train_names, val_names, test_names)
    )
    if recipe.normalize:  # statistics of the training videos' slots, as the model sees them
        stats = FeatureStats.from_blocks(train_v.x)
        for videos in (train_v, val_v, test_v):
            videos.x = [stats.apply(x) for x in videos.x]
    model, info = train(ds, recipe, train_v, val_v, clip_len, sr, args.budget_s, args.seed)
    longest = max(len(y) for y in train_v.raw)
    bg = ds.background_ids
    choice = tune_hold_rule(predict_probs(model, val_v, clip_len), val_v.raw, longest, bg, sr)
    probs = predict_probs(model, test_v, clip_len)
    hold = choice.settings
    results = {
        "raw": scores_of([p.argmax(1) for p in probs], test_v, bg, sr),
        "hold": scores_of([post_process(p, hold) for p in probs], test_v, bg, sr),
    }
    info["hold"] = dataclasses.asdict(hold)
    return {"method": "causal_mstcn", "recipe": dataclasses.asdict(recipe), **info, **results}


def run_trivial(args: argparse.Namespace, ds: Dataset) -> list[dict[str, Any]]:
    train_names, val_names, test_names = split(ds, args)
    start = time.perf_counter()
    windows = tuple(int(w) for w in args.windows.split(","))
    results = evaluate_trivial(ds, train_names, val_names, test_names, windows=windows)
    total = time.perf_counter() - start
    rows = []
    for r in results:
        info: dict[str, Any] = {"fit_s": r.fit_s, "predict_s": r.predict_s, "wall_s": total}
        info.update(r.extra)
        info["hold"] = {k: dataclasses.asdict(v) for k, v in r.hold.items()}
        rows.append({"method": r.method, **info, **r.scores})
    return rows


def split(ds: Dataset, args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    """Training videos minus a validation tenth (>= 2), and the test videos of the split."""
    train = ds.split_videos(args.split, "train")
    test = ds.split_videos(args.split, "test")
    if args.max_videos:
        train, test = train[: args.max_videos], test[: max(2, args.max_videos // 3)]
    n_val = max(2, len(train) // 10)
    order = np.random.default_rng(1234).permutation(len(train))
    val = sorted(train[i] for i in order[:n_val])
    return [v for v in train if v not in val], val, test


def command(args: argparse.Namespace) -> int:
    if args.table:
        print(table(args.table))
        return 0
    torch.set_num_threads(args.threads)
    preset = args.preset
    default_clip = CLIPS[preset]
    args.clip_len = args.clip_len or default_clip[0]
    args.sample_rate = args.sample_rate or default_clip[1]
    ds = Dataset.open(args.data, PRESET_BACKGROUND[preset])
    recipe = override(Recipe(), parse_overrides(Recipe, args.set))
    common = {"dataset": args.name or Path(args.data).name, "tag": args.tag, "seed": args.seed}
    common.update({"clip_len": args.clip_len, "sample_rate": args.sample_rate})
    rows = run_trivial(args, ds) if args.trivial or args.trivial_only else []
    if not args.trivial_only:
        rows.append(run_model(args, ds, recipe))
    with open(args.out, "a") as f:
        for row in rows:
            f.write(json.dumps({**common, **row}) + "\n")
    for row in rows:
        print(brief({**common, **row}))
    return 0


# --------------------------------------------------------------------------- tables


def brief(row: dict[str, Any]) -> str:
    parts = [f"{row['dataset']} {row['method']} {row.get('tag', '')}".strip()]
    for variant in ("raw", "hold", "ma", "ma+hold"):
        if variant in row:
            s = row[variant]
            parts.append(f"{variant}: " + "/".join(f"{s[m]:.1f}" for m in METRIC_NAMES))
    if "steps" in row:
        parts.append(f"steps {row['steps']} ({row['train_s']:.0f} s, best {row['best_step']})")
    return " | ".join(parts)


def table(path: str) -> str:
    lines = [
        "| dataset | method | tag | post | Acc | Edit | F1@10 | F1@25 | F1@50 | steps | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for line in Path(path).read_text().splitlines():
        row = json.loads(line)
        for variant in ("raw", "hold", "ma", "ma+hold"):
            if variant not in row:
                continue
            s = row[variant]
            metrics = " | ".join(f"{s[m]:.1f}" for m in METRIC_NAMES)
            steps = row.get("steps", "–")
            lines.append(
                f"| {row['dataset']} | {row['method']} | {row.get('tag', '')} | {variant} | "
                f"{metrics} | {steps} | {row['wall_s']:.0f} |"
            )
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="dataset root (MS-TCN layout)")
    p.add_argument("--preset", default="breakfast", choices=sorted(CLIPS), help="background, clips")
    p.add_argument("--name", help="dataset name in the results (default: the root's folder name)")
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--clip-len", type=int, help="default: the preset's upstream clip length")
    p.add_argument("--sample-rate", type=int, help="default: the preset's upstream sample rate")
    p.add_argument("--budget-s", type=float, default=120.0, help="training seconds (val excluded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-videos", type=int, help="use only this many training videos (debug)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="Recipe")
    p.add_argument("--tag", default="", help="label of this run in the results")
    p.add_argument("--trivial", action="store_true", help="also score the trivial baselines")
    p.add_argument("--trivial-only", action="store_true", help="only the trivial baselines")
    p.add_argument(
        "--windows",
        default="16,32,64,128,256",
        help="moving-average windows (raw frames) the trivial baselines choose from on val",
    )
    p.add_argument("--out", default="recipe_probe.jsonl", help="JSON lines to append to")
    p.add_argument("--table", metavar="JSONL", help="print a markdown table of a results file")


def main(argv: Sequence[str] | None = None) -> int:
    parser = script_parser("recipe_probe.py", __doc__)
    add_arguments(parser)
    return run(parser, argv, command)


if __name__ == "__main__":
    sys.exit(main())
