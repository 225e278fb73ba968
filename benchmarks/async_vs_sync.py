"""Asynchronous sampling (``algo.staleness = k``) against the synchronous loop, side by side.

What it measures, in one run on the synthetic ``gtea`` preset with the default recipe (PPO after
supervised pre-training) and ``W`` rollout workers: for each seed, a synchronous run (k = 0) and
an asynchronous one (k = ``--staleness``) of the same wall-clock budget, one after the other so
that machine noise hits both. Per run: env steps/s over the training iterations, iterations done,
the share of the iteration the driver waited for samples, and the test scores of the checkpoint
selected on validation (greedy streaming, no post-processing). The ratio of env steps/s is taken
per seed, then averaged. Targets (issue 16): async >= 1.5x sync env steps/s at W = 2, with test
scores no worse at equal wall-clock.

How to run::

    .venv/bin/python benchmarks/async_vs_sync.py [--budget-s 90] [--seeds 0 1 2] [--out FILE]

The embedded cluster gets ``--cpus`` CPUs (default 2): W workers at 0.5 CPU each and the learner
at 1 CPU, so on a 2-core machine sampling and learning can overlap only if the learner leaves
room.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from svtas_ray import config as config_mod
from svtas_ray.config import SynthConfig, TrainConfig
from svtas_ray.results import markdown_table


def make_config(root: Path, runs: Path, args: argparse.Namespace, k: int, seed: int) -> TrainConfig:
    return config_mod.override(
        TrainConfig(),
        {
            "name": f"async-k{k}",
            "runs_dir": str(runs),
            "seed": seed,
            "iterations": 1_000_000,
            "time_budget_s": args.budget_s,
            "data.root": str(root),
            "algo.staleness": k,
            "resources.num_workers": args.workers,
            "resources.cpus_per_worker": args.worker_cpus,
            "resources.cpus_per_learner": 1.0,
        },
    )


def run(cfg: TrainConfig) -> dict[str, float]:
    from svtas_ray.rl.trainer import Trainer

    with Trainer(cfg) as trainer:
        trainer.train()
        rows = trainer.log.rows
        test = trainer.finish()["test_best"]
    iteration_s = sum(r["iteration_s"] for r in rows)
    steps = sum(r["env_steps_per_s"] * r["iteration_s"] for r in rows)
    return {
        "env_steps_per_s": steps / iteration_s,
        "iterations": float(len(rows)),
        "sample_wait": sum(r["sample_s"] for r in rows) / iteration_s,
        "mean_staleness": float(np.mean([r["staleness"] for r in rows])),
        "acc": test["acc"],
        "edit": test["edit"],
        "f1@50": test["f1@50"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=90.0, help="training seconds per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--staleness", type=int, default=1, help="k of the asynchronous runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-cpus", type=float, default=0.5)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the embedded cluster")
    parser.add_argument("--data-root", help="dataset root (default: the synthetic gtea preset)")
    parser.add_argument("--out", help="write the table here (markdown)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from svtas_ray.data.cache import ensure_synthetic

    tmp = Path(tempfile.mkdtemp(prefix="async_vs_sync_"))
    root = Path(args.data_root or ensure_synthetic(SynthConfig(), tmp / "gtea"))
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    rows = []
    for seed in args.seeds:
        for k in (0, args.staleness):
            result = run(make_config(root, tmp / "runs", args, k, seed))
            rows.append({"seed": seed, "staleness": k, **result})
            print(rows[-1], flush=True)
    ray.shutdown()
    table = pd.DataFrame(rows)
    sync = table[table["staleness"] == 0].set_index("seed")
    async_ = table[table["staleness"] == args.staleness].set_index("seed")
    ratio = (async_["env_steps_per_s"] / sync["env_steps_per_s"]).mean()
    means = table.groupby("staleness").agg(["mean", "std"]).drop(columns="seed")
    summary = pd.DataFrame(
        {
            col: [
                f"{means.loc[k, (col, 'mean')]:.2f} ± {means.loc[k, (col, 'std')]:.2f}"
                for k in means.index
            ]
            for col in ("env_steps_per_s", "iterations", "sample_wait", "acc", "edit", "f1@50")
        },
        index=[f"k={k}" for k in means.index],
    ).reset_index(names="loop")
    text = (
        f"W={args.workers} workers, {args.budget_s:.0f} s per run, seeds {args.seeds}\n\n"
        + markdown_table(table)
        + "\n\n"
        + markdown_table(summary)
        + f"\n\nenv steps/s, async (k={args.staleness}) / sync, mean over seeds: {ratio:.2f}"
        + f" (target >= 1.5: {'met' if ratio >= 1.5 else 'NOT met'})\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
