"""The supervised losses of TAS, shared by the offline baselines and every streaming trainer.

MS-TCN (yabufarha/ms-tcn ``model.py``, ``Trainer.train``) sums over stages::

    loss += ce(p, labels)                       # frames labelled -100 are ignored
    loss += 0.15 * mean(clamp(mse(log_softmax(p)[:, :, 1:],
                                  log_softmax(p.detach())[:, :, :-1]), 0, 16) * mask[:, :, 1:])

The smoothing term penalises jumps of the log-probabilities between neighbouring frames,
truncated at tau^2 = 16 so real boundaries are not punished without bound; the previous frame is
detached, so each frame is pulled towards its predecessor and not the other way round.
Here the mean runs over valid neighbouring pairs only (MS-TCN divides by every entry, padding
included; the two agree for a batch of one unpadded video, MS-TCN's setting). Logits are
``(B, T, C)`` per stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from svtas_ray.data.clips import IGNORE_INDEX


def ce_loss(
    logits_per_stage: Sequence[Tensor],
    labels: Tensor,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Sum over stages of the mean cross-entropy over frames whose label is not ``ignore_index``.

    ``logits (B, T, C)`` per stage, ``labels (B, T)`` int64. 0 (not NaN) when no frame counts.
    ``label_smoothing`` ε: the target puts ``1 - ε`` on the label and ``ε / C`` on every class
    (Szegedy et al. 2016), which keeps the probabilities off 0 and 1.
    """
    flat = labels.reshape(-1)
    counted = (flat != ignore_index).sum()
    total = logits_per_stage[0].new_zeros(())
    for logits in logits_per_stage:
        summed = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            flat,
            ignore_index=ignore_index,
            reduction="sum",
            label_smoothing=label_smoothing,
        )
        total = total + summed / counted.clamp_min(1)
    return total


def smoothing_loss(logits_per_stage: Sequence[Tensor], mask: Tensor, tau: float = 4.0) -> Tensor:
    """Sum over stages of MS-TCN's truncated MSE between neighbouring log-probabilities.

    ``mask (B, T)`` bool marks valid frames; a pair (t-1, t) counts when both are valid. Each
    squared difference is clamped to ``tau**2``; the mean is over valid pairs and classes.
    """
    pairs = (mask[:, 1:] & mask[:, :-1]).float()
    total = logits_per_stage[0].new_zeros(())
    if mask.shape[1] < 2:
        return total
    denominator = (pairs.sum() * logits_per_stage[0].shape[-1]).clamp_min(1)
    for logits in logits_per_stage:
        current = F.log_softmax(logits[:, 1:].float(), dim=-1)
        previous = F.log_softmax(logits[:, :-1].detach().float(), dim=-1)
        squared = torch.clamp((current - previous) ** 2, min=0, max=tau**2)
        total = total + (squared * pairs[..., None]).sum() / denominator
    return total


def segmentation_loss(
    logits_per_stage: Sequence[Tensor],
    labels: Tensor,
    smooth_weight: float = 0.15,
    tau: float = 4.0,
    ignore_index: int = IGNORE_INDEX,
) -> Tensor:
    """MS-TCN's loss: ``ce_loss + smooth_weight * smoothing_loss`` (mask from ``labels``)."""
    loss = ce_loss(logits_per_stage, labels, ignore_index)
    if smooth_weight > 0:
        loss = loss + smooth_weight * smoothing_loss(logits_per_stage, labels != ignore_index, tau)
    return loss
