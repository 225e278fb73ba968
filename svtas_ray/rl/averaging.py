"""Polyak (exponential moving) averaging of a model's weights for evaluation.

Per-frame segmental scores of a streaming segmenter move by several points from one validation
round to the next even late in training (one flickering frame splits a segment), so the weights
of any single step are a noisy pick. Evaluating a moving average of the weights instead removes
much of that step-to-step noise without touching how the live weights learn.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_decay_at(decay: float, steps: int) -> float:
    """Decay after ``steps`` averaged updates: ``min(decay, (1 + n) / (10 + n))``, so the first
    averages follow the weights closely instead of holding on to their random start."""
    return min(decay, (1 + steps) / (10 + steps))


def ema_model(model: nn.Module, decay: float) -> AveragedModel:
    """A copy of ``model`` whose parameters track ``model``'s exponential moving average each time
    ``update_parameters(model)`` is called (buffers are copied, not averaged)."""

    Params = tuple[torch.Tensor, ...] | list[torch.Tensor]

    def average(avg: Params, new: Params, n: torch.Tensor | int) -> None:
        weight = 1.0 - ema_decay_at(decay, int(n))
        torch._foreach_lerp_(avg, new, weight)

    averaged = AveragedModel(model, multi_avg_fn=average)
    averaged.requires_grad_(False)
    return averaged
