"""ASFormer (Yi, Wen & Jiang, BMVC 2021; ChinaYi/ASFormer ``model.py``), an offline baseline.

An encoder of ``num_layers`` blocks, each a dilated convolutional feed-forward followed by
self-attention restricted to a local window of ``2**i`` frames (block ``i``), then decoders that
refine the softmax of the previous prediction with cross-attention: queries and keys from the
decoder's features, values from the previous stage's features, the attention's weight decaying as
``exp(-3 s)`` for decoder ``s``.

Same architecture and defaults as the official code (64 channels, 10 layers, r1 = r2 = 2, one
encoder + 3 decoders, dropout 0.5, channel masking 0.3 via ``input_dropout``). Deviations:

- time-major ``(B, T, C)``, 1x1 and dilated convolutions written as linear maps (the same
  functions, faster on CPU; see :func:`~svtas_ray.models.offline.dilated_taps`);
- the sliding-window attention uses ``unfold`` per batch row (the official code orders key
  windows block-major and query windows batch-major, which agree only for its batch of one);
- the size is configurable (``num_stages`` = 1 + decoders), and ``svtas-ray baseline`` trains it
  on MS-TCN's schedule (Adam 5e-4, CE + 0.15 smoothing, ``--epochs``), not the paper's 120 epochs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svtas_ray.models.dropout import Dropout
from svtas_ray.models.offline import as_mask, dilated_taps


def sliding_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, block: int) -> Tensor:
    """Each frame attends to the ``block`` frames centred on it (ASFormer's ``sliding_att``).

    ``q, k (B, T, c)``, ``v (B, T, c_v)``, ``mask (B, T)`` float -> ``(B, T, c_v)``. Frames are
    grouped in blocks of ``block`` queries; each block sees a window of ``block + 2*(block//2)``
    keys of which each query uses the ``block`` around it. Masked keys get ~0 weight.
    """
    batch, length, channels = q.shape
    num_blocks = math.ceil(length / block)
    pad = num_blocks * block - length
    half = block // 2
    window = block + 2 * half
    q = F.pad(q, (0, 0, 0, pad)).view(batch, num_blocks, block, channels)
    k = F.pad(k, (0, 0, half, pad + half)).unfold(1, window, block)  # (B, nb, c, window)
    v = F.pad(v, (0, 0, half, pad + half)).unfold(1, window, block).transpose(2, 3)
    keys_valid = F.pad(mask, (half, pad + half)).unfold(1, window, block)[:, :, None, :]
    slots = torch.arange(window, device=q.device)
    offsets = slots[None, :] - slots[:block, None]
    band = ((offsets >= 0) & (offsets < block)).to(q.dtype)  # query i uses keys i .. i+block-1
    final = band[None, None] * keys_valid  # (B, nb, block, window)
    energy = q @ k / math.sqrt(channels)
    attention = torch.softmax(energy + torch.log(final + 1e-6), dim=-1) * final
    out = attention @ v  # (B, nb, block, c_v)
    return out.reshape(batch, num_blocks * block, -1)[:, :length]


def instance_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """``nn.InstanceNorm1d`` (no affine) on a time-major ``(B, T, C)``: per channel over time."""
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


class AttLayer(nn.Module):
    """1x1 projections (channel reduction r), local attention, ReLU, 1x1 out, masked."""

    def __init__(self, channels: int, reduction: int, block: int, decoder: bool) -> None:
        super().__init__()
        reduced = channels // reduction
        self.block = block
        self.decoder = decoder
        self.query_conv = nn.Linear(channels, reduced)
        self.key_conv = nn.Linear(channels, reduced)
        self.value_conv = nn.Linear(channels, reduced)
        self.conv_out = nn.Linear(reduced, channels)

    def forward(self, x: Tensor, encoder_features: Tensor | None, mask: Tensor) -> Tensor:
        """``x (B, T, C)``, ``mask (B, T, 1)``; a decoder takes values from ``encoder_features``."""
        values = encoder_features if self.decoder and encoder_features is not None else x
        out = sliding_attention(
            self.query_conv(x), self.key_conv(x), self.value_conv(values), mask[..., 0], self.block
        )
        return self.conv_out(F.relu(out)) * mask


class AttModule(nn.Module):
    """Dilated conv feed-forward, ``alpha *`` attention on its instance norm, 1x1, residual."""

    def __init__(
        self,
        dilation: int,
        channels: int,
        reduction: int,
        decoder: bool,
        alpha: float,
        dropout: float,
    ) -> None:
        super().__init__()
        self.dilation = dilation
        self.feed_forward = nn.Linear(3 * channels, channels)  # Conv1d(3, dilation) on taps
        self.att_layer = AttLayer(channels, reduction, dilation, decoder)
        self.conv_1x1 = nn.Linear(channels, channels)
        self.dropout = Dropout(dropout)
        self.alpha = alpha

    def forward(self, x: Tensor, encoder_features: Tensor | None, mask: Tensor) -> Tensor:
        out = F.relu(self.feed_forward(dilated_taps(x, self.dilation)))
        out = self.alpha * self.att_layer(instance_norm(out), encoder_features, mask) + out
        out = self.dropout(self.conv_1x1(out))
        return (x + out) * mask


class ASFormerStage(nn.Module):
    """The encoder (``decoder=False``) or a decoder: conv1x1 in, attention modules, conv1x1 out."""

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        num_layers: int,
        channels: int,
        reduction: int,
        decoder: bool,
        alpha: float,
        dropout: float,
    ) -> None:
        super().__init__()
        self.conv_1x1 = nn.Linear(in_dim, channels)
        self.layers = nn.ModuleList(
            AttModule(2**i, channels, reduction, decoder, alpha, dropout) for i in range(num_layers)
        )
        self.conv_out = nn.Linear(channels, num_classes)

    def forward(
        self, x: Tensor, encoder_features: Tensor | None, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        feature = self.conv_1x1(x)
        for layer in self.layers:
            feature = layer(feature, encoder_features, mask)
        return self.conv_out(feature) * mask, feature


class ASFormer(nn.Module):
    """Encoder + ``num_stages - 1`` decoders; per-stage logits ``(B, T, C)``."""

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        num_stages: int = 4,
        num_layers: int = 10,
        channels: int = 64,
        dropout: float = 0.5,
        input_dropout: float = 0.3,
        reduction: int = 2,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.channel_mask = nn.Dropout1d(input_dropout)  # ASFormer's channel masking (Dropout2d)
        self.encoder = ASFormerStage(
            input_dim, num_classes, num_layers, channels, reduction, False, 1.0, dropout
        )
        self.decoders = nn.ModuleList(
            ASFormerStage(
                num_classes,
                num_classes,
                num_layers,
                channels,
                reduction,
                True,
                math.exp(-3 * s),  # ASFormer's exponential_descrease(s, p=3)
                dropout,
            )
            for s in range(num_stages - 1)
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> list[Tensor]:
        """``x (B, T, D)`` -> per-stage logits ``(B, T, C)``."""
        m = as_mask(x, mask)
        masked = self.channel_mask(x.transpose(1, 2)).transpose(1, 2)  # drops whole channels
        out, feature = self.encoder(masked, None, m)
        outputs = [out]
        for decoder in self.decoders:
            out, feature = decoder(F.softmax(out, dim=-1) * m, feature * m, m)
            outputs.append(out)
        return outputs
