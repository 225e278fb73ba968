"""The RLlib path: the RLModule against the segmenter, a short RLlib run, its checkpoint in eval."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch
from trainer_helpers import ray_cluster, tiny_config, tiny_gtea

from svtas_ray import config as config_mod
from svtas_ray.errors import ConfigError

__all__ = ["ray_cluster", "tiny_gtea"]

pytest.importorskip("ray.rllib")


def _module(root: Path, head: str = "causal_mstcn") -> tuple[object, object]:
    from ray.rllib.core.columns import Columns

    from svtas_ray.rl.rllib_module import SegmenterRLModule, make_rllib_env

    cfg = tiny_config(root, root.parent / "runs")
    # RLlib's forward_train switches the module to train mode: no dropout, so both are exact
    changes = {
        "model.head": head,
        "model.brt_heads": 2,
        "model.attn_dropout": 0.0,
        "model.input_dropout": 0.0,
        "model.input_frame_dropout": 0.0,
    }
    model = config_mod.override(cfg, changes).model
    env = make_rllib_env(config_mod.to_dict(cfg.env("train")))
    module = SegmenterRLModule(
        observation_space=env.observation_space,
        action_space=env.action_space,
        model_config={"model": config_mod.to_dict(model), "max_seq_len": 4},
    )
    module.eval()
    return module, (env, Columns)


@pytest.mark.parametrize("head", ["causal_mstcn", "brt"])
def test_clip_by_clip_forward_equals_forward_train_over_the_chunk(
    tiny_gtea: Path, head: str
) -> None:
    module, (env, columns) = _module(tiny_gtea, head)
    obs, _ = env.reset(seed=0)
    clips, masks = [], []
    done = False
    while not done and len(clips) < 4:
        clips.append(obs["clip"])
        masks.append(obs["mask"])
        obs, _, done, _, _ = env.step(env.action_space.sample())
    k = len(clips)
    state = {key: s[None] for key, s in module.get_initial_state().items()}
    step_logits, step_values = [], []
    with torch.no_grad():
        for clip, mask in zip(clips, masks, strict=True):  # as the env runners call it: T = 1
            batch = {
                columns.OBS: {
                    "clip": torch.from_numpy(clip)[None, None],
                    "mask": torch.from_numpy(mask)[None, None],
                },
                columns.STATE_IN: state,
            }
            out = module.forward_exploration(batch)
            step_logits.append(out[columns.ACTION_DIST_INPUTS][0, 0])
            step_values.append(out[columns.EMBEDDINGS][0, 0])
            state = out[columns.STATE_OUT]
        chunk = {
            columns.OBS: {
                "clip": torch.from_numpy(np.stack(clips))[None],
                "mask": torch.from_numpy(np.stack(masks))[None],
            },
            columns.STATE_IN: {key: s[None] for key, s in module.get_initial_state().items()},
        }
        train = module.forward_train(chunk)
    assert train[columns.ACTION_DIST_INPUTS].shape == (1, k, 16, env.action_space.nvec[0])
    torch.testing.assert_close(train[columns.ACTION_DIST_INPUTS][0], torch.stack(step_logits))
    torch.testing.assert_close(train[columns.VF_PREDS][0], torch.stack(step_values))
    for key, value in train[columns.STATE_OUT].items():
        torch.testing.assert_close(value, state[key])


def test_frame_categorical_scores_each_frame() -> None:
    from svtas_ray.rl.rllib_module import FrameCategorical

    logits = torch.randn(3, 2, 5, 4)  # (B, T, L, C)
    dist = FrameCategorical.from_logits(logits)
    actions = dist.sample()
    assert actions.shape == (3, 2, 5)
    per_frame = torch.log_softmax(logits, -1).gather(-1, actions[..., None])[..., 0]
    torch.testing.assert_close(dist.logp(actions), per_frame.sum(-1))
    assert torch.equal(dist.to_deterministic().sample(), logits.argmax(-1))


def test_the_env_observes_clip_and_mask(tiny_gtea: Path) -> None:
    from gymnasium.utils.env_checker import check_env

    from svtas_ray.rl.rllib_module import make_rllib_env

    cfg = tiny_config(tiny_gtea, tiny_gtea.parent / "runs")
    env = make_rllib_env(config_mod.to_dict(cfg.env("train")))
    check_env(env, skip_render_check=True)
    assert isinstance(env.observation_space, gym.spaces.Dict)
    obs, info = env.reset(seed=0)
    assert obs["mask"].tolist() == np.asarray(info["mask"], np.int8).tolist()
    assert "labels" in info and "labels" not in obs


def test_the_engines_refuse_what_they_do_not_run(tiny_gtea: Path) -> None:
    cfg = tiny_config(tiny_gtea, tiny_gtea.parent / "runs")
    with pytest.raises(ConfigError, match="runs on RLlib only; set engine=rllib"):
        config_mod.override(cfg, {"algo.kind": "appo"})
    with pytest.raises(ConfigError, match=r"engine='rllib' runs algo\.kind ppo, appo or impala"):
        config_mod.override(cfg, {"engine": "rllib", "algo.kind": "reinforce"})
    with pytest.raises(ConfigError, match=r"weight average.*set algo\.ema_decay=0"):
        config_mod.override(cfg, {"engine": "rllib", "algo.ema_decay": 0.99})
    ok = config_mod.override(cfg, {"engine": "rllib", "algo.kind": "impala"})
    assert ok.engine == "rllib"


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_a_two_iteration_rllib_ppo_run_writes_the_native_run_directory(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    from svtas_ray.models.checkpoint import Checkpoint
    from svtas_ray.rl.rllib import RLlibTrainer

    cfg = config_mod.override(tiny_config(tiny_gtea, tmp_path / "runs"), {"engine": "rllib"})
    with RLlibTrainer(cfg) as trainer:
        row = trainer.train()
        results = trainer.finish()
        run = trainer.path
    assert config_mod.load(type(cfg), run / "config.json").engine == "rllib"
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert list(metrics["iteration"]) == [1, 2]
    for column in ("loss_policy", "loss_ce", "env_steps_per_s", "opt_steps_per_s", "val_f1@50"):
        assert column in metrics, column
    assert row["env_steps"] == 2 * 2 * 4  # 2 iterations x 2 envs x chunk_clips 4
    assert row["opt_steps"] > 0
    assert set(results) == {"test_best", "test_best_hold"}  # selection='last': best.pt is last
    assert (run / "eval" / "test_best" / "predictions").is_dir()
    assert list(run.glob("events.out.tfevents.*"))
    assert json.loads((run / "meta.json").read_text())["engine"] == "rllib"
    ckpt = Checkpoint.read(run / "checkpoints" / "best.pt")
    assert ckpt.config == config_mod.to_dict(cfg) and ckpt.normalization is not None

    # the checkpoint round trip: `svtas-ray eval` rebuilds the segmenter from the file alone,
    # raw and with the hold rule the run tuned (read from its meta.json)
    for post, row in (("raw", "test_best"), ("hold", "test_best_hold")):
        argv = ["eval", "--checkpoint", str(ckpt.path), "--json", "--post", post]
        out = subprocess.run(
            [sys.executable, "-m", "svtas_ray", *argv], capture_output=True, text=True, check=True
        )
        scores = json.loads(out.stdout)
        assert scores["videos"] == len(trainer.test_videos) and scores["post"] == post
        assert scores["f1@50"] == pytest.approx(results[row]["f1@50"])
        assert scores["acc"] == pytest.approx(results[row]["acc"])


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.parametrize("kind", ["appo", "impala"])
def test_appo_and_impala_sample_and_update(tiny_gtea: Path, tmp_path: Path, kind: str) -> None:
    from svtas_ray.rl.rllib import RLlibTrainer

    changes = {"engine": "rllib", "algo.kind": kind}
    cfg = config_mod.override(tiny_config(tiny_gtea, tmp_path / "runs"), changes)
    with RLlibTrainer(cfg) as trainer:
        # updates are asynchronous: the optimiser steps of a batch show in a later row, and an
        # iteration can take milliseconds, so the wait for the first update is bounded in time
        rows, deadline = [trainer.step()], time.monotonic() + 120
        while sum(r["opt_steps"] for r in rows) == 0 and time.monotonic() < deadline:
            rows.append(trainer.step())
        config = trainer.algo.config
    batch = 2 * 4  # 1 env runner x 2 envs x chunk_clips 4: an iteration is one batch of clips
    assert (np.diff([0] + [r["env_steps"] for r in rows]) >= batch).all(), rows
    assert sum(r["opt_steps"] for r in rows) >= 1, rows
    assert any("loss_ce" in r for r in rows)
    # the settings that let it sample on 2 CPUs (rllib._asynchronous)
    assert not config.use_env_runner_state_server
    assert config.min_time_s_per_iteration == 0
