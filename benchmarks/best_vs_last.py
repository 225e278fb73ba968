"""Which weights to keep, measured on finished runs: the checkpoint selected on validation
(``best.pt``) against the last weights (``last.pt``), each raw and with the hold rule tuned on the
validation videos with those weights, scored on the test videos.

With the default cosine schedule the learning rate has decayed to ~1 % by the end of the budget,
so the last weights are converged; selection on a few validation videos can still pick an
earlier, less trained checkpoint that happened to score well on them. This script measures how
often that helps and how often it hurts. The run directories are read, never written (the
evaluation goes to a temporary folder).

How to run::

    .venv/bin/python benchmarks/best_vs_last.py RUN_DIR [RUN_DIR ...] [--out FILE]

e.g. every streaming run of a benchmark:
``benchmarks/best_vs_last.py runs/bench/offline_vs_streaming/recipe-salads/runs/*/*``.
Each run takes a few seconds to a minute (4 streamed passes, one thread). Runs whose dataset is
gone are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from svtas_ray.data.layout import Dataset
from svtas_ray.evaluate import hold_stage, stream_videos
from svtas_ray.metrics import summarize
from svtas_ray.models.checkpoint import load_segmenter
from svtas_ray.rl.trainer import split_videos


def compare(run: Path) -> dict[str, Any]:
    """Test Edit / F1@50 of the best and last weights, raw and with their own hold rule."""
    best, cfg, _ = load_segmenter(run / "checkpoints" / "best.pt")
    last, _, _ = load_segmenter(run / "checkpoints" / "last.pt")
    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    fit, val, test = split_videos(cfg)
    longest = max(len(ds.labels(v)) for v in fit)
    row: dict[str, Any] = {"run": f"{run.parent.parent.parent.name}/{run.parent.name}"}
    with torch.no_grad():
        streams = {
            name: (stream_videos(m, cfg, "train", val), stream_videos(m, cfg, "test", test))
            for name, m in (("best", best), ("last", last))
        }
    for name, (val_rows, test_rows) in streams.items():
        row[f"{name}_raw"] = summarize([r["video_score"] for r in test_rows])
        tie = streams["last"][0] if name == "best" else None  # the trainer's tie-break
        with tempfile.TemporaryDirectory() as tmp:
            _, scores = hold_stage(
                ds, val_rows, test_rows, longest, cfg.clip.sample_rate, Path(tmp), "hold", tie
            )
        row[f"{name}_hold"] = scores
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories (with checkpoints/)")
    p.add_argument("--out", type=Path, help="append one JSON line per run here")
    args = p.parse_args()
    torch.set_num_threads(1)
    for run in args.runs:
        try:
            row = compare(run)
        except FileNotFoundError as exc:
            print(f"{run}: skipped ({exc})", flush=True)
            continue
        cells = " | ".join(
            f"{k}: {row[k]['edit']:.1f} / {row[k]['f1@50']:.1f}"
            for k in ("best_raw", "last_raw", "best_hold", "last_hold")
        )
        print(f"| {row['run']} | {cells} |", flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
