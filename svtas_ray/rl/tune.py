"""Ray Tune: hyperparameter sweeps with ASHA, and every split of an experiment as parallel trials.

A trial is one :class:`~svtas_ray.rl.trainer.Trainer` run. It reserves its whole placement group
(an empty bundle for the trial's driver, one bundle per rollout worker, one per learner: see
:func:`trial_resources`), so trials never hold half of their actors while waiting for the rest.
Every ``report_every`` iterations it evaluates on the validation subset and reports
``val_score`` = mean of validation Edit and F1@50 (ASHA's metric; never the test split) with a
checkpoint (the trainer's ``last.pt``) from which ``Tuner.restore`` resumes an interrupted sweep.

A sweep directory holds ``tune/`` (Tune's experiment state), ``runs/`` (the trials' run
directories), ``trials.{parquet,csv,md}`` and ``best_config.json`` (a TrainConfig that
``svtas-ray train --config`` accepts).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from svtas_ray import config as config_mod
from svtas_ray.config import TrainConfig
from svtas_ray.errors import ConfigError, SvtasError

log = logging.getLogger(__name__)

METRIC = "val_score"
"""What ASHA and the best-trial choice maximise: mean of validation Edit and F1@50."""

SEARCH_SPACE: dict[str, dict[str, list[Any]]] = {
    "algo.lr": {"loguniform": [1e-4, 3e-3]},
    "algo.ce_coef": {"uniform": [0.0, 2.0]},
    "algo.ent_coef": {"loguniform": [1e-4, 3e-2]},
    "reward.edit_weight": {"uniform": [0.0, 1.0]},
    "reward.f1_weights": {"choice": [[0.0, 0.0, 0.5], [0.0, 0.0, 1.0], [0.2, 0.2, 0.2]]},
    "clip.clip_len": {"choice": [32, 64, 128]},
    "algo.gamma": {"choice": [0.9, 0.95, 0.99]},
    "algo.gae_lambda": {"choice": [0.9, 0.95, 1.0]},
    "model.hidden_dim": {"choice": [32, 64, 128]},
    "model.input_frame_dropout": {"choice": [0.0, 0.3]},
    "algo.weight_decay": {"choice": [0.0, 0.05]},
    "algo.policy_dropout": {"choice": [True, False]},
}
"""Default search space: dotted TrainConfig key -> {distribution: arguments}. Distributions:
loguniform [lo, hi], uniform [lo, hi], randint [lo, hi), choice [values], grid [values].
Whole-frame input dropout, weight decay and the policy terms' dropout are searched, not fixed:
the first helped on one generator's data and hurt on the presets, the second cut the raw flicker
on four of five datasets but lost Edit with the hold rule on two presets, the third gained Edit
with the hold rule on four of five datasets and lost raw F1@50 on two (docs/learning.md)."""


def to_tune_space(space: Mapping[str, Mapping[str, Sequence[Any]]]) -> dict[str, Any]:
    """The JSON-friendly space above as Tune's ``param_space``."""
    from ray import tune

    makers = {
        "loguniform": lambda a: tune.loguniform(*a),
        "uniform": lambda a: tune.uniform(*a),
        "randint": lambda a: tune.randint(*a),
        "choice": lambda a: tune.choice(list(a)),
        "grid": lambda a: tune.grid_search(list(a)),
    }
    out = {}
    for key, spec in space.items():
        if len(spec) != 1 or next(iter(spec)) not in makers:
            raise ConfigError(f"search space {key!r}: use one of {sorted(makers)}, got {spec}")
        kind, args = next(iter(spec.items()))
        out[key] = makers[kind](args)
    return out


def trial_config(base: TrainConfig, params: Mapping[str, Any]) -> TrainConfig:
    """``base`` with a trial's typed values (dotted keys, validated together); the reserved key
    ``split`` also names the run after it."""
    cfg = config_mod.override(base, {k: v for k, v in params.items() if k != "split"})
    if "split" in params:
        split = int(params["split"])
        cfg = replace(cfg, name=f"{base.name}-split{split}", data=replace(cfg.data, split=split))
    return cfg


def trial_resources(cfg: TrainConfig) -> Any:
    """The trial's placement group: driver (empty), one bundle per rollout worker and learner."""
    from ray import tune

    res = cfg.resources
    worker = {"CPU": res.cpus_per_worker, "GPU": res.gpus_per_worker}
    if res.rollout_resource:
        worker[res.rollout_resource] = 0.01  # what Trainer._make_worker asks for
    learner = {"CPU": res.cpus_per_learner, "GPU": res.gpus_per_learner}
    bundles = [{k: v for k, v in b.items() if v > 0} for b in (worker, learner)]
    if not all(bundles):
        raise ConfigError("a Tune trial needs CPUs or GPUs for every rollout worker and learner")
    return tune.PlacementGroupFactory(
        [{}, *[bundles[0]] * res.num_workers, *[bundles[1]] * res.num_learners]
    )


