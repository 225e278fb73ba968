"""The learner's training frames/s against an offline MS-TCN training step of the same head size.

What it measures, in one process and one thread (alternating rounds, so noise hits both), on the
synthetic ``gtea`` preset's features at the clip's sample rate:

- *learner*: :meth:`Learner.update` on a chunk from a :class:`RolloutWorker` (no Ray), for
  ``supervised`` and ``ppo``: frames learned per second (valid frames x epochs / update time),
  and the optimiser steps it took;
- *offline*: MS-TCN with the streaming head's stages, layers and width, one Adam step per whole
  training video (forward, backward, step): frames per second;
- *offline, step-sized*: the same offline model and loss, each Adam step on windows of the
  learner's step shape (rows per minibatch x ``clip_len`` frames, cut in order from the same
  videos). It has none of the learner's machinery (no memory, no replay, no value head), so its
  ratio to the whole-video row is what the step's size alone costs this model in eager torch.

The target (issue 16) is learner >= 0.7x offline frames/s. The streaming learner replays a chunk
clip by clip from its stored memory (``K`` small forward calls, each with the cached context), and
makes ``epochs x minibatches x windows`` optimiser steps per update where the offline loop makes
one per video; the table says how many of each.

How to run::

    .venv/bin/python benchmarks/learner_speed.py [--rounds 3] [--set KEY=VALUE ...] [--out FILE]

``--set algo.window_clips=0 --set algo.minibatches=1`` measures the same learner with one
optimiser step per chunk and epoch instead of the recipe's 32 small ones.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from svtas_ray import config as config_mod
from svtas_ray.config import SynthConfig, TrainConfig
from svtas_ray.results import markdown_table


def learner_round(cfg: TrainConfig, updates: int) -> dict[str, float]:
    from svtas_ray.rl.learner import Learner
    from svtas_ray.rl.rollout import RolloutWorker
    from svtas_ray.rl.trainer import split_videos

    fit, _, _ = split_videos(cfg)
    worker = RolloutWorker(cfg, tuple(fit), 0)
    learner = Learner(cfg, worker.num_classes, worker.obs_shape)
    chunks = [worker.sample(learner.weights(), cfg.algo.chunk_clips)[0] for _ in range(updates)]
    learner.update([None], chunks[0])  # warm-up
    frames = seconds = steps = 0.0
    for chunk in chunks:
        start = time.perf_counter()
        stats = learner.update([None], chunk)
        seconds += time.perf_counter() - start
        frames += stats["frames_learned"]
        steps += stats["opt_steps"]
    return {"frames_per_s": frames / seconds, "opt_steps_per_update": steps / updates}


def offline_round(cfg: TrainConfig, videos: int, piece: tuple[int, int] | None = None) -> float:
    """Frames/s of offline MS-TCN training steps: one Adam step per whole training video, or with
    ``piece = (rows, length)`` one per ``rows`` windows of ``length`` frames (the learner's step
    shape), cut in order from the same videos."""
    from svtas_ray.data.features import read_video_features
    from svtas_ray.data.layout import Dataset
    from svtas_ray.models.losses import segmentation_loss
    from svtas_ray.models.offline import MSTCN

    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    names = ds.split_videos(cfg.data.split, "train")[:videos]
    rate = cfg.clip.sample_rate
    data = []
    for name in names:
        x, y = read_video_features(ds, name, rate, cfg.data.alignment)
        data.append((torch.from_numpy(x)[None], torch.from_numpy(y[::rate])[None]))
    if piece is not None:
        rows, length = piece
        windows = [
            (x[:, t : t + length], y[:, t : t + length])
            for x, y in data
            for t in range(0, y.shape[1] - length + 1, length)
        ]
        data = [
            (torch.cat([w[0] for w in group]), torch.cat([w[1] for w in group]))
            for group in (windows[i : i + rows] for i in range(0, len(windows) - rows + 1, rows))
        ]
    m = cfg.model
    model = MSTCN(data[0][0].shape[-1], ds.num_classes, m.tcn_stages, m.tcn_layers, m.hidden_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    frames, seconds = 0, 0.0
    for i, (x, y) in enumerate(data):
        start = time.perf_counter()
        loss = segmentation_loss(model(x), y, 0.15, 4.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i:  # the first step warms up
            seconds += time.perf_counter() - start
            frames += y.numel()
    return frames / seconds


def step_shape(cfg: TrainConfig) -> tuple[int, int]:
    """(rows, frames per row) of one learner optimiser step with one rollout worker."""
    rows = cfg.resources.envs_per_worker // cfg.algo.minibatches
    clips = cfg.algo.window_clips or cfg.algo.chunk_clips
    return max(rows, 1), cfg.clip.clip_len * clips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=3, help="learner updates per round")
    parser.add_argument("--videos", type=int, default=8, help="offline steps per round")
    parser.add_argument("--data-root", help="dataset root (default: the synthetic gtea preset)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="TrainConfig override of the learner (e.g. algo.window_clips=0); the offline model "
        "follows model.*",
    )
    parser.add_argument("--out", help="write the table here (markdown)")
    args = parser.parse_args()
    from svtas_ray.cli.overrides import parse_overrides
    from svtas_ray.data.cache import ensure_synthetic

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="learner_speed_"))
    root = Path(args.data_root or ensure_synthetic(SynthConfig(), tmp / "gtea"))
    base = config_mod.override(
        TrainConfig(),
        {
            "data.root": str(root),
            "algo.pretrain_iterations": 0,
            **parse_overrides(TrainConfig, args.set),
        },
    )
    rows = []
    for r in range(args.rounds):
        for kind in ("supervised", "ppo"):
            cfg = config_mod.override(base, {"algo.kind": kind, "seed": r})
            rows.append({"round": r, "loop": f"learner {kind}", **learner_round(cfg, args.updates)})
        fps = offline_round(base, args.videos)
        rows.append({"round": r, "loop": "offline mstcn", "frames_per_s": fps})
        fps = offline_round(base, args.videos, step_shape(base))
        rows.append({"round": r, "loop": "offline mstcn, step-sized", "frames_per_s": fps})
        print(rows[-4:], flush=True)
    table = pd.DataFrame(rows)
    means = table.groupby("loop")["frames_per_s"].mean()
    lines = [
        f"{loop}: {means[loop]:.0f} frames/s = {means[loop] / means['offline mstcn']:.2f}x offline"
        for loop in ("learner supervised", "learner ppo")
    ]
    shape = step_shape(base)
    bound = means["offline mstcn, step-sized"] / means["offline mstcn"]
    lines.append(
        f"offline mstcn trained in steps of the learner's shape ({shape[0]} rows x {shape[1]} "
        f"frames): {means['offline mstcn, step-sized']:.0f} frames/s = {bound:.2f}x offline"
    )
    worst = min(means["learner supervised"], means["learner ppo"]) / means["offline mstcn"]
    text = (
        markdown_table(table)
        + "\n\n"
        + "\n".join(lines)
        + f"\n\ntarget learner >= 0.7x offline: {'met' if worst >= 0.7 else 'NOT met'}"
        + f" ({np.round(worst, 2)}x for the slower objective)\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
