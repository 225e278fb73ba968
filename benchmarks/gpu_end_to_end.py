"""Training on a GPU end to end: Ray rollout workers on the CPUs, the learner on CUDA with bf16.

What it measures, on one machine with a CUDA device (a few minutes of GPU time in all): for
features mode (the synthetic ``gtea`` preset, 64-d features) and frames mode (the same preset
rendered to small RGB videos: decord decode -> TSM backbone -> head, end to end), the synchronous
and the asynchronous (``algo.staleness=1``) loop: seconds per iteration, env steps/s, frames/s,
the learner's own update time, and the GPU's utilisation sampled every 0.5 s by ``nvidia-smi``
while training (mean and max; '-' when nvidia-smi is missing).

How to run (the repository root, with the project's virtualenv)::

    .venv/bin/python benchmarks/gpu_end_to_end.py [--iterations 15] [--workers 6] [--out FILE]

Without a CUDA device it says so and exits with status 2. To debug the script on a CPU machine,
``--cpu --iterations 2 --workers 1`` runs the same path with the learner on the CPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from svtas_ray import config as config_mod
from svtas_ray.config import SynthConfig, TrainConfig
from svtas_ray.results import markdown_table


class GpuSampler:
    """Samples ``nvidia-smi``'s GPU utilisation (%) in a thread while it is open."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.available = shutil.which("nvidia-smi") is not None

    def _run(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
        while not self._stop.wait(0.5):
            out = subprocess.run(query, capture_output=True, text=True, check=False).stdout
            values = [float(v) for v in out.split() if v.strip().replace(".", "").isdigit()]
            if values:
                self.samples.append(values[0])

    def __enter__(self) -> GpuSampler:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()


def make_config(
    root: Path, runs: Path, mode: str, staleness: int, args: argparse.Namespace
) -> TrainConfig:
    overrides: dict[str, object] = {
        "name": f"gpu-{mode}-k{staleness}",
        "runs_dir": str(runs),
        "val_videos": 0,
        "test_at_end": False,
        "data.root": str(root),
        "algo.staleness": staleness,
        "algo.pretrain_iterations": 2,
        "resources.num_workers": args.workers,
        "resources.gpus_per_learner": 0.0 if args.cpu else 1.0,
        "resources.cpus_per_learner": 1.0,
        "resources.torch_threads": 2,
    }
    if mode == "frames":
        overrides.update(
            {
                "data.modality": "frames",
                "data.frame_size": (64, 64),
                "model.input": "frames",
                "clip.clip_len": 32,
            }
        )
    return config_mod.override(TrainConfig(), overrides)


def measure(cfg: TrainConfig, iterations: int) -> dict[str, object]:
    from svtas_ray.rl.trainer import Trainer

    with Trainer(cfg) as trainer:
        trainer.step()  # warm-up: actors start, CUDA context, first weights
        with GpuSampler() as gpu:
            start = time.perf_counter()
            rows = [trainer.step() for _ in range(iterations)]
            wall = time.perf_counter() - start
    steps = sum(r["env_steps_per_s"] * r["iteration_s"] for r in rows)
    frames = sum(r["frames_per_s"] * r["iteration_s"] for r in rows)
    return {
        "iteration_s": wall / iterations,
        "env_steps_per_s": steps / wall,
        "frames_per_s": frames / wall,
        "learner_update_s": float(np.mean([r["learner_update_s"] for r in rows])),
        "gpu_util_mean": float(np.mean(gpu.samples)) if gpu.samples else "-",
        "gpu_util_max": float(np.max(gpu.samples)) if gpu.samples else "-",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--modes", nargs="+", default=["features", "frames"])
    parser.add_argument("--cpu", action="store_true", help="debug: the learner on the CPU")
    parser.add_argument("--out", help="write the table here (markdown)")
    args = parser.parse_args()
    if not (args.cpu or torch.cuda.is_available()):
        print("gpu_end_to_end.py: no CUDA device is visible to torch; nothing measured")
        return 2
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from svtas_ray.data.cache import ensure_synthetic

    tmp = Path(tempfile.mkdtemp(prefix="gpu_end_to_end_"))
    roots = {
        "features": ensure_synthetic(SynthConfig(), tmp / "gtea"),
        "frames": ensure_synthetic(
            SynthConfig(num_videos=12, scale=0.3, videos=True, video_size=(64, 64)),
            tmp / "gtea_frames",
        ),
    }
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    rows = []
    for mode in args.modes:
        for staleness in (0, 1):
            cfg = make_config(roots[mode], tmp / "runs", mode, staleness, args)
            rows.append({"mode": mode, "staleness": staleness, **measure(cfg, args.iterations)})
            print(rows[-1], flush=True)
    ray.shutdown()
    device = "CPU (--cpu)" if args.cpu else torch.cuda.get_device_name(0)
    text = (
        f"{device}, torch {torch.__version__}, ray {ray.__version__}, "
        f"{os.cpu_count()} CPUs, {args.workers} rollout workers, python {sys.version.split()[0]}"
        f"\n\n{markdown_table(pd.DataFrame(rows))}\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
