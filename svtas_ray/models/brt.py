"""``brt``: the block-recurrent transformer head of SVTAS-RL, streamable with memory tokens.

After the Block-Recurrent Transformer (Hutchins et al., NeurIPS 2022) as SVTAS-RL uses it: a video
is processed in blocks (one block = one clip). Each transformer block keeps ``state_len`` memory
tokens of width ``d``:

- **read**: the clip's tokens attend to ``[memory; clip]`` — *full* attention inside the clip, as
  in the paper (a clip is labelled only after all of it has arrived, so its own frames are not the
  future), plus the memory that summarises every earlier clip;
- **write**: the memory tokens attend to ``[memory; clip]`` and are updated by an LSTM-style gated
  recurrence, ``m' = sigmoid(f + 1) * m + sigmoid(i) * tanh(z)`` with ``(z, i, f)`` projected from
  the attention output (the +1 makes a fresh block remember by default).

Because attention stops at clip boundaries, the head's output depends on where clips begin: its
whole-video computation (:meth:`BRTHead.forward` with ``block_len``) cuts the video into blocks of
the stream's clip length and carries the memory through them, and streaming must equal that.
Optional refinement stages (the paper's decoders) are causal dilated TCN stages on the softmax of
the previous stage (:class:`~svtas_ray.models.causal_tcn.CausalStage`, with caches), so they
run over a whole video in one pass.

Positions inside a clip are sinusoidal (slot 0 .. L-1); the memory carries the longer-range order.
State: one ``(B, state_len, d)`` memory per block (zeros before the first clip), then the caches of
the refinement stages. A row whose clip has no valid slot keeps its memory unchanged.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svtas_ray.models.causal_tcn import CausalStage
from svtas_ray.models.dropout import Dropout
from svtas_ray.models.interface import State, TemporalHead, module_dtype


class Attention(nn.Module):
    """Multi-head attention of ``queries (B, Lq, d)`` over ``keys (B, Lk, d)`` with a key mask."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, queries: Tensor, keys: Tensor, key_valid: Tensor | None) -> Tensor:
        """``key_valid (B, Lk)`` bool (None: all keys valid) -> ``(B, Lq, d)``."""
        b, lq, d = queries.shape
        h = self.heads
        q = self.q(queries).view(b, lq, h, d // h).transpose(1, 2)
        k, v = self.kv(keys).view(b, keys.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        mask = None if key_valid is None else key_valid[:, None, None, :]
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(out.transpose(1, 2).reshape(b, lq, d))


class RecurrentBlock(nn.Module):
    """One block: read (clip attends to memory and clip), feed-forward, gated memory write."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(dim)
        self.norm_m = nn.LayerNorm(dim)
        self.read = Attention(dim, heads, dropout)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, 2 * dim), nn.GELU(), Dropout(dropout), nn.Linear(2 * dim, dim)
        )
        self.write = Attention(dim, heads, dropout)
        self.gates = nn.Linear(dim, 3 * dim)

    def forward(
        self, x: Tensor, memory: Tensor, valid: Tensor | None, has_frames: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """``x (B, L, d)``, ``memory (B, S, d)``, ``valid (B, L)`` -> new ``x`` and memory."""
        h = self.norm_x(x)
        m = self.norm_m(memory)
        context = torch.cat([m, h], dim=1)
        key_valid = None
        if valid is not None:
            always = torch.ones(valid.shape[0], m.shape[1], dtype=torch.bool, device=valid.device)
            key_valid = torch.cat([always, valid], dim=1)
        x = x + self.read(h, context, key_valid)
        x = x + self.ff(self.norm_ff(x))
        z, i, f = self.gates(self.write(m, context, key_valid)).chunk(3, dim=-1)
        new_memory = torch.sigmoid(f + 1.0) * memory + torch.sigmoid(i) * torch.tanh(z)
        if has_frames is not None:  # a row without a valid slot saw nothing: keep its memory
            new_memory = torch.where(has_frames[:, None, None], new_memory, memory)
        return x, new_memory


def sinusoid(length: int, dim: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Sinusoidal position codes ``(length, dim)`` (Vaswani et al. 2017)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    codes = torch.zeros(length, dim, device=device)
    codes[:, 0::2] = torch.sin(pos * freq)
    codes[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return codes.to(dtype)


class BRTHead(TemporalHead):
    """Block-recurrent transformer over clips, then optional causal TCN refinement stages.

    Value-head features: the transformer's output tokens ``(B, L, d)``.
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        dim: int = 64,
        num_blocks: int = 2,
        heads: int = 4,
        state_len: int = 16,
        attn_dropout: float = 0.1,
        refine_stages: int = 2,
        refine_layers: int = 8,
        kernel_size: int = 3,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.feature_dim = dim
        self.state_len = state_len
        self.in_proj = nn.Linear(in_dim, dim)
        self.blocks = nn.ModuleList(
            RecurrentBlock(dim, heads, attn_dropout) for _ in range(num_blocks)
        )
        self.norm_out = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, num_classes)
        self.refine = nn.ModuleList(
            CausalStage(num_classes, dim, num_classes, refine_layers, kernel_size, dropout)
            for _ in range(refine_stages)
        )

    @property
    def refine_list(self) -> list[CausalStage]:
        return cast("list[CausalStage]", list(self.refine))

    def initial_state(self, batch_size: int, device: torch.device) -> State:
        dtype = module_dtype(self)
        dim = self.feature_dim
        memories = tuple(
            torch.zeros(batch_size, self.state_len, dim, device=device, dtype=dtype)
            for _ in self.blocks
        )
        caches = tuple(s for st in self.refine_list for s in st.initial_state(batch_size, device))
        return memories + caches

    def forward(
        self, x: Tensor, state: State, lengths: Tensor | None, block_len: int | None = None
    ) -> tuple[list[Tensor], Tensor, State]:
        """``x (B, T, E)`` -> per-stage logits ``(B, T, C)``, features ``(B, T, d)``, state.

        ``block_len`` cuts ``x`` into clips of that length (None: ``x`` is one clip).
        """
        total = x.shape[1]
        step = block_len or total
        memories = list(state[: len(self.blocks)])
        h = self.in_proj(x)
        outputs = []
        for start in range(0, total, step):
            block = h[:, start : start + step]
            valid, has_frames = None, None
            if lengths is not None:
                slots = torch.arange(start, start + block.shape[1], device=x.device)
                valid = slots[None, :] < lengths[:, None]
                has_frames = valid[:, 0]
            block = block + sinusoid(block.shape[1], block.shape[2], x.device, x.dtype)
            for i, layer in enumerate(self.blocks):
                block, memories[i] = layer(block, memories[i], valid, has_frames)
            outputs.append(block)
        features = torch.cat(outputs, dim=1)
        logits = [self.classifier(self.norm_out(features))]
        caches: list[Tensor] = []
        offset = len(self.blocks)
        for stage in self.refine_list:
            n = len(stage.contexts)
            out, _, new = stage(F.softmax(logits[-1], dim=-1), state[offset : offset + n], lengths)
            offset += n
            logits.append(out)
            caches.extend(new)
        return logits, features, (*memories, *caches)
