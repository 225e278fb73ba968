"""A learned hold/switch decision per frame: the policy-side version of the causal hold rule.

The hand-coded rule of OnlineTAS (:mod:`svtas_ray.models.postprocess`) keeps the previous label
while the prediction is unsure and the current segment is short. With ``model.hold_gate`` the
policy makes that decision itself, and the Edit/F1 reward trains it: at every frame ``t`` a gate
reads how sure the class distribution ``p_t`` is, how likely the previous label still is and how
long the current run of emitted labels is, and gives a hold probability ``h_t``. The emitted
label follows the mixture

    π'(c) = h_t · [c = y_{t-1}] + (1 - h_t) · p_t(c)

(hold: repeat the previous label; switch: draw from ``p_t``). Everything is causal: ``y_{t-1}``
and the run length are the policy's own past outputs, carried across clips in a
:class:`GateState`; nothing after the current frame is read. The class logits still get the
cross-entropy of the labels, the gate gets only the reward (its features are computed from
detached probabilities).

Shapes: ``...`` is any batch shape (``(N,)`` when acting, ``(N, W)`` when a learner replays
``W`` clips); ``L`` slots per clip; ``C`` classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

CLOSED = -1e4
"""The hold logit before a video's first label (h = 0; finite, so gradients stay finite)."""
RUN_SCALE = 64.0
"""Run lengths enter the gate as log(1 + run) / log(1 + RUN_SCALE) (slots)."""


@dataclass(frozen=True)
class GateState:
    """What the gate remembers between frames (and clips) of each video."""

    prev: Tensor
    """(...) int64: the last emitted label, -1 before a video's first frame."""
    run: Tensor
    """(...) float32: how many slots in a row emitted ``prev``."""

    @staticmethod
    def initial(shape: tuple[int, ...], device: torch.device | str = "cpu") -> GateState:
        return GateState(
            torch.full(shape, -1, dtype=torch.long, device=device),
            torch.zeros(shape, dtype=torch.float32, device=device),
        )

    def reset(self, done: Tensor) -> GateState:
        """Rows where ``done`` is True start a new video."""
        return GateState(
            torch.where(done, torch.full_like(self.prev, -1), self.prev),
            torch.where(done, torch.zeros_like(self.run), self.run),
        )

    def step(self, action: Tensor, valid: Tensor) -> GateState:
        """After emitting ``action`` at slots where ``valid`` (padding changes nothing)."""
        run = torch.where(action == self.prev, self.run + 1, torch.ones_like(self.run))
        return GateState(torch.where(valid, action, self.prev), torch.where(valid, run, self.run))


class HoldGate(nn.Module):
    """Hold probability per frame from (max p, p of the previous label, run length, whether the
    arg-max is the previous label). Starts almost closed (h ≈ 0.02): the policy begins as the
    plain per-frame one, and the reward opens the gate where holding pays."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.constant_(self.linear.bias, -4.0)

    def hold_logit(self, probs: Tensor, state: GateState) -> Tensor:
        """Logit of h ``(...)`` for class probabilities ``probs (..., C)`` (:data:`CLOSED` where
        there is no previous label to hold)."""
        probs = probs.detach().float()
        prev = state.prev.clamp_min(0).unsqueeze(-1)
        features = torch.stack(
            [
                probs.amax(-1),
                probs.gather(-1, prev).squeeze(-1),
                torch.log1p(state.run) / math.log1p(RUN_SCALE),
                (probs.argmax(-1) == state.prev).float(),
            ],
            -1,
        )
        logit = self.linear(features).squeeze(-1)
        return torch.where(state.prev >= 0, logit, torch.full_like(logit, CLOSED))

    def act(
        self,
        logits: Tensor,
        state: GateState,
        mask: Tensor,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, GateState]:
        """Labels ``(..., L)`` for a clip's logits ``(..., L, C)`` and the state after it.

        ``greedy``: the most likely label of π' per frame; otherwise a draw from π'.
        """
        probs = torch.softmax(logits.float(), -1)
        if greedy:
            switch_to = probs.argmax(-1)
        else:
            flat = probs.reshape(-1, probs.shape[-1])
            switch_to = torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])
        actions = []
        for t in range(logits.shape[-2]):
            p = probs[..., t, :]
            h = torch.sigmoid(self.hold_logit(p, state))
            if greedy:
                p_prev = p.gather(-1, state.prev.clamp_min(0).unsqueeze(-1)).squeeze(-1)
                hold = h + (1 - h) * p_prev >= (1 - h) * p.amax(-1)
            else:
                u = torch.rand(h.shape, generator=generator, device=h.device)
                hold = u < h
            hold = hold & (state.prev >= 0)
            action = torch.where(hold, state.prev, switch_to[..., t])
            actions.append(action)
            state = state.step(action, mask[..., t])
        return torch.stack(actions, -1), state

    def log_prob_entropy(
        self, logits: Tensor, actions: Tensor, start: GateState, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """log π'(actions) and the entropy of π', each ``(..., L)``, for clips whose logits are
        ``(..., L, C)``, emitted ``actions (..., L)`` and gate state ``start`` at the clip start
        (the gate's later inputs follow from the actions)."""
        logp_class = torch.log_softmax(logits.float(), -1)
        probs = logp_class.exp()
        state = start
        logps, entropies = [], []
        for t in range(logits.shape[-2]):
            a = actions[..., t].clamp_min(0)
            logit = self.hold_logit(probs[..., t, :], state)
            log_h = nn.functional.logsigmoid(logit)
            log_switch = nn.functional.logsigmoid(-logit)
            switch = log_switch + logp_class[..., t, :].gather(-1, a.unsqueeze(-1)).squeeze(-1)
            held = torch.where(a == state.prev, log_h, torch.full_like(log_h, -math.inf))
            logps.append(torch.logaddexp(switch, held))
            h = log_h.exp().unsqueeze(-1)
            onehot = nn.functional.one_hot(state.prev.clamp_min(0), probs.shape[-1]).float()
            mixed = (1 - h) * probs[..., t, :] + h * onehot
            entropies.append(-(mixed * mixed.clamp_min(1e-12).log()).sum(-1))
            state = state.step(actions[..., t], mask[..., t])
        return torch.stack(logps, -1), torch.stack(entropies, -1)


def greedy_labels(
    gate: HoldGate | None, logits: Tensor, state: GateState, mask: Tensor
) -> tuple[Tensor, GateState]:
    """The greedy labels ``(..., L)`` of a clip: the gate's when the model has one, else the
    arg-max per frame (the state then passes through unchanged)."""
    if gate is None:
        return logits.argmax(-1), state
    return gate.act(logits, state, mask, greedy=True)
