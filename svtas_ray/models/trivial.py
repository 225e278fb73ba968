"""Trivial causal baselines that every results table carries: a model that does not beat them is
not trained.

- :class:`NearestClassMean`: each frame goes to the class whose training mean is nearest. Logits
  are ``-||x - mu_c||^2 / (2 s^2)`` with ``s^2`` the pooled within-class variance per dimension:
  the log-posterior of Gaussian classes with one shared isotropic variance and equal priors, so
  the softmax is a (rough) probability the hold rule can threshold.
- :class:`LinearClassifier`: softmax regression fitted by full-batch L-BFGS (a few hundred
  steps at most). Chosen over closed-form ridge on one-hot targets because its outputs are
  probabilities (what the moving average and the hold rule's threshold act on) and its loss is
  the one the segmenters train with; the problem is convex, so L-BFGS needs no tuning.

Both are fitted on standardised training features (:class:`~svtas_ray.data.normalization.
FeatureStats`) in bounded memory: class means accumulate block by block, and the linear model
sees at most ``max_fit_frames`` evenly strided training frames. :func:`evaluate_trivial` scores
each on test videos raw, with a causal moving average, and with the hold rule tuned on
validation videos (:mod:`svtas_ray.models.postprocess`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from svtas_ray.data.features import Alignment, FeatureSource
from svtas_ray.data.layout import Dataset
from svtas_ray.data.normalization import FeatureStats, iter_feature_blocks
from svtas_ray.metrics import score_video, score_videos, summarize
from svtas_ray.models.postprocess import (
    CausalMovingAverage,
    HoldRule,
    HoldSettings,
    expand,
    selection_score,
    tune_hold_rule,
)

_UNSEEN = -1e30  # logit of a class with no training frame: never predicted, softmax-safe


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(n, C)`` in float64 -> float32."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class NearestClassMean:
    """Class means ``(C, D)``, pooled within-class variance ``var`` and which classes were seen."""

    means: np.ndarray
    var: float
    seen: np.ndarray

    @classmethod
    def fit(
        cls, blocks: Iterable[tuple[np.ndarray, np.ndarray]], num_classes: int
    ) -> NearestClassMean:
        """From ``(x (n, D), y (n,))`` blocks; sums are float64 and never hold more than a block."""
        sums: np.ndarray | None = None
        counts = np.zeros(num_classes)
        squares = 0.0
        for x, y in blocks:
            x64 = np.asarray(x, dtype=np.float64)
            onehot = np.eye(num_classes)[np.asarray(y)]
            part = onehot.T @ x64
            sums = part if sums is None else sums + part
            counts += onehot.sum(axis=0)
            squares += float((x64**2).sum())
        if sums is None or counts.sum() == 0:
            raise ValueError("nearest class mean needs at least one training frame")
        seen = counts > 0
        means = np.where(seen[:, None], sums / np.maximum(counts, 1)[:, None], 0.0)
        total, dim = counts.sum(), sums.shape[1]
        within = squares - float((counts[:, None] * means**2).sum())  # sum of ||x - mu_y||^2
        var = max(within / (total * dim), 1e-12)
        return cls(means.astype(np.float32), var, seen)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """``(n, D)`` -> ``(n, C)``: minus squared distance over twice the variance."""
        x64 = np.asarray(x, dtype=np.float64)
        means = self.means.astype(np.float64)
        dist = (x64**2).sum(1)[:, None] - 2 * x64 @ means.T + (means**2).sum(1)[None, :]
        return np.where(self.seen[None, :], -dist / (2 * self.var), _UNSEEN)

    def probs(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x))


@dataclass(frozen=True, eq=False)
class LinearClassifier:
    """Softmax regression: ``logits = x @ weight.T + bias`` with ``weight (C, D)``."""

    weight: np.ndarray
    bias: np.ndarray

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        num_classes: int,
        steps: int = 200,
        weight_decay: float = 1e-4,
    ) -> LinearClassifier:
        """Full-batch L-BFGS on mean cross-entropy + ``weight_decay/2 ||W||^2`` (deterministic).

        ``x (N, D)`` standardised features, ``y (N,)`` class ids. Classes absent from ``y`` end
        with a strongly negative bias and are never predicted.
        """
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
        yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
        weight = torch.zeros(num_classes, xt.shape[1], requires_grad=True)
        bias = torch.zeros(num_classes, requires_grad=True)
        opt = torch.optim.LBFGS(
            [weight, bias], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(xt @ weight.T + bias, yt)
            loss = loss + 0.5 * weight_decay * (weight**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return cls(weight.detach().numpy().copy(), bias.detach().numpy().copy())

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32) @ self.weight.T + self.bias

    def probs(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x).astype(np.float64))


TrivialModel = NearestClassMean | LinearClassifier


# --------------------------------------------------------------------------- data


def video_blocks(
    ds: Dataset,
    video: str,
    stats: FeatureStats,
    sample_rate: int = 1,
    alignment: Alignment = "strict",
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Standardised features ``(n, D)`` and labels ``(n,)`` of every ``sample_rate``-th frame."""
    labels = ds.labels(video)
    source = FeatureSource(ds.feature_path(video), len(labels), alignment)
    sampled = labels[::sample_rate]
    start = 0
    for block in iter_feature_blocks(source, sample_rate):
        yield stats.apply(block), sampled[start : start + len(block)]
        start += len(block)


