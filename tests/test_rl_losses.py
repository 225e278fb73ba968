"""RL losses against hand-computed values: GAE, per-frame PPO ratio and clipping, dice scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from svtas_ray.rewards import clip_dice
from svtas_ray.rl.losses import (
    dice_scale,
    discounted_returns,
    gae,
    masked_mean,
    pg_loss,
    ppo_policy_loss,
    reward_weighted_ce,
    td_advantages,
)
from svtas_ray.rl.policy import FrameCategorical

R = torch.tensor([[1.0, 0.0, 2.0]])
V = torch.tensor([[0.5, 1.0, 1.5]])


def test_gae_on_a_hand_made_episode() -> None:
    adv, ret = gae(R, V, torch.tensor([[False, False, True]]), torch.tensor([9.0]), 0.9, 0.8)
    # t=2: 2 - 1.5 = 0.5; t=1: 0.9*1.5 - 1 = 0.35 (+0.72*0.5); t=0: 1 + 0.9 - 0.5 = 1.4 (+0.72*0.71)
    assert adv[0].tolist() == pytest.approx([1.9112, 0.71, 0.5])
    assert ret[0].tolist() == pytest.approx([2.4112, 1.71, 2.0])


def test_gae_bootstraps_a_cut_chunk_and_stops_at_episode_end() -> None:
    adv, _ = gae(R, V, torch.zeros(1, 3, dtype=torch.bool), torch.tensor([2.0]), 0.9, 0.8)
    assert adv[0].tolist() == pytest.approx([2.84432, 2.006, 2.3])
    adv, _ = gae(R, V, torch.tensor([[False, True, False]]), torch.tensor([1.0]), 0.9, 0.8)
    assert adv[0].tolist() == pytest.approx([0.68, -1.0, 1.4])


def test_td_is_gae_with_lambda_zero_and_mc_returns() -> None:
    td = td_advantages(R, V, torch.tensor([[False, False, True]]), torch.tensor([0.0]), 0.9)
    assert td[0].tolist() == pytest.approx([1.4, 0.35, 0.5])
    g = discounted_returns(R, torch.tensor([[False, False, True]]), torch.tensor([5.0]), 0.5)
    assert g[0].tolist() == pytest.approx([1.5, 1.0, 2.0])
    g = discounted_returns(R, torch.zeros(1, 3, dtype=torch.bool), torch.tensor([4.0]), 0.5)
    assert g[0].tolist() == pytest.approx([2.0, 2.0, 4.0])


def _logps(ratios: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    old = torch.full((1, len(ratios)), math.log(0.5))
    return old + torch.log(torch.tensor([ratios])), old


def test_ppo_ratio_is_per_frame_and_clipped() -> None:
    new, old = _logps([1.5, 0.5, 1.1])
    mask = torch.ones(1, 3, dtype=torch.bool)
    loss, stats = ppo_policy_loss(new, old, torch.tensor([1.0]), mask, clip=0.2)
    assert float(loss) == pytest.approx(-(1.2 + 0.5 + 1.1) / 3)
    assert stats.clip_fraction == pytest.approx(2 / 3)
    loss, _ = ppo_policy_loss(new, old, torch.tensor([-2.0]), mask, clip=0.2)
    assert float(loss) == pytest.approx((3.0 + 1.6 + 2.2) / 3)
    loss, _ = ppo_policy_loss(
        new, old, torch.tensor([1.0]), torch.tensor([[True, True, False]]), 0.2
    )
    assert float(loss) == pytest.approx(-(1.2 + 0.5) / 2)


def test_ppo_gradient_vanishes_outside_the_clip_range() -> None:
    new, old = _logps([1.5, 1.0])
    new.requires_grad_(True)
    loss, _ = ppo_policy_loss(
        new, old, torch.tensor([1.0]), torch.ones(1, 2, dtype=torch.bool), 0.2
    )
    loss.backward()
    assert new.grad is not None
    assert new.grad[0, 0] == 0  # ratio 1.5 > 1.2 with a positive advantage: clipped
    assert new.grad[0, 1] == pytest.approx(-0.5)  # d/dlogp of -ratio/2 at ratio 1


def test_policy_gradient_log_probs_and_entropy() -> None:
    logits = torch.log(torch.tensor([[[0.25, 0.75], [0.5, 0.5]]]))
    actions = torch.tensor([[1, 0]])
    logp = FrameCategorical(logits).log_prob(actions)
    assert logp[0].tolist() == pytest.approx([math.log(0.75), math.log(0.5)])
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert float(pg_loss(logp, torch.tensor([2.0]), mask)) == pytest.approx(
        -(math.log(0.75) + math.log(0.5))
    )
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    entropy = FrameCategorical(logits).entropy()
    assert float(masked_mean(entropy, mask)) == pytest.approx((h + math.log(2)) / 2)


@pytest.mark.parametrize(
    ("pred", "expected_dice"),
    [([0, 0, 1, 1], 1.0), ([1, 1, 0, 0], 0.0), ([0, 0, 0, 0], 1 / 3)],
)
def test_dice_scale_matches_hand_values_and_the_env_reward(
    pred: list[int], expected_dice: float
) -> None:
    labels = torch.tensor([[0, 0, 1, 1]])
    logits = 50.0 * torch.nn.functional.one_hot(torch.tensor([pred]), 3).float()
    mask = torch.ones(1, 4, dtype=torch.bool)
    scale = dice_scale(logits, labels, mask, beta1=4.0, beta2=1.0)
    assert float(scale[0]) == pytest.approx(4.0**expected_dice + 1.0, abs=1e-4)
    numpy_dice = clip_dice(np.array(pred), labels[0].numpy(), 3)
    assert float(scale[0]) == pytest.approx(4.0**numpy_dice + 1.0, abs=1e-4)


def test_reward_weighted_ce_scales_cross_entropy() -> None:
    logits = torch.zeros(2, 3, 5, requires_grad=True)
    labels = torch.tensor([[0, 1, 2], [3, 4, -100]])
    mask = labels >= 0
    loss = reward_weighted_ce(logits, labels, mask, torch.tensor([2.0, 1.0]))
    assert loss.item() == pytest.approx((3 * 2 + 2 * 1) * math.log(5) / 5)
    loss.backward()
    assert logits.grad is not None and logits.grad[1, 2].abs().sum() == 0  # padding: no gradient
