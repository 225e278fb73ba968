"""Credit within a clip (``reward.parts``): the env pays a clip's reward in pieces, and a frame's
advantage leaves out the pieces earned before its own (reward-to-go inside the clip)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from test_env_scoring import make_env, noisy, synth_root
from trainer_helpers import tiny_config, tiny_gtea

from svtas_ray import config as config_mod
from svtas_ray.config import RewardConfig
from svtas_ray.errors import ConfigError
from svtas_ray.rewards import Reward, part_of_slots
from svtas_ray.rl import algorithms
from svtas_ray.rl.batch import TorchChunk
from svtas_ray.rl.credit import reward_before
from svtas_ray.rl.learner import Learner
from svtas_ray.rl.rollout import RolloutWorker
from svtas_ray.rl.trainer import split_videos

__all__ = ["synth_root", "tiny_gtea"]


def test_parts_are_runs_of_slots_as_equal_as_whole_slots_allow() -> None:
    assert part_of_slots(8, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert part_of_slots(5, 2).tolist() == [0, 0, 0, 1, 1]
    assert part_of_slots(4, 1).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="parts must be in"):
        part_of_slots(4, 5)


def test_the_piece_of_the_wrong_frames_pays_for_them() -> None:
    labels = np.zeros(8, np.int64)
    pred = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    whole = Reward(RewardConfig(), 2)(pred, labels)
    pieces = Reward(RewardConfig(), 2).in_parts(pred, labels, part_of_slots(8, 2), 2)
    assert pieces[0] == pytest.approx(1.0)  # the first half alone is perfect: Φ = 1
    assert pieces[1] < 0  # the wrong frames lose Edit and F1
    assert pieces.sum() == pytest.approx(whole)


def test_env_pieces_sum_to_each_clip_reward(synth_root: Path) -> None:
    """With a sample rate of 3 and a short last clip, as the env scores raw frames."""
    env = make_env(synth_root, 8, 3, reward=RewardConfig(parts=4))
    one = make_env(synth_root, 8, 3)
    rng, rng_one = np.random.default_rng(0), np.random.default_rng(0)
    (_, info), (_, info_one) = env.reset(), one.reset()
    while True:
        action = noisy(info["labels"], info["mask"], rng, env.num_classes)
        assert np.array_equal(action, noisy(info_one["labels"], info_one["mask"], rng_one, 11))
        _, reward, done, _, info = env.step(action)
        _, reward_one, _, _, info_one = one.step(action)
        assert info["reward_parts"].shape == (4,)
        assert info["reward_parts"].sum() == pytest.approx(reward, abs=1e-12)
        assert reward == pytest.approx(reward_one, abs=1e-12)  # the same reward, in pieces
        assert info_one["reward_parts"].tolist() == [reward_one]
        if done:
            assert info["episode_return"] == pytest.approx(info_one["episode_return"])
            break


def test_reward_before_sums_the_earlier_pieces() -> None:
    before = reward_before([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]], [0, 0, 1, 2, 2])
    assert before.tolist() == [[0, 0, 1, 3, 3], [0, 0, 0.5, -0.5, -0.5]]


def test_reward_to_go_keeps_the_gradient_and_cuts_the_last_pieces_variance() -> None:
    """Monte Carlo with the real segmental reward: per-frame binary policy (correct w.p. p),
    after a prefix of earlier clips, as in an episode.

    The score-function estimate of d E[R] / d logit_t is (1[a_t correct] − p) · A_t; with
    A_t = R_clip or A_t = R_clip − (pieces before t's) both estimate the same gradient. The
    frames of the last piece lose the variance of the earlier frames' draws; a middle piece may
    gain some, as Φ of a prefix cut inside a segment is itself noisy (docs/learning.md).
    """
    rng = np.random.default_rng(0)
    length, parts, p, n, before_clips = 32, 4, 0.95, 2000, 4
    labels = np.repeat(np.arange(6) % 3, 32)[: (before_clips + 1) * length]
    part_of = part_of_slots(length, parts)
    correct = rng.random((n, length)) < p
    clip, to_go = np.zeros((n, length)), np.zeros((n, length))
    for i in range(n):
        reward = Reward(RewardConfig(), 3)
        for k in range(before_clips):
            y = labels[k * length : (k + 1) * length]
            reward(np.where(rng.random(length) < p, y, (y + 1) % 3), y)
        y = labels[before_clips * length :]
        pieces = reward.in_parts(np.where(correct[i], y, (y + 1) % 3), y, part_of, parts)
        clip[i] = pieces.sum()
        to_go[i] = clip[i] - reward_before(pieces, part_of)
    score = correct - p
    g_clip, g_to_go = score * clip, score * to_go
    err = np.sqrt((g_clip.var(0) + g_to_go.var(0)) / n)
    assert np.all(np.abs(g_clip.mean(0) - g_to_go.mean(0)) < 4 * err)
    last = part_of == parts - 1
    assert g_to_go.var(0)[last].mean() < 0.7 * g_clip.var(0)[last].mean()
    assert np.array_equal(g_to_go[:, part_of == 0], g_clip[:, part_of == 0])


def test_rollout_and_targets_give_each_frame_its_reward_to_go(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    cfg = config_mod.override(
        tiny_config(tiny_gtea, tmp_path, normalize_advantages=False), {"reward.parts": 4}
    )
    worker = RolloutWorker(cfg, tuple(split_videos(cfg)[0]), 0)
    learner = Learner(cfg, worker.num_classes, worker.obs_shape)
    chunk, _ = worker.sample(learner.weights(), 4)
    assert chunk.reward_before is not None and chunk.reward_before.shape == chunk.logp.shape
    first = part_of_slots(cfg.clip.clip_len, 4) == 0
    assert np.all(chunk.reward_before[..., first] == 0)
    batch = TorchChunk.of(chunk, "cpu")
    tgt = algorithms.targets(batch, cfg.algo)
    clip_tgt = algorithms.targets(dataclasses.replace(batch, reward_before=None), cfg.algo)
    torch.testing.assert_close(tgt.advantages, clip_tgt.advantages[..., None] - batch.reward_before)
    stats = learner.update([None], chunk)
    assert np.isfinite(stats["policy"]) and stats["rows"] == 2


def test_parts_are_refused_where_they_cannot_apply(tiny_gtea: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_gtea, tmp_path)
    with pytest.raises(ConfigError, match=r"reward\.parts \(17\) must be at most clip\.clip_len"):
        config_mod.override(cfg, {"reward.parts": 17})
    with pytest.raises(ConfigError, match=r"set reward\.kind=segmental"):
        config_mod.override(cfg, {"reward.parts": 2, "reward.kind": "dice"})
    with pytest.raises(ConfigError, match=r"does not combine with algo\.baseline='self_critical'"):
        config_mod.override(
            cfg,
            {"reward.parts": 2, "algo.kind": "reinforce", "algo.baseline": "self_critical"},
        )
    with pytest.raises(ConfigError, match=r"set reward\.parts=1"):
        config_mod.override(cfg, {"reward.parts": 2, "engine": "rllib"})
    with pytest.raises(ConfigError, match=r"reward\.parts must be >= 1"):
        config_mod.override(cfg, {"reward.parts": 0})
