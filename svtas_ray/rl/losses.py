"""Policy-gradient losses over clip segmentations (pure torch; no Ray).

A step is one clip: the action is ``clip_len`` class ids, one per sampled frame. The policy is a
product of per-frame categoricals, and every loss here treats frames as sub-actions that share
their clip's advantage. A joint ratio over the 64 frames of a clip leaves any clip range almost
always (0.17 vs 0.84 frame accuracy measured, docs/ray.md), so PPO uses a *per-frame* ratio.

Shapes: ``N`` trajectories (chunks of consecutive clips of one video), ``K`` clips per chunk,
``L`` frames per clip, ``C`` classes. ``mask`` marks valid (unpadded) frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the True entries of ``mask`` (0 when there are none)."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the clips of each trajectory.

    Args:
        rewards: (N, K) reward of each clip.
        values: (N, K) value estimate before each clip.
        dones: (N, K) True where the episode (video) ended with that clip.
        last_value: (N,) value of the observation after the last clip (ignored where it ended).
        gamma, lam: discount and GAE lambda.

    Returns:
        advantages (N, K) and returns = advantages + values (N, K).
    """
    n, k = rewards.shape
    adv = torch.zeros_like(rewards)
    running = torch.zeros(n, dtype=rewards.dtype, device=rewards.device)
    next_value = last_value
    for t in range(k - 1, -1, -1):
        live = 1.0 - dones[:, t].to(rewards.dtype)
        delta = rewards[:, t] + gamma * next_value * live - values[:, t]
        running = delta + gamma * lam * live * running
        adv[:, t] = running
        next_value = values[:, t]
    return adv, adv + values


def discounted_returns(
    rewards: torch.Tensor, dones: torch.Tensor, last_value: torch.Tensor, gamma: float
) -> torch.Tensor:
    """Monte-Carlo returns (N, K), bootstrapped with ``last_value`` where a chunk was cut."""
    returns = torch.zeros_like(rewards)
    running = last_value.to(rewards.dtype)
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running * (1.0 - dones[:, t].to(rewards.dtype))
        returns[:, t] = running
    return returns


def td_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """One-step TD errors r_t + γ V(s_{t+1}) − V(s_t) (N, K): GAE with λ = 0."""
    return gae(rewards, values, dones, last_value, gamma, 0.0)[0]


@dataclass(frozen=True)
class PolicyLossStats:
    """Diagnostics of one policy loss evaluation."""

    clip_fraction: float
    approx_kl: float


def ppo_policy_loss(
    logp: torch.Tensor,
    logp_old: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float,
) -> tuple[torch.Tensor, PolicyLossStats]:
    """Clipped surrogate with a per-frame ratio and the clip's advantage on each frame.

    Args:
        logp: (..., L) log-probability of the taken frame labels under the current policy.
        logp_old: (..., L) the same under the behaviour policy.
        advantages: (...) one advantage per clip, broadcast over its L frames, or (..., L) one
            per frame (credit within the clip, :mod:`svtas_ray.rl.credit`).
        mask: (..., L) valid frames.
        clip: the PPO ε.
    """
    ratio = torch.exp(logp - logp_old)
    adv = _per_frame(advantages, logp)
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + clip) * adv)
    loss = -masked_mean(surrogate, mask)
    with torch.no_grad():
        clipped = ((ratio - 1.0).abs() > clip).to(logp.dtype)
        stats = PolicyLossStats(
            clip_fraction=float(masked_mean(clipped, mask)),
            approx_kl=float(masked_mean((ratio - 1.0) - (logp - logp_old), mask)),
        )
    return loss, stats


