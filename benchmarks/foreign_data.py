"""A dataset from a generator that shares nothing with ``svtas_ray.data.synthetic``.

Why: the defaults were chosen on the project's own synthetic family (class prototypes, AR(1)
noise, per-video offsets) and on real label sequences. This script writes data of another
structure, so that the defaults can be checked on features they were never tuned on. It imports
nothing from ``svtas_ray``; only numpy.

What it writes (an MS-TCN root: ``mapping.txt``, ``groundTruth/``, ``features/`` in the MS-TCN
C order, ``splits/`` leaving subjects out):

- **Labels**: ``--tasks`` tasks, each a script of 7-10 steps drawn from a shared pool of
  ``--classes`` actions (an action can occur in several tasks); each video runs one task's
  script with neighbouring steps swapped (p 0.3), steps skipped (p 0.15) or repeated (p 0.1),
  and short ``background`` gaps (p 0.4) between steps and at both ends. Durations are per
  class (mean 40-400 frames) times a heavy-tailed factor (log-normal, sigma 0.6).
- **Features**: a 32-d latent per frame, observed through ``relu(W z + b)`` (sparse and
  non-negative, like pooled CNN activations), ``--dim`` dims of which 8 are always 0 and 4
  constant, scaled by ``--scale``. The latent of an action is not a prototype but a
  *trajectory*: it moves from the class's start point to its end point over the segment, with a
  class-specific oscillation, so a frame's class depends on where it is in the action. A
  subject offset, a slow per-video drift (a smoothed random walk), frame noise and 12-frame
  cross-fades at boundaries are added.

How to run::

    .venv/bin/python benchmarks/foreign_data.py --out /tmp/foreign [--seed 0] [--videos 60]
    .venv/bin/python benchmarks/offline_vs_streaming.py --setting recipe --experiment gtea \\
        --data-root /tmp/foreign --bg background --splits 1 2 3 --algos supervised ppo

Defaults: 60 videos of 6 subjects (3 splits of 2 test subjects), 3 tasks, 24 actions plus
``background``, 256-d features, 604-3,435 frames per video (mean 1,751); a few seconds to
write. The benchmark above took 44 min on 2 cores (20 min without the offline rows, ``--offline``);
results in docs/learning.md, "A generator that shares nothing with the synthetic one".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

LATENT = 32
BACKGROUND = "background"


def task_scripts(rng: np.random.Generator, tasks: int, classes: int) -> list[list[int]]:
    """Each task's ordered steps: 7-10 actions (ids 1..classes) drawn from the shared pool."""
    return [
        list(rng.choice(np.arange(1, classes + 1), size=int(rng.integers(7, 11)), replace=False))
        for _ in range(tasks)
    ]


def video_steps(rng: np.random.Generator, script: list[int]) -> list[int]:
    """One performance of a script: swaps, skips, repeats and background (id 0) gaps."""
    steps = list(script)
    for i in range(len(steps) - 1):
        if rng.random() < 0.3:
            steps[i], steps[i + 1] = steps[i + 1], steps[i]
    out = [0]
    for step in steps:
        if rng.random() < 0.15:
            continue
        for _ in range(2 if rng.random() < 0.1 else 1):
            if out[-1] == step or rng.random() < 0.4:
                out.append(0)
            out.append(step)
    return [*out, 0] if out[-1] != 0 else out


