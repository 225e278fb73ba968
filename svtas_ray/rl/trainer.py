"""The driver loop: rollout workers -> learners, evaluation, checkpoints, logs.

One iteration: the learners' weights go out once through the object store (a ref, never pulled
into the driver); every worker returns a trajectory chunk ref (handed to the learners as is) and
small stats (pulled); the learners update on their shard of the chunk refs. With
``algo.staleness = k > 0`` the workers are kept ``k`` samplings ahead: the next chunks are
requested, with the weights of the moment, before the learners start updating, so sampling and
learning overlap and each update learns from chunks at most ``k`` updates old (``k = 0`` is the
synchronous loop).

Faults: a rollout worker that dies is recreated (with a fresh random stream) and the iteration
completes with the other workers' chunks, or samples again when it was the only one; a worker
that dies during an evaluation is recreated and its videos are evaluated again. Learners that
die are recreated from the last checkpoint and the iteration is done again. After
:data:`MAX_RESTARTS` faults in a row the run stops with one sentence saying how to resume it. The
metrics row of an iteration is written before its checkpoint, and a resumed run drops rows past
its checkpoint, so no iteration's row is lost or duplicated.

Model selection uses a validation subset carved from the training videos, never the test split;
the test split is evaluated once, at the end, with the best and the last weights.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import ray
from ray.exceptions import RayActorError

from svtas_ray import config as config_mod
from svtas_ray.config import TrainConfig
from svtas_ray.data.check import check_inputs
from svtas_ray.data.layout import Dataset
from svtas_ray.data.normalization import FeatureStats
from svtas_ray.errors import ConfigError, RunStopped
from svtas_ray.evaluate import gate_stage, hold_stage, tuning_rows, write_eval
from svtas_ray.metrics import METRIC_NAMES
from svtas_ray.models.checkpoint import Checkpoint, save_checkpoint, save_checkpoint_copy
from svtas_ray.models.hold_gate import gate_of
from svtas_ray.rl.budget import Budget, run_epoch_clips
from svtas_ray.rl.learner import Learner, RowSpec
from svtas_ray.rl.progress import TrainProgress, train_progress
from svtas_ray.rl.ray_session import init_ray
from svtas_ray.rl.rollout import RolloutStats, RolloutWorker
from svtas_ray.rl.run_dir import RunLog, new_run_dir, resume_config, write_summary

log = logging.getLogger(__name__)

MAX_RESTARTS = 3
"""Actor deaths tolerated in a row (in one sampling, evaluation or update) before the run stops."""


def val_count(val_videos: int | None, num_train: int) -> int:
    """Validation videos to carve out of ``num_train`` training videos (``TrainConfig.val_videos``;
    None: a tenth of them, at least 2 and at most 8)."""
    return val_videos if val_videos is not None else min(8, max(2, num_train // 10))


def split_videos(cfg: TrainConfig) -> tuple[list[str], list[str], list[str]]:
    """(fit, validation, test) videos: the validation subset is drawn from the training split."""
    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    train = ds.split_videos(cfg.data.split, "train")
    test = ds.split_videos(cfg.data.split, "test")
    count = val_count(cfg.val_videos, len(train))
    if count >= len(train):
        raise ConfigError(
            f"val_videos={count} leaves no training video (split {cfg.data.split} has "
            f"{len(train)} training videos)"
        )
    rng = np.random.default_rng(cfg.seed)
    val = sorted(str(v) for v in rng.choice(train, size=count, replace=False))
    return [v for v in train if v not in val], val, test


def checked_split_videos(cfg: TrainConfig) -> tuple[list[str], list[str], list[str]]:
    """:func:`split_videos`, after checking from their headers that every video the run will
    read has labels and inputs the model can take (``check_inputs``): a bad test video then
    stops the run before Ray starts and before a run folder exists, not after training."""
    fit, val, test = split_videos(cfg)
    check_inputs(
        Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir),
        [*fit, *val, *test],
        cfg.data.modality,
        cfg.data.alignment,
    )
    return fit, val, test


@dataclass(frozen=True)
class Sampling:
    """One request for a chunk from every worker, in flight until the learners take it."""

    version: int
    """Updates the weights it was sampled with had seen (the trainer's iteration then)."""
    calls: list[tuple[Any, Any, Any]]
    """Per worker: (actor, chunk ref, stats ref)."""


def selection_score(scores: dict[str, float]) -> float:
    """Model selection on validation: the mean of Acc, Edit and F1@{10,25,50}."""
    return float(np.mean([scores[k] for k in METRIC_NAMES]))


def record_validation(
    row: dict[str, Any], scores: dict[str, float], best: float, iteration: int
) -> tuple[bool, float]:
    """Put validation ``scores`` into ``row`` as ``val_*`` and log one line; whether they beat
    ``best`` (by :func:`selection_score`) and the best score after them."""
    row.update({f"val_{k}": v for k, v in scores.items()})
    score = selection_score(scores)
    improved = score > best
    log.info(
        "iteration %d: validation Acc %.1f Edit %.1f F1@50 %.1f%s",
        iteration,
        scores["acc"],
        scores["edit"],
        scores["f1@50"],
        " (best so far)" if improved else "",
    )
    return improved, max(score, best)


class Trainer:
    """Build the actors of ``cfg`` and train; ``resume=True`` continues the run in ``run_dir``."""

    def __init__(
        self, cfg: TrainConfig, run_dir: str | Path | None = None, resume: bool = False
    ) -> None:
        self.cfg = cfg
        self.fit_videos, self.val_videos, self.test_videos = checked_split_videos(cfg)
        init_ray(cfg.resources.num_cpus)
        self.path = Path(run_dir) if run_dir is not None else new_run_dir(cfg)
        self.path.mkdir(parents=True, exist_ok=True)
        config_mod.save(cfg, self.path / "config.json")
        self.iteration, self.env_steps, self.best_score = 0, 0, -np.inf
        self.progress = 0.0  # of the run in [0, 1], for the learners' lr schedule
        self.worker_restarts = 0
        self.workers: list[Any] = [self._make_worker(i) for i in range(cfg.resources.num_workers)]
        self.num_classes, self.obs_shape = ray.get(self.workers[0].spec.remote())
        self.dataset = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
        self.classes = self.dataset.classes.names
        self.normalization = self._feature_stats()
        self.clips_per_epoch = run_epoch_clips(cfg, self.dataset, self.fit_videos)
        self.learners: list[Any] = self._make_learners()
        self.weights_ref: Any = None  # the live weights after the last update (None: ask for them)
        self.learner_restarts = 0
        self.in_flight: deque[Sampling] = deque()  # samplings requested, oldest first
        self.log = RunLog(self.path)
        if resume:
            self._restore(self.path / "checkpoints" / "last.pt")
            self.log.truncate(self.iteration)  # rows written after the checkpoint are redone
        self.log.write_meta(self._meta())

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: Mapping[str, Any] | None = None) -> Trainer:
        """Continue the run in ``run_dir`` from its last checkpoint with its saved config."""
        cfg = config_mod.override(resume_config(run_dir), overrides or {})
        return cls(cfg, run_dir, resume=True)

    # ------------------------------------------------------------------ actors

    def _make_worker(self, index: int) -> Any:
        res = self.cfg.resources
        resources = {res.rollout_resource: 0.01} if res.rollout_resource else None
        cls = ray.remote(RolloutWorker).options(
            num_cpus=res.cpus_per_worker, num_gpus=res.gpus_per_worker, resources=resources
        )
        # A worker made later (restart, resume) draws a random stream of its own, not a replay
        # of the first worker's.
        stream = self.iteration + self.worker_restarts
        return cls.remote(self.cfg, tuple(self.fit_videos), index, stream)

    def _make_learners(self) -> list[Any]:
        res = self.cfg.resources
        learner_cls = ray.remote(Learner).options(
            num_cpus=res.cpus_per_learner, num_gpus=res.gpus_per_learner
        )
        learners: list[Any] = [
            learner_cls.remote(
                self.cfg, self.num_classes, self.obs_shape, r, res.num_learners, self.normalization
            )
            for r in range(res.num_learners)
        ]
        if res.num_learners > 1:
            host, port = ray.get(learners[0].address.remote())
            ray.get([lrn.join_group.remote(host, port) for lrn in learners])
        return learners

    def _feature_stats(self) -> dict[str, Any] | None:
        """Per-dimension mean and std of the fitting videos' features (features mode with
        ``model.normalize_input``), computed once in bounded memory; None otherwise."""
        cfg = self.cfg
        if cfg.data.modality != "features" or not cfg.model.normalize_input:
            return None
        stats = FeatureStats.from_dataset(
            self.dataset, self.fit_videos, cfg.clip.sample_rate, cfg.data.alignment
        )
        return stats.to_dict()

    def _restart_worker(self, index: int, exc: BaseException) -> None:
        log.warning("rollout worker %d died (%s); recreating it", index, type(exc).__name__)
        self.worker_restarts += 1
        self.workers[index] = self._make_worker(index)
        self.log.write_meta(self._meta())

    def _recover_learners(self, exc: BaseException, attempt: int) -> None:
        """Recreate every learner from the last checkpoint (or afresh before the first one)."""
        if attempt >= MAX_RESTARTS:
            self._stop(f"a learner died {attempt} times in a row ({type(exc).__name__})")
        log.warning("a learner died (%s); recreating the learners", type(exc).__name__)
        for actor in self.learners:
            ray.kill(actor)
        self.in_flight.clear()  # their weights came from the dead learners
        self.learners = self._make_learners()
        self.weights_ref = None
        self.learner_restarts += 1
        last = self.path / "checkpoints" / "last.pt"
        if last.is_file():
            self._restore(last)
        self.log.write_meta(self._meta())

    def _stop(self, what: str) -> None:
        raise RunStopped(
            f"{what}; the run is saved in {self.path} at iteration {self.iteration}: continue it "
            f"with svtas-ray train --resume {self.path}"
        )

    def _is_learner(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the death of one of the learners (a task that took the learners'
        weights as an argument fails with the learner's error, not its own)."""
        ids = {lrn._actor_id.hex() for lrn in self.learners}
        return getattr(exc, "actor_id", None) in ids

    def _meta(self) -> dict[str, Any]:
        return {
            "ray_version": ray.__version__,
            "worker_nodes": ray.get([w.node_id.remote() for w in self.workers]),
            "fit_videos": self.fit_videos,
            "val_videos": self.val_videos,
            "test_videos": self.test_videos,
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "obs_shape": list(self.obs_shape),
            "worker_restarts": self.worker_restarts,
            "learner_restarts": getattr(self, "learner_restarts", 0),
        }

    def close(self) -> None:
        """Free the actors (the Ray cluster itself stays up)."""
        self.log.close()
        for actor in [*self.workers, *self.learners]:
            ray.kill(actor)
        self.workers, self.learners = [], []

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ loop

    def train(
        self,
        iterations: int | None = None,
        time_budget_s: float | None = None,
        progress: bool = False,
    ) -> dict[str, Any]:
        """Train until ``iterations`` in total (default cfg.iterations) or the time budget;
        ``progress``: a progress bar on a terminal (:mod:`.progress`)."""
        cfg = self.cfg
        target = cfg.iterations if iterations is None else iterations
        budget = cfg.time_budget_s if time_budget_s is None else time_budget_s
        with train_progress(progress, self.iteration, target, budget) as bar:
            row = self._train(target, budget, bar)
        log.info("TensorBoard: tensorboard --logdir %s", self.path)
        return row

    def _train(self, target: int, budget_s: float, bar: TrainProgress) -> dict[str, Any]:
        cfg = self.cfg
        budget = Budget(target, budget_s, cfg.max_epochs, self.clips_per_epoch, cfg.min_iterations)
        row: dict[str, Any] = {}
        validated, failures = True, 0
        while not budget.done(self.iteration, self.env_steps):
            self.progress = budget.progress(self.iteration, self.env_steps)
            try:
                row = self.step()
                last = budget.done(self.iteration, self.env_steps)
                validated = bool(self.val_videos) and (self.iteration % cfg.eval_every == 0 or last)
                improved = self._validate(row) if validated else not self.val_videos
                row["wall_s"] = budget.elapsed()  # validation included
                self.log.log(row)  # the row first: a crash before the checkpoint redoes it
                self.save(best=improved)
                bar.update(row)
            except RayActorError as exc:
                if not self._is_learner(exc):
                    raise
                failures += 1
                self._recover_learners(exc, failures)  # back to the last checkpoint
                continue
            failures = 0
        if not validated:
            # The budget ran out while saving or logging an iteration that was not validated:
            # validate it now, so the run always ends with a model selected on validation.
            improved = self._validate(row)
            row["wall_s"] = budget.elapsed()
            self.log.log(row)  # replaces the iteration's row, now with its val_ scores
            self.save(best=improved)
        return row

    def _validate(self, row: dict[str, Any]) -> bool:
        """Score the validation videos into ``row``; True when they beat the best so far."""
        improved, self.best_score = record_validation(
            row, self.evaluate("val"), self.best_score, self.iteration
        )
        return improved

    def step(self) -> dict[str, Any]:
        """One iteration: take every worker's next chunk (requesting the following ones first
        when ``algo.staleness`` allows), update every learner; the metrics row."""
        t0 = time.perf_counter()
        if not self.in_flight:
            self._request()
        sampling = self.in_flight.popleft()
        while len(self.in_flight) < self.cfg.algo.staleness:
            self._request()  # sampled while the learners update, with the current weights
        # With one learner the update is submitted before the stats are fetched: Ray starts it
        # as soon as the chunks exist, without a driver round trip in between. (Learners in a
        # process group must all run an update or none, so they wait for the stats.)
        chunks = [chunk for _, chunk, _ in sampling.calls]
        weights = self.weights_ref
        updates = self._update(chunks) if len(self.learners) == 1 else None
        try:
            stats = ray.get([stats_ref for _, _, stats_ref in sampling.calls])
        except RayActorError as exc:  # a worker died; an update on its chunk failed unrun
            if self._is_learner(exc):
                raise
            self.weights_ref, updates = weights, None
            chunks, stats = self._collect(sampling)
        t1 = time.perf_counter()
        learn = ray.get(updates if updates is not None else self._update(chunks))
        t2 = time.perf_counter()
        self.iteration += 1
        row = self._row(stats, learn[0], t0, t1, t2)
        row["staleness"] = self.iteration - 1 - sampling.version  # updates the weights lagged
        return row

    def _update(self, chunks: list[Any]) -> list[Any]:
        """Submit one update of every learner on the chunk refs; the refs of their stats."""
        updates = []
        plan = shard(len(chunks), len(self.learners))
        for rank, (lrn, (idx, rows)) in enumerate(zip(self.learners, plan, strict=True)):
            args = (rows, *[chunks[i] for i in idx])
            if rank == 0:  # its reply also carries the weights the next sampling needs
                call = lrn.update_and_weights.options(num_returns=2)
                stats_ref, self.weights_ref = call.remote(*args, progress=self.progress)
            else:
                stats_ref = lrn.update.remote(*args, progress=self.progress)
            updates.append(stats_ref)
        return updates

    def _request(self) -> None:
        """Ask every worker for its next chunk with the learners' current weights."""
        weights = self.weights_ref
        if weights is None:  # no update since the learners were made or restored
            weights = self.weights_ref = self.learners[0].weights.remote()
        clips = self.cfg.algo.chunk_clips
        calls = [(w, *w.sample.options(num_returns=2).remote(weights, clips)) for w in self.workers]
        self.in_flight.append(Sampling(self.iteration, calls))

    def _collect(self, sampling: Sampling) -> tuple[list[Any], list[RolloutStats]]:
        """Chunk refs and stats of every live worker of ``sampling`` (some worker died); dead
        workers are recreated, and chunks are requested again while no worker returned one."""
        for _ in range(MAX_RESTARTS):  # take the live workers' chunks one by one
            chunks, stats = [], []
            for actor, chunk_ref, stats_ref in sampling.calls:
                try:
                    stats.append(ray.get(stats_ref))
                    chunks.append(chunk_ref)
                except RayActorError as exc:
                    if self._is_learner(exc):
                        raise
                    if actor in self.workers:  # not already replaced after an earlier call
                        self._restart_worker(self.workers.index(actor), exc)
            if chunks:
                return chunks, stats
            self.in_flight.clear()  # requested from the dead workers too
            self._request()
            sampling = self.in_flight.pop()
        self._stop(f"every rollout worker died {MAX_RESTARTS} times in a row")
        raise AssertionError("unreachable")

    def _row(
        self, stats: list[RolloutStats], learn: dict[str, float], t0: float, t1: float, t2: float
    ) -> dict[str, Any]:
        steps = sum(s.steps for s in stats)
        frames = sum(s.frames for s in stats)
        self.env_steps += steps
        episodes = [e for s in stats for e in s.episodes]
        row: dict[str, Any] = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "sample_s": t1 - t0,
            "learn_s": t2 - t1,
            "iteration_s": t2 - t0,
            # the slowest worker's and the learner's own timings; what is left of iteration_s
            # (synchronous loop) is the driver's and Ray's overhead
            "worker_sample_s": max(s.sample_s for s in stats),
            "learner_update_s": learn.get("learn_s", 0.0),
            "env_steps_per_s": steps / (t2 - t0),
            "frames_per_s": frames / (t2 - t0),
            "reward_mean": sum(s.reward_sum for s in stats) / max(steps, 1),
            "episodes": len(episodes),
            "workers": len(stats),
            "worker_restarts": self.worker_restarts,
            "learner_restarts": getattr(self, "learner_restarts", 0),
        }
        greedy = [s.baseline_reward_sum for s in stats if s.baseline_reward_sum is not None]
        if greedy:  # the self-critical baseline's reward, beside the sampled one
            row["baseline_reward_mean"] = sum(greedy) / max(steps, 1)
        for key in ("return", *METRIC_NAMES):
            values = [e[key] for e in episodes if key in e]
            if values:
                row[f"episode_{key}"] = float(np.mean(values))
        for key, value in learn.items():
            plain = (
                "lr",
                "rows",
                "grad_norm",
                "learn_s",
                "opt_steps",
                "frames_learned",
                "pretrain",
            )
            row.setdefault(key if key in plain else f"loss_{key}", value)
        # step efficiency beside env steps/s: optimiser steps and frames learned per second
        row["opt_steps_per_s"] = learn.get("opt_steps", 0.0) / (t2 - t0)
        row["frames_learned_per_s"] = learn.get("frames_learned", 0.0) / (t2 - t0)
        return row

    # ------------------------------------------------------------------ evaluation, checkpoints

    def evaluate(
        self,
        split: Literal["val", "test"],
        weights: dict[str, np.ndarray] | None = None,
        out_name: str | None = None,
    ) -> dict[str, float]:
        """Greedy streaming over the validation or test videos; writes eval/<split>/."""
        rows = self._stream(split, weights)
        name = out_name or split
        return write_eval(
            self.dataset, rows, self.path / "eval" / name, self.cfg.algo.kind, split == "test"
        )

    def _stream(
        self,
        split: Literal["val", "test"],
        weights: dict[str, np.ndarray] | None = None,
        dropout_seed: int | None = None,
    ) -> list[dict[str, Any]]:
        """Per video of the split: prediction, probabilities and scores, from the workers
        (``dropout_seed``: see :func:`svtas_ray.evaluate.stream_videos`)."""
        videos = self.val_videos if split == "val" else self.test_videos
        part: Literal["train", "test"] = "train" if split == "val" else "test"
        ref = ray.put(weights) if weights is not None else self.learners[0].eval_weights.remote()
        n = len(self.workers)
        pending = {i: tuple(videos[i::n]) for i in range(n) if videos[i::n]}
        rows: list[dict[str, Any]] = []
        for _ in range(MAX_RESTARTS):
            calls = {
                i: self.workers[i].evaluate.remote(ref, part, v, dropout_seed)
                for i, v in pending.items()
            }
            failed = {}
            for i, call in calls.items():
                try:
                    rows += ray.get(call)
                except RayActorError as exc:
                    if self._is_learner(exc):
                        raise
                    self._restart_worker(i, exc)
                    failed[i] = pending[i]
            if not failed:
                break
            pending = failed
        else:
            self._stop(f"rollout workers died {MAX_RESTARTS} times in a row during evaluation")
        return rows

    def save(self, best: bool) -> None:
        """Write checkpoints/last.pt (and best.pt): the model in the one checkpoint format, with
        the learner's optimiser, scheduler and RNG state and the loop's counters for resume."""
        state: dict[str, Any] = ray.get(self.learners[0].state.remote())
        ckpt = self.path / "checkpoints"
        last = save_checkpoint(
            ckpt / "last.pt",
            state.pop("model"),
            self.cfg,
            self.num_classes,
            self.obs_shape[1:],
            self.classes,
            extra={"iteration": self.iteration},
            normalization=self.normalization,
            train_state={
                **state,
                "iteration": self.iteration,
                "best_score": float(self.best_score),
                "env_steps": self.env_steps,
                "worker_restarts": self.worker_restarts,
            },
        )
        if best or self.cfg.selection == "last":
            save_checkpoint_copy(last, ckpt / "best.pt")

    def _restore(self, path: Path) -> None:
        ckpt = Checkpoint.read(path)
        train = ckpt.train_state
        if train is None:
            raise ConfigError(f"{path}: holds no training state to resume from")
        keys = ("optimizer", "scheduler", "rng", "live", "ema_steps")
        state = {"model": ckpt.state_dict, **{k: train[k] for k in keys if k in train}}
        ray.get([lrn.load_state.remote(state) for lrn in self.learners])
        self.weights_ref = None
        self.iteration = int(train["iteration"])
        self.best_score = float(train["best_score"])
        self.env_steps = int(train["env_steps"])
        self.worker_restarts = int(train.get("worker_restarts", 0))
        log.info("restored %s at iteration %d", self.path, self.iteration)

    def finish(self) -> dict[str, dict[str, float]]:
        """Evaluate the best and last weights on the test split, and the best weights with the
        causal hold rule tuned on the validation videos (``test_best_hold``) and, with
        ``model.hold_gate``, its learned gate's offset tuned there (``test_best_gate``);
        summary.md."""
        results: dict[str, dict[str, float]] = {}
        ckpt = self.path / "checkpoints"
        # with selection='last' best.pt is last.pt: tested once
        for name in ("best",) if self.cfg.selection == "last" else ("best", "last"):
            path = ckpt / f"{name}.pt"
            if not (path.is_file() and self.cfg.test_at_end):
                continue
            weights = {k: v.numpy() for k, v in Checkpoint.read(path).state_dict.items()}
            rows = self._stream("test", weights)
            out = self.path / "eval" / f"test_{name}"
            results[f"test_{name}"] = write_eval(self.dataset, rows, out, self.cfg.algo.kind, True)
            if name == "best" and self.val_videos:
                tuning = self._tuning_rows(weights)
                choice, scores = hold_stage(
                    self.dataset,
                    tuning,
                    rows,
                    max(len(self.dataset.labels(v)) for v in self.fit_videos),
                    self.cfg.clip.sample_rate,
                    self.path / "eval" / "test_best_hold",
                    f"{self.cfg.algo.kind}+hold",
                    self._last_val_rows(),
                )
                results["test_best_hold"] = scores
                hold = {
                    **dataclasses.asdict(choice.settings),
                    "val_score": choice.score,
                    "tuning_draws": self.cfg.hold_tuning_draws,
                }
                meta = {**self._meta(), "hold_rule": hold}
                gate = gate_of(weights)
                if gate is not None:
                    offset, grid, gated = gate_stage(
                        self.dataset,
                        gate,
                        tuning,
                        rows,
                        self.cfg.clip.sample_rate,
                        self.path / "eval" / "test_best_gate",
                        f"{self.cfg.algo.kind}+gate",
                    )
                    results["test_best_gate"] = gated
                    meta["hold_gate"] = {
                        "offset": str(offset),
                        "val_scores": {str(k): v for k, v in grid.items()},
                    }
                self.log.write_meta(meta)
        write_summary(self.path, self.cfg, self.log.rows, results)
        return results

    def _tuning_rows(self, weights: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        """The validation streams the hold rule is tuned on (``cfg.hold_tuning_draws``)."""
        return tuning_rows(lambda seed: self._stream("val", weights, seed), self.cfg)

    def _last_val_rows(self) -> list[dict[str, Any]] | None:
        """The validation videos streamed with the last weights (the hold rule's tie-break; none
        when the kept weights are the last)."""
        last = self.path / "checkpoints" / "last.pt"
        if not last.is_file() or self.cfg.selection == "last":
            return None
        return self._stream(
            "val", {k: v.numpy() for k, v in Checkpoint.read(last).state_dict.items()}
        )


def shard(num_chunks: int, num_learners: int) -> list[tuple[list[int], list[RowSpec]]]:
    """Which chunks (and rows of them) each learner takes.

    Chunks are dealt round-robin when they divide evenly among the learners; otherwise every
    learner takes rows ``rank::L`` of every chunk (so no learner sits idle).
    """
    if num_chunks % num_learners == 0:
        return [
            (list(range(r, num_chunks, num_learners)), [None] * (num_chunks // num_learners))
            for r in range(num_learners)
        ]
    every = list(range(num_chunks))
    return [(every, [(r, num_learners)] * num_chunks) for r in range(num_learners)]
