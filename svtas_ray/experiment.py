"""What every ``experiments/<dataset>.py`` script shares: flags, data, one split or all of them.

A script declares an :class:`Experiment` (the dataset's protocol as a config literal) and calls
:func:`main`. Without ``--data-root`` the dataset's synthetic preset is generated on first use into
a cache folder (``--cache-dir``, ``$SVTAS_CACHE`` or ``~/.cache/svtas-ray``) and the experiment's
short ``quick`` budget applies. ``--split N`` trains one split in this process (its actors on the
embedded cluster, or on the cluster of a ``ray job submit``); ``--split all`` runs every split as a
Ray Tune trial holding its own placement group (svtas_ray/tune.py) and writes the per-split and
mean ± std table.

Only the standard library and the config module are imported at the top: ``--help`` works
without data, torch or Ray.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from svtas_ray import config as config_mod
from svtas_ray.config import SynthConfig, TrainConfig
from svtas_ray.errors import ConfigError, DataError, SvtasError

log = logging.getLogger(__name__)

SCORE_NAMES = ("acc", "edit", "f1@10", "f1@25", "f1@50")
"""Columns of the per-split table (svtas_ray.metrics.METRIC_NAMES, without importing numpy)."""


@dataclass(frozen=True)
class Experiment:
    """One dataset's protocol, as an ``experiments/<dataset>.py`` script declares it."""

    name: str
    """Dataset name; also the default run name (runs/<name>-splitN/<timestamp>/)."""
    num_classes: int
    """Classes of the protocol's mapping.txt (checked against the dataset before training)."""
    splits: tuple[int, ...]
    """The protocol's cross-validation splits; ``--split all`` runs every one of them."""
    config: TrainConfig
    """The training run on real data (data.root is replaced by --data-root)."""
    synthetic: SynthConfig
    """The synthetic stand-in generated when no --data-root is given."""
    quick: tuple[str, ...] = ()
    """Overrides applied on the synthetic default only: a short budget that runs in minutes."""

    def __post_init__(self) -> None:
        if not self.splits or min(self.splits) < 1:
            raise ConfigError(f"experiment {self.name}: splits must be numbers >= 1")
        if tuple(self.config.data.background) != tuple(self.synthetic_background()):
            raise ConfigError(
                f"experiment {self.name}: data.background {self.config.data.background} differs "
                f"from the {self.synthetic.preset} preset's {self.synthetic_background()}"
            )

    def synthetic_background(self) -> tuple[str, ...]:
        from svtas_ray.data.synthetic import PRESET_BACKGROUND

        return PRESET_BACKGROUND[self.synthetic.preset]


# --------------------------------------------------------------------------- flags


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


