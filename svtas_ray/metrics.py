"""Frame accuracy, Edit and F1@{10,25,50}: the MS-TCN ``eval.py`` protocol, plus a streaming scorer.

Definitions (yabufarha/ms-tcn ``eval.py``, itself from colincsl/TemporalConvolutionalNetworks):

- A *segment* is a maximal run of equal labels, end exclusive. Runs whose label is in
  ``background`` are dropped after the split (``get_labels_start_end_time(..., bg_class)``).
- **Acc** = correct / total × 100, pooled over all frames of all videos (background included).
- **Edit** = (1 − Levenshtein(pred segment labels, true segment labels) / max(#pred, #true)) × 100
  per video, averaged over videos.
- **F1@τ**: predicted segments in time order; each is matched to the true segment of highest IoU
  (IoU = 0 when the labels differ; union = max(end) − min(start); ties go to the first true
  segment, as ``argmax`` does). It is a TP when IoU ≥ τ and that true segment is still unused,
  else an FP. FN = unused true segments. TP/FP/FN are summed over videos, then F1 × 100.

Empty cases, where upstream divides by zero or raises, give these finite values instead (never
NaN, never a numpy warning):

- Acc of 0 frames is 0 (and :func:`summarize` of no videos is 0 for every metric).
- Edit is 100 when neither side has a segment, 0 when exactly one side has none.
- A predicted segment is an FP when the video has no true segment (upstream's ``argmax`` of an
  empty list raises).
- F1 is 0 when TP = 0 (upstream's ``nan_to_num``), except 100 when the (pooled) counts hold no
  predicted and no true segment: nothing to find and nothing claimed.

:class:`StreamingScorer` gives the same numbers for the prefix of a video seen so far, clip by clip,
at a cost per clip that does not grow with the prefix but for a word-level term of Edit (see its
docstring).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from svtas_ray.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

THRESHOLDS = (0.10, 0.25, 0.50)
"""IoU thresholds of F1@{10, 25, 50}."""
METRIC_NAMES = ("acc", "edit", "f1@10", "f1@25", "f1@50")
"""Keys of every score dict in the project, in report order."""

IntArray = npt.NDArray[np.int64]
Segments = tuple[IntArray, IntArray, IntArray]
Counts = tuple[int, int, int]


def _as_labels(labels: npt.ArrayLike, name: str = "labels") -> IntArray:
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class ids, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":  # an empty list arrives as float64
        raise ValueError(f"{name} must hold integer class ids, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def segments(labels: npt.ArrayLike, background: Collection[int] = ()) -> Segments:
    """Segments of a frame-wise labelling: ``(seg_labels, starts, ends)``, each ``(S,)`` int64.

    labels: ``(T,)`` class ids. Ends are exclusive; segments are in time order. Background runs are
    dropped after the split, so two action runs around a background run stay two segments.
    """
    x = _as_labels(labels)
    if x.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    cuts = np.flatnonzero(x[1:] != x[:-1]) + 1
    starts = np.concatenate(([0], cuts)).astype(np.int64)
    ends = np.concatenate((cuts, [x.size])).astype(np.int64)
    seg_labels = x[starts]
    if len(background):
        keep = ~np.isin(seg_labels, np.array(list(background), dtype=np.int64))
        seg_labels, starts, ends = seg_labels[keep], starts[keep], ends[keep]
    return seg_labels, starts, ends


# --------------------------------------------------------------------------- Edit


def _myers_step(eq: int, vp: int, vm: int, length: int) -> tuple[int, int, int]:
    """One step of the bit-parallel Levenshtein DP (Myers 1999; Hyyrö 2001, edit-distance form).

    A DP line ``D[0..length]`` is kept as its differences: bit i of ``vp`` / ``vm`` is set when
    ``D[i+1] − D[i]`` is +1 / −1. ``eq`` has bit i set where the line's sequence equals the new
    symbol. Returns ``(D'[length] − D[length], vp', vm')`` for the next line ``D'``, whose first
    cell is one more than ``D[0]`` (global distance, not substring search). ``length`` ≥ 1.
    """
    mask = (1 << length) - 1
    xv = eq | vm
    xh = (((eq & vp) + vp) ^ vp) | eq
    hp = vm | (~(xh | vp) & mask)
    hm = vp & xh
    top = 1 << (length - 1)
    delta = 1 if hp & top else (-1 if hm & top else 0)
    hp = ((hp << 1) | 1) & mask
    hm = (hm << 1) & mask
    return delta, hm | (~(xv | hp) & mask), hp & xv


def _match_masks(seq: IntArray) -> dict[int, int]:
    """``{symbol: int with bit i set where seq[i] == symbol}``."""
    masks = {}
    for symbol in np.unique(seq).tolist():
        bits = np.packbits(seq == symbol, bitorder="little")
        masks[symbol] = int.from_bytes(bits.tobytes(), "little")
    return masks


def levenshtein(a: npt.ArrayLike, b: npt.ArrayLike) -> int:
    """Levenshtein distance of two 1-D int sequences (unit costs), O(len(a)·len(b)/word) time."""
    x, y = _as_labels(a, "a"), _as_labels(b, "b")
    if x.size < y.size:
        x, y = y, x  # the longer one goes into the bit vectors: fewer Python-level steps
    if y.size == 0:
        return int(x.size)
    eq, length = _match_masks(x), int(x.size)
    vp, vm, distance = (1 << length) - 1, 0, length
    for symbol in y.tolist():
        delta, vp, vm = _myers_step(eq.get(symbol, 0), vp, vm, length)
        distance += delta
    return distance


def _edit_from_distance(distance: int, len_pred: int, len_gt: int) -> float:
    longest = max(len_pred, len_gt)
    return 100.0 if longest == 0 else (1 - distance / longest) * 100


def edit_score(pred: npt.ArrayLike, gt: npt.ArrayLike, background: Collection[int] = ()) -> float:
    """Edit score of one video in [0, 100]. pred, gt: ``(T,)`` class ids (lengths may differ)."""
    p, g = segments(pred, background)[0], segments(gt, background)[0]
    return _edit_from_distance(levenshtein(p, g), p.size, g.size)


# --------------------------------------------------------------------------- F1


def _best_matches(pred: Segments, gt: Segments) -> tuple[npt.NDArray[np.float64], IntArray]:
    """Best true segment of each predicted one: ``(iou, index)``, each ``(S_pred,)``.

    Only overlapping same-label pairs can have IoU > 0 and every τ is > 0, so the pairs are found
    with ``searchsorted`` (O(S_pred + S_gt) of them) instead of a dense IoU matrix. Index is −1 and
    IoU 0 when no true segment of the same label overlaps.
    """
    p_lab, p_st, p_en = pred
    g_lab, g_st, g_en = gt
    best_iou = np.zeros(p_lab.size)
    best_idx = np.full(p_lab.size, -1, np.int64)
    if p_lab.size == 0 or g_lab.size == 0:
        return best_iou, best_idx
    lo = np.searchsorted(g_en, p_st, side="right")  # first true segment ending after the start
    hi = np.searchsorted(g_st, p_en, side="left")  # first true segment starting at/after the end
    count = hi - lo
    pj = np.repeat(np.arange(p_lab.size), count)
    gk = np.arange(pj.size) - np.repeat(np.cumsum(count) - count - lo, count)
    same = p_lab[pj] == g_lab[gk]
    pj, gk = pj[same], gk[same]
    if pj.size == 0:
        return best_iou, best_idx
    inter = np.minimum(p_en[pj], g_en[gk]) - np.maximum(p_st[pj], g_st[gk])
    union = np.maximum(p_en[pj], g_en[gk]) - np.minimum(p_st[pj], g_st[gk])
    iou = inter / union
    order = np.lexsort((gk, -iou, pj))  # per prediction: highest IoU, then first true segment
    pj, gk, iou = pj[order], gk[order], iou[order]
    first = np.flatnonzero(np.concatenate(([True], pj[1:] != pj[:-1])))
    best_iou[pj[first]] = iou[first]
    best_idx[pj[first]] = gk[first]
    return best_iou, best_idx


def _greedy_counts(
    best_iou: npt.NDArray[np.float64], best_idx: IntArray, num_gt: int, threshold: float
) -> Counts:
    """TP/FP/FN of upstream's greedy loop: a TP is the first qualifying claim of a true segment."""
    claims = best_idx[best_iou >= threshold]
    tp = int(np.unique(claims).size)
    return tp, int(best_idx.size) - tp, num_gt - tp


def _check_threshold(threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise ValueError(f"IoU threshold must be in (0, 1], got {threshold}")


def f1_counts(
    pred: npt.ArrayLike, gt: npt.ArrayLike, threshold: float, background: Collection[int] = ()
) -> Counts:
    """``(tp, fp, fn)`` of one video at IoU ``threshold`` in (0, 1]. pred, gt: ``(T,)`` ids."""
    _check_threshold(threshold)
    p, g = segments(pred, background), segments(gt, background)
    return _greedy_counts(*_best_matches(p, g), g[0].size, threshold)


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    """F1 × 100 from counts; 0 when tp = 0, 100 when there is nothing at all (tp = fp = fn = 0)."""
    if tp + fp + fn == 0:
        return 100.0
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2.0 * (precision * recall) / (precision + recall) * 100  # upstream's order of ops


# --------------------------------------------------------------------------- per video, summary


@dataclass(frozen=True)
class VideoScore:
    """The additive statistics of one video, from which every reported number is computed."""

    video: str
    """Video name (may be empty)."""
    frames: int
    """Number of scored frames."""
    correct: int
    """Frames whose predicted label equals the true one."""
    edit: float
    """Edit score in [0, 100]."""
    tp: Counts
    """True positives at each of THRESHOLDS."""
    fp: Counts
    """False positives at each of THRESHOLDS."""
    fn: Counts
    """False negatives at each of THRESHOLDS."""

    def metrics(self) -> dict[str, float]:
        """This video's own scores, keys METRIC_NAMES (F1 from its own counts)."""
        acc = 100 * self.correct / self.frames if self.frames else 0.0
        f1 = [f1_from_counts(*c) for c in zip(self.tp, self.fp, self.fn, strict=True)]
        return dict(zip(METRIC_NAMES, (acc, self.edit, *f1), strict=True))

    def as_row(self) -> dict[str, Any]:
        """One table row: video, frames, the METRIC_NAMES values and the TP/FP/FN counts."""
        row: dict[str, Any] = {"video": self.video, "frames": self.frames, **self.metrics()}
        for i, tau in enumerate(THRESHOLDS):
            k = round(tau * 100)
            row.update({f"tp@{k}": self.tp[i], f"fp@{k}": self.fp[i], f"fn@{k}": self.fn[i]})
        return row


def score_video(
    pred: npt.ArrayLike, gt: npt.ArrayLike, background: Collection[int] = (), video: str = ""
) -> VideoScore:
    """Score one video. pred, gt: ``(T,)`` class ids; a length mismatch raises a DataError."""
    p, g = _as_labels(pred, "pred"), _as_labels(gt, "gt")
    if p.size != g.size:
        raise DataError(
            f"video {video!r}: the prediction has {p.size} frames, the ground truth {g.size}"
        )
    p_seg, g_seg = segments(p, background), segments(g, background)
    best_iou, best_idx = _best_matches(p_seg, g_seg)
    counts = [_greedy_counts(best_iou, best_idx, g_seg[0].size, tau) for tau in THRESHOLDS]
    distance = levenshtein(p_seg[0], g_seg[0])
    return VideoScore(
        video=video,
        frames=int(p.size),
        correct=int(np.count_nonzero(p == g)),
        edit=_edit_from_distance(distance, p_seg[0].size, g_seg[0].size),
        tp=_triple([c[0] for c in counts]),
        fp=_triple([c[1] for c in counts]),
        fn=_triple([c[2] for c in counts]),
    )


def _triple(values: Sequence[int]) -> Counts:
    first, second, third = values
    return first, second, third


def summarize(scores: Sequence[VideoScore]) -> dict[str, float]:
    """Dataset scores, keys METRIC_NAMES: pooled Acc, mean Edit, pooled F1 (all 0 for no videos)."""
    if not scores:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    frames = sum(s.frames for s in scores)
    acc = 100 * sum(s.correct for s in scores) / frames if frames else 0.0
    edit_total = 0.0
    for s in scores:  # sequential float sum, as upstream (Python >= 3.12 sum() compensates)
        edit_total += s.edit
    f1 = []
    for i in range(len(THRESHOLDS)):
        tp = sum(s.tp[i] for s in scores)
        fp = sum(s.fp[i] for s in scores)
        fn = sum(s.fn[i] for s in scores)
        f1.append(f1_from_counts(tp, fp, fn))
    return dict(zip(METRIC_NAMES, (acc, edit_total / len(scores), *f1), strict=True))


def per_video_table(scores: Sequence[VideoScore]) -> pd.DataFrame:
    """One row per video (:meth:`VideoScore.as_row`); the pooled row is :func:`summarize`."""
    import pandas as pd

    columns = list(VideoScore("", 0, 0, 100.0, (0, 0, 0), (0, 0, 0), (0, 0, 0)).as_row())
    return pd.DataFrame([s.as_row() for s in scores], columns=columns)


def score_videos(
    preds: Mapping[str, npt.ArrayLike],
    gts: Mapping[str, npt.ArrayLike],
    background: Collection[int] = (),
) -> tuple[dict[str, float], list[VideoScore]]:
    """Score the videos of ``gts`` (in its order); ``preds`` must have exactly the same videos."""
    missing = [v for v in gts if v not in preds]
    extra = [v for v in preds if v not in gts]
    if missing or extra:
        raise DataError(
            f"predictions and ground truth name different videos: no prediction for {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, no ground truth for {extra[:5]}"
            f"{' ...' if len(extra) > 5 else ''}"
        )
    scores = [score_video(preds[v], gts[v], background, video=v) for v in gts]
    summary = summarize(scores)
    logger.debug("scored %d videos: %s", len(scores), summary)
    return summary, scores


# --------------------------------------------------------------------------- streaming


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