class Interrupted(SvtasError):
    """Tune stopped before every trial finished (Ctrl-C, SIGINT): the state is saved."""


def finished(experiment: Path) -> bool:
    """Every trial of the saved Tune experiment ended (done or errored); False after an interrupt.

    The saved state is the record: after a SIGINT the in-memory trials all read TERMINATED.
    """
    from ray.tune import ExperimentAnalysis

    trials = ExperimentAnalysis(str(experiment)).trials
    return all(t.status in ("TERMINATED", "ERROR") for t in trials)


# --------------------------------------------------------------------------- the trainable


def train_trial(
    params: dict[str, Any], base: dict[str, Any], report_every: int, final_test: bool
) -> None:
    """Tune function trainable: train ``base`` + ``params``, reporting every ``report_every``."""
    from ray import tune

    from svtas_ray.rl.trainer import Trainer

    cfg = trial_config(config_mod.from_dict(TrainConfig, base), params)
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            run_dir = Path(json.loads((Path(d) / "trial.json").read_text())["run_dir"])
            (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(d) / "last.pt", run_dir / "checkpoints" / "last.pt")
        trainer = Trainer.resume(run_dir)
    else:
        trainer = Trainer(cfg)
    deadline = time.monotonic() + cfg.time_budget_s if cfg.time_budget_s else math.inf
    with trainer:
        done = False
        while not done:
            target = min(cfg.iterations, trainer.iteration + report_every)
            left = deadline - time.monotonic()
            row = trainer.train(iterations=target, time_budget_s=left if cfg.time_budget_s else 0)
            done = trainer.iteration >= cfg.iterations or time.monotonic() >= deadline
            metrics = _trial_metrics(row, trainer.iteration, str(trainer.path))
            if done and final_test:
                for weights, scores in trainer.finish().items():
                    metrics.update({_key(f"{weights}_{k}"): v for k, v in scores.items()})
            with tempfile.TemporaryDirectory() as d:
                shutil.copyfile(trainer.path / "checkpoints" / "last.pt", Path(d) / "last.pt")
                (Path(d) / "trial.json").write_text(json.dumps({"run_dir": str(trainer.path)}))
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


def _key(name: str) -> str:
    return name.replace("@", "_")  # f1@50 -> f1_50: plain names in Tune's tables and TensorBoard


def _trial_metrics(row: Mapping[str, Any], iteration: int, run_dir: str) -> dict[str, Any]:
    val = {_key(k): float(v) for k, v in row.items() if k.startswith("val_")}
    if "val_edit" not in val:
        raise ConfigError("a Tune trial needs validation scores: set val_videos >= 1")
    return {
        "iteration": iteration,
        METRIC: (val["val_edit"] + val["val_f1_50"]) / 2,
        **val,
        "run_dir": run_dir,
    }


def _trainable(cfg: TrainConfig, report_every: int, final_test: bool) -> Any:
    from ray import tune

    fn = tune.with_parameters(
        train_trial, base=config_mod.to_dict(cfg), report_every=report_every, final_test=final_test
    )
    return tune.with_resources(fn, trial_resources(cfg))


# --------------------------------------------------------------------------- splits


def run_splits(
    cfg: TrainConfig, splits: Sequence[int], resume: str | None = None
) -> tuple[Path, list[dict[str, Any]]]:
    """Every split of ``cfg`` as one trial (in parallel as resources allow).

    Returns the output folder and per split its test scores (best weights) and run directory.
    """
    from ray import tune

    from svtas_ray.rl.ray_session import init_ray

    init_ray(cfg.resources.num_cpus)
    trainable = _trainable(cfg, report_every=max(cfg.iterations, 1), final_test=True)
    if resume:
        out = Path(resume).resolve()
        tuner = tune.Tuner.restore(
            str(out / "tune"), trainable, resume_unfinished=True, resume_errored=True
        )
    else:
        out = Path(cfg.runs_dir) / cfg.name / time.strftime("splits-%Y%m%d-%H%M%S")
        out.mkdir(parents=True, exist_ok=True)
        config_mod.save(cfg, out / "config.json")
        tuner = tune.Tuner(
            trainable,
            param_space={"split": tune.grid_search(list(splits))},
            run_config=tune.RunConfig(name="tune", storage_path=str(out), verbose=1),
        )
    print(f"all splits: {out}", flush=True)
    grid = tuner.fit()
    if not finished(out / "tune"):
        raise Interrupted(f"interrupted; continue with --split all --resume {out}")
    rows = []
    for i in range(len(grid)):
        result = grid[i]
        split = int((result.config or {})["split"])
        if result.error is not None:
            raise RuntimeError(f"split {split} failed: {result.error}")
        m = result.metrics or {}
        scores = {k: float(m.get(_key(f"test_best_{k}"), math.nan)) for k in _SCORES}
        rows.append({"split": split, **scores, "run_dir": m.get("run_dir")})
    return out, sorted(rows, key=lambda r: r["split"])


