"""The causal post-processing stage a run tuned on its validation videos, applied after training:
clip by clip (``svtas-ray stream``) or to whole streamed videos (``svtas-ray eval``).

The stages are the rows the run reports for the same weights:

- ``raw``: the policy's greedy labels, i.e. the learned hold gate as trained when the model has
  one, else the arg-max per frame (``test_best``);
- ``hold``: the OnlineTAS hold rule, after its causal moving average, with the θ, ℓ_min and
  window the run chose (``meta.json``: ``hold_rule``; ``test_best_hold``);
- ``gate``: the learned hold gate with the hold-logit offset the run chose (``meta.json``:
  ``hold_gate``; ``test_best_gate``).

All three are causal: a slot's label reads nothing after its clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from svtas_ray.errors import ConfigError
from svtas_ray.models.hold_gate import GateState, HoldGate, gate_decode
from svtas_ray.models.postprocess import (
    POST_STAGES,
    CausalMovingAverage,
    HoldRule,
    HoldSettings,
    post_process,
)

_META_KEY = {"hold": "hold_rule", "gate": "hold_gate"}


def _number(value: object, name: str) -> float:
    """A JSON number (or a string of one, as ``'-inf'`` offsets are written), never a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def _count(value: object, name: str) -> int:
    """A JSON whole number (``3`` or ``3.0``), never a bool or a fraction."""
    number = _number(value, name)
    if not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(number)


@dataclass(frozen=True)
class PostStage:
    """One of :data:`POST_STAGES` with the settings the run tuned for it."""

    kind: str = "raw"
    hold: HoldSettings | None = None
    """The hold rule's settings (``kind == 'hold'``)."""
    offset: float = 0.0
    """Added to the gate's hold logit (``kind == 'gate'``)."""

    @classmethod
    def of_run(cls, kind: str | None, meta: dict[str, Any], where: str) -> PostStage:
        """The stage ``kind`` with the settings in a run's ``meta`` (its ``meta.json``, read
        from ``where``). ``None``: the learned gate when the run tuned one, else the hold rule
        when it tuned one, else ``raw`` (over 8 benchmark datasets and splits x 2 objectives x 3
        seeds, the tuned gate beat the tuned rule by +0.4 Edit and +1.4 F1@50 on average;
        docs/learning.md)."""
        if kind is None:
            kind = next((k for k in ("gate", "hold") if _META_KEY[k] in meta), "raw")
        if kind not in POST_STAGES:
            raise ConfigError(f"post-processing must be one of {POST_STAGES}, got {kind!r}")
        if kind == "raw":
            return cls()
        key = _META_KEY[kind]
        tuned = meta.get(key)
        if tuned is None:
            raise ConfigError(
                f"{where}: the run tuned no {'hold rule' if kind == 'hold' else 'hold gate'} "
                f"(no '{key}' entry; runs without validation videos or without "
                "model.hold_gate have none), so choose another --post stage"
            )
        try:
            if not isinstance(tuned, dict):
                raise TypeError(f"a JSON object is expected, got {type(tuned).__name__}")
            if kind == "gate":
                offset = _number(tuned["offset"], "offset")
                if math.isnan(offset):
                    raise ValueError("offset is NaN")
                return cls("gate", offset=offset)
            settings = HoldSettings(  # sigma only records where min_len came from
                _number(tuned["theta"], "theta"),
                _number(tuned.get("sigma", math.nan), "sigma"),
                _count(tuned["min_len"], "min_len"),
                _count(tuned.get("window", 1), "window"),
            )
        except KeyError as exc:
            raise ConfigError(f"{where}: the '{key}' entry has no {exc} field") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConfigError(f"{where}: the '{key}' entry is malformed: {exc}") from None
        return cls("hold", hold=settings)

    def check_model(self, gate: HoldGate | None, where: str) -> None:
        """Raise ConfigError when this stage needs a gate and the model (``where``) has none."""
        if self.kind == "gate" and gate is None:
            raise ConfigError(
                f"{where}: the model has no hold gate (model.hold_gate), so the 'gate' "
                "post-processing cannot apply; choose --post hold or raw"
            )

    def describe(self) -> str:
        """One line for the user: which stage, with which settings."""
        if self.hold is not None:
            h = self.hold
            smooth = f", moving average over {h.window} slots" if h.window > 1 else ""
            return (
                f"post-processing: the hold rule tuned on the run's validation videos (theta "
                f"{h.theta:g}, minimum run {h.min_len} slots{smooth})"
            )
        if self.kind == "gate":
            return (
                "post-processing: the learned hold gate with the offset tuned on the run's "
                f"validation videos ({self.offset:g})"
            )
        return "post-processing: none (the policy's greedy labels)"

    def decode(self, probs: np.ndarray, gate: HoldGate | None) -> np.ndarray:
        """Labels ``(T_s,)`` of one whole streamed video's class probabilities ``(T_s, C)``
        (what :func:`svtas_ray.evaluate.stream_videos` stores); ``gate``: the model's."""
        p = np.asarray(probs, np.float32)
        if self.hold is not None:
            return post_process(p, self.hold)
        if gate is None:
            self.check_model(gate, "the model")
            return p.argmax(-1)
        return gate_decode(gate, p, self.offset)


class StreamPost:
    """:class:`PostStage` clip by clip over one video: ``__call__(logits (1, L, C), mask (1, L))
    -> labels (L,)`` (padded slots: 0), the state carried between calls. Equals
    :meth:`PostStage.decode` over the whole video's probabilities (tested)."""

    def __init__(self, stage: PostStage, gate: HoldGate | None) -> None:
        stage.check_model(gate, "the model")
        self.stage = stage
        self.gate = gate
        self.gate_state = GateState.initial((1,))
        hold = stage.hold
        self.average = CausalMovingAverage(hold.window) if hold is not None else None
        self.rule = HoldRule(hold.theta, hold.min_len) if hold is not None else None

    def __call__(self, logits: Tensor, mask: Tensor) -> np.ndarray:
        if self.rule is not None and self.average is not None:
            probs = torch.softmax(logits[0].float(), -1).cpu().numpy()
            valid = mask[0].cpu().numpy()
            labels = np.zeros(len(valid), np.int64)
            labels[valid] = self.rule(self.average(probs[valid]))
            return labels
        if self.gate is None:
            return logits[0].argmax(-1).cpu().numpy()
        chosen, self.gate_state = self.gate.act(
            logits, self.gate_state, mask, greedy=True, offset=self.stage.offset
        )
        return chosen[0].cpu().numpy()
