"""The training objectives (``algo.kind``): one ``match`` from a replayed chunk to a loss.

A learner replays each chunk from its stored start state, clip by clip, carrying the memory
(:func:`replay`), then :func:`loss` turns the replay into the objective of ``algo.kind``:

- ``supervised``: ``ce_coef``·CE + ``smooth_coef``·smoothing on the labels only.
- ``ppo``: per-frame clipped ratio with the clip's GAE advantage; value loss; entropy bonus.
- ``reinforce``: Monte-Carlo returns (bootstrapped only where a chunk cuts a video) minus a
  baseline: the behaviour value, nothing, the greedy segmentation's return (``self_critical``)
  or the mean return of further samples (``mean_of_samples``); with ``leave_one_out`` those
  further samples are trained too, each decode against the mean of the others.
- ``actor_critic``: one-step TD advantages from the value head.
- ``paper_mc`` / ``paper_td``: the SVTAS-RL code's CE (summed over stages) weighted by the
  no-grad dice reward β1**dice + β2 of the last stage; one optimiser step per chunk / per clip
  (:func:`windows`).

Every RL kind adds the supervised terms with weights ``ce_coef`` and ``smooth_coef``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from svtas_ray.config import SAMPLED_BASELINES, AlgoConfig, RewardConfig
from svtas_ray.models.hold_gate import GateState, HoldGate
from svtas_ray.models.interface import State, detach_state, reset_state
from svtas_ray.rl import credit, losses
from svtas_ray.rl.batch import TorchChunk
from svtas_ray.rl.policy import FrameCategorical, log_prob_entropy

RL_KINDS = ("ppo", "reinforce", "actor_critic")


@dataclass(frozen=True)
class Targets:
    """Per-clip advantages and value targets, computed once from the behaviour values."""

    advantages: torch.Tensor
    """(N, K), or (N, K, L) per frame with credit within the clip (``reward.parts`` > 1), or
    (N, K, 1 + S) per decode with ``algo.baseline='leave_one_out'`` (the rollout's first)"""
    returns: torch.Tensor
    """(N, K)"""


def targets(chunk: TorchChunk, algo: AlgoConfig) -> Targets:
    """Advantages and returns of ``chunk`` for ``algo.kind`` (zeros for kinds that need none)."""
    r, v, d, last = chunk.rewards, chunk.values, chunk.dones, chunk.last_value
    match algo.kind:
        case "ppo":
            adv, ret = losses.gae(r, v, d, last, algo.gamma, algo.gae_lambda)
        case "reinforce" if chunk.extra_rewards is not None:  # leave_one_out
            adv, ret = losses.leave_one_out_advantages(r, chunk.extra_rewards, d, algo.gamma)
        case "reinforce" if algo.baseline in SAMPLED_BASELINES:
            adv, ret = losses.sample_baseline_advantages(r, chunk.baseline_rewards, d, algo.gamma)
        case "reinforce":
            ret = losses.discounted_returns(r, d, last, algo.gamma)
            adv = ret - v if algo.baseline == "value" else ret.clone()
        case "actor_critic":
            adv = losses.td_advantages(r, v, d, last, algo.gamma)
            ret = adv + v
        case _:
            adv, ret = torch.zeros_like(r), torch.zeros_like(r)
    if algo.kind in RL_KINDS and chunk.reward_before is not None:
        adv = credit.frame_advantages(adv, chunk.reward_before)
        if algo.normalize_advantages:  # over the valid frames
            valid = adv[chunk.masks]
            if valid.numel() > 1:
                adv = (adv - valid.mean()) / (valid.std() + 1e-8)
    elif algo.kind in RL_KINDS and algo.normalize_advantages and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return Targets(adv, ret)


def windows(algo: AlgoConfig, num_clips: int) -> list[range]:
    """Clip ranges of a chunk that each get one optimiser step, in order: ``algo.window_clips``
    clips each (0: the whole chunk); the SVTAS-RL objectives keep their own: every clip for
    ``paper_td``, the whole chunk for ``paper_mc`` (one update per video when it covers one)."""
    match algo.kind:
        case "paper_td":
            size = 1
        case "paper_mc":
            size = num_clips
        case _:
            size = algo.window_clips or num_clips
    return [range(k, min(k + size, num_clips)) for k in range(0, num_clips, size)]


@dataclass(frozen=True)
class Replay:
    """The current policy's outputs on a window of clips."""

    logits: list[torch.Tensor]
    """Per stage (N, W, L, C)."""
    values: torch.Tensor
    """(N, W)"""
    state: State
    """Memory after the window."""
    gate: HoldGate | None = None
    """The model's hold gate (``model.hold_gate``), whose decisions are part of the policy."""


def replay(
    model: torch.nn.Module,
    chunk: TorchChunk,
    clips: range,
    state: State,
    fresh: State,
    bptt: int = 0,
) -> Replay:
    """Run ``model`` over ``clips`` of every row from ``state``, resetting rows whose episode ended.

    ``fresh`` is the initial state (N rows); with ``bptt > 0`` the memory is detached every
    ``bptt`` clips (truncated backpropagation through time).
    """
    per_stage: list[list[torch.Tensor]] = []
    values = []
    for i, k in enumerate(clips):
        out = model(chunk.obs[:, k], state, chunk.masks[:, k])
        per_stage.append(out.logits)
        values.append(out.value)
        state = reset_state(out.state, chunk.dones[:, k].bool(), fresh)
        if bptt and (i + 1) % bptt == 0:
            state = detach_state(state)
    logits = [torch.stack(stage, 1) for stage in zip(*per_stage, strict=True)]
    gate = getattr(model, "hold_gate", None)
    return Replay(logits, torch.stack(values, 1).float(), state, gate)


def supervised_terms(
    logits: list[torch.Tensor],
    labels: torch.Tensor,
    mask: torch.Tensor,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CE and smoothing losses of per-stage logits (N, W, L, C) against labels (N, W, L)."""
    from svtas_ray.models.losses import ce_loss, smoothing_loss

    flat = [x.flatten(0, 1).float() for x in logits]
    ce = ce_loss(flat, labels.flatten(0, 1), label_smoothing=label_smoothing)
    return ce, smoothing_loss(flat, mask.flatten(0, 1))


def loss(
    replayed: Replay,
    chunk: TorchChunk,
    clips: range,
    tgt: Targets,
    algo: AlgoConfig,
    reward: RewardConfig,
    acting: Replay | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The objective of ``algo.kind`` on ``clips`` of ``chunk`` and logged scalars.

    ``acting``: the same window replayed without dropout (``algo.policy_dropout=False``); the
    policy terms (log-probabilities, entropy, values) then come from it, the supervised terms
    from ``replayed``.
    """
    sl = slice(clips.start, clips.stop)
    policy_rep = replayed if acting is None else acting
    logits = replayed.logits[-1].float()  # (N, W, L, C): the policy is the last stage
    mask, labels = chunk.masks[:, sl], chunk.labels[:, sl]
    ce, smooth = supervised_terms(replayed.logits, labels, mask, algo.label_smoothing)
    aux = algo.ce_coef * ce + algo.smooth_coef * smooth
    stats = {"ce": _f(ce), "smooth": _f(smooth)}
    if replayed.gate is not None and algo.gate_ce_coef > 0:
        gate_ce = replayed.gate.hold_ce(
            logits, chunk.actions[:, sl], _gate_start(chunk, sl), mask, labels
        )
        aux = aux + algo.gate_ce_coef * gate_ce
        stats["gate_ce"] = _f(gate_ce)
    adv, ret = tgt.advantages[:, sl], tgt.returns[:, sl]
    match algo.kind:
        case "supervised":
            total = aux
        case "ppo":
            logp, ent = _action_terms(policy_rep, chunk, sl, algo.reward_trains)
            policy, ps = losses.ppo_policy_loss(logp, chunk.logp[:, sl], adv, mask, algo.clip)
            value = F.mse_loss(policy_rep.values, ret)
            total = policy + algo.vf_coef * value - algo.ent_coef * ent + aux
            stats.update(
                policy=_f(policy),
                value=_f(value),
                entropy=_f(ent),
                clip_fraction=ps.clip_fraction,
                approx_kl=ps.approx_kl,
            )
        case "reinforce" if chunk.extra_actions is not None:  # every decode, its own advantage
            logp, ent = _action_terms(policy_rep, chunk, sl, algo.reward_trains)
            actions = chunk.extra_actions[:, sl]  # (N, W, S, L)
            log_probs = FrameCategorical(policy_rep.logits[-1]).log_probs().unsqueeze(2)
            extra = log_probs.expand(-1, -1, actions.shape[2], -1, -1).gather(
                -1, actions.unsqueeze(-1)
            )[..., 0]  # (N, W, S, L): every decode from the same replay
            logps = [logp, *extra.unbind(2)]
            policy = sum(
                (losses.pg_loss(lp, adv[..., s], mask) for s, lp in enumerate(logps)),
                start=torch.zeros(()),
            ) / len(logps)
            total = policy - algo.ent_coef * ent + aux
            stats.update(policy=_f(policy), value=0.0, entropy=_f(ent))
        case "reinforce" | "actor_critic":
            logp, ent = _action_terms(policy_rep, chunk, sl, algo.reward_trains)
            policy = losses.pg_loss(logp, adv, mask)
            use_value = algo.kind == "actor_critic" or algo.baseline == "value"
            value = F.mse_loss(policy_rep.values, ret) if use_value else torch.zeros(())
            total = policy + algo.vf_coef * value - algo.ent_coef * ent + aux
            stats.update(policy=_f(policy), value=_f(value), entropy=_f(ent))
        case "paper_mc" | "paper_td":
            weight = losses.dice_scale(
                logits, labels, mask, reward.dice_beta1, reward.dice_beta2
            )  # (N, W) no grad
            # Every stage's CE, each weighted by the last stage's reward (as the CE of
            # `supervised`): a stage left with the smoothing term alone collapses to a constant.
            policy = sum(
                (losses.reward_weighted_ce(x, labels, mask, weight) for x in replayed.logits),
                start=torch.zeros(()),
            )
            total = policy + algo.smooth_coef * smooth
            stats.update(policy=_f(policy), dice_weight=_f(weight.mean()))
        case _:
            raise ValueError(f"unknown algo.kind {algo.kind!r}")
    stats["total"] = _f(total)
    return total, stats


def _action_terms(
    replayed: Replay, chunk: TorchChunk, sl: slice, trains: str = "policy"
) -> tuple[torch.Tensor, torch.Tensor]:
    """log π of the stored actions ``(N, W, L)`` and the mean entropy over valid frames;
    ``trains='gate'`` (``algo.reward_trains``) lets their gradient reach the hold gate only."""
    mask = chunk.masks[:, sl]
    logits = replayed.logits[-1].float()  # the policy is the last stage
    if trains == "gate":
        logits = logits.detach()
    start = _gate_start(chunk, sl)
    logp, ent = log_prob_entropy(replayed.gate, logits, chunk.actions[:, sl], start, mask)
    return logp, losses.masked_mean(ent, mask)


def _gate_start(chunk: TorchChunk, sl: slice) -> GateState:
    """The hold gate's state at the start of each clip of ``sl`` ``(N, W)`` (as acted)."""
    if chunk.gate_prev is not None and chunk.gate_run is not None:
        return GateState(chunk.gate_prev[:, sl], chunk.gate_run[:, sl].float())
    mask = chunk.masks[:, sl]
    return GateState.initial(mask.shape[:2], mask.device)


def _f(x: torch.Tensor) -> float:
    return float(x.detach())
