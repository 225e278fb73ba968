"""``svtas-ray tune``: an ASHA hyperparameter sweep on Ray Tune (see svtas_ray/rl/tune.py).

The base config is an experiment's protocol (``--experiment gtea``: experiments/gtea.py, its
synthetic preset unless ``--data-root``) or a TrainConfig JSON (``--config``). Heavy modules are
imported inside the command so ``--help`` needs neither Ray nor torch.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from svtas_ray.cli.overrides import parse_overrides
from svtas_ray.cli.runner import run, script_parser
from svtas_ray.errors import ConfigError


def cmd_tune(args: argparse.Namespace) -> int:
    from svtas_ray import config as config_mod
    from svtas_ray import results
    from svtas_ray.cli.experiment import config_from_args, resource_overrides
    from svtas_ray.config import TrainConfig
    from svtas_ray.experiments import load_experiment
    from svtas_ray.rl import tune as tune_mod

    check_args(args)
    space = tune_mod.load_space(Path(args.space)) if args.space else None
    if args.resume:
        out = Path(args.resume)
        cfg = None
    else:
        if args.config:
            cfg = config_mod.load(TrainConfig, args.config)
            values = dict(resource_overrides(args))
            if args.data_root:
                values["data.root"] = str(Path(args.data_root).resolve())
            cfg = config_mod.override(cfg, {**values, **parse_overrides(TrainConfig, args.set)})
        else:
            cfg = config_from_args(load_experiment(args.experiment), args)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else Path(cfg.runs_dir) / "sweeps" / f"{cfg.name}-{stamp}"
    print(f"sweep directory: {out.resolve()}", flush=True)
    table = tune_mod.sweep(
        cfg or TrainConfig(),
        out,
        space,
        num_samples=args.samples,
        report_every=args.report_every,
        grace_period=args.grace,
        max_concurrent=args.max_concurrent,
        resume=bool(args.resume),
        where=args.space or "the default search space",
    )
    print(results.markdown_table(table, digits=4))
    print(f"trials: {out / 'trials.md'}")
    if (out / "best_config.json").is_file():
        print(f"best config: {out / 'best_config.json'} (svtas-ray train --config ...)")
    return 0


def check_args(args: argparse.Namespace) -> None:
    """Refuse flags a sweep cannot honour, before Ray starts or anything is written: numbers out
    of range, an ``--out`` that is a file or already holds something, and, with ``--resume``,
    any other flag (a resumed sweep reads its base config, space and settings back from its
    folder)."""
    from svtas_ray.rl import tune as tune_mod

    if args.resume:
        given = given_flags(args)
        if given:
            raise ConfigError(
                f"--resume continues a sweep with the base config, search space and settings "
                f"saved in {args.resume}, so it cannot honour {', '.join(given)}; drop them"
            )
        return
    tune_mod.check_settings(args.samples, args.report_every, args.grace, args.max_concurrent)
    if args.out:
        tune_mod.check_new_out(Path(args.out))


def given_flags(args: argparse.Namespace) -> list[str]:
    """The flags of :func:`add_arguments` except ``--resume`` that ``args`` sets to a value other
    than their default."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    return [
        "--" + dest.replace("_", "-")
        for dest, default in defaults.items()
        if dest != "resume" and getattr(args, dest, default) != default
    ]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``svtas-ray tune`` and experiments/sweep.py."""
    from svtas_ray.cli.experiment import add_common_args
    from svtas_ray.experiments import NAMES

    base = p.add_mutually_exclusive_group()
    base.add_argument(
        "--experiment",
        default="gtea",
        help=f"base protocol: one of {', '.join(NAMES)}, or a path to a script defining "
        "EXPERIMENT (default: gtea)",
    )
    base.add_argument("--config", help="base TrainConfig JSON instead of an experiment")
    add_common_args(p)
    p.add_argument("--samples", type=int, default=8, help="trials (default: 8)")
    p.add_argument(
        "--report-every",
        type=int,
        default=2,
        help="iterations between validation reports (ASHA's time unit; default: 2)",
    )
    p.add_argument(
        "--grace", type=int, default=1, help="reports before ASHA may stop a trial (default: 1)"
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=0,
        help="trials running at once (default 0: as many as the cluster's CPUs and GPUs allow)",
    )
    p.add_argument(
        "--space",
        help='search space JSON, e.g. {"algo.lr": {"loguniform": [1e-4, 3e-3]}} '
        "(default: svtas_ray.rl.tune.SEARCH_SPACE)",
    )
    p.add_argument("--out", help="sweep directory (default: <runs_dir>/sweeps/<name>-<time>)")
    p.add_argument(
        "--resume", metavar="SWEEP_DIR", help="continue an interrupted sweep (Tuner.restore)"
    )


def add_parsers(sub: Any) -> None:
    """Register ``tune`` on the ``svtas-ray`` sub-parsers."""
    p = sub.add_parser("tune", help="ASHA hyperparameter sweep on Ray Tune")
    add_arguments(p)
    p.set_defaults(func=cmd_tune)


def main(argv: list[str] | None = None, prog: str = "svtas-ray tune", doc: str = "") -> int:
    """Stand-alone entry point (experiments/sweep.py)."""
    parser = script_parser(prog, doc or __doc__)
    add_arguments(parser)
    return run(parser, argv, cmd_tune)
