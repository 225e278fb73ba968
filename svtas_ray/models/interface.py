"""The streaming contract every segmenter keeps, and the module that joins its parts.

A streaming segmenter labels a video clip by clip: ``forward(clip, state) -> SegmenterOutput``
with ``logits`` (one ``(B, L, C)`` tensor per stage, the last one final), ``value`` ``(B,)`` and
the new ``state``. Running a video clip by clip equals running the model over the whole video at
once (:meth:`StreamingSegmenter.forward_video`, tested).

**State** is a flat tuple of tensors, each with the batch as dimension 0, so a trainer can store
it per chunk, detach it for truncated BPTT (:func:`detach_state`), pick rows (:func:`select_state`),
join batches (:func:`cat_states`), reset finished rows (:func:`reset_state`) and ship it through
Ray's object store.

**Masks**: ``mask (B, L)`` bool marks valid slots; valid slots come first, padding after (as
:class:`~svtas_ray.data.clips.ClipPlan` pads the last clip). Logits of valid slots never depend on
padded ones, and the state after a padded clip is the state after the same clip cut to its valid
length: caches keep the last *valid* inputs and memories read only valid slots. Logits at padded
slots are meaningless.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from svtas_ray.models.hold_gate import HoldGate

State = tuple[Tensor, ...]
"""A segmenter's memory between clips: tensors with the batch as dimension 0."""


@dataclass
class SegmenterOutput:
    """What a streaming segmenter returns for one clip.

    Attributes:
        logits: one ``(B, L, C)`` tensor per stage; ``logits[-1]`` is the final prediction.
        value: ``(B,)`` the value head's estimate for the clip (pooled clip features -> scalar).
        state: the memory to pass with the next clip.
    """

    logits: list[Tensor]
    value: Tensor
    state: State

    @property
    def final(self) -> Tensor:
        """The last stage's logits ``(B, L, C)``."""
        return self.logits[-1]


# --------------------------------------------------------------------------- state helpers


def detach_state(state: State) -> State:
    """The same state cut from the autograd graph (truncated BPTT)."""
    return tuple(s.detach() for s in state)


def select_state(state: State, rows: Tensor | Sequence[int]) -> State:
    """Rows ``rows`` of every tensor (keeps the batch dimension)."""
    index = torch.as_tensor(rows, dtype=torch.long)
    return tuple(s.index_select(0, index.to(s.device)) for s in state)


def cat_states(states: Sequence[State]) -> State:
    """States of several batches joined along the batch dimension."""
    if not states:
        raise ValueError("cat_states needs at least one state")
    return tuple(torch.cat(parts, dim=0) for parts in zip(*states, strict=True))


def reset_state(state: State, done: Tensor, initial: State) -> State:
    """Rows where ``done (B,)`` is True replaced by ``initial`` (a new episode starts there)."""
    if not bool(done.any()):
        return state
    out = []
    for s, s0 in zip(state, initial, strict=True):
        keep = done.to(s.device).view(-1, *([1] * (s.dim() - 1)))
        out.append(torch.where(keep, s0.to(s.device, s.dtype), s))
    return tuple(out)


def state_to(state: State, device: torch.device | str) -> State:
    return tuple(s.to(device) for s in state)


def mask_lengths(mask: Tensor | None, clip_len: int) -> Tensor | None:
    """Valid slots per row ``(B,)`` of a prefix ``mask (B, L)``; None when every slot is valid."""
    if mask is None:
        return None
    mask = mask.bool()
    if mask.shape[1] != clip_len:
        raise ValueError(f"mask covers {mask.shape[1]} slots but the clip has {clip_len}")
    if bool(mask.all()):
        return None
    lengths = mask.sum(dim=1)
    prefix = torch.arange(clip_len, device=mask.device)[None, :] < lengths[:, None]
    if not torch.equal(prefix, mask):
        raise ValueError("mask must mark valid slots first and padding after, in every row")
    return lengths


def keep_last(full: Tensor, size: int, lengths: Tensor | None, dim: int) -> Tensor:
    """The last ``size`` valid entries of ``full`` along ``dim``: a cache's next value.

    ``full`` is ``cat(cache, clip)`` along ``dim`` (``size`` cache entries, then ``L`` clip
    entries); row b has ``lengths[b]`` valid clip entries (None: all ``L``). Returns entries
    ``[lengths[b], lengths[b] + size)`` of each row, the same for any amount of padding.
    """
    total = full.shape[dim]
    if lengths is None:
        return full.narrow(dim, total - size, size)
    moved = full.movedim(dim, 1)
    index = lengths.to(full.device)[:, None] + torch.arange(size, device=full.device)[None, :]
    index = index.view(*index.shape, *([1] * (moved.dim() - 2))).expand(-1, -1, *moved.shape[2:])
    return moved.gather(1, index).movedim(1, dim)


