"""A learned hold/switch decision per frame: the policy-side version of the causal hold rule.

The hand-coded rule of OnlineTAS (:mod:`svtas_ray.models.postprocess`) keeps the previous label
while the prediction is unsure and the current segment is short. With ``model.hold_gate`` the
policy makes that decision itself, and the Edit/F1 reward trains it: at every frame ``t`` a gate
reads how sure the class distribution ``p_t`` is, how likely the previous label still is and how
long the current run of emitted labels is, and gives a hold probability ``h_t``. The emitted
label follows the mixture

    π'(c) = h_t · [c = y_{t-1}] + (1 - h_t) · p_t(c)

(hold: repeat the previous label; switch: draw from ``p_t``). Everything is causal: ``y_{t-1}``
and the run length are the policy's own past outputs, carried across clips in a
:class:`GateState`; nothing after the current frame is read. The class logits still get the
cross-entropy of the labels, the gate gets only the reward (its features are computed from
detached probabilities).

Shapes: ``...`` is any batch shape (``(N,)`` when acting, ``(N, W)`` when a learner replays
``W`` clips); ``L`` slots per clip; ``C`` classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

CLOSED = -1e4
"""The hold logit before a video's first label (h = 0; finite, so gradients stay finite)."""
RUN_SCALE = 64.0
"""Run lengths enter the gate as log(1 + run) / log(1 + RUN_SCALE) (slots)."""


@dataclass(frozen=True)
class GateState:
    """What the gate remembers between frames (and clips) of each video."""

    prev: Tensor
    """(...) int64: the last emitted label, -1 before a video's first frame."""
    run: Tensor
    """(...) float32: how many slots in a row emitted ``prev``."""

    @staticmethod
    def initial(shape: tuple[int, ...], device: torch.device | str = "cpu") -> GateState:
        return GateState(
            torch.full(shape, -1, dtype=torch.long, device=device),
            torch.zeros(shape, dtype=torch.float32, device=device),
        )

    def reset(self, done: Tensor) -> GateState:
        """Rows where ``done`` is True start a new video."""
        return GateState(
            torch.where(done, torch.full_like(self.prev, -1), self.prev),
            torch.where(done, torch.zeros_like(self.run), self.run),
        )

    def step(self, action: Tensor, valid: Tensor) -> GateState:
        """After emitting ``action`` at slots where ``valid`` (padding changes nothing)."""
        run = torch.where(action == self.prev, self.run + 1, torch.ones_like(self.run))
        return GateState(torch.where(valid, action, self.prev), torch.where(valid, run, self.run))

    def along(self, actions: Tensor, mask: Tensor) -> tuple[GateState, GateState]:
        """The states before every slot ``(..., L)`` of a clip whose emitted ``actions (..., L)``
        are known, and the state after the clip; the same as :meth:`step` slot by slot, in a
        few vectorised ops (the learner replays whole windows at once)."""
        length = actions.shape[-1]
        idx = torch.arange(length, device=actions.device).expand_as(actions)
        none = torch.full_like(idx, -1)
        last_valid = torch.where(mask, idx, none).cummax(-1).values  # last valid slot <= t
        prev_after = torch.where(
            last_valid >= 0,
            actions.gather(-1, last_valid.clamp_min(0)),
            self.prev.unsqueeze(-1).expand_as(actions),
        )
        prev_before = torch.cat([self.prev.unsqueeze(-1), prev_after[..., :-1]], -1)
        starts = mask & (actions != prev_before)  # a new run begins here
        run_start = torch.where(starts, idx, none).cummax(-1).values
        valid_upto = mask.to(torch.float32).cumsum(-1)  # valid slots in [0, t]
        since_start = valid_upto - valid_upto.gather(-1, run_start.clamp_min(0)) + 1
        run_after = torch.where(run_start >= 0, since_start, self.run.unsqueeze(-1) + valid_upto)
        run_before = torch.cat([self.run.unsqueeze(-1), run_after[..., :-1]], -1)
        end = GateState(prev_after[..., -1], run_after[..., -1])
        return GateState(prev_before, run_before), end


