"""Synthetic datasets in the MS-TCN layout, with a known structure and a controlled difficulty.

Labels come from a structural model of a real dataset (:mod:`svtas_ray.data.presets`): each video
follows a recipe grammar, segment lengths are log-normal per class, a filler class (background,
SIL) opens and closes videos and fills gaps between actions, and videos are assigned to splits by
their synthetic subject, as in the real protocols. :func:`synthesize_from_labels` keeps the labels
and splits of an existing dataset instead.

Features ``(D, T)`` are made hard on purpose (see :class:`FeatureModel`): class prototypes with
confusable groups and identical "order-only" groups, per-video offset and gain, per-segment
offsets, temporally correlated AR(1) noise and cross-faded boundaries. On the default GTEA preset a
frame-wise linear classifier reaches about 60 % accuracy with an Edit score near 10; temporal
context recovers much of the rest (tests/test_synthetic.py pins both).

Every random draw comes from ``np.random.default_rng([seed, stream, video_index])``, so a video's
labels, features and frames depend only on the seed and its index, never on generation order.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import lcm
from pathlib import Path

import numpy as np
from tqdm import tqdm

from svtas_ray.config import SynthConfig
from svtas_ray.data.files import empty_folder
from svtas_ray.data.layout import ClassMap, Dataset, read_bundle, write_labels
from svtas_ray.data.looks import ClassLooks, moving_average
from svtas_ray.data.presets import PRESETS, Duration, Preset
from svtas_ray.errors import DataError

log = logging.getLogger(__name__)

PRESET_BACKGROUND: dict[str, tuple[str, ...]] = {n: p.background for n, p in PRESETS.items()}
"""Background classes of each preset under the standard protocol (dropped by Edit and F1)."""

# Independent random streams: default_rng([seed, stream, index]).
_LABELS, _FEATURES, _FRAMES, _PROTOTYPES, _GROUPS, _VISUALS = range(6)
_REF_DIM = 64  # noise and nuisance are scaled by sqrt(D / 64): difficulty does not depend on D


# --------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class VideoPlan:
    """Who performs which task in synthetic video number ``index``."""

    index: int
    name: str
    subject: int
    task: str


def plan_videos(preset: Preset, num_videos: int) -> list[VideoPlan]:
    """Videos cycle through subjects and tasks together, so every subject does every task."""
    tasks = list(preset.recipes)
    period = lcm(preset.num_subjects, len(tasks))
    plans = []
    for k in range(num_videos):
        subject, task = k % preset.num_subjects, tasks[k % len(tasks)]
        s, take = subject + preset.subject_offset, k // period + 1
        plans.append(
            VideoPlan(k, preset.video_name.format(s=s, task=task, take=take), subject, task)
        )
    return plans


def sample_labels(preset: Preset, plan: VideoPlan, cfg: SynthConfig) -> np.ndarray:
    """Frame-wise class ids ``(T,)`` int64 of one video (depends only on seed and index)."""
    rng = np.random.default_rng([cfg.seed, _LABELS, plan.index])
    grammar = preset.grammars[plan.task]
    speed = float(np.exp(rng.normal(0.0, preset.speed_sd))) * cfg.scale

    def draw(d: Duration) -> int:
        return max(1, round(d[0] * float(np.exp(d[1] * rng.normal())) * speed))

    target = 0
    if preset.target_length is not None:
        m, sd = preset.target_length
        target = round(m * float(np.exp(sd * rng.normal())) * cfg.scale)
    names: list[str] = []
    lengths: list[int] = []

    def add(name: str, n: int) -> None:
        names.append(name)
        lengths.append(n)

    filler = preset.filler
    if filler is not None:
        add(filler, draw(preset.start_duration))
    prev: str | None = None
    while prev is None or sum(lengths) < target:  # one recipe, or recipes until long enough
        actions = grammar.sample(rng, preset.p_optional, preset.p_repeat)
        if not actions and prev is None:
            actions = [min(grammar.names)]  # a recipe of optional steps only drew none
        for action in actions:
            gap = prev is not None and (action == prev or rng.random() < preset.gap_p)
            if filler is not None and gap:
                add(filler, draw(preset.gap_duration))
            add(action, draw(preset.duration(action)))
            prev = action
    if filler is not None:
        add(filler, draw(preset.end_duration))
    ids = {n: i for i, n in enumerate(preset.classes)}
    return np.repeat(np.array([ids[n] for n in names], dtype=np.int64), lengths)


def split_lists(preset: Preset, plans: Sequence[VideoPlan]) -> dict[int, tuple[list[str], ...]]:
    """Split N -> (train videos, test videos): split N tests the subjects of fold N-1.

    Splits whose train or test part would be empty (too few videos) are left out.
    """
    out: dict[int, tuple[list[str], ...]] = {}
    for n in range(1, preset.num_splits + 1):
        test = [p.name for p in plans if p.subject % preset.num_folds == n - 1]
        train = [p.name for p in plans if p.subject % preset.num_folds != n - 1]
        if test and train:
            out[len(out) + 1] = (train, test)
    if not out:
        raise DataError(f"synthetic {preset.name}: too few videos ({len(plans)}) for any split")
    return out


# --------------------------------------------------------------------------- features


@dataclass(frozen=True, eq=False)
class FeatureModel:
    """Draws features ``(D, T)`` for frame labels.

    ``x_t = gain * blur(w_t @ mu + seg_offset) + video_offset + ar1_noise_t`` where ``w_t`` is
    the class mixture of :meth:`ClassLooks.weights` (one-hot outside filler segments). Prototypes
    ``mu`` have N(0, 1) entries; a confusable class is its group's prototype plus ``confusion``
    times another N(0, 1) draw; order-only classes share one prototype exactly. ``blur`` is a
    centred moving average over ``boundary_blur`` frames: a linear cross-fade at each boundary.
    """

    prototypes: np.ndarray  # (C, D)
    looks: ClassLooks
    cfg: SynthConfig

    @classmethod
    def build(cls, looks: ClassLooks, cfg: SynthConfig) -> FeatureModel:
        rng = np.random.default_rng([cfg.seed, _PROTOTYPES])
        base = rng.standard_normal((looks.num_classes, cfg.feature_dim))
        deviation = rng.standard_normal(base.shape) * cfg.confusion
        protos = base[looks.centre] + np.where(looks.jitter[:, None], deviation, 0.0)
        return cls(protos, looks, cfg)

    def features(self, labels: np.ndarray, index: int) -> np.ndarray:
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, _FEATURES, index])
        t_len, dim = len(labels), cfg.feature_dim
        unit = np.sqrt(dim / _REF_DIM)
        seg_id = np.concatenate([[0], np.cumsum(labels[1:] != labels[:-1])])
        seg_offset = rng.standard_normal((int(seg_id[-1]) + 1, dim)) * cfg.segment_offset * unit
        gain = float(np.exp(rng.normal(0.0, cfg.video_gain)))
        video_offset = rng.standard_normal(dim) * cfg.video_offset * unit
        means = self.looks.weights(labels, rng) @ self.prototypes
        clean = moving_average(means + seg_offset[seg_id], cfg.boundary_blur)
        noise = ar1(rng, t_len, dim, cfg.noise_corr) * (cfg.noise * unit)
        x = gain * clean + video_offset + noise  # (T, D)
        # (D, T) in Fortran order: the MS-TCN array, saved time-major (one read per clip)
        return x.astype(np.float32).T


def ar1(rng: np.random.Generator, t_len: int, dim: int, rho: float, block: int = 64) -> np.ndarray:
    """Stationary AR(1) noise ``(T, D)`` with unit variance: x_t = rho x_{t-1} + e_t.

    Blocks of ``block`` frames are filtered with one matrix product each; only the carry between
    blocks is a Python loop (T / block steps).
    """
    nb = -(-t_len // block)
    e = rng.standard_normal((nb * block, dim)) * np.sqrt(1.0 - rho**2)
    i = np.arange(block)
    lower = np.tril(rho ** np.maximum(i[:, None] - i[None, :], 0).astype(float))
    x = np.einsum("ij,njd->nid", lower, e.reshape(nb, block, dim))
    decay = (rho ** (i + 1))[:, None]
    carry = rng.standard_normal(dim)  # x_{-1} from the stationary distribution
    for n in range(nb):
        x[n] += decay * carry
        carry = x[n, -1]
    return x.reshape(-1, dim)[:t_len]


# --------------------------------------------------------------------------- writing


def generate(cfg: SynthConfig, out: str | Path, progress: bool = False) -> Path:
    """Write the dataset of ``cfg`` (preset structure, features, optional videos) to ``out``."""
    preset = PRESETS[cfg.preset]
    root = _prepare(out)
    classes = ClassMap(preset.classes)
    classes.write(root / "mapping.txt")
    plans = plan_videos(preset, cfg.num_videos or preset.num_videos)
    for n, (train, test) in split_lists(preset, plans).items():
        _write_bundle(root / "splits" / f"train.split{n}.bundle", train)
        _write_bundle(root / "splits" / f"test.split{n}.bundle", test)
    by_name = {p.name: p for p in plans}
    _write_videos(
        root,
        [(p.name, p.index) for p in plans],
        lambda name: sample_labels(preset, by_name[name], cfg),
        classes,
        preset_looks(preset, cfg),
        cfg,
        preset.fps,
        progress,
    )
    return root


def synthesize_from_labels(
    src_root: str | Path,
    cfg: SynthConfig,
    out: str | Path,
    background: Sequence[str] = ("background",),
    progress: bool = False,
) -> Path:
    """Keep the labels, mapping and splits of the dataset at ``src_root``; synthesise features
    (and videos with ``cfg.videos``) for them. ``cfg.preset``, ``num_videos`` and ``scale`` do not
    change the labels; if the source has exactly the preset's classes, the preset's confusable
    and order-only groups are used, otherwise random pairs of non-background classes are made
    confusable (``background`` names the source's background classes). The source's labels and
    split bundles are validated before anything is written."""
    src = Dataset.open(src_root, background)
    if cfg.num_videos is not None or cfg.scale != 1.0:
        log.warning("synth.num_videos and synth.scale are ignored: the source labels are kept")
    labels = source_labels(src)
    bundles = source_bundles(src, set(labels))
    root = _prepare(out)
    classes = src.classes
    classes.write(root / "mapping.txt")
    for bundle in bundles:
        shutil.copyfile(bundle, root / "splits" / bundle.name)
    videos = list(labels)
    preset = PRESETS[cfg.preset]
    if set(preset.classes) == set(classes.names):
        looks = preset_looks(preset, cfg, classes.names)
    else:
        rng = np.random.default_rng([cfg.seed, _GROUPS])
        fg = [n for n in classes.names if n not in src.background]
        fg = [fg[i] for i in rng.permutation(len(fg))]
        pairs = [tuple(fg[i : i + 2]) for i in range(0, 2 * (len(fg) // 3), 2)]
        log.info("classes differ from preset %s; confusable pairs: %s", cfg.preset, pairs)
        looks = ClassLooks.of(classes.names, pairs, ())
    items = [(v, i) for i, v in enumerate(videos)]
    _write_videos(root, items, labels.__getitem__, classes, looks, cfg, preset.fps, progress)
    return root


def source_labels(src: Dataset) -> dict[str, np.ndarray]:
    """The label sequence of every video of ``src`` (each file read and checked against the
    mapping); no label files at all is a DataError."""
    videos = src.videos()
    if not videos:
        raise DataError(f"{src.root / 'groundTruth'}: no label files to synthesise from")
    return {v: src.labels(v) for v in videos}


def source_bundles(src: Dataset, videos: set[str]) -> list[Path]:
    """The split bundles of ``src``, once each passes the checks ``check-data`` makes: every
    listed video has labels, a ``{train,test}.splitN`` bundle has its other half, and a split's
    halves share no video. Raises DataError naming the source's bundle."""
    bundles = sorted((src.root / "splits").glob("*.bundle"))
    for bundle in bundles:
        for video in read_bundle(bundle):
            if video not in videos:
                raise DataError(
                    f"{bundle}: lists video {video!r} but {src.label_path(video)} is missing"
                )
    src.check_splits()
    return bundles


def preset_looks(
    preset: Preset, cfg: SynthConfig, classes: Sequence[str] | None = None
) -> ClassLooks:
    """The class looks of ``preset`` (for ``classes`` in another order, if given)."""
    return ClassLooks.of(
        preset.classes if classes is None else classes,
        preset.confusable,
        preset.order_only,
        cfg.order_only,
        preset.filler,
        preset.filler_blend,
    )


def _prepare(out: str | Path) -> Path:
    """Create an empty dataset folder marked as made by this tool (never reuses a full one)."""
    from svtas_ray.data.cache import MARKER

    root = empty_folder(Path(out), "dataset")
    (root / MARKER).write_text('{"complete": false}\n', encoding="utf-8")
    for sub in ("groundTruth", "splits", "features"):
        (root / sub).mkdir()
    return root


def _write_bundle(path: Path, videos: Sequence[str]) -> None:
    path.write_text("".join(f"{v}.txt\n" for v in videos), encoding="utf-8")


def _write_videos(
    root: Path,
    items: Sequence[tuple[str, int]],
    labels_of: Callable[[str], np.ndarray],
    classes: ClassMap,
    looks: ClassLooks,
    cfg: SynthConfig,
    fps: int,
    progress: bool,
) -> None:
    """Labels, features and (optionally) the video of each item, one video at a time."""
    model = FeatureModel.build(looks, cfg)
    renderer = None
    if cfg.videos:
        from svtas_ray.data.render import Renderer

        (root / "videos").mkdir(exist_ok=True)
        visuals = np.random.default_rng([cfg.seed, _VISUALS])
        renderer = Renderer(looks, visuals, cfg.video_size, fps, cfg.boundary_blur)
    frames = 0
    for name, index in tqdm(items, desc=f"synth {root.name}", unit="video", disable=not progress):
        labels = labels_of(name)
        write_labels(root / "groundTruth" / f"{name}.txt", labels, classes)
        np.save(root / "features" / f"{name}.npy", model.features(labels, index))
        if renderer is not None:
            rng = np.random.default_rng([cfg.seed, _FRAMES, index])
            renderer.write(root / "videos" / f"{name}.mp4", labels, rng)
        frames += len(labels)
    log.info("wrote %d videos (%d frames) to %s", len(items), frames, root)


__all__ = [
    "PRESET_BACKGROUND",
    "ClassLooks",
    "FeatureModel",
    "VideoPlan",
    "generate",
    "plan_videos",
    "preset_looks",
    "sample_labels",
    "split_lists",
    "synthesize_from_labels",
]
