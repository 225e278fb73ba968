"""The six objectives on a real chunk, in-process (no Ray): replay equals sampling; all update."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_helpers import tiny_config, tiny_gtea

from svtas_ray.rl import algorithms
from svtas_ray.rl.batch import TorchChunk
from svtas_ray.rl.learner import Learner
from svtas_ray.rl.rollout import RolloutWorker
from svtas_ray.rl.trainer import shard, split_videos

__all__ = ["tiny_gtea"]

KINDS = ("supervised", "ppo", "reinforce", "actor_critic", "paper_mc", "paper_td")


@pytest.fixture(scope="module")
def worker(tiny_gtea: Path, tmp_path_factory: pytest.TempPathFactory) -> RolloutWorker:
    cfg = tiny_config(tiny_gtea, tmp_path_factory.mktemp("runs"))
    fit, _, _ = split_videos(cfg)
    return RolloutWorker(cfg, tuple(fit), 0)


def test_chunk_shapes_and_episode_boundaries(worker: RolloutWorker) -> None:
    weights = {k: v.detach().numpy() for k, v in worker.model.state_dict().items()}
    chunk, stats = worker.sample(weights, 12)
    n, k, length = 2, 12, 16
    assert chunk.obs.shape == (n, k, length, 32)
    assert chunk.actions.shape == chunk.logp.shape == chunk.labels.shape == (n, k, length)
    assert chunk.rewards.shape == chunk.dones.shape == (n, k)
    assert stats.steps == n * k and stats.frames == int(chunk.masks.sum())
    # every padded slot is masked and labelled -100
    assert (chunk.labels[~chunk.masks] == -100).all()
    assert stats.episodes == [] or set(stats.episodes[0]) >= {"video", "return", "edit"}


def test_replay_from_the_stored_start_state_reproduces_the_behaviour_policy(
    worker: RolloutWorker,
) -> None:
    """Memory carried across clips and reset at episode ends exactly as the worker did."""
    weights = {k: v.detach().numpy() for k, v in worker.model.state_dict().items()}
    worker.sample(weights, 3)  # start mid-video: the start state is not the initial one
    chunk, _ = worker.sample(weights, 24)  # long enough to cross an episode end
    assert chunk.dones.any(), "the tiny videos should end inside a 24-clip chunk"
    batch = TorchChunk.of(chunk, "cpu")
    fresh = worker.model.initial_state(chunk.rows, "cpu")
    with torch.no_grad():
        rep = algorithms.replay(worker.model, batch, range(24), batch.start_state, fresh)
    from svtas_ray.rl.policy import FrameCategorical

    logp = FrameCategorical(rep.logits[-1]).log_prob(batch.actions)
    torch.testing.assert_close(logp[batch.masks], batch.logp[batch.masks], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(rep.values, batch.values, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_one_update_of_every_algorithm(
    kind: str, worker: RolloutWorker, tiny_gtea: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(tiny_gtea, tmp_path, kind)
    learner = Learner(cfg, worker.num_classes, worker.obs_shape)
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    chunk, _ = worker.sample(learner.weights(), 4)
    stats = learner.update([None], chunk)
    assert all(np.isfinite(v) for v in stats.values()), stats
    assert stats["ce"] > 0 and stats["rows"] == 2
    if kind in ("ppo", "reinforce", "actor_critic"):
        assert {"policy", "value", "entropy"} <= set(stats)
    if kind.startswith("paper"):
        assert stats["dice_weight"] >= cfg.reward.dice_beta2 + 1  # beta1**dice + beta2, dice >= 0
    after = learner.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_paper_td_steps_once_per_clip_and_paper_mc_once_per_chunk(
    worker: RolloutWorker, tiny_gtea: Path, tmp_path: Path
) -> None:
    for kind, windows in (("paper_td", 4), ("paper_mc", 1)):
        for minibatches in (1, 2):  # each minibatch of chunks steps once per window
            cfg = tiny_config(tiny_gtea, tmp_path, kind, minibatches=minibatches)
            learner = Learner(cfg, worker.num_classes, worker.obs_shape)
            chunk, _ = worker.sample(learner.weights(), 4)
            stats = learner.update([None], chunk)
            state = learner.optimizer.state_dict()["state"]
            assert int(state[0]["step"]) == windows * minibatches == stats["opt_steps"]


def test_pretraining_is_supervised_then_the_objective_takes_over(
    worker: RolloutWorker, tiny_gtea: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(tiny_gtea, tmp_path, "ppo", pretrain_iterations=2)
    learner = Learner(cfg, worker.num_classes, worker.obs_shape)
    phases = []
    for _ in range(3):
        chunk, _ = worker.sample(learner.weights(), 4)
        stats = learner.update([None], chunk)
        phases.append((stats["pretrain"], "policy" in stats))
    assert phases == [(1.0, False), (1.0, False), (0.0, True)]


def test_pretraining_learns_from_the_labels_whatever_the_kept_ce_weight(
    worker: RolloutWorker, tiny_gtea: Path, tmp_path: Path
) -> None:
    """``ce_coef`` weighs the CE kept beside the RL objective; pre-training is CE at weight 1."""
    cfg = tiny_config(tiny_gtea, tmp_path, "ppo", pretrain_iterations=1, ce_coef=0.0)
    learner = Learner(cfg, worker.num_classes, worker.obs_shape)
    assert learner.phase().kind == "supervised" and learner.phase().ce_coef == 1.0
    chunk, _ = worker.sample(learner.weights(), 4)
    learner.update([None], chunk)
    assert learner.phase() == cfg.algo  # then the RL objective, its CE weight as configured
    supervised = tiny_config(tiny_gtea, tmp_path, "supervised", pretrain_iterations=1, ce_coef=0.3)
    assert Learner(supervised, worker.num_classes, worker.obs_shape).phase() == supervised.algo


def test_learning_rate_warms_up_linearly(
    worker: RolloutWorker, tiny_gtea: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(tiny_gtea, tmp_path, "supervised", warmup_steps=4, lr=1e-3)
    learner = Learner(cfg, worker.num_classes, worker.obs_shape)
    assert learner.lr() == pytest.approx(2.5e-4)
    learner.steps = 3
    assert learner.lr() == pytest.approx(1e-3)


def test_shard_deals_chunks_or_rows() -> None:
    assert shard(2, 2) == [([0], [None]), ([1], [None])]
    assert shard(1, 1) == [([0], [None])]
    assert shard(1, 2) == [([0], [(0, 2)]), ([0], [(1, 2)])]


@pytest.mark.parametrize("kind", ("supervised", "paper_mc", "paper_td"))
def test_every_stage_gets_its_cross_entropy(
    kind: str, worker: RolloutWorker, tmp_path: Path
) -> None:
    """Without smoothing, the first stage's logits still get a gradient from the objective.

    A stage trained by the smoothing term alone collapses to a constant output, and the stages
    that refine it then see no evidence (the paper objectives once trained the last stage only).
    """
    cfg = tiny_config(Path(worker.cfg.data.root), tmp_path, kind, smooth_coef=0.0)
    weights = {k: v.detach().numpy() for k, v in worker.model.state_dict().items()}
    chunk, _ = worker.sample(weights, 4)
    batch = TorchChunk.of(chunk, "cpu")
    fresh = worker.model.initial_state(chunk.rows, "cpu")
    rep = algorithms.replay(worker.model, batch, range(4), batch.start_state, fresh)
    first = rep.logits[0]
    first.retain_grad()
    tgt = algorithms.targets(batch, cfg.algo)
    total, _ = algorithms.loss(rep, batch, range(4), tgt, cfg.algo, cfg.reward)
    total.backward()
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_windows_cut_a_chunk_into_optimiser_steps() -> None:
    from svtas_ray.config import AlgoConfig
    from svtas_ray.rl.algorithms import windows

    assert windows(AlgoConfig(window_clips=3), 8) == [range(0, 3), range(3, 6), range(6, 8)]
    assert windows(AlgoConfig(window_clips=0), 8) == [range(0, 8)]
    assert windows(AlgoConfig(kind="paper_td", window_clips=0), 3) == [
        range(0, 1),
        range(1, 2),
        range(2, 3),
    ]


def test_policy_terms_without_dropout_start_from_a_ratio_of_one(
    worker: RolloutWorker, tiny_gtea: Path, tmp_path: Path
) -> None:
    """The workers act without dropout: PPO's first step compares the network that acted with
    itself only when the policy terms are replayed without dropout (``policy_dropout=False``)."""
    import dataclasses

    kl = {}
    for policy_dropout in (True, False):
        cfg = tiny_config(
            tiny_gtea,
            tmp_path,
            "ppo",
            epochs=1,
            minibatches=1,
            window_clips=0,
            policy_dropout=policy_dropout,
        )
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, dropout=0.5))
        torch.manual_seed(0)
        learner = Learner(cfg, worker.num_classes, worker.obs_shape)
        chunk, _ = worker.sample(learner.weights(), 4)
        stats = learner.update([None], chunk)  # one optimiser step: stats from before it
        kl[policy_dropout] = (stats["approx_kl"], stats["clip_fraction"])
    assert kl[False] == (pytest.approx(0.0, abs=1e-6), 0.0)
    assert kl[True][0] > 1e-3 and kl[True][1] > 0


def test_the_rl_updates_step_at_their_own_scale_of_the_learning_rate(
    worker: RolloutWorker, tiny_gtea: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(
        tiny_gtea,
        tmp_path,
        "ppo",
        pretrain_iterations=1,
        rl_lr_scale=0.1,
        warmup_steps=0,
        lr_schedule="constant",
    )
    learner = Learner(cfg, worker.num_classes, worker.obs_shape)
    assert learner.lr() == pytest.approx(cfg.algo.lr)  # pre-training: the full rate
    chunk, _ = worker.sample(learner.weights(), 4)
    learner.update([None], chunk)
    assert learner.lr() == pytest.approx(0.1 * cfg.algo.lr)
    learner.update([None], worker.sample(learner.weights(), 4)[0])  # an RL update
    rates = [group["lr"] for group in learner.optimizer.param_groups]
    assert rates == pytest.approx([0.1 * cfg.algo.lr] * len(rates))