class HoldGate(nn.Module):
    """Hold probability per frame from (max p, p of the previous label, run length, whether the
    arg-max is the previous label). Starts almost closed (h ≈ 0.02): the policy begins as the
    plain per-frame one, and the reward opens the gate where holding pays."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.constant_(self.linear.bias, -4.0)

    def hold_logit(self, probs: Tensor, state: GateState) -> Tensor:
        """Logit of h ``(...)`` for class probabilities ``probs (..., C)`` (:data:`CLOSED` where
        there is no previous label to hold)."""
        probs = probs.detach().float()
        prev = state.prev.clamp_min(0).unsqueeze(-1)
        features = torch.stack(
            [
                probs.amax(-1),
                probs.gather(-1, prev).squeeze(-1),
                torch.log1p(state.run) / math.log1p(RUN_SCALE),
                (probs.argmax(-1) == state.prev).float(),
            ],
            -1,
        )
        logit = self.linear(features).squeeze(-1)
        return torch.where(state.prev >= 0, logit, torch.full_like(logit, CLOSED))

    def act(
        self,
        logits: Tensor,
        state: GateState,
        mask: Tensor,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        offset: float = 0.0,
    ) -> tuple[Tensor, GateState]:
        """Labels ``(..., L)`` for a clip's logits ``(..., L, C)`` and the state after it.

        ``greedy``: the most likely label of π' per frame; otherwise a draw from π'.
        ``offset``: added to every hold logit (> 0 holds more; :func:`tune_gate_offset`).
        The loop over frames runs in numpy on precomputed per-frame quantities (a torch loop of
        tiny ops cost ~20 ms per 64-frame clip); it evaluates :meth:`hold_logit`'s features and
        weights, which the tests pin against :meth:`log_prob_entropy`.
        """
        with torch.no_grad():
            probs = torch.softmax(logits.float(), -1)
            if greedy:
                switch_to = probs.argmax(-1)
                draws = torch.zeros(probs.shape[:-1])
            else:
                flat = probs.reshape(-1, probs.shape[-1])
                switch_to = torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])
                draws = torch.rand(probs.shape[:-1], generator=generator, device=probs.device)
            w = self.linear.weight[0].double().cpu().numpy()
            bias = float(self.linear.bias[0]) + offset
        batch, (length, classes) = probs.shape[:-2], probs.shape[-2:]
        p = probs.reshape(-1, length, classes).cpu().numpy()
        top = p.argmax(-1)
        to = switch_to.reshape(-1, length).cpu().numpy()
        u = draws.reshape(-1, length).cpu().numpy()
        valid = mask.reshape(-1, length).cpu().numpy()
        static = w[0] * p.max(-1) + bias  # (M, L): the part that does not depend on the past
        prev = state.prev.reshape(-1).cpu().numpy().copy()
        run = state.run.reshape(-1).cpu().numpy().astype(np.float64)
        rows = np.arange(len(prev))
        actions = np.empty_like(top)
        for t in range(length):
            p_prev = p[rows, t, np.maximum(prev, 0)]
            logit = (
                static[:, t]
                + w[1] * p_prev
                + w[2] * np.log1p(run) / math.log1p(RUN_SCALE)
                + w[3] * (top[:, t] == prev)
            )
            h = 1.0 / (1.0 + np.exp(-np.clip(logit, -60.0, 60.0)))
            # greedy: hold when π'(previous label) is the largest; else a draw with prob h
            hold = (h + (1 - h) * p_prev >= (1 - h) * p[:, t].max(-1)) if greedy else u[:, t] < h
            action = np.where(hold & (prev >= 0), prev, to[:, t])
            actions[:, t] = action
            ok = valid[:, t]
            run = np.where(ok, np.where(action == prev, run + 1, 1.0), run)
            prev = np.where(ok, action, prev)
        device = logits.device
        after = GateState(
            torch.from_numpy(prev).view(batch).to(device),
            torch.from_numpy(run.astype(np.float32)).view(batch).to(device),
        )
        return torch.from_numpy(actions).view(*batch, length).to(device), after

    def log_prob_entropy(
        self, logits: Tensor, actions: Tensor, start: GateState, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """log π'(actions) and the entropy of π', each ``(..., L)``, for clips whose logits are
        ``(..., L, C)``, emitted ``actions (..., L)`` and gate state ``start`` at the clip start
        (the gate's later inputs follow from the actions)."""
        logp_class = torch.log_softmax(logits.float(), -1)
        probs = logp_class.exp()
        before, _ = start.along(actions, mask)
        a = actions.clamp_min(0)
        logit = self.hold_logit(probs, before)
        log_h = nn.functional.logsigmoid(logit)
        switch = nn.functional.logsigmoid(-logit) + logp_class.gather(-1, a.unsqueeze(-1))[..., 0]
        held = torch.where(a == before.prev, log_h, torch.full_like(log_h, -math.inf))
        h = log_h.exp().unsqueeze(-1)
        onehot = nn.functional.one_hot(before.prev.clamp_min(0), probs.shape[-1]).float()
        mixed = (1 - h) * probs + h * onehot
        entropy = -(mixed * mixed.clamp_min(1e-12).log()).sum(-1)
        return torch.logaddexp(switch, held), entropy

    def hold_ce(
        self, logits: Tensor, actions: Tensor, start: GateState, mask: Tensor, labels: Tensor
    ) -> Tensor:
        """The gate's supervised term: mean binary cross-entropy of the hold probability at the
        frames where exactly one of the two choices is right, holding (the true label of
        ``labels (..., L)`` repeats the previously emitted one) or switching (it is the arg-max
        of the class distribution). Frames where both or neither are right do not depend on the
        decision. The features are detached, so only the gate learns from it."""
        before, _ = start.along(actions, mask)
        probs = torch.softmax(logits.float(), -1)
        logit = self.hold_logit(probs, before)
        hold_right = labels == before.prev
        decisive = mask & (before.prev >= 0) & (hold_right != (labels == probs.argmax(-1)))
        used = decisive.float()
        bce = nn.functional.binary_cross_entropy_with_logits(
            logit, hold_right.float(), reduction="none"
        )
        return (bce * used).sum() / used.sum().clamp_min(1.0)


def greedy_labels(
    gate: HoldGate | None, logits: Tensor, state: GateState, mask: Tensor
) -> tuple[Tensor, GateState]:
    """The greedy labels ``(..., L)`` of a clip: the gate's when the model has one, else the
    arg-max per frame (the state then passes through unchanged)."""
    if gate is None:
        return logits.argmax(-1), state
    return gate.act(logits, state, mask, greedy=True)


def gate_of(weights: dict[str, np.ndarray]) -> HoldGate | None:
    """The :class:`HoldGate` held in a segmenter's weights (its ``hold_gate.*`` entries), or None
    when the model has no gate."""
    prefix = "hold_gate."
    own = {k[len(prefix) :]: torch.as_tensor(v) for k, v in weights.items() if k.startswith(prefix)}
    if not own:
        return None
    gate = HoldGate()
    gate.load_state_dict(own)
    return gate


OFFSETS = (
    -math.inf,
    -2.0,
    -1.0,
    -0.5,
    0.0,
    0.25,
    0.5,
    0.75,
    1.0,
    1.25,
    1.5,
    1.75,
    2.0,
    2.5,
    3.0,
    4.0,
)
"""Hold-logit offsets :func:`tune_gate_offset` tries, ascending; ``-inf`` never holds (the raw
arg-max), 0 is the gate as trained."""


def gate_decode(gate: HoldGate, probs: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """The gate's greedy labels ``(T,)`` over one video's streamed class probabilities
    ``(T, C)`` (what :func:`greedy_labels` emits clip by clip, the gate state carried), with
    ``offset`` added to its hold logit; ``-inf``: the arg-max per frame."""
    probs = np.asarray(probs, np.float32)
    if offset == -math.inf or len(probs) == 0:
        return probs.argmax(-1) if len(probs) else np.zeros(0, np.int64)
    logits = torch.from_numpy(np.log(np.maximum(probs, 1e-30)))[None]
    mask = torch.ones(logits.shape[:2], dtype=torch.bool)
    labels, _ = gate.act(logits, GateState.initial((1,)), mask, greedy=True, offset=offset)
    return labels[0].numpy()


def robust_offset(grid: dict[float, float]) -> float:
    """The offset of ``grid`` (offset -> validation score) whose score is highest **and** stays
    so one step further towards holding: the largest ``min(score(o), score(next larger o))``;
    ties go to the offset nearest 0 (the gate as trained).

    Holding more is not gradual: a gate that learned to hold longer runs more (a positive
    run-length weight) holds a whole video once its offset passes a point, and the best
    validation offset often lies just below that point, where a test video tips over. Guarding
    the step above keeps the chosen offset off that edge (docs/learning.md)."""
    offsets = sorted(grid)
    robust = {
        o: min(grid[o], grid[offsets[i + 1]]) if i + 1 < len(offsets) else grid[o]
        for i, o in enumerate(offsets)
    }
    return min(offsets, key=lambda o: (-robust[o], abs(o), o))


def tune_gate_offset(
    gate: HoldGate,
    score: Callable[[list[np.ndarray]], float],
    val_probs: Sequence[np.ndarray],
    offsets: Sequence[float] = OFFSETS,
) -> tuple[float, dict[float, float]]:
    """The hold-logit offset for the gate chosen on the validation videos' probabilities
    ``(T_s, C)``: each offset of ``offsets`` decodes them greedily, ``score`` (labels per video
    -> one number) rates the decode, and :func:`robust_offset` picks. Returns the offset and
    every offset's score. The learned gate's one calibrated number, as the hand rule's threshold
    and minimum length are tuned on the same videos."""
    grid = {o: score([gate_decode(gate, p, o) for p in val_probs]) for o in offsets}
    return robust_offset(grid), grid