def pg_loss(logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """REINFORCE / actor-critic loss −E[log π(a_frame) · A] over valid frames; advantages
    ``(...)`` per clip or ``(..., L)`` per frame, as :func:`ppo_policy_loss`."""
    return -masked_mean(logp * _per_frame(advantages, logp), mask)


def _per_frame(advantages: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Advantages shaped to broadcast over ``logp`` ``(..., L)``."""
    return advantages if advantages.dim() == logp.dim() else advantages.unsqueeze(-1)


def dice_scale(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, beta1: float, beta2: float
) -> torch.Tensor:
    """The SVTAS-RL code's no-grad reward weight β1**dice + β2 per clip (...,).

    ``dice`` is the soft dice between the softmax and the one-hot labels over valid frames,
    averaged over the classes present in the clip's labels or predictions (see
    ``svtas_ray.rewards.clip_dice`` for the numpy twin used by the environment).
    """
    with torch.no_grad():
        probs = F.softmax(logits.float(), dim=-1)  # (..., L, C)
        valid = mask.to(probs.dtype).unsqueeze(-1)
        onehot = F.one_hot(labels.clamp_min(0), probs.shape[-1]).to(probs.dtype)
        probs, onehot = probs * valid, onehot * valid
        inter = (probs * onehot).sum(-2)
        denom = (probs**2).sum(-2) + (onehot**2).sum(-2)
        per_class = (2 * inter + 1e-5) / (denom + 1e-5)
        present = (onehot.sum(-2) > 0) | (
            F.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype) * valid
        ).sum(-2).gt(0)
        dice = (per_class * present).sum(-1) / present.sum(-1).clamp_min(1)
        return beta1**dice + beta2


def reward_weighted_ce(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy per clip scaled by a no-grad weight per clip (paper_mc / paper_td).

    Args:
        logits: (..., L, C); labels: (..., L) with padding ignored through ``mask``;
        weight: (...) per-clip weight, e.g. :func:`dice_scale`.
    """
    ce = F.cross_entropy(
        logits.float().flatten(0, -2), labels.clamp_min(0).flatten(), reduction="none"
    ).view(labels.shape)
    return masked_mean(ce * weight.detach().unsqueeze(-1), mask)


def leave_one_out_advantages(
    rewards: torch.Tensor, extra_rewards: torch.Tensor, dones: torch.Tensor, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leave-one-out advantages of every decode (RLOO): each decode's return-to-go minus the
    mean of the other decodes' (``algo.baseline='leave_one_out'``).

    Args:
        rewards: (N, K) rewards of the rollout's decode (the environment's).
        extra_rewards: (N, K, S) rewards of the S further decodes, each on its own episode.
        dones, gamma: as :func:`sample_baseline_advantages` (no bootstrap where a chunk cuts a
            video).

    Returns:
        advantages (N, K, 1 + S), the rollout's decode first, and its returns (N, K).
    """
    zero = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    every = torch.cat([rewards.unsqueeze(-1), extra_rewards.to(rewards.dtype)], -1)
    returns = torch.stack(
        [discounted_returns(r, dones, zero, gamma) for r in every.unbind(-1)], -1
    )  # (N, K, 1 + S)
    n = returns.shape[-1]
    others = (returns.sum(-1, keepdim=True) - returns) / (n - 1)
    return returns - others, returns[..., 0]


def sample_baseline_advantages(
    rewards: torch.Tensor, baseline_rewards: torch.Tensor, dones: torch.Tensor, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampled-baseline advantages: the sampled return-to-go minus the baseline decodes' one,
    per clip (N, K).

    Args:
        rewards: (N, K) rewards of the sampled actions.
        baseline_rewards: (N, K) rewards the baseline's decodes (the arg-max one, or the mean of
            further samples) earned on the same clips.
        dones: (N, K) True where the video ended with that clip.
        gamma: discount over clips.

    Returns:
        advantages (N, K) and the sampled returns (N, K). Neither return is bootstrapped where a
        chunk cuts a video (there is no value head to bootstrap the baseline with): the unseen
        tails of both episodes are left out of the difference. Chunks that cover whole videos
        give the exact Monte-Carlo advantage.
    """
    zero = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    sampled = discounted_returns(rewards, dones, zero, gamma)
    baseline = discounted_returns(baseline_rewards.to(rewards.dtype), dones, zero, gamma)
    return sampled - baseline, sampled
