"""How much the segmental reward tells each frame: the policy gradient's signal against noise.

What it measures. A clip of ``--clip-len`` frames after ``--prefix-clips`` earlier clips of the
same video, ground truth in segments of ``L_seg`` frames over ``--classes`` classes, and a policy
that labels each frame correctly with probability ``p`` (else a uniformly drawn other class),
independently per frame: the regime of a trained model sampled as the rollout workers sample it.
With the real segmental reward (Edit and F1@50, ``svtas_ray.rewards``), for every frame t and
``--samples`` draws it forms the score-function estimate of d E[R] / d θ_t, θ_t the logit of the
correct label (``(1[a_t correct] − p) · A_t``), with

- ``clip``: A_t = the clip's reward (what PPO broadcasts over the clip's frames), and
- ``to-go``: A_t = the clip's reward less the pieces earned before t's piece (``reward.parts``,
  :mod:`svtas_ray.rl.credit`),

and reports per regime: the signal-to-noise ratio |mean| / std of one frame's estimate (averaged
over frames), the draws one frame needs for a signal-to-noise ratio of 1 (1 / SNR²), the variance
of ``to-go`` over ``clip`` on the first piece, the middle ones and the last one, and the ratio of
the expected gradient to cross-entropy's (1 − p, exact for every frame, no draw needed) with the
advantage scaled to unit std as the learner normalises it, and the cosine between the mean
gradient over the clip's frames and cross-entropy's (how much of the reward's signal points where
cross-entropy already pushes).

How to run: ``python benchmarks/credit_variance.py [--samples 2000] [--out FILE]`` (no Ray, one
core, ~1 min). Debug with ``--samples 200``. Expect SNR ≈ 0.05-0.2 per frame and a gradient
20-200x weaker than cross-entropy's (see docs/learning.md, "What the segmental reward tells a
frame").
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from svtas_ray.config import RewardConfig
from svtas_ray.rewards import Reward, part_of_slots
from svtas_ray.rl.credit import reward_before


def draw(y: np.ndarray, p: float, classes: int, rng: np.random.Generator) -> np.ndarray:
    """Labels ``y`` kept w.p. ``p`` per frame, else a uniformly drawn other class."""
    wrong = (y + rng.integers(1, classes, y.shape)) % classes
    return np.where(rng.random(y.shape) < p, y, wrong)


def regime(
    p: float, seg: int, args: argparse.Namespace, rng: np.random.Generator
) -> dict[str, float]:
    length, parts, n = args.clip_len, args.parts, args.samples
    total = (args.prefix_clips + 1) * length
    labels = (np.arange(total) // seg + rng.integers(args.classes)) % args.classes
    part_of = part_of_slots(length, parts)
    y = labels[-length:]
    score = np.zeros((n, length))
    clip, to_go = np.zeros((n, length)), np.zeros((n, length))
    for i in range(n):
        reward = Reward(RewardConfig(), args.classes)
        for k in range(args.prefix_clips):
            before = labels[k * length : (k + 1) * length]
            reward(draw(before, p, args.classes, rng), before)
        pred = draw(y, p, args.classes, rng)
        pieces = reward.in_parts(pred, y, part_of, parts)
        score[i] = (pred == y) - p
        clip[i] = pieces.sum()
        to_go[i] = clip[i] - reward_before(pieces, part_of)
    g_clip, g_to_go = score * clip, score * to_go
    snr = {name: np.abs(g.mean(0)) / g.std(0) for name, g in (("clip", g_clip), ("to-go", g_to_go))}
    ratio = g_to_go.var(0) / g_clip.var(0)
    middle = (part_of > 0) & (part_of < parts - 1)
    return {
        "snr_clip": float(snr["clip"].mean()),
        "snr_to_go": float(snr["to-go"].mean()),
        "draws_clip": float(np.median(1 / snr["clip"] ** 2)),
        "draws_to_go": float(np.median(1 / snr["to-go"] ** 2)),
        "var_first": float(ratio[part_of == 0].mean()),
        "var_middle": float(ratio[middle].mean()),
        "var_last": float(ratio[part_of == parts - 1].mean()),
        "rl_vs_ce": float(np.abs(g_clip.mean(0)).mean() / clip[:, 0].std() / (1 - p)),
        # cross-entropy's gradient is 1 − p > 0 on every frame: the cosine is the mean gradient's
        # share that points where cross-entropy already does
        "cos_ce": float(g_clip.mean(0).sum() / np.sqrt(length * (g_clip.mean(0) ** 2).sum())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--clip-len", type=int, default=64)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--prefix-clips", type=int, default=4)
    parser.add_argument("--classes", type=int, default=11)
    parser.add_argument("--accuracy", type=float, nargs="+", default=[0.8, 0.9, 0.97])
    parser.add_argument("--segment", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    if args.samples < 2 or not 1 <= args.parts <= args.clip_len:
        parser.error("--samples must be >= 2 and --parts in [1, --clip-len]")
    rng = np.random.default_rng(args.seed)
    lines = [
        f"clip {args.clip_len} frames in {args.parts} pieces, after {args.prefix_clips} clips; "
        f"{args.classes} classes; {args.samples} draws per regime",
        "",
        "| p | segment | SNR clip | SNR to-go | draws for SNR 1, clip / to-go "
        "| var to-go / clip: first, middle, last piece | RL / CE gradient | cos(RL, CE) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p, seg in itertools.product(args.accuracy, args.segment):
        r = regime(p, seg, args, rng)
        lines.append(
            f"| {p} | {seg} | {r['snr_clip']:.3f} | {r['snr_to_go']:.3f} "
            f"| {r['draws_clip']:.0f} / {r['draws_to_go']:.0f} "
            f"| {r['var_first']:.2f}, {r['var_middle']:.2f}, {r['var_last']:.2f} "
            f"| {r['rl_vs_ce']:.2f} | {r['cos_ce']:.2f} |"
        )
        print(lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
