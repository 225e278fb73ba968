"""The post-processing stage with and without its moving average, measured on finished runs.

The trainer's post-processing stage is the OnlineTAS hold rule tuned on validation videos
(``svtas_ray.models.postprocess.tune_hold_rule``). A model can flicker *confidently*, above any
threshold the rule has, and the trivial baselines gain most from a causal moving average of
their scores. This script measures whether a moving average before the rule, its window tuned
with the rule's settings, would make a better stage. On each run's validation videos, with the
weights the run kept (``best.pt``; the last weights break ties as in the trainer), it tunes, and
then scores on the test videos:

- ``raw``: the arg-max of every frame;
- ``rule``: the hold rule alone (``windows=(1,)``): the trainer's ``+hold`` rows;
- ``stage``: window (``postprocess.WINDOWS``: 1, 4, 16, 64 sampled frames, or ``--windows``),
  theta and sigma tuned together.

The run directories are read, never written (the evaluation goes to a temporary folder). Runs
whose dataset is gone are skipped with a message.

How to run::

    .venv/bin/python benchmarks/smoothing_stage.py RUN_DIR [RUN_DIR ...] [--out FILE.jsonl]

e.g. every streaming run of a benchmark:
``benchmarks/smoothing_stage.py runs/bench/offline_vs_streaming/recipe-salads/runs/*/*``.
Each run takes a few seconds to a minute (3 streamed passes, one thread); the summary printed
at the end is the mean test Acc / Edit / F1@50 of each variant and how often the stage's window
was above 1.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from svtas_ray.data.layout import Dataset
from svtas_ray.errors import SvtasError
from svtas_ray.evaluate import hold_stage, stream_videos, write_eval
from svtas_ray.models.checkpoint import load_segmenter
from svtas_ray.models.postprocess import WINDOWS
from svtas_ray.rl.trainer import split_videos

METRICS = ("acc", "edit", "f1@50")


def rescore(run: Path, windows: tuple[int, ...] = WINDOWS) -> dict[str, Any]:
    """Test scores of the run's kept weights: raw, the rule alone, and the whole stage (its
    moving-average window tuned among ``windows``)."""
    best, cfg, _ = load_segmenter(run / "checkpoints" / "best.pt")
    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    fit, val, test = split_videos(cfg)
    tie = None
    with torch.no_grad():
        val_rows = stream_videos(best, cfg, "train", val)
        test_rows = stream_videos(best, cfg, "test", test)
        if cfg.selection != "last" and (run / "checkpoints" / "last.pt").is_file():
            last, _, _ = load_segmenter(run / "checkpoints" / "last.pt")
            tie = stream_videos(last, cfg, "train", val)
    longest = max(len(ds.labels(v)) for v in fit)
    row: dict[str, Any] = {"run": str(run)}
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_eval(ds, test_rows, Path(tmp) / "raw", "raw")
        row["raw"] = {k: float(raw[k]) for k in METRICS}
        for name, grid in (("rule", (1,)), ("stage", windows)):
            choice, scores = hold_stage(
                ds,
                val_rows,
                test_rows,
                longest,
                cfg.clip.sample_rate,
                Path(tmp) / name,
                name,
                tie,
                grid,
            )
            row[name] = {k: float(scores[k]) for k in METRICS}
            row[f"{name}_settings"] = {
                "window": choice.settings.window,
                "theta": choice.settings.theta,
                "min_len": choice.settings.min_len,
                "val_score": choice.score,
            }
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories (with checkpoints/)")
    p.add_argument("--out", type=Path, help="append one JSON line per run here")
    p.add_argument(
        "--windows",
        type=int,
        nargs="+",
        default=list(WINDOWS),
        help=f"moving-average windows the stage tunes, sampled frames (default {WINDOWS})",
    )
    args = p.parse_args()
    if min(args.windows) < 1:
        p.error(f"--windows must all be >= 1, got {args.windows}")
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        try:
            row = rescore(run, tuple(args.windows))
        except (SvtasError, FileNotFoundError) as err:
            print(f"skipped {run}: {err}", flush=True)
            continue
        rows.append(row)
        cells = " | ".join(
            f"{name} " + " / ".join(f"{row[name][k]:.1f}" for k in METRICS)
            for name in ("raw", "rule", "stage")
        )
        print(f"{run}: {cells} (window {row['stage_settings']['window']})", flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    if rows:
        print(f"mean over {len(rows)} runs (Acc / Edit / F1@50):")
        for name in ("raw", "rule", "stage"):
            means = [np.mean([r[name][k] for r in rows]) for k in METRICS]
            print(f"  {name:6s} " + " / ".join(f"{m:.1f}" for m in means))
        smoothed = sum(r["stage_settings"]["window"] > 1 for r in rows)
        print(f"  the stage chose a window above 1 in {smoothed} of {len(rows)} runs")


if __name__ == "__main__":
    main()
