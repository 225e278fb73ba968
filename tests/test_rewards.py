"""svtas_ray.rewards: hand-computed rewards of every kind and the telescoping segmental return."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svtas_ray.config import RewardConfig
from svtas_ray.metrics import score_video
from svtas_ray.rewards import Reward, clip_dice, potential

KINDS = ("segmental", "terminal", "dice", "dice_upstream", "accuracy")


def test_potential_is_the_weighted_mix_of_scores_over_100():
    cfg = RewardConfig(acc_weight=1.0, edit_weight=0.5, f1_weights=(0.0, 0.25, 0.5))
    scores = {"acc": 50.0, "edit": 100.0, "f1@10": 90.0, "f1@25": 80.0, "f1@50": 40.0}
    assert potential(scores, cfg) == pytest.approx(0.5 + 0.5 + 0.2 + 0.2)


def test_segmental_reward_is_the_change_of_the_prefix_potential():
    reward = Reward(RewardConfig(), num_classes=3)  # Phi = 0.5 Edit + 0.5 F1@50, over 100
    assert reward([1, 1], [1, 1]) == pytest.approx(1.0)
    # prefix: pred 1[0,2) 2[2,4), gt 1[0,4): Edit 50; F1@50: IoU 0.5 -> tp 1, fp 1 -> F1 2/3
    assert reward([2, 2], [1, 1]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3 - 1.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 9))
def test_segmental_return_equals_potential_of_the_whole_video(seed, clip_len):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    gt = np.repeat(rng.integers(0, 4, n), rng.integers(1, 10, n))[:n]
    pred = np.where(rng.random(n) < 0.2, rng.integers(0, 4, n), gt)
    cfg = RewardConfig(acc_weight=0.3, edit_weight=0.5, f1_weights=(0.1, 0.2, 0.5))
    reward = Reward(cfg, num_classes=4, background=(0,))
    total = 0.0
    for start in range(0, n, clip_len):
        p, g = pred[start : start + clip_len], gt[start : start + clip_len]
        total += reward(p, g, last=start + clip_len >= n)
    phi = potential(score_video(pred, gt, (0,)).metrics(), cfg)
    assert total == pytest.approx(phi, abs=1e-12)


def test_segmental_potential_of_an_empty_prefix_is_zero():
    reward = Reward(RewardConfig(), num_classes=2)
    assert reward([1, 1], [0, 0], mask=[False, False]) == 0.0
    assert reward([1], [1]) == pytest.approx(1.0)  # from Phi(empty) = 0 to a perfect prefix


def test_terminal_reward_pays_the_video_potential_only_at_the_last_clip():
    reward = Reward(RewardConfig(kind="terminal"), num_classes=3)
    assert reward([1, 1], [1, 1]) == 0.0
    assert reward([2, 2], [1, 1], last=True) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_dice_on_hard_predictions_averages_present_classes():
    labels, pred = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    # class 0: 2*1 / (1 + 2) = 2/3; class 1: 2*2 / (3 + 2) = 0.8; class 2 absent: s/s = 1
    assert clip_dice(pred, labels, 3) == pytest.approx((2 / 3 + 0.8) / 2, abs=1e-5)
    assert clip_dice(pred, labels, 3, over="all") == pytest.approx((2 / 3 + 0.8 + 1) / 3, abs=1e-5)
    reward = Reward(RewardConfig(kind="dice"), num_classes=3)
    # defaults follow the SVTAS-RL code: beta_1 ** dice - beta_2 with beta_1 = 4, beta_2 = -1
    assert reward(pred, labels) == pytest.approx(4.0 ** ((2 / 3 + 0.8) / 2) + 1.0, abs=1e-5)


def test_dice_upstream_averages_all_classes_so_absent_soft_classes_pull_it_down():
    labels, pred = np.array([0, 1]), np.array([0, 1])
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1]])
    # class 0: 2*0.7 / (0.58 + 1); class 1: 2*0.6 / (0.4 + 1); class 2: s / (0.02 + s) ~ 0
    d0, d1, d2 = 1.4 / 1.58, 1.2 / 1.4, 1e-5 / (0.02 + 1e-5)
    assert clip_dice(pred, labels, 3, probs) == pytest.approx((d0 + d1) / 2, abs=1e-5)
    assert clip_dice(pred, labels, 3, probs, over="all") == pytest.approx(
        (d0 + d1 + d2) / 3, abs=1e-5
    )
    cfg = RewardConfig(kind="dice_upstream", dice_beta1=4.0, dice_beta2=1.0)
    got = Reward(cfg, num_classes=3)(pred, labels, probs=probs)
    assert got == pytest.approx(4.0 ** ((d0 + d1 + d2) / 3) + 1.0, abs=1e-4)


def test_dice_excludes_masked_frames():
    reward = Reward(RewardConfig(kind="dice"), num_classes=3)
    probs = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    got = reward([0, 1, 2], [0, 1, 0], mask=[True, True, False], probs=probs)
    assert got == pytest.approx(4.0**1.0 + 1.0)


def test_accuracy_reward_is_the_clip_accuracy_over_unmasked_frames():
    reward = Reward(RewardConfig(kind="accuracy"), num_classes=3)
    assert reward([1, 2, 2, 0], [1, 1, 2, 2], mask=[True, True, True, False]) == pytest.approx(
        2 / 3
    )


@pytest.mark.parametrize("kind", KINDS)
def test_no_reward_is_nan_on_fully_masked_or_all_background_clips(kind):
    reward = Reward(RewardConfig(kind=kind), num_classes=2, background=(0,))
    probs = np.full((3, 2), 0.5)
    values = [
        reward([0, 0, 0], [0, 0, 0], mask=[False] * 3, probs=probs),
        reward([0, 0, 0], [0, 0, 0], probs=probs),
        reward([1, 1, 1], [0, 0, 0], probs=probs),
        reward([0, 0, 0], [0, 0, 0], mask=[False] * 3, probs=probs, last=True),
    ]
    assert all(math.isfinite(v) for v in values)
    assert values[0] == 0.0


def test_all_background_prefix_predicted_as_background_is_perfect():
    reward = Reward(RewardConfig(), num_classes=2, background=(0,))
    assert reward([0, 0], [0, 0]) == pytest.approx(1.0)  # no segments on either side
    assert reward([1, 1], [0, 0]) == pytest.approx(-1.0)  # a false segment: Edit 0, F1 0


def test_reset_starts_a_new_episode():
    reward = Reward(RewardConfig(), num_classes=3)
    reward([1, 2], [1, 1])
    reward.reset()
    assert reward([1, 1], [1, 1]) == pytest.approx(1.0)
    assert reward.scorer.frames == 2


@pytest.mark.parametrize("kind", KINDS)
def test_scorer_follows_the_episode_whatever_the_kind(kind):
    reward = Reward(RewardConfig(kind=kind), num_classes=3)
    reward([1, 1, 2], [1, 2, 2], mask=[True, True, False])
    assert reward.scorer.video_score() == score_video([1, 1], [1, 2])


def test_invalid_inputs_are_rejected():
    reward = Reward(RewardConfig(kind="dice"), num_classes=2)
    with pytest.raises(ValueError, match="outside"):
        reward([0, 2], [0, 1])
    with pytest.raises(ValueError, match="shape"):
        reward([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="probs"):
        reward([0, 1], [0, 1], probs=np.ones((2, 3)))
    with pytest.raises(ValueError, match="integer"):
        reward([0.0, 1.0], [0, 1])
