"""Trajectory chunks: what a rollout worker hands to the learners.

A chunk is ``K`` consecutive clips of each of a worker's ``E`` environments (rows). Episodes may
end inside a chunk (``dones``); the learner then resets that row's memory to the initial state
exactly as the worker did. Arrays are numpy so that chunks travel through the object store as
zero-copy buffers.

In frames mode a chunk carries no pixels (64 RGB frames of 224² are 9.6 MB per clip): ``obs`` is
None and each clip slot is referred to by its video id and raw frame index, from which the learner
decodes the frames itself (:class:`svtas_ray.rl.frames.FrameDecoder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from svtas_ray.models.interface import select_state


@dataclass(frozen=True)
class Chunk:
    """N rows of K clips of L frames (obs ``(N, K, L, ...)``)."""

    obs: np.ndarray | None
    """(N, K, L, D) float32 features; None in frames mode (see ``video`` / ``frame_index``)."""
    actions: np.ndarray
    """(N, K, L) int64 sampled class ids."""
    logp: np.ndarray
    """(N, K, L) float32 behaviour log-probabilities of the actions."""
    rewards: np.ndarray
    """(N, K) float32 reward of each clip."""
    values: np.ndarray
    """(N, K) float32 behaviour value estimates before each clip."""
    labels: np.ndarray
    """(N, K, L) int64 ground truth from info (-100 on padding)."""
    masks: np.ndarray
    """(N, K, L) bool valid frames."""
    dones: np.ndarray
    """(N, K) bool: the episode ended with this clip (memory resets after it)."""
    last_value: np.ndarray
    """(N,) float32 value of the observation after the chunk (bootstrap)."""
    start_state: tuple[np.ndarray, ...]
    """The memory at the chunk's start, batch first."""
    baseline_rewards: np.ndarray | None = None
    """(N, K) float32 reward of the baseline's decodes of the same clips (the arg-max one or the
    mean of further samples: ``algo.baseline`` = 'self_critical' / 'mean_of_samples'; None
    otherwise)."""
    gate_prev: np.ndarray | None = None
    """(N, K) int64 the hold gate's previous label at each clip's start (-1: none; with
    ``model.hold_gate``, else None)."""
    gate_run: np.ndarray | None = None
    """(N, K) float32 the hold gate's run length at each clip's start (or None)."""
    video: np.ndarray | None = None
    """(N, K) str video id of each clip (frames mode; None with features)."""
    frame_index: np.ndarray | None = None
    """(N, K, L) int32 label-frame index of each slot (frames mode; the learner decodes them)."""
    reward_before: np.ndarray | None = None
    """(N, K, L) float32 the reward each frame's clip earned before the frame's piece
    (``reward.parts`` > 1, :mod:`svtas_ray.rl.credit`; None otherwise)."""
    extra_actions: np.ndarray | None = None
    """(N, K, S, L) int64 the S further sampled decodes of each clip that are trained too
    (``algo.baseline='leave_one_out'``; None otherwise)."""
    extra_rewards: np.ndarray | None = None
    """(N, K, S) float32 the rewards those decodes earned, each on its own episode."""

    @property
    def rows(self) -> int:
        return int(self.actions.shape[0])

    @property
    def clips(self) -> int:
        return int(self.actions.shape[1])

    def select(self, rows: np.ndarray) -> Chunk:
        return Chunk(**{f.name: _take(getattr(self, f.name), rows) for f in fields(self)})  # type: ignore[arg-type]


def _take(x: np.ndarray | tuple[np.ndarray, ...] | None, rows: np.ndarray) -> object:
    if x is None:
        return None
    if isinstance(x, tuple):
        return tuple(a[rows] for a in x)
    return x[rows]


def concat(chunks: Sequence[Chunk]) -> Chunk:
    """Rows of several chunks (same K, L) as one chunk."""
    if len(chunks) == 1:
        return chunks[0]
    out: dict[str, object] = {}
    for f in fields(Chunk):
        parts = [getattr(c, f.name) for c in chunks]
        if f.name == "start_state":
            out[f.name] = tuple(np.concatenate(p, 0) for p in zip(*parts, strict=True))
        elif any(p is None for p in parts):
            out[f.name] = None
        else:
            out[f.name] = np.concatenate(parts, 0)
    return Chunk(**out)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TorchChunk:
    """A :class:`Chunk` as tensors on the learner's device (same fields, same shapes)."""

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    rewards: torch.Tensor
    values: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    dones: torch.Tensor
    last_value: torch.Tensor
    start_state: tuple[torch.Tensor, ...]
    baseline_rewards: torch.Tensor
    """(N, K); zeros when the chunk has none."""
    gate_prev: torch.Tensor | None = None
    """(N, K) or None (no hold gate)."""
    gate_run: torch.Tensor | None = None
    """(N, K) or None."""
    reward_before: torch.Tensor | None = None
    """(N, K, L) or None (one reward per clip)."""
    extra_actions: torch.Tensor | None = None
    """(N, K, S, L) or None."""
    extra_rewards: torch.Tensor | None = None
    """(N, K, S) or None."""

    @staticmethod
    def of(chunk: Chunk, device: torch.device | str, obs: np.ndarray | None = None) -> TorchChunk:
        """Tensors of ``chunk``; ``obs`` replaces ``chunk.obs`` (the decoded frames mode clips)."""

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.array(a)).to(device)  # a writable copy of a shared buffer

        observations = chunk.obs if obs is None else obs
        if observations is None:
            raise ValueError("a frames mode chunk needs its decoded frames (obs=...)")
        greedy = chunk.baseline_rewards
        kwargs: dict[str, object] = {
            "obs": t(observations),
            "start_state": tuple(t(a) for a in chunk.start_state),
            "baseline_rewards": t(np.zeros_like(chunk.rewards) if greedy is None else greedy),
            "gate_prev": None if chunk.gate_prev is None else t(chunk.gate_prev),
            "gate_run": None if chunk.gate_run is None else t(chunk.gate_run),
            "reward_before": None if chunk.reward_before is None else t(chunk.reward_before),
            "extra_actions": None if chunk.extra_actions is None else t(chunk.extra_actions),
            "extra_rewards": None if chunk.extra_rewards is None else t(chunk.extra_rewards),
        }
        for f in fields(TorchChunk):
            if f.name not in kwargs:
                kwargs[f.name] = t(getattr(chunk, f.name))
        return TorchChunk(**kwargs)  # type: ignore[arg-type]

    def rows(self, index: torch.Tensor) -> TorchChunk:
        kwargs: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "start_state":
                kwargs[f.name] = select_state(value, index)
            elif value is None:
                kwargs[f.name] = None
            else:
                kwargs[f.name] = value.index_select(0, index)
        return TorchChunk(**kwargs)  # type: ignore[arg-type]
