"""The sampled baselines of ``reinforce`` (self-critical, mean of samples, leave one out):
hand-made advantages, the worker's baseline rewards and decodes, and one training iteration on
Ray with each."""

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
from svtas_ray.rl.reward_baseline import BaselineRewards

__all__ = ["ray_cluster", "tiny_gtea"]


def test_advantage_is_sampled_minus_greedy_return_to_go() -> None:
    rewards = torch.tensor([[1.0, 0.0, 2.0]])
    greedy = torch.tensor([[0.5, 0.5, 1.0]])
    dones = torch.tensor([[False, True, False]])  # the video ends after clip 1; the chunk is cut
    adv, ret = losses.sample_baseline_advantages(rewards, greedy, dones, gamma=0.5)
    # sampled: [1 + 0.5·0, 0, 2] (nothing after the done, no bootstrap at the cut)
    # greedy:  [0.5 + 0.5·0.5, 0.5, 1]
    torch.testing.assert_close(ret, torch.tensor([[1.0, 0.0, 2.0]]))
    torch.testing.assert_close(adv, torch.tensor([[0.25, -0.5, 1.0]]))


def test_leave_one_out_advantage_is_each_return_minus_the_others_mean() -> None:
    rewards = torch.tensor([[1.0, 0.0]])
    extra = torch.tensor([[[0.0, 2.0], [1.0, 1.0]]])  # (N, K, S): two further decodes
    dones = torch.tensor([[False, False]])
    adv, ret = losses.leave_one_out_advantages(rewards, extra, dones, gamma=1.0)
    # returns-to-go per decode: clip 0 [1, 1, 3], clip 1 [0, 1, 1]
    torch.testing.assert_close(ret, torch.tensor([[1.0, 0.0]]))
    expected = torch.tensor([[[1 - 2.0, 1 - 2.0, 3 - 1.0], [0 - 1.0, 1 - 0.5, 1 - 0.5]]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(adv.sum(-1), torch.zeros(1, 2))  # RLOO advantages sum to 0


def test_leave_one_out_trains_every_decode(tiny_gtea: Path, tmp_path: Path) -> None:
    """The worker keeps each further decode and its own reward; the loss gives every decode
    its leave-one-out advantage, with log-probabilities from one replay."""
    from svtas_ray.rl.rollout import RolloutWorker
    from svtas_ray.rl.trainer import split_videos

    cfg = tiny_config(
        tiny_gtea,
        tmp_path,
        "reinforce",
        baseline="leave_one_out",
        baseline_samples=3,
        normalize_advantages=False,
        ce_coef=0.0,
        smooth_coef=0.0,
    )
    worker = RolloutWorker(cfg, tuple(split_videos(cfg)[0]), 0)
    weights = {k: v.detach().numpy() for k, v in worker.model.state_dict().items()}
    chunk, _ = worker.sample(weights, 4)
    n, k, length = chunk.actions.shape
    assert chunk.extra_actions is not None and chunk.extra_rewards is not None
    assert chunk.extra_actions.shape == (n, k, 3, length)
    assert chunk.extra_rewards.shape == (n, k, 3)
    np.testing.assert_allclose(chunk.baseline_rewards, chunk.extra_rewards.mean(-1), rtol=1e-6)
    valid = chunk.masks[:, :, None, :].repeat(3, 2)
    assert (chunk.extra_actions[valid] != chunk.actions[:, :, None, :].repeat(3, 2)[valid]).any()
    batch = TorchChunk.of(chunk, "cpu")
    tgt = algorithms.targets(batch, cfg.algo)
    assert tgt.advantages.shape == (n, k, 4)
    # the loss is the mean over decodes of −E[log π(decode) · its advantage]
    model = worker.model
    fresh = model.initial_state(n, "cpu")
    rep = algorithms.replay(model, batch, range(k), batch.start_state, fresh)
    total, _ = algorithms.loss(rep, batch, range(k), tgt, cfg.algo, cfg.reward)
    from svtas_ray.rl.policy import FrameCategorical

    policy = FrameCategorical(rep.logits[-1])
    decodes = [batch.actions, *batch.extra_actions.unbind(2)]
    expected = sum(
        losses.pg_loss(policy.log_prob(a), tgt.advantages[..., s], batch.masks)
        for s, a in enumerate(decodes)
    ) / 4 - cfg.algo.ent_coef * losses.masked_mean(policy.entropy(), batch.masks)
    torch.testing.assert_close(total, expected)


def test_reinforce_targets_use_the_baseline_rewards() -> None:
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
        baseline_rewards=torch.tensor([[0.5, 0.5, 1.0]]),
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


def test_baseline_rewards_score_the_expanded_actions_like_the_env() -> None:
    greedy = BaselineRewards(RewardConfig(kind="accuracy"), 3, (), _Plans(), 1)  # type: ignore[arg-type]
    info = {"video": "v", "clip_index": 0}
    # clip 0 covers raw frames 0..3: slot 0 -> frames 0, 1 (labels 0 0), slot 1 -> 2, 3 (1 1)
    assert greedy(np.array([[[0, 1]]]), [info])[0] == 1.0
    # clip 1 covers raw frames 4, 5 (labels 1 2) with slot 0; slot 1 is padding
    assert greedy(np.array([[[2, 0]]]), [{**info, "clip_index": 1}])[0] == 0.5
    # a new video (clip 0) starts a fresh episode
    assert greedy(np.array([[[1, 1]]]), [info])[0] == 0.5


def test_mean_of_samples_is_the_mean_of_each_decodes_own_episode() -> None:
    """Each decode keeps its own episode (a segmental reward depends on the decode's past)."""
    cfg = RewardConfig(kind="segmental")
    both = BaselineRewards(cfg, 3, (), _Plans(), 1, decodes=2)  # type: ignore[arg-type]
    alone = [BaselineRewards(cfg, 3, (), _Plans(), 1) for _ in range(2)]  # type: ignore[arg-type]
    decodes = [np.array([[[0, 1]], [[2, 2]]]), np.array([[[1, 0]], [[2, 0]]])]
    for k, actions in enumerate(decodes):
        info = [{"video": "v", "clip_index": k}]
        single = [float(alone[s](actions[s : s + 1], info)[0]) for s in range(2)]
        assert single[0] != single[1]
        assert both(actions, info)[0] == pytest.approx(np.mean(single))
    with pytest.raises(ValueError, match="expected 2 decodes"):
        both(decodes[0][:1], [{"video": "v", "clip_index": 0}])


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
    assert chunk.baseline_rewards is not None and stats.baseline_reward_sum is not None
    end = int(np.flatnonzero(chunk.dones[0])[0])  # row 0's first episode is `video`, whole
    greedy_return = float(chunk.baseline_rewards[0, : end + 1].sum())
    (row,) = stream_videos(worker.model, cfg, "train", (video,))
    assert greedy_return == pytest.approx(potential(row["video_score"].metrics(), cfg.reward))


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.parametrize("baseline", ["self_critical", "mean_of_samples", "leave_one_out"])
def test_one_sampled_baseline_iteration_on_ray(
    tiny_gtea: Path, tmp_path: Path, baseline: str
) -> None:
    from svtas_ray.rl.trainer import Trainer

    cfg = tiny_config(tiny_gtea, tmp_path / "runs", "reinforce", baseline=baseline)
    with Trainer(cfg) as trainer:
        row = trainer.step()
    assert np.isfinite(row["loss_policy"]) and row["loss_value"] == 0.0
    assert np.isfinite(row["baseline_reward_mean"])
