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

import dataclasses
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from svtas_ray import config as config_mod
from svtas_ray.config import TrainConfig
from svtas_ray.data.files import check_output, read_text
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


DISTRIBUTIONS = ("choice", "grid", "loguniform", "randint", "uniform")
"""The distributions a search space may name (see :data:`SEARCH_SPACE`)."""


def load_space(path: Path) -> dict[str, Any]:
    """The search space in the JSON file ``path``, checked by :func:`check_space` (errors name
    ``path``)."""
    text = read_text(path, "search space file")
    try:
        space = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    check_space(space, str(path))
    return dict(space)


def check_space(space: Any, where: str = "search space") -> None:
    """Refuse a space that Tune or the trials would fail on, in one sentence naming ``where``.

    The space is a JSON object; every key is a TrainConfig field (dotted, not a section) or the
    reserved ``split`` (:func:`trial_config`); every value one distribution with its arguments,
    and every value of a ``choice`` or ``grid`` one its field's type takes.
    """
    if not isinstance(space, Mapping):
        raise ConfigError(
            f"{where}: a search space must be a JSON object of dotted config keys, "
            f"not a {type(space).__name__}"
        )
    for key, spec in space.items():
        _check_space_key(key, where)
        problem = _spec_problem(spec) or _value_problem(key, spec)
        if problem is not None:
            raise ConfigError(f"{where}: {key!r} {problem}")


def _check_space_key(key: str, where: str) -> None:
    """``key`` names a TrainConfig field (or is ``split``), else ConfigError naming ``where``."""
    if key == "split":
        return
    try:
        kind = config_mod.field_type(TrainConfig, key)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if dataclasses.is_dataclass(kind):
        raise ConfigError(f"{where}: {key!r} is a section; search one of its fields, e.g. {key}.x")


def _spec_problem(spec: Any) -> str | None:
    """Why ``spec`` is not one ``{distribution: arguments}`` Tune can sample, or None."""
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        names = ", ".join(DISTRIBUTIONS)
        return f"must be {{distribution: arguments}} with one of {names}, got {spec}"
    kind, args = next(iter(spec.items()))
    if kind in ("choice", "grid"):
        ok = isinstance(args, (list, tuple)) and len(args) > 0
        return None if ok else f"{kind} needs a non-empty list of values, got {args}"
    pair = isinstance(args, (list, tuple)) and len(args) == 2
    if not pair or not all(_is_number(a, integer=kind == "randint") for a in args):
        what = "integers" if kind == "randint" else "finite numbers"
        return f"{kind} needs [low, high] (two {what}), got {args}"
    low, high = args
    if not low < high:
        return f"{kind} needs low < high, got {args}"
    if kind == "loguniform" and low <= 0:
        return f"loguniform needs low > 0, got {args}"
    return None


def _value_problem(key: str, spec: Mapping[str, Any]) -> str | None:
    """Why a value of ``spec`` for ``key`` would fail its trial, or None: each value of a
    ``choice`` or ``grid``, and for the numeric distributions a value they draw (for ``uniform``
    and ``loguniform`` one with a fraction, which an integer or a name field refuses; the bounds
    of ``randint``), goes through the validation :func:`trial_config` applies to the
    field (pydantic, with its conversions), on its own. Ranges and values that must go together
    need the base config and the other keys' draws: :func:`check_draws` checks those."""
    from pydantic import TypeAdapter, ValidationError

    kind, args = next(iter(spec.items()))
    values = list(args)
    if kind in ("uniform", "loguniform"):
        low, high = float(args[0]), float(args[1])
        values = [low + (high - low) / math.pi]  # a draw with a fraction, as Tune's are
    field = "data.split" if key == "split" else key
    adapter = TypeAdapter(config_mod.field_type(TrainConfig, field))
    for value in values:
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            detail = str(err["msg"])
            detail = detail[:1].lower() + detail[1:]
            if err["loc"]:
                detail = f"item {'.'.join(map(str, err['loc']))}: {detail}"
            as_field = "" if field == key else f" (as {field})"
            what = "value" if kind in ("choice", "grid", "randint") else "draw"
            return f"{kind} {what} {value!r}{as_field} is invalid: {detail}"
    return None


def check_draws(
    base: TrainConfig,
    space: Mapping[str, Mapping[str, Sequence[Any]]],
    where: str = "search space",
) -> None:
    """Refuse a checked space (:func:`check_space`) in which some trial would fail on its config:
    a value out of its field's range (``algo.gamma`` 1.5), or two values that do not go together
    or with ``base`` (``algo.baseline`` ``self_critical`` drawn with ``algo.kind`` ``ppo``).

    Each key tries its extreme values (each ``choice`` / ``grid`` value; the bounds of the
    numeric distributions, the upper one just inside the open end Tune draws from; the configs'
    range checks are bounds, so the extremes stand for the draws between them). Every pair of
    keys tries every pair of their extremes, the other keys at their first one, and each such
    draw goes through :func:`trial_config` on ``base``, the validation a trial applies. So every
    conflict between two keys (or one key and ``base``) is found; one that needs three keys
    together fails inside its trial. Every draw tried is one a trial can get, so a space whose
    trials all pass is never refused. The refusal names the fewest keys of the failing draw that
    still fail with the others back at ``base``."""
    keys = list(space)
    extremes = [_extremes(next(iter(space[k].items()))) for k in keys]
    for combo in _pairwise(extremes):
        params = dict(zip(keys, combo, strict=True))
        if _draw_problem(base, params) is None:
            continue
        for key in keys:  # drop keys (back to the base config) while the rest still fails
            fewer = {k: v for k, v in params.items() if k != key}
            if fewer and _draw_problem(base, fewer) is not None:
                params = fewer
        problem = _draw_problem(base, params)
        draw = ", ".join(f"{k}={v!r}" for k, v in params.items())
        raise ConfigError(f"{where}: a trial drawing {draw} would fail: {problem}")


