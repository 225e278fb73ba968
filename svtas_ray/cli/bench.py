"""``svtas-ray bench offline-vs-streaming``: the offline vs streaming table (svtas_ray/bench.py).

Only the standard library is imported here: ``--help`` works without data, torch or Ray.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svtas_ray.cli.runner import run, script_parser
from svtas_ray.errors import ConfigError

if TYPE_CHECKING:
    from svtas_ray.bench.plan import Setting

log = logging.getLogger(__name__)

SETTING_NAMES = ("quick", "full", "recipe", "algos")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``bench offline-vs-streaming`` on the CLI's sub-command parsers."""
    p = sub.add_parser("bench", help="benchmarks that write result tables and plots")
    kinds = p.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    b = kinds.add_parser(
        "offline-vs-streaming",
        help="offline MS-TCN/ASFormer vs naive and RL-trained streaming, one table",
        description="Train and score offline, naive-streaming and streaming (supervised and RL) "
        "segmenters on one dataset under one protocol; write parquet/CSV/markdown tables and PNGs.",
    )
    add_arguments(b)
    b.set_defaults(func=cmd_offline_vs_streaming)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of the offline-vs-streaming benchmark (the CLI and the script share them)."""
    from svtas_ray.experiments import NAMES as EXPERIMENT_NAMES

    p.add_argument(
        "--setting",
        default="full",
        choices=SETTING_NAMES,
        help="quick: every row, tiny budgets, 1 split/seed (minutes); full: GTEA labels, 4 "
        "splits, seed 0, 120 s per job (~1.5 h on 2 cores); recipe: supervised vs the default "
        "(pre-training then PPO), offline MS-TCN and trivial baselines, split 1, 3 seeds (use "
        "with --experiment); algos: the six objectives, gtea preset, split 1, 3 seeds (issue 6)",
    )
    p.add_argument(
        "--experiment",
        choices=EXPERIMENT_NAMES,
        help="take that experiment's synthetic dataset (gtea: the real GTEA label sequences) "
        "and its clip, reward, model and algo settings for the streaming jobs",
    )
    p.add_argument("--quick", action="store_true", help="same as --setting quick")
    p.add_argument("--data-root", help="dataset root (default: the setting's synthetic data)")
    p.add_argument(
        "--bg",
        nargs="*",
        help="background classes with --data-root (default: the experiment's with --experiment, "
        "else background)",
    )
    p.add_argument("--features-dir", default="features", help="feature folder under the root")
    p.add_argument("--splits", type=int, nargs="+", help="override the setting's splits")
    p.add_argument("--seeds", type=int, nargs="+", help="override the setting's seeds")
    p.add_argument("--budget-s", type=float, help="streaming training budget per job, seconds")
    p.add_argument("--offline-epochs", type=int, help="epochs of the offline models")
    p.add_argument(
        "--val-videos",
        type=int,
        help="training videos held out to select each streaming job's checkpoint and tune the "
        "hold rule (default: the setting's 2, or the experiment's own with --experiment)",
    )
    p.add_argument(
        "--offline-sample-rate",
        type=int,
        help="offline models see every N-th frame (default 1; long videos: the clip's rate)",
    )
    p.add_argument("--algos", nargs="+", help="streaming objectives (default: the setting's)")
    p.add_argument("--heads", nargs="+", help="streaming heads (default: the setting's)")
    p.add_argument(
        "--offline",
        nargs="*",
        help="offline models (default: the setting's; the bare flag: none, no offline rows)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="TrainConfig override for every streaming job (e.g. algo.lr=5e-4)",
    )
    p.add_argument(
        "--external",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a folder of prediction files (<video>.txt) scored as one more row (repeatable)",
    )
    p.add_argument(
        "--gtea-labels",
        metavar="ROOT",
        help="a GTEA dataset root whose real label sequences the 'full' setting keeps "
        "(default: $SVTAS_SHARED_DATA/gtea when that variable is set)",
    )
    p.add_argument("--cpus", type=int, help="CPUs of the embedded Ray cluster (default: all)")
    p.add_argument("--out", help="output folder (default: runs/bench/offline_vs_streaming/SETTING)")
    p.add_argument("--publish", help="also copy table.md, targets.md and the PNGs here")
    p.add_argument(
        "--cache-dir", help="where synthetic datasets are kept (default: $SVTAS_CACHE or ~/.cache)"
    )


def setting_from_args(args: argparse.Namespace) -> tuple[Setting, dict[str, Any]]:
    """The benchmark setting the flags ask for and the TrainConfig overrides of its streaming
    jobs (``--experiment``: that protocol's data, settings and validation videos)."""
    import dataclasses

    from svtas_ray.bench.plan import SETTINGS, protocol_overrides
    from svtas_ray.cli.overrides import parse_overrides
    from svtas_ray.config import TrainConfig

    setting = SETTINGS["quick" if args.quick else args.setting]
    overrides = parse_overrides(TrainConfig, args.set)
    if args.experiment:
        from svtas_ray.experiments import load_experiment

        exp = load_experiment(args.experiment)
        setting = dataclasses.replace(
            setting,
            name=f"{setting.name}-{exp.name}",
            synth=exp.synthetic,
            gtea_labels=exp.synthetic.preset == "gtea",
            val_videos=exp.config.val_videos,
        )
        overrides = {**protocol_overrides(exp.config), **overrides}
    changes = {
        "splits": tuple(args.splits) if args.splits else None,
        "seeds": tuple(args.seeds) if args.seeds else None,
        "budget_s": args.budget_s,
        "offline_epochs": args.offline_epochs,
        "offline_sample_rate": args.offline_sample_rate,
        "algos": tuple(args.algos) if args.algos else None,
        "heads": tuple(args.heads) if args.heads else None,
        "offline": tuple(args.offline) if args.offline is not None else None,
        "val_videos": args.val_videos,
    }
    setting = dataclasses.replace(setting, **{k: v for k, v in changes.items() if v is not None})
    return setting, overrides


def background_from_args(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The background classes of ``--data-root``: ``--bg``, else the experiment's own, else None
    (the benchmark's default)."""
    if args.bg is not None:
        return tuple(args.bg)
    if args.experiment:
        from svtas_ray.experiments import load_experiment

        return tuple(load_experiment(args.experiment).config.data.background)
    return None


def cmd_offline_vs_streaming(args: argparse.Namespace) -> int:
    from svtas_ray.bench.jobs import prepare_data
    from svtas_ray.bench.run import run_benchmark
    from svtas_ray.experiments.protocol import cache_dir

    setting, overrides = setting_from_args(args)
    external = {}
    for item in args.external:
        name, sep, folder = item.partition("=")
        if not sep or not name or not Path(folder).is_dir():
            raise ConfigError(f"--external {item!r}: expected NAME=DIR with an existing DIR")
        external[name] = Path(folder)
    shared = os.environ.get("SVTAS_SHARED_DATA")
    gtea = Path(args.gtea_labels) if args.gtea_labels else Path(shared) / "gtea" if shared else None
    data = prepare_data(
        setting,
        args.data_root,
        cache_dir(args.cache_dir),
        background_from_args(args),
        args.features_dir,
        gtea,
    )
    out = Path(args.out or f"runs/bench/offline_vs_streaming/{setting.name}")
    table = run_benchmark(
        setting,
        data,
        out,
        overrides,
        external,
        args.cpus,
        Path(args.publish) if args.publish else None,
    )
    from svtas_ray.results import markdown_table

    print(markdown_table(table))
    print()
    print((out / "targets.md").read_text())
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None, description: str | None = None) -> int:
    """The benchmark script's entry point (the same flags as the CLI sub-command)."""
    parser = script_parser(None, description)
    add_arguments(parser)
    return run(parser, argv, cmd_offline_vs_streaming)
