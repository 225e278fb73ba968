"""Training throughput of the Ray trainer against a bare single-process loop.

What it measures, in one run on the synthetic ``gtea`` preset (features, supervised updates so the
work per clip is the same everywhere): env steps/s (clips) and frames/s of ``Trainer.step()`` for
rollout workers ``W = 1, 2`` and learners ``L = 1, 2`` (gloo on CPU), and the same sampling +
update done by a bare loop in this process (one :class:`RolloutWorker` and one :class:`Learner`
object, no Ray). Ray and bare runs alternate so that machine noise hits both. The efficiency ratio
is Ray (W=1, L=1) over bare; the target on a 2-core machine is >= 0.5.

How to run::

    .venv/bin/python benchmarks/train_speed.py [--iterations 10] [--out results.md]

To debug, run with ``--iterations 2 --envs 2`` (about a minute). Everything is seeded; the
dataset is generated once into a temp dir.

Expected results (2 CPU cores): bare and W=1/L=1 within a factor 2 (the Ray version pays the
weight broadcast and the object-store hop of each chunk, but overlaps nothing on 2 cores); W=2 or
L=2 gain nothing on 2 cores (the actors share them) and show the coordination overhead.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from svtas_ray.config import (
    AlgoConfig,
    ClipConfig,
    DataConfig,
    ModelConfig,
    ResourceConfig,
    SynthConfig,
    TrainConfig,
)
from svtas_ray.results import markdown_table


def make_config(root: Path, runs: Path, args: argparse.Namespace, w: int, lrn: int) -> TrainConfig:
    share = 2.0 / (w + lrn)  # every layout fits the 2-CPU embedded cluster
    return TrainConfig(
        name="bench",
        runs_dir=str(runs),
        val_videos=0,
        test_at_end=False,
        data=DataConfig(root=str(root)),
        clip=ClipConfig(clip_len=args.clip_len, sample_rate=2),
        model=ModelConfig(hidden_dim=64, tcn_stages=2, tcn_layers=8, dropout=0.0),
        algo=AlgoConfig(kind="supervised", chunk_clips=args.chunk),
        resources=ResourceConfig(
            num_workers=w,
            envs_per_worker=args.envs // w,
            num_learners=lrn,
            cpus_per_worker=share,
            cpus_per_learner=share,
        ),
    )


def ray_run(cfg: TrainConfig, iterations: int) -> dict[str, float]:
    from svtas_ray.rl.trainer import Trainer

    with Trainer(cfg) as trainer:
        trainer.step()  # warm-up: actor start, first weights
        start = time.perf_counter()
        rows = [trainer.step() for _ in range(iterations)]
        wall = time.perf_counter() - start
    steps = sum(r["env_steps_per_s"] * r["iteration_s"] for r in rows)
    frames = sum(r["frames_per_s"] * r["iteration_s"] for r in rows)
    return {
        "env_steps_per_s": steps / wall,
        "frames_per_s": frames / wall,
        "iteration_s": wall / iterations,
        "sample_s": sum(r["sample_s"] for r in rows) / iterations,
        "learn_s": sum(r["learn_s"] for r in rows) / iterations,
    }


def bare_run(cfg: TrainConfig, iterations: int) -> dict[str, float]:
    import torch

    from svtas_ray.rl.learner import Learner
    from svtas_ray.rl.rollout import RolloutWorker
    from svtas_ray.rl.trainer import split_videos

    torch.set_num_threads(1)
    fit, _, _ = split_videos(cfg)
    worker = RolloutWorker(cfg, tuple(fit), 0)
    learner = Learner(cfg, worker.num_classes, worker.obs_shape)
    learner.update([None], worker.sample(learner.weights(), cfg.algo.chunk_clips)[0])
    steps = frames = 0
    sample_s = learn_s = 0.0
    start = time.perf_counter()
    for _ in range(iterations):
        t0 = time.perf_counter()
        chunk, stats = worker.sample(learner.weights(), cfg.algo.chunk_clips)
        t1 = time.perf_counter()
        learner.update([None], chunk)
        learn_s += time.perf_counter() - t1
        sample_s += t1 - t0
        steps, frames = steps + stats.steps, frames + stats.frames
    wall = time.perf_counter() - start
    return {
        "env_steps_per_s": steps / wall,
        "frames_per_s": frames / wall,
        "iteration_s": wall / iterations,
        "sample_s": sample_s / iterations,
        "learn_s": learn_s / iterations,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--envs", type=int, default=8, help="envs in total (split over workers)")
    parser.add_argument("--chunk", type=int, default=8, help="clips per chunk")
    parser.add_argument("--clip-len", type=int, default=64)
    parser.add_argument("--out", help="write the table here (markdown)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from svtas_ray.data.cache import ensure_synthetic

    tmp = Path(tempfile.mkdtemp(prefix="train_speed_"))
    root = ensure_synthetic(SynthConfig(preset="gtea", num_videos=12), tmp / "gtea")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    bare_cfg = make_config(root, tmp / "runs", args, 1, 1)
    for w, lrn in ((1, 1), (2, 1), (1, 2), (2, 2)):
        cfg = make_config(root, tmp / "runs", args, w, lrn)
        rows.append({"loop": f"ray W={w} L={lrn}", **ray_run(cfg, args.iterations)})
        if lrn == 1:  # bare runs (same E in total) interleaved with Ray's
            rows.append({"loop": "bare", **bare_run(bare_cfg, args.iterations)})
    ray.shutdown()
    table = pd.DataFrame(rows)
    bare = table[table["loop"] == "bare"]["env_steps_per_s"].mean()
    ray11 = float(table[table["loop"] == "ray W=1 L=1"]["env_steps_per_s"].iloc[0])
    text = markdown_table(table) + f"\n\nefficiency ratio (ray W=1 L=1 / bare): {ray11 / bare:.2f}"
    text += f" (target >= 0.5: {'met' if ray11 / bare >= 0.5 else 'NOT met'})\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