def _pairwise(extremes: Sequence[Sequence[Any]]) -> Iterator[list[Any]]:
    """Draws (one value per key) that together hold every pair of two keys' values (and every
    value of a lone key), the other keys at their first value."""
    first = [values[0] for values in extremes]
    for i, values in enumerate(extremes):
        for a in values:
            pairs = [(j, b) for j in range(i + 1, len(extremes)) for b in extremes[j]]
            for j, b in pairs or [(i, a)]:
                draw = list(first)
                draw[i], draw[j] = a, b
                yield draw


def _extremes(spec: tuple[str, Sequence[Any]]) -> list[Any]:
    """The values of a distribution :func:`check_draws` tries (see there)."""
    kind, args = spec
    if kind in ("choice", "grid"):
        return list(args)
    low, high = args
    if kind == "randint":
        return sorted({int(low), int(high) - 1})
    inside = math.nextafter(float(high), -math.inf)
    return [float(low), inside]


def _draw_problem(base: TrainConfig, params: Mapping[str, Any]) -> str | None:
    """Why :func:`trial_config` refuses ``params`` on ``base``, or None."""
    try:
        trial_config(base, params)
    except ConfigError as exc:
        return str(exc).removeprefix("override: ")
    return None


def _is_number(value: Any, integer: bool) -> bool:
    """``value`` is a finite JSON number (an integer where ``integer``), not a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) if integer else math.isfinite(value)


def to_tune_space(
    space: Mapping[str, Mapping[str, Sequence[Any]]], where: str = "search space"
) -> dict[str, Any]:
    """The JSON-friendly space above as Tune's ``param_space``, checked first
    (:func:`check_space`)."""
    from ray import tune

    check_space(space, where)
    makers = {
        "loguniform": lambda a: tune.loguniform(*a),
        "uniform": lambda a: tune.uniform(*a),
        "randint": lambda a: tune.randint(*a),
        "choice": lambda a: tune.choice(list(a)),
        "grid": lambda a: tune.grid_search(list(a)),
    }
    return {key: makers[kind](args) for key, spec in space.items() for kind, args in spec.items()}


def check_settings(
    num_samples: int, report_every: int, grace_period: int, max_concurrent: int
) -> None:
    """Refuse sweep numbers out of range, naming their command-line flag, before Ray starts."""
    for flag, value, least in (
        ("--samples", num_samples, 1),
        ("--report-every", report_every, 1),
        ("--grace", grace_period, 1),
        ("--max-concurrent", max_concurrent, 0),
    ):
        if value < least:
            raise ConfigError(f"{flag} must be >= {least}, got {value}")


def check_new_out(out: Path) -> None:
    """Refuse an ``out`` that a new sweep cannot own: a file, a path under a file, or a folder
    that already holds something (a finished sweep's results would be overwritten)."""
    check_output(out, "new folder", hint="use --resume to continue it or choose another --out")


def read_report_every(out: Path) -> int:
    """``report_every`` from the sweep.json in ``out``: the setting a resume reads back."""
    path = out / "sweep.json"
    try:
        settings = json.loads(read_text(path, "sweep settings file"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    every = settings.get("report_every") if isinstance(settings, dict) else None
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ConfigError(
            f"{path}: the sweep settings need report_every as an integer >= 1, got {every!r}"
        )
    return every


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
    where: str = "search space",
) -> Any:
    """ASHA over ``space`` on ``val_score``; writes trials table and best_config.json into ``out``.

    ``max_concurrent``: trials running at once (0: as many as the resources allow); with 1 the
    trials run in the order the space generates them.

    ``resume``: continue the interrupted sweep in ``out`` (``Tuner.restore``; its base config and
    settings are read from ``out``, ``cfg`` is ignored). ``where`` names the space in a refusal
    (its file). Returns the trials table (a DataFrame).
    """
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from svtas_ray.rl.ray_session import init_ray

    out = Path(out).resolve()
    if resume:
        if not (out / "tune").is_dir():
            raise ConfigError(f"{out}: no sweep to resume (no tune/ folder)")
        cfg = config_mod.load(TrainConfig, out / "base_config.json")
        report_every = read_report_every(out)
    else:
        check_settings(num_samples, report_every, grace_period, max_concurrent)
        check_new_out(out)
        space = SEARCH_SPACE if space is None else space
        param_space = to_tune_space(space, where)
        check_draws(cfg, space, where)
    if cfg.val_videos == 0:
        raise ConfigError("a sweep selects on validation scores: set val_videos >= 1")
    init_ray(cfg.resources.num_cpus)
    cfg = replace(cfg, runs_dir=str(out / "runs"))
    trainable = _trainable(cfg, report_every, final_test=False)
    if resume:
        tuner = tune.Tuner.restore(
            str(out / "tune"), trainable, resume_unfinished=True, resume_errored=True
        )
    else:
        out.mkdir(parents=True, exist_ok=True)
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
            param_space=param_space,
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
