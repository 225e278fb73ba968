"""The hold rule's tie-break, measured on finished runs: re-tune ``theta`` and ``sigma`` on each
run's validation videos without and with the last weights' predictions as the tie-break, and
score both choices on the test videos.

A checkpoint selected for scoring 100 on a few validation videos ties every hold setting that
does not hurt it; without a tie-break the rule is switched off. Only tied runs can change.
The run directories are read, never written (the evaluation goes to a temporary folder).

How to run::

    .venv/bin/python benchmarks/hold_ties.py RUN_DIR [RUN_DIR ...] [--out FILE]

e.g. every streaming run of a benchmark:
``benchmarks/hold_ties.py runs/bench/offline_vs_streaming/recipe-salads/runs/*/*``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

from svtas_ray.data.layout import Dataset
from svtas_ray.evaluate import hold_stage, stream_videos
from svtas_ray.models.checkpoint import load_segmenter
from svtas_ray.rl.trainer import split_videos


def retune(run: Path) -> dict[str, Any]:
    """Test Edit / F1@50 of the best weights with the hold rule tuned without and with the
    tie-break, and the settings each chose."""
    best, cfg, _ = load_segmenter(run / "checkpoints" / "best.pt")
    last, _, _ = load_segmenter(run / "checkpoints" / "last.pt")
    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    fit, val, test = split_videos(cfg)
    with torch.no_grad():
        val_best = stream_videos(best, cfg, "train", val)
        val_last = stream_videos(last, cfg, "train", val)
        test_best = stream_videos(best, cfg, "test", test)
    longest = max(len(ds.labels(v)) for v in fit)
    row: dict[str, Any] = {"run": f"{run.parent.name}/{run.name}"}
    for name, tie in (("off", None), ("last", val_last)):
        with tempfile.TemporaryDirectory() as tmp:
            choice, scores = hold_stage(
                ds, val_best, test_best, longest, cfg.clip.sample_rate, Path(tmp), "hold", tie
            )
        row[name] = (choice.settings.theta, choice.settings.min_len, scores)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories (with checkpoints/)")
    p.add_argument("--out", type=Path, help="also write the markdown table here")
    args = p.parse_args()
    torch.set_num_threads(1)
    lines = [
        "| run | ties -> rule off: theta, min_len, Edit / F1@50 | ties -> last weights | changed |",
        "|---|---|---|---|",
    ]
    for run in args.runs:
        row = retune(run)
        cells = [
            f"{t}, {m}, {s['edit']:.1f} / {s['f1@50']:.1f}" for t, m, s in (row["off"], row["last"])
        ]
        changed = "yes" if row["off"][:2] != row["last"][:2] else ""
        lines.append(f"| {row['run']} | {cells[0]} | {cells[1]} | {changed} |")
        print(lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
