"""The incremental streaming scorer: scores of a video's prefix, updated clip by clip.

Same numbers as :func:`svtas_ray.metrics.score_video` on the prefix, at a cost per clip that does
not grow with the prefix (see :class:`StreamingScorer`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from svtas_ray.metrics import (
    THRESHOLDS,
    IntArray,
    VideoScore,
    _as_labels,
    _edit_from_distance,
    _myers_step,
    _triple,
)


class _GrowingLevenshtein:
    """Levenshtein distance of two sequences that only grow at their ends.

    Appending to ``a`` adds a row to the DP table, computed from the last row alone; appending to
    ``b`` adds a column, computed from the last column alone. So only the last row and the last
    column are kept, as Myers difference bit vectors, and each append is one :func:`_myers_step`:
    O(len(other) / 30) word operations on Python ints (a handful of C-level ops for a few thousand
    segments), independent of how many symbols came before in the same sequence.
    """

    def __init__(self) -> None:
        self.len_a = 0
        self.len_b = 0
        self.distance = 0
        self._eq_a: dict[int, int] = {}
        self._eq_b: dict[int, int] = {}
        self._row = (0, 0)  # bit j-1: D[len_a][j] - D[len_a][j-1] is +1 / -1
        self._col = (0, 0)  # bit i-1: D[i][len_b] - D[i-1][len_b] is +1 / -1

    def append_a(self, symbol: int) -> None:
        delta = 1
        if self.len_b:
            delta, *row = _myers_step(self._eq_b.get(symbol, 0), *self._row, self.len_b)
            self._row = (row[0], row[1])
        self._col = _append_bit(self._col, self.len_a, delta)
        self._eq_a[symbol] = self._eq_a.get(symbol, 0) | (1 << self.len_a)
        self.len_a += 1
        self.distance += delta

    def append_b(self, symbol: int) -> None:
        delta = 1
        if self.len_a:
            delta, *col = _myers_step(self._eq_a.get(symbol, 0), *self._col, self.len_a)
            self._col = (col[0], col[1])
        self._row = _append_bit(self._row, self.len_b, delta)
        self._eq_b[symbol] = self._eq_b.get(symbol, 0) | (1 << self.len_b)
        self.len_b += 1
        self.distance += delta


def _append_bit(vector: tuple[int, int], position: int, delta: int) -> tuple[int, int]:
    plus, minus = vector
    if delta > 0:
        return plus | (1 << position), minus
    if delta < 0:
        return plus, minus | (1 << position)
    return plus, minus


@dataclass
class _OpenPred:
    """The open (last) predicted segment ``[start, now)`` and its closed true candidates.

    A closed true segment g overlapping it has IoU ``a / (now − b)`` with fixed ``a`` (intersection)
    and ``b`` (= min of the starts). All but the first such g lie inside, with ``b = start``, so
    their order never changes: only the best inner one and the first one need keeping.
    """

    label: int
    start: int
    first: tuple[int, int, int] | None = None  # (true index, a, b) of one starting before `start`
    inner: tuple[int, int] | None = None  # (true index, a) of the best one inside

    def best_closed(self, end: int) -> tuple[float, int]:
        """(IoU, true index) of the best closed candidate when the segment ends at ``end``."""
        best = (0.0, -1)
        if self.first is not None:
            index, a, b = self.first
            best = (a / (end - b), index)
        if self.inner is not None and self.inner[1] / (end - self.start) > best[0]:
            best = (self.inner[1] / (end - self.start), self.inner[0])
        return best


Claim = tuple[float, int, int]  # (IoU of the best true segment, its index, number of predictions)


class StreamingScorer:
    """Scores of the prefix of one video seen so far, updated clip by clip.

    After every :meth:`update` the result equals :func:`score_video` of the prefix (the
    concatenation of all unmasked frames so far) computed from scratch.

    Cost per clip: O(clip length) numpy work plus O(1) Python work per segment boundary in the
    clip, except for Edit, whose append of a new segment is one bit-parallel DP step over the
    other side's segments, i.e. O(#segments / 30) word operations (a few µs at thousands of
    segments). Memory is O(#segments) bits plus the set of matched true segments.

    Why this works: only the last segment of each side is still open, and segment labels never
    change once they appear, so Edit is a DP over two sequences that only grow. For F1, a closed
    prediction's best match is final once every true segment it overlaps is closed; the only
    open true segment g is the last one, so the provisional predictions are (in order) at most one
    *head* that started before g, a group of *inner* ones lying inside g (whose sole candidate is
    g, with IoU ∝ their length, so only the longest same-label one matters), and the open
    prediction. Everything before them is committed to TP/FP counts once.
    """

    def __init__(self, background: Collection[int] = ()) -> None:
        self._background = frozenset(int(c) for c in background)
        self.reset()

    def reset(self) -> None:
        """Forget the prefix: the next update starts a new video."""
        self.frames = 0
        self.correct = 0
        self._last_pred: int | None = None
        self._last_gt: int | None = None
        self._edit = _GrowingLevenshtein()
        self._num_gt = 0
        self._tp = [0] * len(THRESHOLDS)
        self._fp = [0] * len(THRESHOLDS)
        self._hits: list[set[int]] = [set() for _ in THRESHOLDS]
        self._gt_open: tuple[int, int, int] | None = None  # (index, label, start)
        self._pred_open: _OpenPred | None = None
        self._head: tuple[int, int, int, float, int] | None = None  # label, start, end, iou, index
        self._inner_count = 0
        self._inner_longest = 0  # longest inner prediction with the label of the open true segment

    def update(
        self,
        pred_clip: npt.ArrayLike,
        gt_clip: npt.ArrayLike,
        mask: npt.ArrayLike | None = None,
    ) -> dict[str, float]:
        """Append a clip and return the prefix's scores (keys METRIC_NAMES).

        pred_clip, gt_clip: ``(L,)`` class ids; mask: ``(L,)`` bool, False frames are dropped.
        """
        p, g = _as_labels(pred_clip, "pred_clip"), _as_labels(gt_clip, "gt_clip")
        if p.size != g.size:
            raise ValueError(f"pred_clip has {p.size} frames but gt_clip has {g.size}")
        if mask is not None:
            keep = np.asarray(mask, dtype=bool)
            if keep.shape != p.shape:
                raise ValueError(f"mask has shape {keep.shape}, the clip {p.shape}")
            p, g = p[keep], g[keep]
        if p.size:
            self._append(p, g)
        return self.scores()

    def _append(self, p: IntArray, g: IntArray) -> None:
        gt_events = _boundaries(g, self._last_gt, self.frames)
        pred_events = _boundaries(p, self._last_pred, self.frames)
        gt_events.append((self.frames + g.size, 0))  # sentinel: never reached
        i = 0
        for t, label in pred_events:
            while gt_events[i][0] <= t:  # at equal times the true segment changes first
                self._gt_boundary(*gt_events[i])
                i += 1
            self._pred_boundary(t, label)
        for t, label in gt_events[i:-1]:
            self._gt_boundary(t, label)
        self.frames += int(p.size)
        self.correct += int(np.count_nonzero(p == g))
        self._last_pred, self._last_gt = int(p[-1]), int(g[-1])

    def _gt_boundary(self, t: int, label: int) -> None:
        """The true run that was open closes at ``t`` and one with ``label`` opens."""
        if self._gt_open is not None:
            index, gt_label, start = self._gt_open
            self._commit(self._waiting_claims(t))
            self._head, self._inner_count, self._inner_longest = None, 0, 0
            p = self._pred_open  # it started before t, so it overlaps the closed segment
            if p is not None and p.label == gt_label:
                a = t - max(p.start, start)
                if start < p.start:
                    p.first = (index, a, start)
                elif p.inner is None or a > p.inner[1]:
                    p.inner = (index, a)
            self._gt_open = None
        if label not in self._background:
            self._gt_open = (self._num_gt, label, t)
            self._num_gt += 1
            self._edit.append_b(label)

    def _pred_boundary(self, t: int, label: int) -> None:
        """The predicted run that was open closes at ``t`` and one with ``label`` opens."""
        p = self._pred_open
        if p is not None:
            iou, index = p.best_closed(t)
            if self._gt_open is not None and self._gt_open[2] < t:  # wait for g to close
                _, gt_label, gt_start = self._gt_open
                if p.start < gt_start:
                    self._head = (p.label, p.start, t, iou, index)
                else:
                    self._inner_count += 1
                    if p.label == gt_label:
                        self._inner_longest = max(self._inner_longest, t - p.start)
            else:
                self._commit([(iou, index, 1)])
            self._pred_open = None
        if label not in self._background:
            self._pred_open = _OpenPred(label, t)
            self._edit.append_a(label)

    def _waiting_claims(self, now: int) -> list[Claim]:
        """Claims of the closed predictions that wait for the open true segment to close."""
        claims: list[Claim] = []
        g = self._gt_open
        if self._head is not None and g is not None:
            label, start, end, iou, index = self._head
            if label == g[1] and (end - g[2]) / (now - start) > iou:
                iou, index = (end - g[2]) / (now - start), g[0]
            claims.append((iou, index, 1))
        if self._inner_count and g is not None:
            claims.append((self._inner_longest / (now - g[2]), g[0], self._inner_count))
        return claims

    def _tail_claims(self, now: int) -> list[Claim]:
        """Claims of every uncommitted prediction, if the open segments end at ``now``."""
        claims = self._waiting_claims(now)
        g, p = self._gt_open, self._pred_open
        if p is not None:
            iou, index = p.best_closed(now)
            if g is not None and p.label == g[1]:
                g_iou = (now - max(p.start, g[2])) / (now - min(p.start, g[2]))
                if g_iou > iou:
                    iou, index = g_iou, g[0]
            claims.append((iou, index, 1))
        return claims

    def _commit(self, claims: list[Claim]) -> None:
        """Count final claims once; a true segment they take stays taken."""
        for i, tau in enumerate(THRESHOLDS):
            hits = self._hits[i]
            for iou, index, count in claims:
                if iou >= tau and index not in hits:
                    hits.add(index)
                    self._tp[i] += 1
                    self._fp[i] += count - 1
                else:
                    self._fp[i] += count

    def video_score(self, video: str = "") -> VideoScore:
        """The :class:`VideoScore` of the prefix seen so far."""
        claims = self._tail_claims(self.frames)
        tp, fp = list(self._tp), list(self._fp)
        for i, tau in enumerate(THRESHOLDS):
            tail_tp, tail_fp = _claim_counts(claims, tau, self._hits[i])
            tp[i] += tail_tp
            fp[i] += tail_fp
        edit = self._edit
        return VideoScore(
            video=video,
            frames=self.frames,
            correct=self.correct,
            edit=_edit_from_distance(edit.distance, edit.len_a, edit.len_b),
            tp=_triple(tp),
            fp=_triple(fp),
            fn=_triple([self._num_gt - t for t in tp]),
        )

    def scores(self) -> dict[str, float]:
        """Scores of the prefix seen so far, keys METRIC_NAMES."""
        return self.video_score().metrics()


def _boundaries(x: IntArray, last: int | None, offset: int) -> list[tuple[int, int]]:
    """``[(time, new label)]`` where the run changes in ``x`` (times offset by ``offset``)."""
    change = np.empty(x.size, dtype=bool)
    change[0] = last is None or x[0] != last
    np.not_equal(x[1:], x[:-1], out=change[1:])
    where = np.flatnonzero(change)
    return list(zip((where + offset).tolist(), x[where].tolist(), strict=True))


def _claim_counts(claims: list[Claim], tau: float, hits: set[int]) -> tuple[int, int]:
    """(TP, FP) of provisional claims in prediction order, leaving ``hits`` as it is."""
    tp = fp = 0
    taken: set[int] = set()
    for iou, index, count in claims:
        if iou >= tau and index not in hits and index not in taken:
            tp, fp = tp + 1, fp + count - 1
            taken.add(index)
        else:
            fp += count
    return tp, fp
