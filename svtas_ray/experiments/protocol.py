"""What every dataset protocol shares: the data, one split or all of them, the split table.

A protocol is an :class:`Experiment` (the dataset's training run as a config literal, in
``svtas_ray/experiments/<dataset>.py``). Without a data root the dataset's synthetic preset is
generated on first use into a cache folder (``$SVTAS_CACHE`` or ``~/.cache/svtas-ray``) and the
experiment's short ``quick`` budget applies. One split trains in this process (its actors on the
embedded cluster, or on the cluster of a ``ray job submit``); all splits run as Ray Tune trials,
each holding its own placement group (:mod:`svtas_ray.rl.tune`), and give the per-split and
mean ± std table. The command line around it is :mod:`svtas_ray.cli.experiment`.

Only the standard library and the config module are imported at the top: ``--help`` works
without data, torch or Ray.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from svtas_ray import config as config_mod
from svtas_ray.config import SynthConfig, TrainConfig
from svtas_ray.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SCORE_NAMES = ("acc", "edit", "f1@10", "f1@25", "f1@50")
"""Columns of the per-split table (svtas_ray.metrics.METRIC_NAMES, without importing numpy;
tests/test_experiments.py pins that the two agree)."""


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
    quick: Mapping[str, Any] = dataclasses.field(default_factory=dict)
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


def resolve_config(
    exp: Experiment,
    data_root: str | None = None,
    cache: str | None = None,
    synth: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The run's config: the experiment's literal, the data, the budget, then ``overrides``
    (validated once, together).

    Without ``data_root`` the synthetic preset (with ``synth`` overrides) is generated into the
    cache and the ``quick`` budget applies. Paths are made absolute: Tune trials and job drivers
    may run in another working directory.
    """
    values: dict[str, Any] = {}
    if data_root:
        values["data.root"] = str(Path(data_root).expanduser().resolve())
    else:
        from svtas_ray.data.cache import ensure_synthetic

        preset = config_mod.override(exp.synthetic, synth or {})
        root = synthetic_root(preset, cache_dir(cache)).resolve()
        log.info("synthetic %s dataset: %s", preset.preset, root)
        ensure_synthetic(preset, root, progress=sys.stderr.isatty())
        values["data.root"] = str(root)
        values.update(exp.quick)
    cfg = config_mod.override(exp.config, {**values, **(overrides or {})})
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


def run_split(cfg: TrainConfig, progress: bool = True) -> tuple[Path, dict[str, dict[str, float]]]:
    """Train one split in this process; (run directory, test scores of best/last weights).
    ``progress``: a progress bar on a terminal."""
    from svtas_ray.rl.trainer import Trainer

    with Trainer(cfg) as trainer:
        print(f"run directory: {trainer.path}", flush=True)
        trainer.train(progress=progress)
        return trainer.path, trainer.finish()


def resume_split(
    run_dir: str, overrides: Mapping[str, Any], progress: bool = True
) -> tuple[Path, dict[str, Any]]:
    """Continue an interrupted run of one split from its last checkpoint."""
    from svtas_ray.rl.trainer import Trainer

    with Trainer.resume(run_dir, overrides) as trainer:
        print(f"resuming {trainer.path} at iteration {trainer.iteration}", flush=True)
        trainer.train(progress=progress)
        return trainer.path, trainer.finish()


def resume_all_config(exp: Experiment, out: str, overrides: Mapping[str, Any]) -> TrainConfig:
    """The config an interrupted ``--split all`` run saved in ``out`` (its data included), with
    ``overrides``, checked against the protocol like a new run's."""
    cfg = config_mod.override(
        config_mod.load(TrainConfig, _splits_folder(out) / "config.json"), overrides
    )
    check_dataset(exp, cfg)
    return cfg


def _splits_folder(out: str) -> Path:
    """``out``, once it is the output folder of an earlier ``--split all`` run."""
    if not (Path(out) / "tune").is_dir():
        raise ConfigError(
            f"{out}: not the output folder of an earlier --split all run (no tune/ folder in it)"
        )
    return Path(out)


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
    """Every split as a parallel Tune trial; writes ``<out>/splits.{parquet,csv,md}``.
    ``resume``: the folder of an interrupted run to continue, ``cfg`` its
    :func:`resume_all_config`."""
    from svtas_ray import results
    from svtas_ray.rl import tune as tune_mod
    from svtas_ray.rl.trainer import checked_split_videos

    if resume is not None:
        _splits_folder(resume)
    for split in exp.splits:  # every split's videos, before any trial starts
        checked_split_videos(replace(cfg, data=replace(cfg.data, split=split)))
    out, rows = tune_mod.run_splits(cfg, exp.splits, resume)
    table = split_table(rows)
    path = out / "splits"
    results.write_table(table, path)
    print(results.markdown_table(table.drop(columns=["run_dir"])))
    print(f"{exp.name}, {len(rows)} splits (test, best weights): {format_mean_std(table)}")
    print(f"table: {path}.md")
    return path