def masked_mean(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Mean of ``x (B, L, D)`` over each row's valid slots -> ``(B, D)`` (0 for no valid slot)."""
    if lengths is None:
        return x.mean(dim=1)
    valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
    total = (x * valid[..., None].to(x.dtype)).sum(dim=1)
    return total / lengths.clamp_min(1)[:, None].to(x.dtype)


def default_device() -> torch.device:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- parts


class InputEncoder(nn.Module):
    """Clip -> per-slot embeddings ``(B, L, out_dim)``, with its own (possibly empty) state."""

    kind: Literal["features", "frames"]
    out_dim: int
    input_shape: tuple[int, ...]
    """Shape of one slot of the input: ``(D,)`` for features, ``(H, W, 3)`` for frames."""

    def initial_state(self, batch_size: int, device: torch.device) -> State:
        raise NotImplementedError

    def forward(self, clip: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        raise NotImplementedError

    def check_input(self, clip: Tensor) -> None:
        if tuple(clip.shape[2:]) != self.input_shape:
            raise ValueError(
                f"clip slots have shape {tuple(clip.shape[2:])} but the model was built for "
                f"{self.input_shape} (clip must be (B, L, {', '.join(map(str, self.input_shape))}))"
            )


class TemporalHead(nn.Module):
    """Embeddings ``(B, L, E)`` -> per-stage logits ``(B, L, C)`` and features for the value head.

    ``block_len``: when the input holds several clips (a whole video), the clip length the stream
    uses; heads whose output depends on clip boundaries (brt) cut the input there.
    """

    num_classes: int
    feature_dim: int

    def initial_state(self, batch_size: int, device: torch.device) -> State:
        raise NotImplementedError

    def forward(
        self, x: Tensor, state: State, lengths: Tensor | None, block_len: int | None = None
    ) -> tuple[list[Tensor], Tensor, State]:
        raise NotImplementedError


class ValueHead(nn.Module):
    """Mean of the head's features over valid slots -> MLP -> scalar ``(B,)``."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, features: Tensor, lengths: Tensor | None) -> Tensor:
        return self.net(masked_mean(features, lengths)).squeeze(-1)


# --------------------------------------------------------------------------- the segmenter


class StreamingSegmenter(nn.Module):
    """Input encoder -> temporal head (+ value head), with one flat state for both.

    Clips: features ``(B, L, D)`` float, or frames ``(B, L, H, W, 3)`` uint8 (normalised inside).
    """

    def __init__(
        self,
        encoder: InputEncoder,
        head: TemporalHead,
        value_hidden: int,
        hold_gate: HoldGate | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.value_head = ValueHead(head.feature_dim, value_hidden)
        self.hold_gate: HoldGate | None = hold_gate
        """The policy's learned hold/switch decision (:mod:`svtas_ray.models.hold_gate`), or
        None. It reads the logits :meth:`forward` returns; the segmenter itself never calls it."""
        self._encoder_states = len(encoder.initial_state(1, torch.device("cpu")))

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.encoder.input_shape

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """The state before a video's first clip (zeros) for ``batch_size`` videos."""
        dev = torch.device(device) if device is not None else module_device(self)
        return (
            *self.encoder.initial_state(batch_size, dev),
            *self.head.initial_state(batch_size, dev),
        )

    def forward(self, clip: Tensor, state: State, mask: Tensor | None = None) -> SegmenterOutput:
        """One clip ``(B, L, ...)`` with the state left by the previous clip of each video."""
        return self._run(clip, state, mask, None)

    def forward_video(
        self, video: Tensor, mask: Tensor | None = None, block_len: int | None = None
    ) -> SegmenterOutput:
        """A whole video ``(B, T, ...)`` in one call, as the causal model sees it.

        ``block_len`` is the stream's clip length (it matters for brt, whose attention stops at
        clip boundaries; causal_mstcn gives the same result for any value). Equals running
        :meth:`forward` clip by clip (the value is pooled over the whole video instead).
        """
        state = self.initial_state(video.shape[0], video.device)
        return self._run(video, state, mask, block_len)

    def forward_chunk(
        self, clips: Tensor, state: State, mask: Tensor | None = None
    ) -> tuple[list[Tensor], Tensor, State]:
        """``K`` consecutive clips ``(B, K, L, ...)`` (a trainer's replay chunk).

        Returns per-stage logits ``(B, K, L, C)``, values ``(B, K)`` and the state after the last
        clip; ``mask`` is ``(B, K, L)``.
        """
        per_clip: list[list[Tensor]] = []
        values = []
        for k in range(clips.shape[1]):
            out = self(clips[:, k], state, None if mask is None else mask[:, k])
            per_clip.append(out.logits)
            values.append(out.value)
            state = out.state
        logits = [torch.stack(stage, dim=1) for stage in zip(*per_clip, strict=True)]
        return logits, torch.stack(values, dim=1), state

    def predict_stream(self, clips: Iterable[np.ndarray | Tensor]) -> Iterator[np.ndarray]:
        """Greedy labels ``(L,)`` int64 of each clip ``(L, ...)`` of one video, in order.

        Uses the module's current mode: call ``eval()`` first for inference. A shorter last clip
        is fine (no padding needed).
        """
        device = module_device(self)
        state = self.initial_state(1, device)
        for clip in clips:
            with torch.inference_mode():  # ~10 % faster per clip than no_grad at batch 1
                x = torch.as_tensor(np.asarray(clip) if not isinstance(clip, Tensor) else clip)
                out = self(x[None].to(device), state)
                state = out.state
                labels = out.final[0].argmax(dim=-1).cpu().numpy().astype(np.int64)
            yield labels  # outside: a suspended generator must not hold grad mode off

    def _run(
        self, clip: Tensor, state: State, mask: Tensor | None, block_len: int | None
    ) -> SegmenterOutput:
        self.encoder.check_input(clip)
        lengths = mask_lengths(mask, clip.shape[1])
        n = self._encoder_states
        x, enc_state = self.encoder(clip, tuple(state[:n]), lengths)
        logits, features, head_state = self.head(x, tuple(state[n:]), lengths, block_len)
        value = self.value_head(features, lengths)
        return SegmenterOutput(logits, value, (*enc_state, *head_state))


def module_device(module: nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def module_dtype(module: nn.Module) -> torch.dtype:
    param = next(module.parameters(), None)
    return param.dtype if param is not None else torch.float32
