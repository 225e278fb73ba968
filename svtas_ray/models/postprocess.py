"""Causal post-processing of a stream of per-frame class probabilities ``(T, C)``.

Frame-wise predictions flicker (over-segmentation), which costs Edit and F1 far more than
accuracy. Two causal remedies, each a streaming object fed clip by clip whose output equals one
pass over the whole sequence (tested), and each reading nothing after the current frame:

- :class:`CausalMovingAverage`: the mean of the scores of the last ``window`` frames.
- :class:`HoldRule`: OnlineTAS's post-processing (Zhong, Ding & Yao, NeurIPS 2024, §3.4): keep the
  previous label while the top probability is below ``theta`` **and** the held run is shorter
  than ``min_len``; otherwise emit the arg-max. ``min_len = sigma × (longest training video)``,
  in frames of the stream the rule runs on.

:func:`tune_hold_rule` picks ``theta`` and ``sigma`` on validation videos from a small grid by
the mean of Acc, Edit and F1@{10,25,50} (:func:`selection_score`); the grid holds ``theta = 0``
(the rule off), so tuning never does worse on validation than the raw arg-max. It can also tune a
moving average before the rule (``windows``; :func:`post_process` applies both). That is not in
the default grid: re-scoring 90 finished runs on six datasets with the windows of
:data:`WINDOWS` tuned alongside (``benchmarks/smoothing_stage.py``) moved test Edit by -0.3 to
+7.5 and F1@50 by -1.6 to +0.2 per dataset, so the stage stays the rule alone
(docs/learning.md).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from svtas_ray.metrics import METRIC_NAMES, score_video, summarize

THETAS = (0.0, 0.3, 0.5, 0.7, 0.9)
"""Default confidence thresholds of the hold rule (0: off)."""
SIGMAS = (0.002, 0.005, 0.01, 0.02, 0.04, 0.08)
"""Default minimum-length fractions of the longest training video."""
WINDOWS = (1, 4, 16, 64)
"""Moving-average windows (frames of the stream; 1: none) that benchmarks/smoothing_stage.py
tunes before the rule; the default grid has only 1."""
POST_STAGES = ("raw", "hold", "gate")
"""The post-processing stages a trained run offers (:mod:`svtas_ray.models.post_stage`): the
policy's greedy labels, the hold rule and the learned hold gate, as its ``test_best``,
``+hold`` and ``+gate`` rows."""


def selection_score(scores: dict[str, float]) -> float:
    """Mean of Acc, Edit and F1@{10,25,50}: one number to select post-processing settings by."""
    return float(np.mean([scores[name] for name in METRIC_NAMES]))


def causal_moving_average(scores: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``scores (T, C)`` over frames ``[t - window + 1, t]`` (fewer at the start)."""
    return CausalMovingAverage(window)(scores)


class CausalMovingAverage:
    """Streaming causal moving average of scores ``(n, C)`` per call over ``window`` frames.

    State: the last ``window - 1`` rows (zeros before the first frame) and the frames seen. Each
    output sums exactly the same ``window`` rows in the same order however the stream is cut, so
    clip-by-clip output is bit-identical to one pass.
    """

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"moving-average window must be >= 1, got {window}")
        self.window = window
        self.reset()

    def reset(self) -> None:
        self._tail: np.ndarray | None = None
        self._seen = 0

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        x = np.asarray(scores, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"scores must be (n, C), got shape {x.shape}")
        if self.window == 1:
            return x.astype(np.float32)
        tail = self._tail if self._tail is not None else np.zeros((self.window - 1, x.shape[1]))
        full = np.concatenate([tail, x])  # zero rows before the first frame add exactly nothing
        sums = np.lib.stride_tricks.sliding_window_view(full, self.window, axis=0).sum(axis=-1)
        count = np.minimum(self._seen + np.arange(1, len(x) + 1), self.window)
        self._tail = full[len(full) - (self.window - 1) :]
        self._seen += len(x)
        return (sums / count[:, None]).astype(np.float32)


