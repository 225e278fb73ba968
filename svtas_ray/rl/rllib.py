"""The RLlib engine: ``svtas-ray train --set engine=rllib --set algo.kind=ppo|appo|impala``.

The one place where a :class:`~svtas_ray.config.TrainConfig` becomes RLlib terms
(:func:`algorithm_config`), and :class:`RLlibTrainer`, which drives an RLlib ``Algorithm`` and
writes the same run directory as the native :class:`~svtas_ray.rl.trainer.Trainer`:
``config.json`` (with ``engine``), ``meta.json``, ``metrics.parquet`` + TensorBoard (a row per
``algo.train()``), validation-based selection of ``checkpoints/best.pt``, ``eval/<split>/`` and
``summary.md``. Checkpoints are the project's ``svtas-ray/model/2`` files of the wrapped
segmenter, so ``svtas-ray eval`` and ``stream`` load them like native ones.

How the native settings map (docs/rllib.md): W workers x E envs -> W env runners x E envs;
``chunk_clips`` -> ``rollout_fragment_length`` and the module's ``max_seq_len``; a train batch of
W x E x chunk_clips clips, split into ``algo.minibatches`` minibatches for ``algo.epochs``
passes (PPO), or one batch of sampled clips per iteration with asynchronous updates (APPO,
IMPALA: :func:`_asynchronous`); ``lr``, ``gamma``, ``gae_lambda``, ``clip``, ``vf_coef``,
``ent_coef``, ``grad_clip`` as named. Not mapped: the learning-rate warm-up and cosine
schedule (RLlib's lr is constant here), ``window_clips`` and ``bptt`` (RLlib replays whole
sequences), the hold gate, sampled baselines, and ``--resume``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import ray
import torch

from svtas_ray import config as config_mod
from svtas_ray.config import TrainConfig
from svtas_ray.data.layout import Dataset
from svtas_ray.data.normalization import FeatureStats
from svtas_ray.errors import ConfigError
from svtas_ray.evaluate import hold_stage, stream_videos, tuning_rows, write_eval
from svtas_ray.models.checkpoint import Checkpoint, save_checkpoint, save_checkpoint_copy
from svtas_ray.rl.budget import Budget, run_epoch_clips
from svtas_ray.rl.policy import build_policy
from svtas_ray.rl.progress import TrainProgress, train_progress
from svtas_ray.rl.ray_session import init_ray
from svtas_ray.rl.run_dir import RunLog, new_run_dir, write_summary
from svtas_ray.rl.trainer import checked_split_videos, record_validation

log = logging.getLogger(__name__)

MODULE_ID = "default_policy"
LEARNER_KEYS = {
    "policy_loss": "loss_policy",
    "vf_loss": "loss_value",
    "entropy": "loss_entropy",
    "ce_loss": "loss_ce",
    "smooth_loss": "loss_smooth",
    "clip_fraction": "loss_clip_fraction",
    "approx_kl": "loss_approx_kl",
    "mean_kl_loss": "loss_kl",
}
"""RLlib learner result keys -> metrics.parquet columns (as the native trainer names them)."""


def algorithm_config(
    cfg: TrainConfig, fit_videos: list[str], normalization: dict[str, Any] | None
) -> Any:
    """The RLlib ``AlgorithmConfig`` of ``cfg`` (PPO, APPO or IMPALA on the new API stack)."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from svtas_ray.rl import rllib_learner as lrn
    from svtas_ray.rl import rllib_module as mod

    algo, res = cfg.algo, cfg.resources
    batch = res.num_workers * res.envs_per_worker * algo.chunk_clips
    per_learner = max(batch // res.num_learners, 1)
    module_class: type[Any] = mod.SegmenterRLModule
    match algo.kind:
        case "ppo":
            from ray.rllib.algorithms.ppo import PPOConfig

            config: Any = PPOConfig()
            learner_class: type[Any] = lrn.FramePPOLearner
            config.training(
                lambda_=algo.gae_lambda,
                clip_param=algo.clip,
                num_epochs=algo.epochs,
                minibatch_size=max(per_learner // algo.minibatches, 1),
                vf_loss_coeff=algo.vf_coef,
                entropy_coeff=algo.ent_coef,
                use_kl_loss=False,
            )
        case "appo":
            from ray.rllib.algorithms.appo import APPOConfig

            config = APPOConfig()
            learner_class = lrn.AuxAPPOLearner
            module_class = mod.SegmenterAPPOModule
            config.training(
                clip_param=algo.clip,
                vf_loss_coeff=algo.vf_coef,
                entropy_coeff=algo.ent_coef,
                use_kl_loss=False,
            )
            _asynchronous(config, batch)
        case "impala":
            from ray.rllib.algorithms.impala import IMPALAConfig

            config = IMPALAConfig()
            learner_class = lrn.AuxIMPALALearner
            config.training(
                vf_loss_coeff=algo.vf_coef,
                entropy_coeff=algo.ent_coef,
            )
            _asynchronous(config, batch)
        case _:
            raise ConfigError(
                f"engine='rllib' runs algo.kind ppo, appo or impala, not {algo.kind!r}"
            )
    env_config = config_mod.to_dict(cfg.env("train", tuple(fit_videos)))
    config.environment(mod.ENV_NAME, env_config=env_config, disable_env_checking=True)
    config.framework("torch")
    config.env_runners(
        num_env_runners=res.num_workers,
        num_envs_per_env_runner=res.envs_per_worker,
        num_cpus_per_env_runner=res.cpus_per_worker,
        num_gpus_per_env_runner=res.gpus_per_worker,
        rollout_fragment_length=algo.chunk_clips,
    )
    config.learners(
        num_learners=res.num_learners,
        num_cpus_per_learner=res.cpus_per_learner,
        num_gpus_per_learner=res.gpus_per_learner,
        learner_connector=lambda obs_space, act_space: mod.AddLabelsToBatch(),
        learner_class=learner_class,
        learner_config_dict={lrn.ALGO_KEY: config_mod.to_dict(algo)},
    )
    config.rl_module(
        rl_module_spec=RLModuleSpec(
            module_class=module_class,
            model_config={
                "model": config_mod.to_dict(cfg.model),
                "normalization": normalization,
                "max_seq_len": algo.chunk_clips,
            },
        )
    )
    config.training(
        lr=algo.lr,
        gamma=algo.gamma,
        grad_clip=algo.grad_clip or None,
        train_batch_size_per_learner=per_learner,
    )
    config.debugging(seed=cfg.seed)
    return config


def _asynchronous(config: Any, batch: int) -> None:
    """APPO's and IMPALA's settings for a small machine: weights pushed by the driver, and an
    iteration that ends once ``batch`` env steps (clips) were sampled, as PPO's does.

    RLlib's defaults for both (``IMPALAConfig.__init__``) do not suit 2 CPUs:

    - ``use_env_runner_state_server=True`` makes each env runner block in ``sample()`` on a
      ``ray.get`` from an ``EnvRunnerStateServer`` actor created at the end of the algorithm's
      setup. Its worker is a fresh process that imports RLlib at nice 15; on the shared 2-core
      test machine its creation took 28 s, so every iteration of a short run sampled 0 env
      steps and updated nothing (docs/rllib.md). With one or two env runners, the driver's
      direct weight push is cheap.
    - ``min_time_s_per_iteration=10`` made every iteration last 10 s whatever was sampled; an
      iteration here is W x E x chunk_clips sampled clips, like the PPO one. Learner updates
      are asynchronous, so a row can report the optimiser steps of an earlier batch.
    """
    config.env_runners(use_env_runner_state_server=False)
    config.reporting(min_time_s_per_iteration=0, min_sample_timesteps_per_iteration=batch)


class RLlibTrainer:
    """Train ``cfg`` with RLlib; the same run directory and interface as the native Trainer."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None) -> None:
        from envs.video_segmentation import VideoSegmentationEnv
        from svtas_ray.rl.rllib_module import register_rllib_env

        if cfg.engine != "rllib":
            raise ConfigError(f"RLlibTrainer runs engine='rllib', not {cfg.engine!r}")
        self.cfg = cfg
        torch.set_num_threads(cfg.resources.torch_threads)
        self.fit_videos, self.val_videos, self.test_videos = checked_split_videos(cfg)
        init_ray(cfg.resources.num_cpus)
        register_rllib_env()
        self.path = Path(run_dir) if run_dir is not None else new_run_dir(cfg)
        self.path.mkdir(parents=True, exist_ok=True)
        config_mod.save(cfg, self.path / "config.json")
        env = VideoSegmentationEnv(cfg.env("train", tuple(self.fit_videos)))
        self.num_classes, self.obs_shape = env.num_classes, tuple(env.observation_space.shape)
        env.close()
        self.dataset = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
        self.classes = self.dataset.classes.names
        self.normalization = self._feature_stats()
        self.clips_per_epoch = run_epoch_clips(cfg, self.dataset, self.fit_videos)
        self.model = build_policy(cfg, self.num_classes, self.obs_shape)  # for evaluation
        self.algo: Any = algorithm_config(cfg, self.fit_videos, self.normalization).build_algo()
        self.iteration, self.env_steps, self.best_score = 0, 0, -np.inf
        self.log = RunLog(self.path)
        self.log.write_meta(self._meta())

    def _feature_stats(self) -> dict[str, Any] | None:
        cfg = self.cfg
        if cfg.data.modality != "features" or not cfg.model.normalize_input:
            return None
        stats = FeatureStats.from_dataset(
            self.dataset, self.fit_videos, cfg.clip.sample_rate, cfg.data.alignment
        )
        return stats.to_dict()

    def _meta(self) -> dict[str, Any]:
        return {
            "engine": "rllib",
            "ray_version": ray.__version__,
            "fit_videos": self.fit_videos,
            "val_videos": self.val_videos,
            "test_videos": self.test_videos,
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "obs_shape": list(self.obs_shape),
        }

    def close(self) -> None:
        """Stop the RLlib algorithm (its env runner and learner actors); Ray stays up."""
        self.log.close()
        if self.algo is not None:
            self.algo.stop()
            self.algo = None

    def __enter__(self) -> RLlibTrainer:
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
        """Train until ``iterations`` in total (default cfg.iterations) or the time budget."""
        cfg = self.cfg
        target = cfg.iterations if iterations is None else iterations
        budget = cfg.time_budget_s if time_budget_s is None else time_budget_s
        with train_progress(progress, self.iteration, target, budget) as bar:
            return self._train(target, budget, bar)

    def _train(self, target: int, budget_s: float, bar: TrainProgress) -> dict[str, Any]:
        cfg = self.cfg
        budget = Budget(target, budget_s, cfg.max_epochs, self.clips_per_epoch, cfg.min_iterations)
        row: dict[str, Any] = {}
        while not budget.done(self.iteration, self.env_steps):
            row = self.step()
            last = budget.done(self.iteration, self.env_steps)
            validate = bool(self.val_videos) and (self.iteration % cfg.eval_every == 0 or last)
            improved = self._validate(row) if validate else not self.val_videos
            row["wall_s"] = budget.elapsed()
            self.log.log(row)
            self.save(best=improved)
            bar.update(row)
        return row

    def step(self) -> dict[str, Any]:
        """One ``algo.train()`` (sampling and one update); the metrics row."""
        from ray.rllib.utils.metrics import (
            ENV_RUNNER_RESULTS,
            LEARNER_RESULTS,
            NUM_ENV_STEPS_SAMPLED_LIFETIME,
        )

        t0 = time.perf_counter()
        result = self.algo.train()
        seconds = time.perf_counter() - t0
        self.iteration += 1
        runners = result.get(ENV_RUNNER_RESULTS, {})
        lifetime = int(runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, self.env_steps))
        steps, self.env_steps = lifetime - self.env_steps, lifetime
        timers = result.get("timers", {})
        learner = result.get(LEARNER_RESULTS, {}).get(MODULE_ID, {})
        opt_steps = float(learner.get("opt_steps", 0.0))  # this iteration's optimiser steps
        row: dict[str, Any] = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "sample_s": float(timers.get("env_runner_sampling_timer", math.nan)),
            "learn_s": float(timers.get("learner_update_timer", math.nan)),
            "iteration_s": seconds,
            "env_steps_per_s": steps / seconds,
            "frames_per_s": steps * self.cfg.clip.clip_len / seconds,
            "episodes": int(runners.get("num_episodes", 0)),
            "opt_steps": opt_steps,
            "opt_steps_per_s": opt_steps / seconds,
        }
        if "episode_return_mean" in runners:
            row["episode_return"] = float(runners["episode_return_mean"])
        for key, column in LEARNER_KEYS.items():
            if key in learner:
                row[column] = float(learner[key])
        return row

    def _validate(self, row: dict[str, Any]) -> bool:
        improved, self.best_score = record_validation(
            row, self.evaluate("val"), self.best_score, self.iteration
        )
        return improved

    # ------------------------------------------------------------------ weights, evaluation

    def weights(self) -> dict[str, torch.Tensor]:
        """The learner's segmenter weights (state dict of the wrapped segmenter)."""
        from svtas_ray.rl.rllib_module import segmenter_weights

        state = self.algo.learner_group.get_weights(module_ids=[MODULE_ID])
        return segmenter_weights(state[MODULE_ID])

    def _stream(
        self,
        split: Literal["val", "test"],
        weights: dict[str, torch.Tensor] | None = None,
        dropout_seed: int | None = None,
    ) -> list[dict[str, Any]]:
        self.model.load_state_dict(weights if weights is not None else self.weights())
        videos = self.val_videos if split == "val" else self.test_videos
        part: Literal["train", "test"] = "train" if split == "val" else "test"
        return stream_videos(self.model, self.cfg, part, videos, dropout_seed)

    def _tuning_rows(self, weights: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
        """The validation streams the hold rule is tuned on (``cfg.hold_tuning_draws``)."""
        return tuning_rows(lambda seed: self._stream("val", weights, seed), self.cfg)

    def evaluate(self, split: Literal["val", "test"]) -> dict[str, float]:
        """Greedy streaming over the validation or test videos (in this process)."""
        rows = self._stream(split)
        return write_eval(
            self.dataset, rows, self.path / "eval" / split, self.cfg.algo.kind, split == "test"
        )

    def save(self, best: bool) -> None:
        """checkpoints/last.pt (and best.pt) in the project's one checkpoint format."""
        ckpt = self.path / "checkpoints"
        last = save_checkpoint(
            ckpt / "last.pt",
            self.weights(),
            self.cfg,
            self.num_classes,
            self.obs_shape[1:],
            self.classes,
            extra={"iteration": self.iteration, "engine": "rllib"},
            normalization=self.normalization,
            train_state={
                "engine": "rllib",
                "iteration": self.iteration,
                "best_score": float(self.best_score),
                "env_steps": self.env_steps,
            },
        )
        if best or self.cfg.selection == "last":
            save_checkpoint_copy(last, ckpt / "best.pt")

    def finish(self) -> dict[str, dict[str, float]]:
        """Test the best and last weights (and the best with the hold rule); summary.md."""
        cfg = self.cfg
        results: dict[str, dict[str, float]] = {}
        ckpt = self.path / "checkpoints"
        # with selection='last' best.pt is last.pt: tested once
        for name in ("best",) if self.cfg.selection == "last" else ("best", "last"):
            path = ckpt / f"{name}.pt"
            if not (path.is_file() and cfg.test_at_end):
                continue
            weights = Checkpoint.read(path).state_dict
            rows = self._stream("test", weights)
            out = self.path / "eval" / f"test_{name}"
            results[f"test_{name}"] = write_eval(self.dataset, rows, out, cfg.algo.kind, True)
            if name == "best" and self.val_videos:
                choice, scores = hold_stage(
                    self.dataset,
                    self._tuning_rows(weights),
                    rows,
                    max(len(self.dataset.labels(v)) for v in self.fit_videos),
                    cfg.clip.sample_rate,
                    self.path / "eval" / "test_best_hold",
                    f"{cfg.algo.kind}+hold",
                    self._last_val_rows(),
                )
                results["test_best_hold"] = scores
                hold = {  # as the native trainer writes it (svtas-ray eval/stream --post)
                    **dataclasses.asdict(choice.settings),
                    "val_score": choice.score,
                    "tuning_draws": cfg.hold_tuning_draws,
                }
                self.log.write_meta({**self._meta(), "hold_rule": hold})
        write_summary(self.path, cfg, self.log.rows, results)
        return results

    def _last_val_rows(self) -> list[dict[str, Any]] | None:
        """The validation videos streamed with the last weights (the hold rule's tie-break; none
        when the kept weights are the last)."""
        last = self.path / "checkpoints" / "last.pt"
        if not last.is_file() or self.cfg.selection == "last":
            return None
        return self._stream("val", Checkpoint.read(last).state_dict)


__all__ = ["RLlibTrainer", "algorithm_config"]