_SCORES = ("acc", "edit", "f1@10", "f1@25", "f1@50")


# --------------------------------------------------------------------------- sweeps


def sweep(
    cfg: TrainConfig,
    out: str | Path,
    space: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    num_samples: int = 8,
    report_every: int = 1,
    grace_period: int = 1,
    max_concurrent: int = 0,
    resume: bool = False,
) -> Any:
    """ASHA over ``space`` on ``val_score``; writes trials table and best_config.json into ``out``.

    ``max_concurrent``: trials running at once (0: as many as the resources allow); with 1 the
    trials run in the order the space generates them.

    ``resume``: continue the interrupted sweep in ``out`` (``Tuner.restore``; its base config and
    settings are read from ``out``, ``cfg`` is ignored). Returns the trials table (a DataFrame).
    """
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from svtas_ray.rl.ray_session import init_ray

    if cfg.val_videos == 0:
        raise ConfigError("a sweep selects on validation scores: set val_videos >= 1")
    if max_concurrent < 0:
        raise ConfigError(f"max_concurrent must be >= 0, got {max_concurrent}")
    out = Path(out).resolve()
    if resume:
        if not (out / "tune").is_dir():
            raise ConfigError(f"{out}: no sweep to resume (no tune/ folder)")
        cfg = config_mod.load(TrainConfig, out / "base_config.json")
        report_every = int(json.loads((out / "sweep.json").read_text())["report_every"])
    init_ray(cfg.resources.num_cpus)
    cfg = replace(cfg, runs_dir=str(out / "runs"))
    trainable = _trainable(cfg, report_every, final_test=False)
    if resume:
        tuner = tune.Tuner.restore(
            str(out / "tune"), trainable, resume_unfinished=True, resume_errored=True
        )
    else:
        out.mkdir(parents=True, exist_ok=True)
        space = SEARCH_SPACE if space is None else space
        (out / "space.json").write_text(json.dumps(space, indent=2) + "\n")
        config_mod.save(cfg, out / "base_config.json")
        settings = {
            "num_samples": num_samples,
            "report_every": report_every,
            "grace": grace_period,
            "max_concurrent": max_concurrent,
        }
        (out / "sweep.json").write_text(json.dumps(settings, indent=2) + "\n")
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=max(1, math.ceil(cfg.iterations / report_every)),
            grace_period=grace_period,
            reduction_factor=2,
        )
        tuner = tune.Tuner(
            trainable,
            param_space=to_tune_space(space),
            tune_config=tune.TuneConfig(
                metric=METRIC,
                mode="max",
                scheduler=scheduler,
                num_samples=num_samples,
                max_concurrent_trials=max_concurrent or None,
            ),
            run_config=tune.RunConfig(name="tune", storage_path=str(out), verbose=1),
        )
    grid = tuner.fit()
    if not finished(out / "tune"):
        raise Interrupted(f"sweep interrupted; continue it with --resume {out}")
    return write_sweep_results(grid, cfg, out)


def write_sweep_results(grid: Any, cfg: TrainConfig, out: Path) -> Any:
    """trials.{parquet,csv,md} (best first) and best_config.json of a finished sweep."""
    import pandas as pd

    from svtas_ray.results import write_table

    rows = []
    for i in range(len(grid)):
        result = grid[i]
        m = result.metrics or {}
        df = result.metrics_dataframe
        scores = df[METRIC].dropna() if df is not None and METRIC in df else pd.Series([])
        reports = int(m.get("training_iteration", 0))
        iterations = int(m.get("iteration", 0))
        rows.append(
            {
                "trial": Path(result.path).name,
                "status": "error" if result.error is not None else "done",
                "iterations": iterations,
                "reports": reports,
                "stopped_early": result.error is None
                and int(m.get("iteration", 0)) < cfg.iterations,
                "best_val_score": float(scores.max()) if len(scores) else math.nan,
                "last_val_score": float(m.get(METRIC, math.nan)),
                **{k: _cell(v) for k, v in (result.config or {}).items()},
            }
        )
    table = pd.DataFrame(rows).sort_values("best_val_score", ascending=False, na_position="last")
    write_table(table.reset_index(drop=True), out / "trials")
    ok = grid.num_errors < len(rows)
    if ok:
        best = grid.get_best_result(metric=METRIC, mode="max", scope="all")
        best_cfg = replace(trial_config(cfg, best.config), name=f"{cfg.name}-best")
        config_mod.save(best_cfg, out / "best_config.json")
    return table


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, tuple)) else value