def strided_frames(
    ds: Dataset,
    videos: Sequence[str],
    stats: FeatureStats,
    max_frames: int,
    sample_rate: int = 1,
    alignment: Alignment = "strict",
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_frames`` evenly strided standardised frames ``(N, D)`` and labels ``(N,)``."""
    total = sum(math.ceil(len(ds.labels(v)) / sample_rate) for v in videos)
    stride = max(1, math.ceil(total / max_frames))
    xs, ys = [], []
    for video in videos:
        for x, y in video_blocks(ds, video, stats, sample_rate * stride, alignment):
            xs.append(x)
            ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


# --------------------------------------------------------------------------- evaluation

VARIANTS = ("raw", "hold", "ma", "ma+hold")
"""Arg-max; hold rule on the probabilities; causal moving average; hold rule after it."""


@dataclass
class TrivialResult:
    """Test scores of one baseline under each post-processing variant."""

    method: str
    scores: dict[str, dict[str, float]]
    """variant -> METRIC_NAMES -> value."""
    predictions: dict[str, dict[str, np.ndarray]]
    """variant -> video -> frame labels ``(T,)``."""
    hold: dict[str, HoldSettings]
    """'hold' / 'ma+hold' -> the settings tuned on validation videos."""
    fit_s: float
    predict_s: float
    extra: dict[str, float] = field(default_factory=dict)


def fit_trivial(
    method: str,
    ds: Dataset,
    train: Sequence[str],
    stats: FeatureStats,
    sample_rate: int = 1,
    alignment: Alignment = "strict",
    max_fit_frames: int = 100_000,
) -> TrivialModel:
    """``method`` 'ncm' (nearest class mean) or 'linear', fitted on standardised ``train``."""
    match method:
        case "ncm":
            blocks = (b for v in train for b in video_blocks(ds, v, stats, sample_rate, alignment))
            return NearestClassMean.fit(blocks, ds.num_classes)
        case "linear":
            x, y = strided_frames(ds, train, stats, max_fit_frames, sample_rate, alignment)
            return LinearClassifier.fit(x, y, ds.num_classes)
    raise ValueError(f"unknown trivial baseline {method!r} (ncm, linear)")


def video_probs(
    model: TrivialModel,
    ds: Dataset,
    video: str,
    stats: FeatureStats,
    sample_rate: int = 1,
    alignment: Alignment = "strict",
) -> np.ndarray:
    """Probabilities ``(T_s, C)`` of every ``sample_rate``-th frame (computed block by block)."""
    return np.concatenate(
        [model.probs(x) for x, _ in video_blocks(ds, video, stats, sample_rate, alignment)]
    )


def evaluate_trivial(
    ds: Dataset,
    train: Sequence[str],
    val: Sequence[str],
    test: Sequence[str],
    methods: Sequence[str] = ("ncm", "linear"),
    sample_rate: int = 1,
    windows: Sequence[int] = (64,),
    alignment: Alignment = "strict",
    stats: FeatureStats | None = None,
) -> list[TrivialResult]:
    """Fit each baseline on ``train``, tune the hold rule on ``val``, score ``test``.

    ``windows``: moving-average windows in frames of the sampled stream; with several, the one
    with the best :func:`selection_score` on ``val`` is used (``result.extra['window']``). Every
    step is causal: the moving average and the hold rule run as streams over each test video.
    """
    if stats is None:
        stats = FeatureStats.from_dataset(ds, train, sample_rate, alignment)
    longest = max(len(ds.labels(v)) for v in train)
    val_labels = [ds.labels(v) for v in val]
    gts = {v: ds.labels(v) for v in test}
    results = []
    for method in methods:
        start = time.perf_counter()
        model = fit_trivial(method, ds, train, stats, sample_rate, alignment)
        fit_s = time.perf_counter() - start
        val_raw = [video_probs(model, ds, v, stats, sample_rate, alignment) for v in val]
        window, val_ma = _pick_window(val_raw, val_labels, windows, ds.background_ids, sample_rate)
        hold = {
            "hold": tune_hold_rule(val_raw, val_labels, longest, ds.background_ids, sample_rate),
            "ma+hold": tune_hold_rule(val_ma, val_labels, longest, ds.background_ids, sample_rate),
        }
        start = time.perf_counter()
        preds: dict[str, dict[str, np.ndarray]] = {name: {} for name in VARIANTS}
        for video, labels in gts.items():
            average = CausalMovingAverage(window)
            rules = {k: HoldRule(c.settings.theta, c.settings.min_len) for k, c in hold.items()}
            parts: dict[str, list[np.ndarray]] = {name: [] for name in VARIANTS}
            for x, _ in video_blocks(ds, video, stats, sample_rate, alignment):  # a stream
                probs = model.probs(x)
                smooth = average(probs)
                parts["raw"].append(probs.argmax(1))
                parts["hold"].append(rules["hold"](probs))
                parts["ma"].append(smooth.argmax(1))
                parts["ma+hold"].append(rules["ma+hold"](smooth))
            for name in VARIANTS:
                preds[name][video] = expand(np.concatenate(parts[name]), len(labels), sample_rate)
        predict_s = time.perf_counter() - start
        scores = {name: score_videos(preds[name], gts, ds.background_ids)[0] for name in VARIANTS}
        settings = {k: c.settings for k, c in hold.items()}
        results.append(
            TrivialResult(method, scores, preds, settings, fit_s, predict_s, {"window": window})
        )
    return results


def _pick_window(
    probs: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    windows: Sequence[int],
    background: Sequence[int],
    sample_rate: int,
) -> tuple[int, list[np.ndarray]]:
    """The moving-average window with the best selection score, and the smoothed ``probs``."""
    best: tuple[float, int, list[np.ndarray]] | None = None
    for window in windows:
        smooth = [CausalMovingAverage(window)(p) for p in probs]
        scores = [
            score_video(expand(p.argmax(1), len(y), sample_rate), y, background)
            for p, y in zip(smooth, labels, strict=True)
        ]
        value = selection_score(summarize(scores))
        if best is None or value > best[0]:
            best = (value, window, smooth)
    if best is None:
        raise ValueError("evaluate_trivial needs at least one moving-average window")
    return best[1], best[2]
