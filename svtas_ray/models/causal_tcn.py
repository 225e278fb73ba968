"""``causal_mstcn``: MS-TCN's multi-stage dilated residual TCN, made causal and streamable.

MS-TCN (Farha & Gall, CVPR 2019; yabufarha/ms-tcn ``model.py``) pads each dilated convolution
symmetrically, so frame t sees ``dilation`` frames of the future at every layer. Here each
convolution is padded on the left only: output t sees inputs ``t - (k-1)*d .. t``. The padding is a
**cache**: each layer keeps the last ``(k-1)*d`` inputs it saw, so a clip is convolved with the
cache in front of it and the video never has to be revisited; clip-by-clip streaming computes
exactly what one pass over the whole video computes (with zeros before the first frame, as the
offline padding has). Stages 2+ take the softmax of the previous stage's logits, a per-frame
operation, so the whole stack stays causal.

State: one ``(B, (k-1)*d, hidden)`` cache per layer per stage (10 layers of kernel 3: 2046 frames
per stage).

``clip_lookahead``: a streaming segmenter emits a clip's labels once the whole clip has arrived,
so frames may also look ahead **inside their own clip** without adding latency. Each convolution
is then centred (MS-TCN's taps ``t-d, t, t+d``): the past comes from the cache, the future from
the clip, and taps that would cross the clip's end read zeros. Clip by clip equals one pass over
the whole video cut into blocks of the stream's clip length (``block_len``); the cache is
``(k-1)/2 * d`` frames.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svtas_ray.models.interface import State, TemporalHead, keep_last, module_dtype


class CausalDilatedLayer(nn.Module):
    """MS-TCN's ``DilatedResidualLayer`` with left-only padding taken from a cache.

    ``x + dropout(conv1x1(relu(dilated_conv(x))))``; the dilated conv sees ``(k-1)*d`` past inputs
    through the cache. Time-major ``(B, L, C)``: the dilated convolution is one matrix product
    over the ``k`` shifted views (taps) of ``cat(cache, x)`` (weights ``(C, k*C)``, tap-major),
    which costs the same per frame for a clip of 16 as for a whole video; ``nn.Conv1d`` with a
    large dilation is several times slower on short inputs on CPU.
    """

    def __init__(
        self, dim: int, dilation: int, kernel_size: int, dropout: float, lookahead: bool = False
    ) -> None:
        super().__init__()
        if lookahead and kernel_size % 2 == 0:
            raise ValueError(f"clip lookahead needs an odd kernel size, got {kernel_size}")
        self.dilation = dilation
        self.kernel_size = kernel_size
        self.ahead = (kernel_size - 1) // 2 * dilation if lookahead else 0
        """Frames of the clip's future each output reads (0: causal)."""
        self.context = (kernel_size - 1) * dilation - self.ahead
        self.conv_dilated = nn.Linear(kernel_size * dim, dim)
        self.conv_1x1 = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, cache: Tensor, lengths: Tensor | None, block_len: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """``x (B, L, C)``, ``cache (B, context, C)`` -> output ``(B, L, C)`` and next cache.

        ``block_len`` (lookahead only): ``x`` holds consecutive clips of this length, and no tap
        reads across a clip's end (None: ``x`` is one clip).
        """
        batch, length, channels = x.shape
        if self.ahead and lengths is not None:  # padding must read as the zeros past the end
            valid = torch.arange(length, device=x.device)[None, :] < lengths[:, None]
            x = x * valid[..., None].to(x.dtype)
        past = torch.cat([cache, x], dim=1)
        full = past
        if self.ahead:
            full = torch.cat([past, x.new_zeros(batch, self.ahead, channels)], dim=1)
        # Tap j of output t reads full[t + j*d], i.e. input t - context + j*d: one strided view
        # (B, L, k, C) of ``full``, copied once into (B, L, k*C). Functional calls (not module
        # calls) keep the per-clip Python overhead low for short clips.
        s_batch, s_time, s_chan = full.stride()
        view = full.as_strided(
            (batch, length, self.kernel_size, channels),
            (s_batch, s_time, self.dilation * s_time, s_chan),
        )
        if self.ahead and block_len is not None and block_len < length:
            view = view * self._inside_block(length, block_len, x)
        taps = view.reshape(batch, length, self.kernel_size * channels)
        hidden = F.relu_(F.linear(taps, self.conv_dilated.weight, self.conv_dilated.bias))
        out = F.linear(hidden, self.conv_1x1.weight, self.conv_1x1.bias)
        if self.training and self.dropout.p > 0:
            out = self.dropout(out)
        return x + out, keep_last(past, self.context, lengths, dim=1)

    def _inside_block(self, length: int, block_len: int, like: Tensor) -> Tensor:
        """``(L, k, 1)`` mask: 1 where tap j of output t stays inside t's clip of ``block_len``."""
        pos = torch.arange(length, device=like.device) % block_len
        offsets = torch.arange(self.kernel_size, device=like.device) * self.dilation - self.context
        inside = (pos[:, None] + offsets[None, :]) < block_len
        return inside[..., None].to(like.dtype)


