"""The synthetic dataset generator: layout, determinism, structure, videos and difficulty."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from svtas_ray.config import SynthConfig
from svtas_ray.data.layout import Dataset
from svtas_ray.data.presets import MAX_REPEATS, PRESETS, Grammar
from svtas_ray.data.synthetic import (
    PRESET_BACKGROUND,
    FeatureModel,
    ar1,
    generate,
    moving_average,
    plan_videos,
    preset_looks,
    sample_labels,
    synthesize_from_labels,
)
from svtas_ray.errors import ConfigError, DataError
from svtas_ray.metrics import score_videos

SMALL = SynthConfig(preset="gtea", num_videos=6, scale=0.25, feature_dim=16)


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def segment_labels(labels: np.ndarray) -> np.ndarray:
    return labels[np.r_[0, np.flatnonzero(np.diff(labels)) + 1]]


# --------------------------------------------------------------------------- layout, determinism


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_writes_a_valid_dataset(tmp_path, preset):
    p = PRESETS[preset]
    cfg = SynthConfig(preset=preset, num_videos=p.num_folds + 1, scale=0.02, feature_dim=8)
    root = generate(cfg, tmp_path / preset)
    ds = Dataset.open(root, PRESET_BACKGROUND[preset])
    assert ds.classes.names == p.classes
    assert ds.splits() == list(range(1, p.num_splits + 1))
    videos = ds.videos()
    assert len(videos) == cfg.num_videos
    for n in ds.splits():
        train, test = ds.split_videos(n, "train"), ds.split_videos(n, "test")
        assert sorted(train + test) == videos and not set(train) & set(test)
    for v in videos:
        x = np.load(ds.feature_path(v), mmap_mode="r")
        assert x.dtype == np.float32 and x.shape == (8, len(ds.labels(v)))
        assert x.flags.f_contiguous  # written time-major: one read per clip
        assert np.isfinite(x).all()


def test_splits_leave_subjects_out(tmp_path):
    root = generate(dataclasses.replace(SMALL, num_videos=28), tmp_path / "ds")
    ds = Dataset.open(root)
    for n in ds.splits():
        subjects = {v.split("_")[0] for v in ds.split_videos(n, "test")}
        assert subjects == {f"S{n}"}  # as in GTEA: split N tests subject N
        assert not subjects & {v.split("_")[0] for v in ds.split_videos(n, "train")}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = all_files(generate(SMALL, tmp_path / "a"))
    b = all_files(generate(SMALL, tmp_path / "b"))
    c = all_files(generate(dataclasses.replace(SMALL, seed=1), tmp_path / "c"))
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a if k.startswith(("features/", "groundTruth/")))


def test_a_video_does_not_depend_on_how_many_are_generated(tmp_path):
    few = all_files(generate(dataclasses.replace(SMALL, num_videos=3), tmp_path / "few"))
    many = all_files(generate(SMALL, tmp_path / "many"))
    per_video = [k for k in few if k.startswith(("features/", "groundTruth/"))]
    assert len(per_video) == 6
    assert all(few[k] == many[k] for k in per_video)


def test_refuses_a_non_empty_output_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        generate(SMALL, tmp_path / "x")


def test_difficulty_settings_are_validated():
    with pytest.raises(ConfigError, match="noise_corr"):
        SynthConfig(noise_corr=1.0)
    with pytest.raises(ConfigError, match="noise"):
        SynthConfig(noise=-1)
    with pytest.raises(ConfigError, match="even"):
        SynthConfig(video_size=(63, 64))


# --------------------------------------------------------------------------- structure

# (classes, mean frames, mean segments, share of the filler class) of the real datasets
REAL = {
    "gtea": (11, 1115, 33, 0.22),
    "salads": (19, 11500, 20, 0.0),
    "breakfast": (48, 2100, 7, 0.12),
    "egtea": (20, 33700, 230, 0.64),
}


@pytest.mark.parametrize("preset", sorted(REAL))
def test_structure_matches_the_real_dataset(preset):
    p = PRESETS[preset]
    classes, frames, segments, filler_share = REAL[preset]
    cfg = SynthConfig(preset=preset)
    labels = [sample_labels(p, plan, cfg) for plan in plan_videos(p, min(p.num_videos, 120))]
    filler = p.classes.index(p.filler) if p.filler else -1
    assert len(p.classes) == classes
    assert 0.8 * frames < np.mean([len(x) for x in labels]) < 1.25 * frames
    assert 0.75 * segments < np.mean([len(segment_labels(x)) for x in labels]) < 1.3 * segments
    share = np.mean(np.concatenate(labels) == filler)
    assert abs(share - filler_share) < 0.05
    if p.filler is not None:  # videos open and close with the filler (background, SIL)
        assert all(x[0] == filler and x[-1] == filler for x in labels)


def test_scale_shrinks_videos():
    p, plan = PRESETS["gtea"], plan_videos(PRESETS["gtea"], 1)[0]
    full = sample_labels(p, plan, SynthConfig())
    small = sample_labels(p, plan, SynthConfig(scale=0.25))
    assert 0.15 < len(small) / len(full) < 0.35


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_order_only_classes_are_told_apart_by_their_predecessor(preset):
    """Order-only classes share a prototype; the previous action always says which one it is."""
    p = PRESETS[preset]
    before: dict[str, set[str | None]] = {}
    for plan in plan_videos(p, min(p.num_videos, 200)):
        seq = [
            p.classes[c] for c in segment_labels(sample_labels(p, plan, SynthConfig(preset=preset)))
        ]
        seq = [c for c in seq if c != p.filler]
        for prev, cur in zip([None, *seq[:-1]], seq, strict=True):
            before.setdefault(cur, set()).add(prev)
    model = FeatureModel.build(preset_looks(p, SynthConfig()), SynthConfig(preset=preset))
    assert p.order_only
    for group in p.order_only:
        ids = [p.classes.index(c) for c in group]
        assert (model.prototypes[ids] == model.prototypes[ids[0]]).all()
        for i, a in enumerate(group):
            assert before[a]
            for b in group[i + 1 :]:
                assert not before[a] & before[b], (a, b)


def test_grammar():
    rng = np.random.default_rng(0)
    g = Grammar("a (b | c) {d e} f? (g h)+")
    assert g.names == set("abcdefgh")
    shortest = g.sample(rng, p_optional=0, p_repeat=0)
    assert (
        shortest[0] == "a" and shortest[1] in "bc" and shortest[2:] in (list("degh"), list("edgh"))
    )
    draws = [tuple(g.sample(rng, 0.5, 0.5)) for _ in range(400)]
    assert {d[1] for d in draws} == {"b", "c"}
    assert {d[2:4] for d in draws} == {("d", "e"), ("e", "d")}
    assert {"f" in d for d in draws} == {True, False}
    assert {d.count("g") for d in draws} == set(range(1, MAX_REPEATS + 1))
    assert Grammar("f?").sample(rng, 0, 0) == [] and Grammar("f?").sample(rng, 1, 0) == ["f"]
    assert Grammar("x*").sample(rng, 1, 0) == [] and Grammar("x+").sample(rng, 0, 0) == ["x"]
    for bad in ("a (b", "a )", "{a", "?", "a | (b"):
        with pytest.raises(ValueError):
            Grammar(bad)


def test_ar1_noise_and_moving_average():
    x = ar1(np.random.default_rng(0), 20000, 4, rho=0.6)
    assert abs(x.std() - 1) < 0.05
    assert abs(np.mean(x[1:] * x[:-1]) - 0.6) < 0.05
    y = np.random.default_rng(1).normal(size=(30, 2))
    want = np.stack([y[max(0, t - 2) : t + 3].mean(0) for t in range(30)])
    np.testing.assert_allclose(moving_average(y, 5), want)


# --------------------------------------------------------------------------- from real labels


def test_synthesize_from_labels_keeps_labels_mapping_and_splits(tmp_path, gtea_root):
    cfg = SynthConfig(feature_dim=16)
    root = synthesize_from_labels(gtea_root, cfg, tmp_path / "gtea")
    src, out = Dataset.open(gtea_root), Dataset.open(root)
    assert out.classes == src.classes and out.videos() == src.videos()
    for bundle in (gtea_root / "splits").glob("*.bundle"):
        assert (root / "splits" / bundle.name).read_bytes() == bundle.read_bytes()
    for v in src.videos():
        labels = src.labels(v)
        np.testing.assert_array_equal(out.labels(v), labels)
        assert np.load(out.feature_path(v), mmap_mode="r").shape == (16, len(labels))


def test_synthesize_from_labels_of_unknown_classes(tmp_path, tiny_dataset):
    root = synthesize_from_labels(tiny_dataset, SMALL, tmp_path / "out")
    src, out = Dataset.open(tiny_dataset), Dataset.open(root)
    assert out.classes == src.classes and out.splits() == [1]
    for v in src.videos():
        np.testing.assert_array_equal(out.labels(v), src.labels(v))
        assert np.load(out.feature_path(v)).shape == (16, len(src.labels(v)))


def test_egtea_preset_names_the_verbs_as_the_converter_does(shared_data):
    """So that synthesize_from_labels on a converted EGTEA uses the preset's class groups."""
    from svtas_ray.data.egtea import BACKGROUND, read_verbs

    actions = shared_data / "egtea" / "raw" / "rulstm" / "actions.csv"
    if not actions.is_file():
        pytest.skip(f"EGTEA annotations not found at {actions}")
    assert (*read_verbs(actions), BACKGROUND) == PRESETS["egtea"].classes


