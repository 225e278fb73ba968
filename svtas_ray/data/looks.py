"""How synthetic classes look: shared by the feature generator and the video renderer.

:mod:`svtas_ray.data.synthetic` draws features from these looks and
:mod:`svtas_ray.data.render` draws frames from them; both import this module, not each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class ClassLooks:
    """How classes look, shared by the features and the rendered videos.

    ``centre`` ``(C,)``: the class whose prototype (or visual pattern) each class starts from;
    ``jitter`` ``(C,)``: whether it deviates from it a little (confusable) rather than not at all
    (order-only). Segments of the ``filler`` class look ``filler_blend`` like a random other class
    (unannotated activity between actions, as in EGTEA).
    """

    centre: np.ndarray
    jitter: np.ndarray
    filler: int | None = None
    filler_blend: float = 0.0

    @classmethod
    def of(
        cls,
        classes: Sequence[str],
        confusable: Sequence[Sequence[str]],
        order_only: Sequence[Sequence[str]],
        identical: bool = True,
        filler: str | None = None,
        filler_blend: float = 0.0,
    ) -> ClassLooks:
        """Looks from names; with ``identical`` False, order-only groups are merely confusable."""
        index = {n: i for i, n in enumerate(classes)}
        centre = np.arange(len(classes))
        jitter = np.zeros(len(classes), dtype=bool)
        groups = [(g, True) for g in confusable] + [(g, not identical) for g in order_only]
        for group, jit in groups:
            ids = [index[n] for n in group if n in index]
            if ids:
                centre[ids] = ids[0]
                jitter[ids] = jit
        return cls(centre, jitter, index.get(filler or ""), filler_blend)

    @property
    def num_classes(self) -> int:
        return len(self.centre)

    def weights(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per-frame class mixture ``(T, C)`` float32: one-hot, except in filler segments."""
        out = np.eye(self.num_classes, dtype=np.float32)[labels]
        if self.filler is None or self.filler_blend == 0 or self.num_classes < 2:
            return out
        seg_id = np.concatenate([[0], np.cumsum(labels[1:] != labels[:-1])])
        others = np.delete(np.arange(self.num_classes), self.filler)
        pick = rng.choice(others, size=int(seg_id[-1]) + 1)[seg_id]
        rows = np.flatnonzero(labels == self.filler)
        out[rows, self.filler] = 1.0 - self.filler_blend
        out[rows, pick[rows]] = self.filler_blend
        return out


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of ``x`` ``(T, D)`` over ``width`` frames (edges: shorter windows)."""
    if width <= 1:
        return x
    c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    t = np.arange(len(x))
    lo = np.clip(t - width // 2, 0, len(x))
    hi = np.clip(t - width // 2 + width, 0, len(x))
    return (c[hi] - c[lo]) / (hi - lo)[:, None]
