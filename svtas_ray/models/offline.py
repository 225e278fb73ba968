"""Offline TAS baselines on whole videos, and their naive streaming use.

- :class:`MSTCN`: the original bidirectional multi-stage TCN (Farha & Gall, CVPR 2019;
  yabufarha/ms-tcn ``model.py``), layer for layer: symmetric dilated convolutions, 4 stages of 10
  layers with 64 channels, dropout 0.5, outputs masked; time-major ``(B, T, C)`` with the
  convolutions written as linear maps over dilated taps (:func:`dilated_taps`).
- :class:`FramewiseLinear`: one linear map per frame, the no-context reference.
- ASFormer lives in :mod:`svtas_ray.models.asformer`.
- :func:`naive_stream`: an offline model run on each clip alone (no future context, no memory),
  the outputs concatenated — the collapse SVTAS-RL starts from (GTEA MS-TCN Acc 79 -> 44).

Every offline model maps ``x (B, T, D)`` and ``mask (B, T)`` (None: all valid) to a list of
per-stage logits ``(B, T, C)``, the last one final.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svtas_ray.models.dropout import Dropout


def as_mask(x: Tensor, mask: Tensor | None) -> Tensor:
    """``(B, T, 1)`` float mask (None: every frame valid)."""
    if mask is None:
        return x.new_ones(x.shape[0], x.shape[1], 1)
    return mask[:, :, None].to(x.dtype)


def dilated_taps(x: Tensor, dilation: int) -> Tensor:
    """``x (B, T, C)`` -> ``(B, T, 3C)``: ``x[t-d], x[t], x[t+d]`` with zeros outside the video.

    A kernel-3 ``Conv1d(padding=d, dilation=d)`` is ``nn.Linear(3C, C)`` on these taps: the same
    function (weights tap-major), 2-10x faster on CPU than ``nn.Conv1d``, which falls back to a
    slow path for one video of batch 1.
    """
    length = x.shape[1]
    full = F.pad(x, (0, 0, dilation, dilation))
    return torch.cat([full[:, j * dilation : j * dilation + length] for j in range(3)], dim=-1)


class DilatedResidualLayer(nn.Module):
    """``(x + dropout(conv1x1(relu(conv_dilated(x))))) * mask``; padding = dilation (both sides)."""

    def __init__(self, dilation: int, channels: int, dropout: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv_dilated = nn.Linear(3 * channels, channels)
        self.conv_1x1 = nn.Linear(channels, channels)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x (B, T, C)``, ``mask (B, T, 1)``."""
        out = self.conv_1x1(F.relu(self.conv_dilated(dilated_taps(x, self.dilation))))
        return (x + self.dropout(out)) * mask


class SingleStage(nn.Module):
    """conv1x1 in, ``num_layers`` dilated residual layers (1, 2, 4, ...), conv1x1 out (masked)."""

    def __init__(
        self, num_layers: int, channels: int, in_dim: int, num_classes: int, dropout: float
    ) -> None:
        super().__init__()
        self.conv_1x1 = nn.Linear(in_dim, channels)
        self.layers = nn.ModuleList(
            DilatedResidualLayer(2**i, channels, dropout) for i in range(num_layers)
        )
        self.conv_out = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        out = self.conv_1x1(x)
        for layer in self.layers:
            out = layer(out, mask)
        return self.conv_out(out) * mask


class MSTCN(nn.Module):
    """MS-TCN: stage 1 on the features, stages 2+ on the (masked) softmax of the previous stage."""

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        num_stages: int = 4,
        num_layers: int = 10,
        channels: int = 64,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stages = nn.ModuleList(
            SingleStage(
                num_layers, channels, input_dim if s == 0 else num_classes, num_classes, dropout
            )
            for s in range(num_stages)
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> list[Tensor]:
        """``x (B, T, D)`` -> per-stage logits ``(B, T, C)``."""
        m = as_mask(x, mask)
        out = x
        outputs = []
        for s, stage in enumerate(self.stages):
            out = stage(out if s == 0 else F.softmax(out, dim=-1) * m, m)
            outputs.append(out)
        return outputs


class FramewiseLinear(nn.Module):
    """Each frame classified alone by one linear map (no temporal context)."""

    def __init__(self, input_dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.dropout = Dropout(dropout)
        self.linear = nn.Linear(input_dim, num_classes)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> list[Tensor]:
        return [self.linear(self.dropout(x))]


def naive_stream(model: nn.Module, x: Tensor, clip_len: int) -> list[Tensor]:
    """Run an offline model on each clip of ``clip_len`` frames alone and concatenate.

    ``x (B, T, D)`` -> per-stage logits ``(B, T, C)``; the last clip is shorter, not padded, so
    the model sees exactly the frames of the clip and nothing else.
    """
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    pieces = [model(x[:, s : s + clip_len]) for s in range(0, x.shape[1], clip_len)]
    return [torch.cat(stage, dim=1) for stage in zip(*pieces, strict=True)]
