"""How much could a better decision rule add to a trained model? An upper bound, measured.

A reward-trained policy can beat the supervised one of the same network in two ways: better class
probabilities, or a better decision of what to emit from them (hold the previous label or switch,
the learned hold gate's job). The first is measured to be noise (``benchmarks/credit_variance.py``
and the RL tables in docs/learning.md). This script bounds the second: for each finished run it
streams the test videos once with the run's kept weights and decodes the same probabilities
with

- ``arg-max``: the arg-max of every frame;
- ``gate as trained``: the learned hold gate without an offset (the trainer's raw rows, which
  stream with the gate);
- ``rule``: the causal hold rule, its θ and σ tuned on the validation videos (the trainer's
  ``+hold``);
- ``gate``: the learned gate, its hold-logit offset tuned on the validation videos (the trainer's
  ``+gate``);
- ``rule*``: the hold rule, θ and σ chosen on the **test** videos (same grid);
- ``gate offset*``: the gate's offset chosen on the test videos (same grid);
- ``gate*``: all five parameters of the gate (its four weights and bias) searched on the test
  videos, starting from ``gate offset*``: a (1+1) evolution strategy, ``--search`` decodes.

Starred rows are chosen on the labels they are scored by (mean of test Edit and F1@50): they are
**upper bounds**, not results. ``gate*`` bounds what any training of the gate, by reward or
otherwise, could reach on these probabilities, test overfitting included.

The run directories are read, never written. How to run::

    .venv/bin/python benchmarks/decode_ceiling.py RUN_DIR [...] [--search 200] [--out F.jsonl]

e.g. every streaming run of a benchmark: ``benchmarks/decode_ceiling.py OUT/runs/*/*``. A run
takes 10 s to a few minutes on one thread (longer test videos, more decodes per search step).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from svtas_ray.data.layout import Dataset
from svtas_ray.errors import SvtasError
from svtas_ray.evaluate import gate_stage, hold_stage, stream_videos, tuning_rows
from svtas_ray.metrics import score_video, summarize
from svtas_ray.models.checkpoint import load_segmenter
from svtas_ray.models.hold_gate import OFFSETS, HoldGate, gate_decode
from svtas_ray.models.postprocess import SIGMAS, THETAS, expand, hold_rule, min_len_of
from svtas_ray.rl.trainer import split_videos

METRICS = ("acc", "edit", "f1@50")
ROWS = ("arg-max", "gate as trained", "rule", "gate", "rule*", "gate offset*", "gate*")


def ceiling(run: Path, search: int, seed: int = 0) -> dict[str, Any]:
    """Test Acc / Edit / F1@50 of every decode of :data:`ROWS` for the run's kept weights."""
    model, cfg, _ = load_segmenter(run / "checkpoints" / "best.pt")
    gate = model.hold_gate
    if gate is None:
        raise SvtasError(f"{run}: the model has no hold gate (model.hold_gate=false)")
    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    fit, val, test = split_videos(cfg)
    with torch.no_grad():
        tuning = tuning_rows(lambda s: stream_videos(model, cfg, "train", val, s), cfg)
        rows = stream_videos(model, cfg, "test", test)
    rate = cfg.clip.sample_rate
    probs = [np.asarray(r["probs"], np.float32) for r in rows]
    labels = [ds.labels(r["video"]) for r in rows]

    def scores(decode: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
        per_video = [
            score_video(expand(decode(p), len(y), rate), y, ds.background_ids)
            for p, y in zip(probs, labels, strict=True)
        ]
        every = summarize(per_video)
        return {k: float(every[k]) for k in METRICS}

    def target(s: dict[str, float]) -> float:
        return (s["edit"] + s["f1@50"]) / 2

    out: dict[str, Any] = {"run": str(run), "kind": cfg.algo.kind}
    out["arg-max"] = scores(lambda p: p.argmax(-1))
    with tempfile.TemporaryDirectory() as tmp:
        longest = max(len(ds.labels(v)) for v in fit)
        _, held = hold_stage(ds, tuning, rows, longest, rate, Path(tmp) / "h", "h")
        offset, _, gated = gate_stage(ds, gate, tuning, rows, rate, Path(tmp) / "g", "g")
    out["rule"] = {k: float(held[k]) for k in METRICS}
    out["gate"] = {k: float(gated[k]) for k in METRICS}
    out["gate_offset"] = offset
    rules = [(t, s) for t in THETAS for s in (SIGMAS if t > 0 else SIGMAS[:1])]
    by_rule = [
        scores(partial(hold_rule, theta=t, min_len=min_len_of(s, longest, rate))) for t, s in rules
    ]
    out["rule*"] = max(by_rule, key=target)
    by_offset = {o: scores(partial(_gate, gate=gate, offset=o)) for o in OFFSETS}
    best_offset = max(OFFSETS, key=lambda o: (target(by_offset[o]), -abs(o)))
    out["gate as trained"] = by_offset[0.0]
    out["gate offset*"] = by_offset[best_offset]
    out["gate_offset*"] = best_offset
    out["gate*"], out["gate*_params"] = _search_gate(
        gate, best_offset, lambda g: scores(partial(_gate, gate=g)), target, search, seed
    )
    return out


def _gate(probs: np.ndarray, gate: HoldGate, offset: float = 0.0) -> np.ndarray:
    return gate_decode(gate, probs, offset)


def _search_gate(
    gate: HoldGate,
    offset: float,
    scores: Callable[[HoldGate], dict[str, float]],
    target: Callable[[dict[str, float]], float],
    steps: int,
    seed: int,
) -> tuple[dict[str, float], list[float]]:
    """The best scores a (1+1) evolution strategy over the gate's five parameters finds in
    ``steps`` decodes, from the trained gate with ``offset`` added to its bias (``-inf``: a
    closed gate, bias -10), and those parameters (four weights, bias)."""
    rng = np.random.default_rng(seed)
    weights = gate.linear.weight.detach().double().numpy()[0]
    bias = float(gate.linear.bias.detach()) + (offset if math.isfinite(offset) else -10.0)
    x = np.concatenate([weights, [bias]])

    def at(params: np.ndarray) -> dict[str, float]:
        g = HoldGate()
        with torch.no_grad():
            g.linear.weight.copy_(torch.from_numpy(params[:4]).float()[None])
            g.linear.bias.fill_(float(params[4]))
        return scores(g)

    best = at(x)
    step = 1.0
    for _ in range(steps):
        y = x + step * rng.standard_normal(5)
        s = at(y)
        if target(s) >= target(best):
            x, best, step = y, s, step * 1.5
        else:
            step = max(step * 0.9, 0.05)
    return best, [float(v) for v in x]


def _summary(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        f"mean over {len(rows)} runs, test Acc / Edit / F1@50 (starred: chosen on the test labels)",
        "",
        "| decode | Acc | Edit | F1@50 | (Edit + F1@50) / 2 |",
        "|---|---|---|---|---|",
    ]
    for name in ROWS:
        means = [float(np.mean([r[name][k] for r in rows])) for k in METRICS]
        cells = " | ".join(f"{m:.1f}" for m in means)
        lines.append(f"| {name} | {cells} | {(means[1] + means[2]) / 2:.1f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories (with checkpoints/)")
    p.add_argument("--search", type=int, default=200, help="decodes of the gate* search")
    p.add_argument("--out", type=Path, help="append one JSON line per run here")
    args = p.parse_args()
    if args.search < 0:
        p.error(f"--search must be >= 0, got {args.search}")
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        try:
            row = ceiling(run, args.search)
        except (SvtasError, FileNotFoundError) as err:
            print(f"skipped {run}: {err}", flush=True)
            continue
        rows.append(row)
        cells = " | ".join(
            f"{name} " + " / ".join(f"{row[name][k]:.1f}" for k in METRICS) for name in ROWS
        )
        print(f"{run} ({row['kind']}): {cells}", flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    for kind in sorted({r["kind"] for r in rows}):
        print(f"\n{kind}: " + _summary([r for r in rows if r["kind"] == kind]))


if __name__ == "__main__":
    main()