# --------------------------------------------------------------------------- videos


def test_videos_decode_frame_exact_and_deterministic(tmp_path):
    import torch  # noqa: F401  (before decord, whose bundled ffmpeg clashes with torch's)

    decord = pytest.importorskip("decord", reason="decord is needed to read the videos back")
    cfg = dataclasses.replace(SMALL, num_videos=3, videos=True)
    ds = Dataset.open(generate(cfg, tmp_path / "a"))
    for v in ds.videos():
        labels = ds.labels(v)
        reader = decord.VideoReader(str(ds.require_video_path(v)))
        frames = reader.get_batch(list(range(len(reader)))).asnumpy()
        assert len(reader) == len(labels) and frames.shape == (len(labels), 64, 64, 3)
    generate(cfg, tmp_path / "b")
    for v in ds.videos():
        assert (tmp_path / "a" / "videos" / f"{v}.mp4").read_bytes() == (
            tmp_path / "b" / "videos" / f"{v}.mp4"
        ).read_bytes()


def test_order_only_classes_look_identical_and_classes_differ():
    from svtas_ray.data.render import Renderer

    p = PRESETS["gtea"]
    r = Renderer(preset_looks(p, SynthConfig()), np.random.default_rng(0), (32, 32), 15)
    open_, close, take = (p.classes.index(c) for c in ("open", "close", "take"))
    noise = np.random.default_rng
    a, b, c = (next(r.frames(np.full(50, k), noise(1))).astype(float) for k in (open_, close, take))
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 5


