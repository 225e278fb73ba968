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

from svtas_ray.models.dropout import Dropout
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
        self.dropout = Dropout(dropout)

    def forward(
        self, x: Tensor, cache: Tensor, lengths: Tensor | None, block_len: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """``x (B, L, C)``, ``cache (B, context, C)`` -> output ``(B, L, C)`` and next cache.

        ``block_len`` (lookahead only): ``x`` holds consecutive clips of this length, and no tap
        reads across a clip's end (None: ``x`` is one clip).
        """
        length = x.shape[1]
        if self.ahead and lengths is not None:  # padding must read as the zeros past the end
            valid = torch.arange(length, device=x.device)[None, :] < lengths[:, None]
            x = x * valid[..., None].to(x.dtype)
        if self.ahead and block_len is not None and block_len < length:
            taps, weight = self._block_taps(x, cache, block_len), self.conv_dilated.weight
        else:
            taps, weight = self._taps(x, cache)
        # Functional calls (not module calls) keep the per-clip Python overhead low.
        hidden = F.relu_(F.linear(taps, weight, self.conv_dilated.bias))
        out = F.linear(hidden, self.conv_1x1.weight, self.conv_1x1.bias)
        if self.dropout.training and self.dropout.p > 0:  # the module's own mode (see
            out = self.dropout(out)  # svtas_ray.evaluate.enable_dropout)
        return x + out, self._next_cache(x, cache, lengths)

    def _taps(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """The ``k`` taps of one clip side by side ``(B, L, k'*C)`` and the weight columns they
        meet ``(C, k'*C)``.

        Tap j of output t reads input ``t + j*d - context``: from the cache, from ``x`` or past
        the clip's end (zeros). Each tap is cut from the tensor it lies in, so the backward pass
        writes gradients into ``x`` only (never into a cache-sized buffer), and taps that lie
        wholly past the clip's end (large dilations with lookahead) are dropped with their
        weight columns: they would only multiply zeros.
        """
        batch, length, channels = x.shape
        pieces = []
        for j in range(self.kernel_size):
            shift = j * self.dilation - self.context  # input offset of this tap
            if shift >= length:  # this and every later tap read only zeros
                break
            if shift == 0:
                pieces.append(x)
            elif shift < 0 and shift + length <= 0:  # wholly in the cache
                pieces.append(cache.narrow(1, self.context + shift, length))
            elif shift < 0:
                pieces.append(
                    torch.cat([cache[:, self.context + shift :], x[:, : length + shift]], 1)
                )
            else:
                pieces.append(torch.cat([x[:, shift:], x.new_zeros(batch, shift, channels)], 1))
        weight = self.conv_dilated.weight
        if len(pieces) < self.kernel_size:
            weight = weight[:, : len(pieces) * channels]
        return (torch.cat(pieces, -1) if len(pieces) > 1 else pieces[0]), weight

    def _block_taps(self, x: Tensor, cache: Tensor, block_len: int) -> Tensor:
        """The taps ``(B, L, k*C)`` of consecutive clips of ``block_len``, none crossing a
        clip's end: one strided view of ``cat(cache, x, zeros)``, masked, copied once."""
        batch, length, channels = x.shape
        full = torch.cat([cache, x, x.new_zeros(batch, self.ahead, channels)], dim=1)
        s_batch, s_time, s_chan = full.stride()
        view = full.as_strided(
            (batch, length, self.kernel_size, channels),
            (s_batch, s_time, self.dilation * s_time, s_chan),
        )
        view = view * self._inside_block(length, block_len, x)
        return view.reshape(batch, length, self.kernel_size * channels)

    def _next_cache(self, x: Tensor, cache: Tensor, lengths: Tensor | None) -> Tensor:
        """The last ``context`` valid inputs of ``cat(cache, x)``: the next clip's cache."""
        length = x.shape[1]
        if lengths is not None:
            return keep_last(torch.cat([cache, x], dim=1), self.context, lengths, dim=1)
        if self.context <= length:
            return x[:, length - self.context :]
        return torch.cat([cache[:, length:], x], dim=1)

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
