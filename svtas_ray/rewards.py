"""The reward the segmentation environment pays per clip (DESIGN §4, ``RewardConfig.kind``).

- ``segmental`` (default): potential-based, r_t = Φ(prefix_t) − Φ(prefix_{t−1}), where Φ is
  :func:`potential` of the scores of the video prefix seen so far and Φ(empty prefix) = 0. The
  rewards of an episode telescope, so its return is Φ of the whole video (up to float rounding):
  maximising return maximises the final score, and each clip is credited with how much it moved
  the score of the prefix.
- ``terminal``: 0 for every clip, then Φ(whole video) on the clip passed with ``last=True``.
- ``dice`` / ``dice_upstream``: the SVTAS-RL code's β1**dice + β2 of the clip (see
  :func:`clip_dice`); ``dice`` averages over the classes present in the clip, ``dice_upstream``
  over all classes as upstream does. Upstream (Thinksky5124/SVTAS, ``RLPGSegmentationLoss`` in
  svtas/model/losses/rl_dpg_loss.py) writes ``beta_1 ** dice - beta_2`` with defaults 4 and −1;
  in RewardConfig's sign convention those defaults read dice_beta1 = 4, dice_beta2 = +1.
- ``accuracy``: the clip's frame accuracy in [0, 1].

Masked frames (mask False: padding past the end of a video) are excluded everywhere. A clip with no
unmasked frame pays 0 under ``dice``, ``dice_upstream`` and ``accuracy`` and leaves Φ unchanged;
no reward is ever NaN.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Collection, Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt

from svtas_ray.config import RewardConfig
from svtas_ray.metrics import METRIC_NAMES
from svtas_ray.streaming_scorer import StreamingScorer

logger = logging.getLogger(__name__)

DICE_SMOOTH = 1e-5
"""Added to the numerator and denominator of every class's dice (SVTAS ``RLPGSegmentationLoss``)."""


def potential(scores: Mapping[str, float], cfg: RewardConfig) -> float:
    """Φ = Σ weight × score / 100 over METRIC_NAMES, so Φ ∈ [0, sum of the weights].

    scores: keys METRIC_NAMES, values in [0, 100] (a :meth:`StreamingScorer.scores` dict).
    """
    weights = (cfg.acc_weight, cfg.edit_weight, *cfg.f1_weights)
    return float(sum(w * scores[k] / 100 for w, k in zip(weights, METRIC_NAMES, strict=True)))


def part_of_slots(clip_len: int, parts: int) -> npt.NDArray[np.int64]:
    """``(clip_len,)`` the part (0 … parts − 1) each slot of a clip falls in (``reward.parts``):
    ``parts`` consecutive runs of slots, as equal as whole slots allow."""
    if not 1 <= parts <= clip_len:
        raise ValueError(f"parts must be in [1, clip_len={clip_len}], got {parts}")
    return np.arange(clip_len, dtype=np.int64) * parts // clip_len


def clip_dice(
    pred: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    num_classes: int,
    probs: npt.NDArray[np.floating] | None = None,
    over: Literal["present", "all"] = "present",
) -> float:
    """Mean soft dice of one clip's (unmasked) frames, in [0, 1].

    pred, labels: ``(N,)`` class ids, N ≥ 1; probs: ``(N, C)`` class probabilities, or None to use
    the one-hot of ``pred``. Per class c, as SVTAS ``binary_dice_loss`` (exponent 2)::

        dice_c = (2 Σ_t p_tc y_tc + s) / (Σ_t p_tc² + Σ_t y_tc² + s),  s = DICE_SMOOTH

    ``over="all"`` averages over all C classes as upstream. That mean is biased by the classes
    absent from the clip, which are most of them: with soft probabilities an absent class scores
    ≈ 0 (dragging the mean down), with one-hot predictions a class absent from both sides scores
    exactly 1 (s / s). ``over="present"`` averages over the classes in ``labels`` or ``pred``.
    (Upstream also leaves masked frames in the denominator; here they are dropped beforehand.)
    """
    n = labels.size
    target = np.zeros((n, num_classes))
    target[np.arange(n), labels] = 1.0
    if probs is None:
        soft = np.zeros((n, num_classes))
        soft[np.arange(n), pred] = 1.0
    else:
        soft = np.asarray(probs, dtype=np.float64)
    numerator = 2 * np.sum(soft * target, axis=0) + DICE_SMOOTH
    denominator = np.sum(soft**2, axis=0) + np.sum(target, axis=0) + DICE_SMOOTH
    dice = numerator / denominator
    if over == "all":
        return float(dice.mean())
    present = np.zeros(num_classes, dtype=bool)
    present[labels] = True
    present[pred] = True
    return float(dice[present].mean())