# --------------------------------------------------------------------------- difficulty


def linear_predictions(ds: Dataset, split: int, transform) -> tuple[dict, dict]:
    """Least-squares one-hot classifier on train features of ``split``; predictions on test."""
    feats = {v: transform(np.load(ds.feature_path(v)).T.astype(np.float64)) for v in ds.videos()}
    labels = {v: ds.labels(v) for v in ds.videos()}
    train, test = ds.split_videos(split, "train"), ds.split_videos(split, "test")

    def design(x: np.ndarray) -> np.ndarray:
        return np.c_[x, np.ones(len(x))]

    x = design(np.concatenate([feats[v] for v in train]))
    y = np.eye(ds.num_classes)[np.concatenate([labels[v] for v in train])]
    w = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ y)
    preds = {v: np.argmax(design(feats[v]) @ w, axis=1) for v in test}
    return preds, {v: labels[v] for v in test}


def test_default_gtea_is_hard_frame_by_frame_but_recoverable_from_context(tmp_path):
    """The point of the synthetic data: frame-wise models over-segment, context repairs it.

    Measured at seed 0, split 1 (28 videos, 0.2 s to generate): linear 62 % / Edit 9;
    moving average over 15 frames 78 % / Edit 45; with the last 60 frames too 80 % / Edit 51.
    """
    ds = Dataset.open(generate(SynthConfig(), tmp_path / "gtea"), PRESET_BACKGROUND["gtea"])
    bg = ds.background_ids

    def context(x: np.ndarray) -> np.ndarray:
        """What is around (15 frames) and what came before (the last 60 frames)."""
        near = moving_average(x, 15)
        past = np.cumsum(np.r_[np.zeros((60, x.shape[1])), x], axis=0)
        past = (past[60:] - past[:-60]) / 60
        return np.c_[near, past - near]

    raw, _ = score_videos(*linear_predictions(ds, 1, lambda x: x), bg)
    smooth, _ = score_videos(*linear_predictions(ds, 1, lambda x: moving_average(x, 15)), bg)
    wide, _ = score_videos(*linear_predictions(ds, 1, context), bg)
    assert 55 <= raw["acc"] <= 75
    assert raw["edit"] < 30 and raw["f1@50"] < 20
    assert smooth["acc"] > raw["acc"] + 8 and smooth["edit"] > raw["edit"] + 20
    assert smooth["f1@50"] > raw["f1@50"] + 20
    assert wide["acc"] > smooth["acc"] and wide["edit"] > smooth["edit"]