class CausalStage(nn.Module):
    """One causal MS-TCN stage: 1x1 conv in, ``num_layers`` dilated layers (1, 2, 4, ...), 1x1 out.

    Also used as the refinement stages of the brt head.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int,
        num_classes: int,
        num_layers: int,
        kernel_size: int,
        dropout: float,
        lookahead: bool = False,
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv_in = nn.Linear(in_dim, hidden)
        layers = [
            CausalDilatedLayer(hidden, 2**i, kernel_size, dropout, lookahead)
            for i in range(num_layers)
        ]
        self.layers = nn.ModuleList(layers)
        self.conv_out = nn.Linear(hidden, num_classes)
        self.contexts = [layer.context for layer in layers]

    def initial_state(self, batch_size: int, device: torch.device) -> State:
        dtype = module_dtype(self)
        return tuple(
            torch.zeros(batch_size, context, self.hidden, device=device, dtype=dtype)
            for context in self.contexts
        )

    def forward(
        self, x: Tensor, state: State, lengths: Tensor | None, block_len: int | None = None
    ) -> tuple[Tensor, Tensor, State]:
        """``x (B, L, in_dim)`` -> logits ``(B, L, C)``, features ``(B, L, hidden)``, state."""
        out = self.conv_in(x)
        caches = []
        for layer, cache in zip(self.layers, state, strict=True):
            out, cache = layer(out, cache, lengths, block_len)
            caches.append(cache)
        return self.conv_out(out), out, tuple(caches)


class CausalMSTCN(TemporalHead):
    """Multi-stage causal TCN: stage 1 on the embeddings, stages 2+ on softmax of the previous.

    Value-head features: the last stage's hidden activations ``(B, L, hidden)``.
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden: int = 64,
        num_stages: int = 4,
        num_layers: int = 10,
        kernel_size: int = 3,
        dropout: float = 0.5,
        clip_lookahead: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.feature_dim = hidden
        self.stages = nn.ModuleList(
            CausalStage(
                in_dim if s == 0 else num_classes,
                hidden,
                num_classes,
                num_layers,
                kernel_size,
                dropout,
                clip_lookahead,
            )
            for s in range(num_stages)
        )

    @property
    def stage_list(self) -> list[CausalStage]:
        return cast("list[CausalStage]", list(self.stages))

    def initial_state(self, batch_size: int, device: torch.device) -> State:
        stages = self.stage_list
        return tuple(s for stage in stages for s in stage.initial_state(batch_size, device))

    def forward(
        self, x: Tensor, state: State, lengths: Tensor | None, block_len: int | None = None
    ) -> tuple[list[Tensor], Tensor, State]:
        """``x (B, L, E)`` -> per-stage logits ``(B, L, C)``, features ``(B, L, hidden)``, state.

        ``block_len`` matters with ``clip_lookahead`` only (taps stop at each clip's end); a
        causal TCN does not care where clips begin.
        """
        out = x
        logits: list[Tensor] = []
        new_state: list[Tensor] = []
        features = out
        offset = 0
        for s, stage in enumerate(self.stage_list):
            n = len(stage.contexts)
            inp = out if s == 0 else F.softmax(out, dim=-1)
            out, features, caches = stage(inp, state[offset : offset + n], lengths, block_len)
            offset += n
            logits.append(out)
            new_state.extend(caches)
        return logits, features, tuple(new_state)