def labels_of(
    rng: np.random.Generator, steps: list[int], mean_len: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Frame labels (T,) and each frame's phase in its segment in [0, 1] (T,)."""
    lengths = [
        max(8, int(mean_len[s] * rng.lognormal(-0.18, 0.6) * (0.3 if s == 0 else 1.0)))
        for s in steps
    ]
    labels = np.concatenate([np.full(n, s) for s, n in zip(steps, lengths, strict=True)])
    phase = np.concatenate([np.linspace(0.0, 1.0, n) for n in lengths])
    return labels.astype(np.int64), phase


def smooth_walk(rng: np.random.Generator, length: int, width: int = 200) -> np.ndarray:
    """A slow drift (T, LATENT): a random walk smoothed over ``width`` frames, unit-ish scale."""
    walk = np.cumsum(rng.normal(size=(length + width, LATENT)), axis=0)
    kernel = np.ones(width) / width
    out = np.stack(
        [np.convolve(walk[:, j], kernel, mode="valid")[:length] for j in range(LATENT)], 1
    )
    out -= out.mean(0)
    return out / max(float(out.std()), 1e-6)


def crossfade(latent: np.ndarray, width: int = 12) -> np.ndarray:
    """A centred moving average over ``width`` frames: boundaries blend over ``width`` frames."""
    kernel = np.ones(width) / width
    pad = np.pad(latent, ((width // 2, width - 1 - width // 2), (0, 0)), mode="edge")
    return np.stack([np.convolve(pad[:, j], kernel, mode="valid") for j in range(LATENT)], 1)


def write(args: argparse.Namespace) -> Path:
    rng = np.random.default_rng(args.seed)
    k = args.classes
    start = rng.normal(size=(k + 1, LATENT))
    end = start + rng.normal(scale=0.9, size=(k + 1, LATENT))
    wobble = rng.normal(scale=0.6, size=(k + 1, LATENT))
    freq = rng.uniform(0.5, 3.0, size=k + 1) / 100.0
    mean_len = rng.uniform(40, 400, size=k + 1)
    subject_offset = rng.normal(scale=0.7, size=(args.subjects, LATENT))
    proj = rng.normal(size=(args.dim - 12, LATENT)) / np.sqrt(LATENT)
    bias = rng.normal(-0.3, 0.3, size=args.dim - 12)
    scripts = task_scripts(rng, args.tasks, k)

    root = Path(args.out)
    for sub in ("groundTruth", "features", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    names = [BACKGROUND] + [f"action_{i:02d}" for i in range(1, k + 1)]
    (root / "mapping.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names)))
    videos: list[tuple[str, int]] = []
    for v in range(args.videos):
        subject, task = v % args.subjects, (v // args.subjects) % args.tasks
        name = f"S{subject + 1}_T{task + 1}_{v:03d}"
        labels, phase = labels_of(rng, video_steps(rng, scripts[task]), mean_len)
        t = np.arange(len(labels))
        latent = (
            (1 - phase)[:, None] * start[labels]
            + phase[:, None] * end[labels]
            + np.sin(2 * np.pi * freq[labels] * t + rng.uniform(0, 2 * np.pi))[:, None]
            * wobble[labels]
        )
        latent = crossfade(latent)
        latent += subject_offset[subject] + 0.8 * smooth_walk(rng, len(labels))
        latent += rng.normal(scale=0.6, size=latent.shape)
        obs = np.maximum(latent @ proj.T + bias, 0.0)
        feats = np.concatenate(
            [obs, np.zeros((len(labels), 8)), np.full((len(labels), 4), 3.0)], axis=1
        )
        np.save(
            root / "features" / f"{name}.npy",
            np.ascontiguousarray(args.scale * feats.T, np.float32),
        )
        (root / "groundTruth" / f"{name}.txt").write_text("".join(names[c] + "\n" for c in labels))
        videos.append((name, subject))
    groups = np.array_split(np.arange(args.subjects), 3)
    for split, test_subjects in enumerate(groups, start=1):
        test = [n for n, s in videos if s in set(test_subjects.tolist())]
        train = [n for n, s in videos if s not in set(test_subjects.tolist())]
        (root / "splits" / f"train.split{split}.bundle").write_text(
            "".join(f"{n}.txt\n" for n in train)
        )
        (root / "splits" / f"test.split{split}.bundle").write_text(
            "".join(f"{n}.txt\n" for n in test)
        )
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--videos", type=int, default=60)
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--classes", type=int, default=24)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--scale", type=float, default=0.05)
    root = write(parser.parse_args())
    lengths = [len((p).read_text().split()) for p in sorted((root / "groundTruth").glob("*.txt"))]
    print(
        f"{root}: {len(lengths)} videos, {min(lengths)}-{max(lengths)} frames "
        f"(mean {np.mean(lengths):.0f})"
    )


if __name__ == "__main__":
    main()
