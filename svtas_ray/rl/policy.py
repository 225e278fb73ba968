"""The segmenter seen as a policy: the one module of ``rl`` that talks to ``svtas_ray.models``.

A policy is a streaming segmenter ``forward(clip, state, mask) -> (logits per stage, value,
state)``; its action distribution is a product of per-frame categoricals over the last stage's
logits ``(B, L, C)``. Memory ``state`` is a flat tuple of tensors whose first dimension is the
batch; the helpers below select, concatenate and reset rows of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from svtas_ray.models.interface import StreamingSegmenter, detach_state, reset_state

State = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class PolicyStep:
    """One batched forward pass over a clip."""

    logits: list[torch.Tensor]
    """Per stage (B, L, C); the last stage is the policy."""
    value: torch.Tensor
    """(B,) value estimate of the clip's state."""
    state: State
    """Memory after the clip."""


def build_policy(cfg: Any, num_classes: int, obs_shape: tuple[int, ...]) -> StreamingSegmenter:
    """The segmenter of ``cfg.model`` for ``num_classes`` and observations ``(L, ...)``."""
    from svtas_ray.models.build import build_segmenter

    return build_segmenter(cfg.model, num_classes=num_classes, input_shape=obs_shape[1:])


def forward(model: Any, clip: torch.Tensor, state: State, mask: torch.Tensor) -> PolicyStep:
    """Run the segmenter on one clip (B, L, ...) with memory ``state``."""
    out = model(clip, state, mask)
    return PolicyStep(list(out.logits), out.value, tuple(out.state))


def reset_rows(state: State, done: torch.Tensor, fresh: State) -> State:
    """Replace the memory of the rows where ``done`` (B,) by ``fresh`` (an initial state)."""
    if not bool(done.any()):
        return state
    return reset_state(state, done.bool(), fresh)


def detach(state: State) -> State:
    """The memory cut from the autograd graph (truncated BPTT)."""
    return detach_state(state)


def state_to_numpy(state: State) -> list[np.ndarray]:
    return [s.detach().cpu().numpy() for s in state]


def state_from_numpy(arrays: Sequence[np.ndarray], device: torch.device | str) -> State:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays)


def weights_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's state dict as numpy arrays (cheap to ship through the object store)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def load_numpy_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> None:
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
