"""Driver overhead of one training iteration as the number of rollout workers grows.

What it measures, in one run on a small synthetic ``gtea`` dataset with a tiny model (so that the
coordination, not the compute, is what grows): for ``W`` = 1, 2, 4, 8, 16 rollout workers, each
with a fractional CPU, the synchronous loop's iteration time (the period of a loop of steps) split
into the slowest worker's own sampling time, the learner's own update time, and the rest: the
driver and Ray (remote calls, pulling each worker's stats, handing the chunk refs to the learner,
returning the new weights, the metrics row). Overhead share = rest / iteration time; the target
(issue 16) is <= 10 % at W = 16.

How to run::

    .venv/bin/python benchmarks/driver_overhead.py [--iterations 10] [--model tiny] [--out FILE]

``--model default`` keeps the default model and PPO update instead of the tiny ones, to see the
same overhead against an iteration of realistic size.

Every W gets the same total of envs per worker (1) and the same chunk, so the learner's batch
grows with W, as it does on a cluster.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from svtas_ray import config as config_mod
from svtas_ray.config import SynthConfig, TrainConfig
from svtas_ray.results import markdown_table

TINY: dict[str, object] = {
    "clip.clip_len": 16,
    "model.embed_dim": 8,
    "model.hidden_dim": 8,
    "model.tcn_stages": 1,
    "model.tcn_layers": 2,
    "model.value_hidden": 8,
    "algo.kind": "supervised",
    "algo.epochs": 1,
    "algo.minibatches": 1,
}
"""The tiny model and update (``--model tiny``): the coordination is most of the iteration."""


def make_config(root: Path, runs: Path, workers: int, cpus: float, tiny: bool) -> TrainConfig:
    return config_mod.override(
        TrainConfig(),
        {
            "name": f"overhead-w{workers}",
            "runs_dir": str(runs),
            "val_videos": 0,
            "test_at_end": False,
            "data.root": str(root),
            **(TINY if tiny else {"algo.pretrain_iterations": 0}),
            "algo.chunk_clips": 4,
            "resources.num_workers": workers,
            "resources.envs_per_worker": 1,
            "resources.cpus_per_worker": cpus,
            "resources.cpus_per_learner": cpus,
        },
    )


def measure(cfg: TrainConfig, iterations: int) -> dict[str, float]:
    from svtas_ray.rl.trainer import Trainer

    with Trainer(cfg) as trainer:
        trainer.step()  # warm-up: actors start, first weights
        start = time.perf_counter()
        rows = [trainer.step() for _ in range(iterations)]
        # the period of the loop, not the rows' iteration_s: the next sampling may be requested
        # inside one step and run across the step boundary
        period = (time.perf_counter() - start) / iterations
    worker = float(np.mean([r["worker_sample_s"] for r in rows]))
    learner = float(np.mean([r["learner_update_s"] for r in rows]))
    rest = period - worker - learner
    return {
        "iteration_ms": 1e3 * period,
        "slowest_worker_ms": 1e3 * worker,
        "learner_ms": 1e3 * learner,
        "driver_ms": 1e3 * rest,
        "driver_share": rest / period,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the embedded cluster")
    parser.add_argument(
        "--model",
        choices=["tiny", "default"],
        default="tiny",
        help="tiny: the target's setting; default: the default model and PPO update",
    )
    parser.add_argument("--out", help="write the table here (markdown)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from svtas_ray.data.cache import ensure_synthetic

    tmp = Path(tempfile.mkdtemp(prefix="driver_overhead_"))
    root = ensure_synthetic(SynthConfig(num_videos=12), tmp / "gtea")
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    rows = []
    for w in args.workers:
        cpus = min(1.0, args.cpus / (w + 1))  # every layout fits the cluster
        cfg = make_config(root, tmp / "runs", w, cpus, args.model == "tiny")
        result = measure(cfg, args.iterations)
        rows.append({"workers": w, "cpus_each": round(cpus, 3), **result})
        print(rows[-1], flush=True)
    ray.shutdown()
    table = pd.DataFrame(rows)
    last = table.iloc[-1]
    verdict = "met" if last["driver_share"] <= 0.10 else "NOT met"
    text = (
        markdown_table(table, digits=3)
        + f"\n\ndriver share at W={int(last['workers'])}: {100 * last['driver_share']:.1f} %"
        + f" (target <= 10 %: {verdict})\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
