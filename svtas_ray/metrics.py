"""Frame accuracy, Edit and F1@{10,25,50}: the MS-TCN ``eval.py`` protocol.

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

:class:`svtas_ray.streaming_scorer.StreamingScorer` gives the same numbers for the prefix of a
video seen so far, clip by clip, at a cost per clip that does not grow with the prefix.
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