@dataclass(frozen=True)
class HoldSettings:
    """``theta``: confidence below which a switch may be held back; ``sigma``: min-length fraction
    of the longest training video; ``min_len``: that length in frames of the stream; ``window``:
    the causal moving average applied to the probabilities before the rule (1: none)."""

    theta: float
    sigma: float
    min_len: int
    window: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.theta <= 1.0:  # NaN fails too
            raise ValueError(f"theta must be a probability in [0, 1], got {self.theta}")
        if not (_whole(self.min_len) and self.min_len >= 0):
            raise ValueError(f"min_len must be a whole number >= 0, got {self.min_len!r}")
        if not (_whole(self.window) and 1 <= self.window <= MAX_WINDOW):
            raise ValueError(
                f"window must be a whole number in 1..{MAX_WINDOW}, got {self.window!r}"
            )


MAX_WINDOW = 100_000
"""The longest moving average a setting may ask for (slots): it keeps ``window - 1`` rows."""


def _whole(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class HoldRule:
    """Streaming OnlineTAS hold rule over probabilities ``(n, C)`` per call -> labels ``(n,)``.

    Frame t emits ``prev`` when ``max p_t < theta`` and the run of ``prev`` so far is shorter than
    ``min_len``; otherwise ``argmax p_t``. The first frame of a video always emits the arg-max.
    State: the last label and its run length.
    """

    def __init__(self, theta: float, min_len: int) -> None:
        if min_len < 0:
            raise ValueError(f"hold rule min_len must be >= 0, got {min_len}")
        self.theta = float(theta)
        self.min_len = int(min_len)
        self.reset()

    def reset(self) -> None:
        self._label = -1
        self._run = 0

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        p = np.asarray(probs)
        if p.ndim != 2:
            raise ValueError(f"probabilities must be (n, C), got shape {p.shape}")
        top = p.argmax(axis=1)
        if self.theta <= 0 or self.min_len == 0:  # never holds: the arg-max
            self._advance(top)
            return top.astype(np.int64)
        confident = (p.max(axis=1) >= self.theta).tolist()
        out = np.empty(len(top), dtype=np.int64)
        label, run, min_len = self._label, self._run, self.min_len
        for t, (arg, sure) in enumerate(zip(top.tolist(), confident, strict=True)):
            if (label < 0 or sure or run >= min_len) and arg != label:
                label, run = arg, 0  # a switch (else: keep the label, or hold it back)
            run += 1
            out[t] = label
        self._label, self._run = label, run
        return out

    def _advance(self, labels: np.ndarray) -> None:
        """State after emitting ``labels`` (the run of the last label, counted across calls)."""
        if labels.size == 0:
            return
        last = int(labels[-1])
        changes = np.flatnonzero(labels != last)
        run = labels.size - (int(changes[-1]) + 1 if changes.size else 0)
        self._run = run + (self._run if not changes.size and last == self._label else 0)
        self._label = last


def hold_rule(probs: np.ndarray, theta: float, min_len: int) -> np.ndarray:
    """Labels ``(T,)`` of :class:`HoldRule` over a whole sequence of probabilities ``(T, C)``."""
    return HoldRule(theta, min_len)(probs)


def post_process(probs: np.ndarray, settings: HoldSettings) -> np.ndarray:
    """Labels ``(T,)`` of the post-processing stage over probabilities ``(T, C)``: the moving
    average of ``settings.window`` frames, then the hold rule (both causal)."""
    return hold_rule(
        causal_moving_average(probs, settings.window), settings.theta, settings.min_len
    )


def min_len_of(sigma: float, longest: int, sample_rate: int = 1) -> int:
    """``sigma × longest`` raw frames in frames of a stream sampled every ``sample_rate``."""
    return max(0, round(sigma * longest / sample_rate))


def expand(slot_labels: np.ndarray, num_frames: int, sample_rate: int) -> np.ndarray:
    """Labels of every ``sample_rate``-th frame back to ``num_frames`` raw frames."""
    return np.asarray(slot_labels)[np.arange(num_frames) // sample_rate]


@dataclass(frozen=True)
class HoldChoice:
    """The grid point chosen on validation, its selection score, and every point's score."""

    settings: HoldSettings
    score: float
    grid: dict[tuple[int, float, float], float]
    """``(window, theta, sigma)`` -> selection score on the validation videos."""


def tune_hold_rule(
    val_probs: Sequence[np.ndarray],
    val_labels: Sequence[np.ndarray],
    longest: int,
    background: Collection[int] = (),
    sample_rate: int = 1,
    thetas: Sequence[float] = THETAS,
    sigmas: Sequence[float] = SIGMAS,
    tie_probs: Sequence[np.ndarray] | None = None,
    windows: Sequence[int] = (1,),
) -> HoldChoice:
    """Pick ``(window, theta, sigma)`` maximising :func:`selection_score` on validation videos.

    Args:
        val_probs: per video ``(T_s, C)`` probabilities of every ``sample_rate``-th frame.
        val_labels: per video ``(T,)`` true labels of every raw frame.
        longest: frames of the longest training video (raw frames).
        background: class ids dropped by Edit and F1.
        tie_probs: per video ``(T_s, C)`` probabilities of the same videos from another model
            (e.g. the run's last weights), consulted only to break ties between grid points.
        windows: moving-average windows to try before the rule (``(1,)``, the default: the
            rule alone).

    A model that is perfect on its validation videos (a checkpoint selected for being so) ties
    every setting that does not hurt it; ``tie_probs`` then chooses among the tied points.
    Remaining ties go to the first grid point (the first window with ``theta = 0``: with
    windows starting at 1, the raw arg-max comes first).
    """
    if len(val_probs) != len(val_labels) or not val_probs:
        raise ValueError("tune_hold_rule needs as many probability arrays as label arrays (> 0)")
    if tie_probs is not None and len(tie_probs) != len(val_probs):
        raise ValueError("tune_hold_rule needs tie_probs for the same videos as val_probs")
    if not windows or min(windows) < 1:
        raise ValueError(f"tune_hold_rule needs moving-average windows >= 1, got {windows}")
    rule = [(t, s) for t in thetas for s in (sigmas if t > 0 else sigmas[:1])]  # theta 0: off
    points = [(w, t, s) for w in windows for t, s in rule]
    grid = _grid_scores(points, val_probs, val_labels, longest, background, sample_rate)
    top = max(grid.values())
    tied = [point for point in points if grid[point] == top]
    if len(tied) > 1 and tie_probs is not None:
        second = _grid_scores(tied, tie_probs, val_labels, longest, background, sample_rate)
        tied = [max(tied, key=second.__getitem__)]  # the first of the second opinion's best
    window, theta, sigma = tied[0]
    settings = HoldSettings(theta, sigma, min_len_of(sigma, longest, sample_rate), window)
    return HoldChoice(settings, top, grid)


def _grid_scores(
    points: Sequence[tuple[int, float, float]],
    probs: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    longest: int,
    background: Collection[int],
    sample_rate: int,
) -> dict[tuple[int, float, float], float]:
    """:func:`selection_score` of the stage at every ``(window, theta, sigma)`` over the videos."""
    grid = {}
    smoothed: dict[int, list[np.ndarray]] = {}
    for window, theta, sigma in points:
        if window not in smoothed:
            smoothed[window] = [causal_moving_average(p, window) for p in probs]
        min_len = min_len_of(sigma, longest, sample_rate)
        scores = [
            score_video(expand(hold_rule(p, theta, min_len), len(y), sample_rate), y, background)
            for p, y in zip(smoothed[window], labels, strict=True)
        ]
        grid[(window, theta, sigma)] = selection_score(summarize(scores))
    return grid
