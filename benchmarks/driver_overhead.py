"""Driver overhead of one training iteration as the number of rollout workers grows.

What it measures, in one run on a small synthetic ``gtea`` dataset with a tiny model (so that the
coordination, not the compute, is what grows): for ``W`` = 1, 2, 4, 8, 16 rollout workers, each
with a fractional CPU, the synchronous loop's iteration time (the period of a loop of steps) split
into the slowest worker's own sampling time, the learner's own update time, and the rest: the
driver and Ray (remote calls, pulling each worker's stats, handing the chunk refs to the learner,
returning the new weights, the metrics row). Overhead share = rest / iteration time; the target
(issue 16) is <= 10 % at W = 16.

How to run::

    .venv/bin/python benchmarks/driver_overhead.py [--iterations 10] [--model tiny]
        [--rollout minimal] [--out FILE]

``--model default`` keeps the default model and PPO update instead of the tiny ones, to see the
same overhead against an iteration of realistic size.

Beside each W, the same decomposition of **Ray's floor** (``floor_*`` columns): a stub loop with
the same actors and resources, in which each worker burns, in CPU time, what one worker's
sampling took at the first W (1 by default), returns a chunk of the real one's frames (16 KB
with the minimal rollout) and its own time, and the
learner burns what the real learner's update took at that W and returns new weights; the driver
submits, fetches and hands refs on exactly as the trainer does. What the stub's driver share
shows is what Ray's actor calls cost with these processes on these cores, before any of the
trainer's own work.

Every W gets the same envs per worker and the same chunk (``--rollout``), so the learner's batch
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

ROLLOUTS: dict[str, dict[str, int]] = {
    "minimal": {"algo.chunk_clips": 4, "resources.envs_per_worker": 1},
    "default": {
        "clip.clip_len": TrainConfig().clip.clip_len,
        "algo.chunk_clips": TrainConfig().algo.chunk_clips,
        "resources.envs_per_worker": TrainConfig().resources.envs_per_worker,
    },
}
"""What one worker samples per iteration (``--rollout``): ``minimal`` is one env stepping 4 clips
(of 16 frames with the tiny model: about the least work a call can carry); ``default`` is the
trainer's defaults (8 envs x 8 clips x 64 frames), whatever the model."""


def make_config(
    root: Path, runs: Path, workers: int, cpus: float, tiny: bool, rollout: str
) -> TrainConfig:
    return config_mod.override(
        TrainConfig(),
        {
            "name": f"overhead-w{workers}",
            "runs_dir": str(runs),
            "val_videos": 0,
            "test_at_end": False,
            "data.root": str(root),
            **(TINY if tiny else {"algo.pretrain_iterations": 0}),
            **ROLLOUTS[rollout],
            "resources.num_workers": workers,
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


def _burn(ms: float) -> None:
    """Spend ``ms`` milliseconds of this thread's CPU time."""
    start = time.thread_time()
    while time.thread_time() - start < ms / 1e3:
        pass


class StubWorker:
    def __init__(self, burn_ms: float, chunk: tuple[int, ...]) -> None:
        self.burn_ms = burn_ms
        self.chunk = chunk

    def sample(self, weights: np.ndarray) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        _burn(self.burn_ms)
        return np.zeros(self.chunk, np.float32), time.perf_counter() - start


class StubLearner:
    def __init__(self, burn_ms: float) -> None:
        self.burn_ms = burn_ms

    def update(self, *chunks: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        start = time.perf_counter()
        _burn(self.burn_ms)
        return {"learn_s": time.perf_counter() - start}, np.zeros(3000, np.float32)


def ray_floor(
    cfg: TrainConfig, worker_ms: float, learner_ms: float, iterations: int
) -> dict[str, float]:
    """The same decomposition for the stub loop (see the module docstring); each stub worker
    returns a float32 chunk of the real one's frames (envs x clips x clip frames x 64 dims)."""
    import ray

    res = cfg.resources
    cpus = res.cpus_per_worker
    chunk = (res.envs_per_worker * cfg.algo.chunk_clips, cfg.clip.clip_len, 64)
    stub_worker = ray.remote(StubWorker).options(num_cpus=cpus)
    actors = [stub_worker.remote(worker_ms, chunk) for _ in range(res.num_workers)]
    learner = ray.remote(StubLearner).options(num_cpus=cpus).remote(learner_ms)
    weights: object = ray.put(np.zeros(3000, np.float32))
    own: list[tuple[float, float]] = []
    start = time.perf_counter()
    for i in range(iterations + 1):
        if i == 1:  # the first iteration warms up
            start, own = time.perf_counter(), []
        calls = [a.sample.options(num_returns=2).remote(weights) for a in actors]
        update = learner.update.options(num_returns=2)
        stats_ref, weights = update.remote(*[chunk for chunk, _ in calls])
        sampled = ray.get([seconds for _, seconds in calls])
        own.append((max(sampled), ray.get(stats_ref)["learn_s"]))
    period = (time.perf_counter() - start) / iterations
    for actor in [*actors, learner]:
        ray.kill(actor)
    worker = float(np.mean([w for w, _ in own]))
    rest = period - worker - float(np.mean([u for _, u in own]))
    return {
        "floor_iteration_ms": 1e3 * period,
        "floor_driver_ms": 1e3 * rest,
        "floor_driver_share": rest / period,
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
    parser.add_argument(
        "--rollout",
        choices=sorted(ROLLOUTS),
        default="minimal",
        help="minimal: one env, 4 clips per worker and iteration; default: the trainer's defaults",
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
    one_worker_ms = None
    for w in args.workers:
        cpus = min(1.0, args.cpus / (w + 1))  # every layout fits the cluster
        cfg = make_config(root, tmp / "runs", w, cpus, args.model == "tiny", args.rollout)
        result = measure(cfg, args.iterations)
        if one_worker_ms is None:  # one worker's sampling, measured alone on its core
            one_worker_ms = result["slowest_worker_ms"]
        floor = ray_floor(cfg, one_worker_ms, result["learner_ms"], args.iterations)
        rows.append({"workers": w, "cpus_each": round(cpus, 3), **result, **floor})
        print(rows[-1], flush=True)
    ray.shutdown()
    table = pd.DataFrame(rows)
    last = table.iloc[-1]
    verdict = "met" if last["driver_share"] <= 0.10 else "NOT met"
    text = (
        markdown_table(table, digits=3)
        + f"\n\ndriver share at W={int(last['workers'])}: {100 * last['driver_share']:.1f} %"
        + f" (target <= 10 %: {verdict}); Ray's floor with the same processes and CPU costs:"
        + f" {100 * last['floor_driver_share']:.1f} %\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
