"""The command line of the dataset scripts (``experiments/<dataset>.py``) and of ``svtas-ray tune``.

``--split N`` trains one split in this process; ``--split all`` runs every split as a Ray Tune
trial and prints the mean ± std table (:mod:`svtas_ray.experiments.protocol`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from svtas_ray.cli.overrides import parse_overrides
from svtas_ray.cli.runner import run
from svtas_ray.config import SynthConfig, TrainConfig
from svtas_ray.errors import ConfigError
from svtas_ray.experiments.protocol import (
    SCORE_NAMES,
    Experiment,
    resolve_config,
    resume_all_config,
    resume_split,
    run_all_splits,
    run_split,
)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The flags every experiment script and ``svtas-ray tune`` accept."""
    parser.add_argument(
        "--data-root",
        help="dataset root in the MS-TCN layout, readable from every node "
        "(default: the synthetic preset, generated on first use into --cache-dir)",
    )
    parser.add_argument(
        "--cache-dir",
        help="where synthetic datasets are kept (default: $SVTAS_CACHE or ~/.cache/svtas-ray)",
    )
    parser.add_argument(
        "--synth",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the synthetic preset, e.g. --synth num_videos=8 --synth scale=0.3",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the training config, e.g. --set iterations=2 --set algo.lr=3e-4",
    )
    parser.add_argument("--num-workers", type=int, help="rollout worker actors")
    parser.add_argument("--num-learners", type=int, help="learner actors (DDP when > 1)")
    parser.add_argument("--gpus-per-learner", type=float, help="GPUs each learner reserves")


def resource_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The resource flags as overrides."""
    out = {}
    for flag, key in (
        ("num_workers", "resources.num_workers"),
        ("num_learners", "resources.num_learners"),
        ("gpus_per_learner", "resources.gpus_per_learner"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            out[key] = value
    return out


def parse_split(text: str) -> int | str:
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--split must be a number or 'all', got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--split must be >= 1, got {value}")
    return value


def build_parser(exp: Experiment, description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"experiments/{exp.name}.py",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--split",
        type=parse_split,
        default=exp.splits[0],
        help=f"split to train (one of {', '.join(map(str, exp.splits))}) or 'all': every split "
        f"as parallel Ray Tune trials plus the mean ± std table (default: {exp.splits[0]})",
    )
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help="continue an interrupted run: a run directory (--split N) or the all-splits "
        "folder printed by --split all",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar; warnings and errors only"
    )
    add_common_args(parser)
    return parser


def main(exp: Experiment, argv: Sequence[str] | None = None, description: str | None = None) -> int:
    """The ``main()`` of an experiment script; returns the exit code."""
    return run(build_parser(exp, description), argv, lambda args: _run(exp, args))


def config_from_args(exp: Experiment, args: argparse.Namespace) -> TrainConfig:
    """The run's config from the common flags (text parsed here, at the edge)."""
    return resolve_config(
        exp,
        args.data_root,
        args.cache_dir,
        parse_overrides(SynthConfig, args.synth),
        {**resource_overrides(args), **parse_overrides(TrainConfig, args.set)},
    )


def _run(exp: Experiment, args: argparse.Namespace) -> int:
    if args.resume:
        every = args.split == "all"
        ignored = [
            flag
            for flag, given in (
                ("--data-root", args.data_root),
                ("--cache-dir", args.cache_dir),
                ("--synth", args.synth),
                ("--split", not every and args.split != exp.splits[0]),
                # a split that had started continues from its own checkpoint and settings
                ("--set", every and args.set),
            )
            if given
        ]
        if ignored:
            can = "the resource flags" if every else "--set and the resource flags"
            raise ConfigError(
                f"--resume continues {args.resume} on its own data and "
                f"{'splits' if every else 'split'}, so {', '.join(ignored)} cannot apply "
                f"({can} can)"
            )
        overrides = {**resource_overrides(args), **parse_overrides(TrainConfig, args.set)}
        if every:  # the config the first --split all saved, as a single split's run does
            run_all_splits(exp, resume_all_config(exp, args.resume, overrides), args.resume)
            return 0
        path, scores = resume_split(args.resume, overrides, progress=not args.quiet)
        _print_scores(path, scores)
        return 0
    cfg = config_from_args(exp, args)
    if args.split == "all":
        run_all_splits(exp, cfg)
        return 0
    if args.split not in exp.splits:
        raise ConfigError(f"split {args.split} is not one of {exp.name}'s splits {exp.splits}")
    cfg = replace(cfg, name=f"{cfg.name}-split{args.split}")
    cfg = replace(cfg, data=replace(cfg.data, split=int(args.split)))
    path, scores = run_split(cfg, progress=not args.quiet)
    _print_scores(path, scores)
    return 0


def _print_scores(path: Path, scores: dict[str, dict[str, float]]) -> None:
    print(f"{'weights':<12}" + "".join(f"{m:>8}" for m in SCORE_NAMES))
    for name, s in scores.items():
        print(f"{name:<12}" + "".join(f"{s[m]:8.2f}" for m in SCORE_NAMES))
    print(f"summary: {path / 'summary.md'}")
    print(json.dumps({"run_dir": str(path), "scores": scores}), flush=True)
