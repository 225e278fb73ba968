"""The hold rule tuned on deterministic or on perturbed validation streams, on finished runs.

The trainer tunes the causal hold rule (``svtas_ray.models.postprocess.tune_hold_rule``) on its
validation videos, which come from the training split. This script measures what the stream it
tunes on changes: with each run's kept weights (``best.pt``; the last weights break ties as in
the trainer) it tunes the rule on the validation videos streamed

- ``plain``: once, deterministically (``hold_tuning_draws=0``);
- ``draws``: ``--draws`` times with the model's dropout on (``hold_tuning_draws=K``, the seeds the
  trainer uses for the run's seed),

and scores each on the test videos, beside the raw arg-max. It also prints the raw Edit of the
validation streams (plain and the first draw) and of the test videos: how much cleaner the
validation videos look than unseen ones.

The run directories are read, never written (the evaluation goes to a temporary folder).

How to run::

    .venv/bin/python benchmarks/hold_tuning.py RUN_DIR [RUN_DIR ...] [--draws 3] [--out FILE.jsonl]

e.g. every streaming run of a benchmark:
``benchmarks/hold_tuning.py runs/bench/offline_vs_streaming/recipe-gtea/runs/*/*``. Each run
takes a few seconds to a minute (K + 2 streamed passes, one thread); the summary printed at the
end is the mean test Acc / Edit / F1@50 of each variant, per algorithm.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from svtas_ray.data.layout import Dataset
from svtas_ray.errors import SvtasError
from svtas_ray.evaluate import hold_stage, stream_videos, tuning_rows, write_eval
from svtas_ray.metrics import summarize
from svtas_ray.models.checkpoint import load_segmenter
from svtas_ray.rl.trainer import split_videos

METRICS = ("acc", "edit", "f1@50")
VARIANTS = ("raw", "plain", "draws")


def rescore(run: Path, draws: int) -> dict[str, Any]:
    """Test scores of the run's kept weights: raw, and with the rule tuned on the plain and on
    the perturbed validation streams."""
    best, cfg, _ = load_segmenter(run / "checkpoints" / "best.pt")
    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    fit, val, test = split_videos(cfg)
    tie = None
    with torch.no_grad():
        plain = stream_videos(best, cfg, "train", val)
        drawn = dataclasses.replace(cfg, hold_tuning_draws=draws)
        perturbed = tuning_rows(lambda s: stream_videos(best, cfg, "train", val, s), drawn)
        test_rows = stream_videos(best, cfg, "test", test)
        if cfg.selection != "last" and (run / "checkpoints" / "last.pt").is_file():
            last, _, _ = load_segmenter(run / "checkpoints" / "last.pt")
            tie = stream_videos(last, cfg, "train", val)
    longest = max(len(ds.labels(v)) for v in fit)
    row: dict[str, Any] = {"run": str(run), "algo": cfg.algo.kind, "draws": draws}
    row["raw_edit"] = {
        "val": summarize([r["video_score"] for r in plain])["edit"],
        "val_draw": summarize([r["video_score"] for r in perturbed[: len(val)]])["edit"],
        "test": summarize([r["video_score"] for r in test_rows])["edit"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_eval(ds, test_rows, Path(tmp) / "raw", "raw")
        row["raw"] = {k: float(raw[k]) for k in METRICS}
        for name, rows in (("plain", plain), ("draws", perturbed)):
            choice, scores = hold_stage(
                ds, rows, test_rows, longest, cfg.clip.sample_rate, Path(tmp) / name, name, tie
            )
            row[name] = {k: float(scores[k]) for k in METRICS}
            row[f"{name}_settings"] = {
                "theta": choice.settings.theta,
                "min_len": choice.settings.min_len,
                "val_score": choice.score,
            }
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories (with checkpoints/)")
    p.add_argument("--draws", type=int, default=3, help="perturbed streams per video (default 3)")
    p.add_argument("--out", type=Path, help="append one JSON line per run here")
    args = p.parse_args()
    if args.draws < 1:
        p.error(f"--draws must be >= 1, got {args.draws}")
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        try:
            row = rescore(run, args.draws)
        except (SvtasError, FileNotFoundError) as err:
            print(f"skipped {run}: {err}", flush=True)
            continue
        rows.append(row)
        cells = " | ".join(
            f"{name} " + " / ".join(f"{row[name][k]:.1f}" for k in METRICS) for name in VARIANTS
        )
        edits = row["raw_edit"]
        print(
            f"{run}: {cells} (raw Edit val {edits['val']:.1f}, one draw {edits['val_draw']:.1f}, "
            f"test {edits['test']:.1f})",
            flush=True,
        )
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    by_algo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_algo[row["algo"]].append(row)
    for algo, group in sorted(by_algo.items()):
        print(f"{algo}: mean over {len(group)} runs (Acc / Edit / F1@50)")
        for name in VARIANTS:
            means = [np.mean([r[name][k] for r in group]) for k in METRICS]
            print(f"  {name:6s} " + " / ".join(f"{m:.1f}" for m in means))


if __name__ == "__main__":
    main()
