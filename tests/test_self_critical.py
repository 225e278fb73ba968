"""The self-critical baseline of ``reinforce``: hand-made advantages, the worker's greedy rewards,
and one training iteration on Ray."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_helpers import ray_cluster, tiny_config, tiny_gtea

from svtas_ray.config import AlgoConfig, RewardConfig
from svtas_ray.data.clips import ClipPlan
from svtas_ray.rewards import potential
from svtas_ray.rl import algorithms, losses
from svtas_ray.rl.batch import TorchChunk
from svtas_ray.rl.self_critical import GreedyRewards

__all__ = ["ray_cluster", "tiny_gtea"]


def test_advantage_is_sampled_minus_greedy_return_to_go() -> None:
    rewards = torch.tensor([[1.0, 0.0, 2.0]])
    greedy = torch.tensor([[0.5, 0.5, 1.0]])
    dones = torch.tensor([[False, True, False]])  # the video ends after clip 1; the chunk is cut
    adv, ret = losses.self_critical_advantages(rewards, greedy, dones, gamma=0.5)
    # sampled: [1 + 0.5·0, 0, 2] (nothing after the done, no bootstrap at the cut)
    # greedy:  [0.5 + 0.5·0.5, 0.5, 1]
    torch.testing.assert_close(ret, torch.tensor([[1.0, 0.0, 2.0]]))
    torch.testing.assert_close(adv, torch.tensor([[0.25, -0.5, 1.0]]))


def test_reinforce_targets_use_the_greedy_rewards() -> None:
    n, k, length = 1, 3, 2
    chunk = TorchChunk(
        obs=torch.zeros(n, k, length, 1),
        actions=torch.zeros(n, k, length, dtype=torch.long),
        logp=torch.zeros(n, k, length),
        rewards=torch.tensor([[1.0, 0.0, 2.0]]),
        values=torch.full((n, k), 9.0),  # ignored: no value baseline
        labels=torch.zeros(n, k, length, dtype=torch.long),
        masks=torch.ones(n, k, length, dtype=torch.bool),
        dones=torch.tensor([[False, True, False]]),
        last_value=torch.tensor([9.0]),  # ignored: no bootstrap
        start_state=(),
        greedy_rewards=torch.tensor([[0.5, 0.5, 1.0]]),
    )
    algo = AlgoConfig(kind="reinforce", baseline="self_critical", gamma=0.5)
    tgt = algorithms.targets(chunk, dataclasses.replace(algo, normalize_advantages=False))
    torch.testing.assert_close(tgt.advantages, torch.tensor([[0.25, -0.5, 1.0]]))
    normalised = algorithms.targets(chunk, algo).advantages
    assert abs(float(normalised.mean())) < 1e-6


class _Plans:
    """One hand-made video: labels 0 0 1 1 1 2, clips of 2 slots every 2 frames."""

    labels_ = np.array([0, 0, 1, 1, 1, 2])

    def labels(self, video: str) -> np.ndarray:
        return self.labels_

    def plan(self, video: str) -> ClipPlan:
        return ClipPlan(len(self.labels_), clip_len=2, sample_rate=2)


def test_greedy_rewards_score_the_expanded_actions_like_the_env() -> None:
    greedy = GreedyRewards(RewardConfig(kind="accuracy"), 3, (), _Plans(), 1)  # type: ignore[arg-type]
    info = {"video": "v", "clip_index": 0}
    # clip 0 covers raw frames 0..3: slot 0 -> frames 0, 1 (labels 0 0), slot 1 -> 2, 3 (1 1)
    assert greedy(np.array([[0, 1]]), [info])[0] == 1.0
    # clip 1 covers raw frames 4, 5 (labels 1 2) with slot 0; slot 1 is padding
    assert greedy(np.array([[2, 0]]), [{**info, "clip_index": 1}])[0] == 0.5
    # a new video (clip 0) starts a fresh greedy episode
    assert greedy(np.array([[1, 1]]), [info])[0] == 0.5


def test_the_workers_greedy_return_is_the_greedy_evaluations_score(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    """Segmental reward: an episode's greedy rewards sum to Φ of the greedy segmentation."""
    from svtas_ray.evaluate import stream_videos
    from svtas_ray.rl.rollout import RolloutWorker
    from svtas_ray.rl.trainer import split_videos

    cfg = tiny_config(tiny_gtea, tmp_path, "reinforce", baseline="self_critical")
    fit, _, _ = split_videos(cfg)
    worker = RolloutWorker(cfg, tuple(fit), 0)
    video = str(worker.infos[0]["video"])
    weights = {k: v.detach().numpy() for k, v in worker.model.state_dict().items()}
    chunk, stats = worker.sample(weights, 24)
    assert chunk.greedy_rewards is not None and stats.greedy_reward_sum is not None
    end = int(np.flatnonzero(chunk.dones[0])[0])  # row 0's first episode is `video`, whole
    greedy_return = float(chunk.greedy_rewards[0, : end + 1].sum())
    (row,) = stream_videos(worker.model, cfg, "train", (video,))
    assert greedy_return == pytest.approx(potential(row["video_score"].metrics(), cfg.reward))


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_one_self_critical_iteration_on_ray(tiny_gtea: Path, tmp_path: Path) -> None:
    from svtas_ray.rl.trainer import Trainer

    cfg = tiny_config(tiny_gtea, tmp_path / "runs", "reinforce", baseline="self_critical")
    with Trainer(cfg) as trainer:
        row = trainer.step()
    assert np.isfinite(row["loss_policy"]) and row["loss_value"] == 0.0
    assert np.isfinite(row["greedy_reward_mean"])
