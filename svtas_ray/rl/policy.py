"""The segmenter seen as a policy: the one module of ``rl`` that builds from ``svtas_ray.models``.

A policy is a streaming segmenter ``model(clip, state, mask) -> SegmenterOutput`` (logits per
stage, value, state; :mod:`svtas_ray.models.interface`). Its action distribution is
:class:`FrameCategorical`: independent categoricals per frame over the last stage's logits
``(..., L, C)``, one vectorised distribution for the whole clip (not a list of per-dimension
categoricals: 30x faster to sample and to score, see docs/ray.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from svtas_ray.models.hold_gate import GateState, HoldGate
from svtas_ray.models.interface import State, StreamingSegmenter


@dataclass(frozen=True)
class FrameCategorical:
    """Per-frame categorical distribution over ``logits (..., L, C)`` (computed in float32)."""

    logits: torch.Tensor

    def log_probs(self) -> torch.Tensor:
        """log π(c) for every class ``(..., L, C)``."""
        return F.log_softmax(self.logits.float(), dim=-1)

    def sample(
        self, generator: torch.Generator | None = None, noise_frames: int = 1
    ) -> torch.Tensor:
        """One class per frame ``(..., L)`` int64 drawn with ``generator``.

        ``noise_frames`` > 1 (0: all L) lets that many consecutive frames share one Gumbel draw
        ``(C,)``: each frame's label is ``argmax(log π + g)`` of its group's ``g``, so every
        frame's marginal is still its own categorical, while the frames of a group are drawn
        together (``algo.noise_frames``)."""
        if noise_frames == 1:
            probs = torch.softmax(self.logits.float(), -1)
            flat = probs.reshape(-1, probs.shape[-1])
            return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])
        *lead, length, classes = self.logits.shape
        size = noise_frames or length
        groups = -(-length // size)
        uniform = torch.rand((*lead, groups, classes), generator=generator)
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-20, 1.0 - 1e-7)))
        noise = gumbel.repeat_interleave(size, dim=-2)[..., :length, :]
        return (self.log_probs() + noise).argmax(-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """log π(actions) ``(..., L)`` of integer ``actions (..., L)``."""
        return self.log_probs().gather(-1, actions.clamp_min(0).unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        """Per-frame entropy ``(..., L)``."""
        logp = self.log_probs()
        return -(logp.exp() * logp).sum(-1)

    def greedy(self) -> torch.Tensor:
        """The arg-max class per frame ``(..., L)``."""
        return self.logits.argmax(-1)


def sample_actions(
    gate: HoldGate | None,
    logits: torch.Tensor,
    state: GateState,
    mask: torch.Tensor,
    generator: torch.Generator | None = None,
    noise_frames: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, GateState]:
    """Sampled actions ``(N, L)`` for a clip's logits ``(N, L, C)``, their log-probabilities
    ``(N, L)`` and the gate state after the clip: per-frame categoricals, or with a
    :class:`~svtas_ray.models.hold_gate.HoldGate` its hold/switch mixture (``state`` then
    carries the previous labels; without a gate it passes through). ``noise_frames``: frames
    sharing one Gumbel draw (:meth:`FrameCategorical.sample`; without a gate only)."""
    if gate is None:
        policy = FrameCategorical(logits)
        actions = policy.sample(generator, noise_frames)
        return actions, policy.log_prob(actions), state
    actions, after = gate.act(logits, state, mask, generator=generator)
    logp, _ = gate.log_prob_entropy(logits, actions, state, mask)
    return actions, logp, after


def log_prob_entropy(
    gate: HoldGate | None,
    logits: torch.Tensor,
    actions: torch.Tensor,
    start: GateState,
    mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(actions) and the policy's entropy per frame ``(..., L)`` for logits
    ``(..., L, C)``; ``start``: the gate state at each clip's start (ignored without a gate)."""
    if gate is None:
        policy = FrameCategorical(logits)
        return policy.log_prob(actions), policy.entropy()
    return gate.log_prob_entropy(logits, actions, start, mask)


def build_policy(cfg: Any, num_classes: int, obs_shape: tuple[int, ...]) -> StreamingSegmenter:
    """The segmenter of ``cfg.model`` for ``num_classes`` and observations ``(L, ...)``."""
    from svtas_ray.models.build import build_segmenter

    return build_segmenter(cfg.model, num_classes=num_classes, input_shape=obs_shape[1:])


def state_to_numpy(state: State) -> list[np.ndarray]:
    return [s.detach().cpu().numpy() for s in state]


def state_from_numpy(arrays: Sequence[np.ndarray], device: torch.device | str) -> State:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays)


def weights_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's state dict as numpy arrays (cheap to ship through the object store)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def load_numpy_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> None:
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