def resource_overrides(args: argparse.Namespace) -> list[str]:
    """The resource flags as ``--set`` overrides."""
    out = []
    for flag, key in (
        ("num_workers", "resources.num_workers"),
        ("num_learners", "resources.num_learners"),
        ("gpus_per_learner", "resources.gpus_per_learner"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            out.append(f"{key}={value}")
    return out


def cache_dir(explicit: str | None = None) -> Path:
    """``explicit``, else ``$SVTAS_CACHE``, else ``~/.cache/svtas-ray``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("SVTAS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "svtas-ray"


def synthetic_root(synth: SynthConfig, cache: Path) -> Path:
    """``<cache>/synthetic/<preset>-<hash of the settings>``: one folder per distinct dataset."""
    digest = hashlib.sha1(config_mod.to_json(synth).encode()).hexdigest()[:8]
    return cache / "synthetic" / f"{synth.preset}-{digest}"


def resolve_config(exp: Experiment, args: argparse.Namespace) -> TrainConfig:
    """The run's config: the experiment's literal, the data, the budget, then the flags.

    Paths are made absolute: Tune trials and job drivers may run in another working directory.
    """
    cfg = exp.config
    if args.data_root:
        root = Path(args.data_root).expanduser().resolve()
        cfg = replace(cfg, data=replace(cfg.data, root=str(root)))
    else:
        from svtas_ray.data.cache import ensure_synthetic

        synth = config_mod.apply_overrides(exp.synthetic, args.synth)
        root = synthetic_root(synth, cache_dir(args.cache_dir)).resolve()
        log.info("synthetic %s dataset: %s", synth.preset, root)
        ensure_synthetic(synth, root, progress=sys.stderr.isatty())
        cfg = replace(cfg, data=replace(cfg.data, root=str(root)))
        cfg = config_mod.apply_overrides(cfg, exp.quick)
    cfg = config_mod.apply_overrides(cfg, [*resource_overrides(args), *args.set])
    cfg = replace(cfg, runs_dir=str(Path(cfg.runs_dir).expanduser().resolve()))
    check_dataset(exp, cfg)
    return cfg


def check_dataset(exp: Experiment, cfg: TrainConfig) -> None:
    """The dataset exists and has the protocol's number of classes."""
    from svtas_ray.data.layout import Dataset

    root = Path(cfg.data.root)
    if not (root / "mapping.txt").is_file():
        raise DataError(f"{root}: no dataset here (no mapping.txt); check --data-root")
    ds = Dataset.open(root, cfg.data.background, cfg.data.features_dir)
    if ds.num_classes != exp.num_classes:
        raise DataError(
            f"{root}/mapping.txt has {ds.num_classes} classes; the {exp.name} protocol has "
            f"{exp.num_classes}"
        )


# --------------------------------------------------------------------------- running


def run_split(cfg: TrainConfig) -> tuple[Path, dict[str, dict[str, float]]]:
    """Train one split in this process; (run directory, test scores of best/last weights)."""
    from svtas_ray.rl.trainer import Trainer

    with Trainer(cfg) as trainer:
        print(f"run directory: {trainer.path}", flush=True)
        trainer.train()
        return trainer.path, trainer.finish()


def resume_split(run_dir: str, overrides: Sequence[str]) -> tuple[Path, dict[str, Any]]:
    """Continue an interrupted run of one split from its last checkpoint."""
    from svtas_ray.rl.trainer import Trainer

    with Trainer.resume(run_dir, list(overrides)) as trainer:
        print(f"resuming {trainer.path} at iteration {trainer.iteration}", flush=True)
        trainer.train()
        return trainer.path, trainer.finish()


def split_table(rows: Sequence[dict[str, Any]]) -> Any:
    """Per-split scores plus ``mean`` and ``std`` rows (``rows``: split, run_dir, scores)."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=["split", *SCORE_NAMES, "run_dir"])
    scores = df[list(SCORE_NAMES)].astype(float)
    stats = pd.DataFrame(
        [
            {"split": "mean", **scores.mean().to_dict(), "run_dir": ""},
            {"split": "std", **scores.std(ddof=0).to_dict(), "run_dir": ""},
        ]
    )
    df["split"] = df["split"].astype(str)
    return pd.concat([df, stats], ignore_index=True)


def format_mean_std(table: Any) -> str:
    """``acc 81.2 ± 1.3, edit ...`` from :func:`split_table`'s output."""
    mean = table[table["split"] == "mean"].iloc[0]
    std = table[table["split"] == "std"].iloc[0]
    return ", ".join(f"{m} {mean[m]:.1f} ± {std[m]:.1f}" for m in SCORE_NAMES)


def run_all_splits(exp: Experiment, cfg: TrainConfig, resume: str | None = None) -> Path:
    """Every split as a parallel Tune trial; writes ``<out>/splits.{parquet,csv,md}``."""
    from svtas_ray import results
    from svtas_ray import tune as tune_mod

    out, rows = tune_mod.run_splits(cfg, exp.splits, resume)
    table = split_table(rows)
    path = out / "splits"
    results.write_table(table, path)
    print(results.markdown_table(table.drop(columns=["run_dir"])))
    print(f"{exp.name}, {len(rows)} splits (test, best weights): {format_mean_std(table)}")
    print(f"table: {path}.md")
    return path


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
    add_common_args(parser)
    return parser


def main(exp: Experiment, argv: Sequence[str] | None = None, description: str | None = None) -> int:
    """The ``main()`` of an experiment script; returns the exit code."""
    args = build_parser(exp, description).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(exp, args)
    except SvtasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(exp: Experiment, args: argparse.Namespace) -> int:
    if args.resume and args.split != "all":
        path, scores = resume_split(args.resume, [*resource_overrides(args), *args.set])
        _print_scores(path, scores)
        return 0
    cfg = resolve_config(exp, args)
    if args.split == "all":
        run_all_splits(exp, cfg, args.resume)
        return 0
    if args.split not in exp.splits:
        raise ConfigError(f"split {args.split} is not one of {exp.name}'s splits {exp.splits}")
    cfg = replace(cfg, name=f"{cfg.name}-split{args.split}")
    cfg = replace(cfg, data=replace(cfg.data, split=int(args.split)))
    path, scores = run_split(cfg)
    _print_scores(path, scores)
    return 0


def _print_scores(path: Path, scores: dict[str, dict[str, float]]) -> None:
    print(f"{'weights':<12}" + "".join(f"{m:>8}" for m in SCORE_NAMES))
    for name, s in scores.items():
        print(f"{name:<12}" + "".join(f"{s[m]:8.2f}" for m in SCORE_NAMES))
    print(f"summary: {path / 'summary.md'}")
    print(json.dumps({"run_dir": str(path), "scores": scores}), flush=True)


def load_experiment(name_or_path: str) -> Experiment:
    """``EXPERIMENT`` of ``experiments/<name>.py`` (a name, or a path to such a script)."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        path = Path(__file__).resolve().parents[1] / "experiments" / f"{name_or_path}.py"
    if not path.is_file():
        raise ConfigError(f"{path}: no such experiment script")
    spec = importlib.util.spec_from_file_location(f"_experiment_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exp = getattr(module, "EXPERIMENT", None)
    if not isinstance(exp, Experiment):
        raise ConfigError(f"{path}: defines no EXPERIMENT")
    return exp