class Reward:
    """The reward of one environment, one video (episode) at a time.

    Holds a :class:`StreamingScorer` (the scorer state), updated by every call whatever the kind,
    so ``reward.scorer.scores()`` always gives the scores of the episode so far.
    """

    def __init__(
        self, cfg: RewardConfig, num_classes: int, background: Collection[int] = ()
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.cfg = cfg
        self.num_classes = num_classes
        self._scorer = StreamingScorer(background)
        self._phi = 0.0

    @property
    def scorer(self) -> StreamingScorer:
        return self._scorer

    def reset(self) -> None:
        """Start a new episode: empty prefix, Φ = 0."""
        self._scorer.reset()
        self._phi = 0.0

    def __call__(
        self,
        pred: npt.ArrayLike,
        labels: npt.ArrayLike,
        mask: npt.ArrayLike | None = None,
        probs: npt.ArrayLike | None = None,
        last: bool = False,
    ) -> float:
        """The reward of one clip.

        pred, labels: ``(L,)`` class ids in [0, C); mask: ``(L,)`` bool, True = real frame;
        probs: ``(L, C)`` class probabilities (only the dice kinds use them); last: this clip
        ends the video.
        """
        p, y = np.asarray(pred), np.asarray(labels)
        keep = np.ones(y.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
        if not p.shape == y.shape == keep.shape or p.ndim != 1:
            raise ValueError(
                f"pred {p.shape}, labels {y.shape} and mask {keep.shape} must be equal (L,) shapes"
            )
        p, y = p[keep], y[keep]
        for name, ids in (("pred", p), ("labels", y)):
            if ids.dtype.kind not in "iu":
                raise ValueError(f"{name} must hold integer class ids, got dtype {ids.dtype}")
            if ids.size and not 0 <= ids.min() <= ids.max() < self.num_classes:
                raise ValueError(f"{name} holds class ids outside [0, {self.num_classes})")
        self._scorer.update(p, y)
        match self.cfg.kind:
            case "segmental":
                phi = self._potential()
                reward, self._phi = phi - self._phi, phi
                return reward
            case "terminal":
                return self._potential() if last else 0.0
            case "dice" | "dice_upstream":
                if y.size == 0:
                    return 0.0
                soft = None if probs is None else self._clip_probs(probs, keep)
                over: Literal["present", "all"] = "present"
                if self.cfg.kind == "dice_upstream":
                    over = "all"
                dice = clip_dice(p, y, self.num_classes, soft, over)
                return float(self.cfg.dice_beta1**dice + self.cfg.dice_beta2)
            case "accuracy":
                return float(np.count_nonzero(p == y) / y.size) if y.size else 0.0
        raise ValueError(f"unknown reward kind {self.cfg.kind!r}")

    def in_parts(
        self,
        pred: npt.ArrayLike,
        labels: npt.ArrayLike,
        part: npt.ArrayLike,
        parts: int,
        last: bool = False,
    ) -> npt.NDArray[np.float64]:
        """The reward of one clip paid as ``parts`` consecutive pieces ``(parts,)``.

        pred, labels: ``(L,)`` class ids of the clip's frames; part: ``(L,)`` the
        non-decreasing part of each frame (a part may hold no frame: it pays 0). The pieces are
        the successive clip rewards of the frames of each part, so under 'segmental' they sum to
        the clip's reward and the episode's pieces telescope to Φ(video) as its rewards do.
        """
        if parts == 1:
            return np.array([self(pred, labels, last=last)])
        p, y, where = np.asarray(pred), np.asarray(labels), np.asarray(part)
        if where.shape != p.shape or (where.size and np.any(np.diff(where) < 0)):
            raise ValueError(f"part must be a non-decreasing {p.shape} array of part indices")
        bounds = np.searchsorted(where, np.arange(parts + 1))
        return np.array(
            [
                self(p[a:b], y[a:b], last=last and i == parts - 1)
                for i, (a, b) in enumerate(itertools.pairwise(bounds))
            ]
        )

    def _potential(self) -> float:
        return potential(self._scorer.scores(), self.cfg) if self._scorer.frames else 0.0

    def _clip_probs(
        self, probs: npt.ArrayLike, keep: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float64]:
        soft = np.asarray(probs, dtype=np.float64)
        if soft.shape != (keep.size, self.num_classes):
            raise ValueError(
                f"probs must have shape {(keep.size, self.num_classes)}, got {soft.shape}"
            )
        return soft[keep]
