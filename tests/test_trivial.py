"""Trivial causal baselines beat chance by a wide margin on a small synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from svtas_ray.config import SynthConfig
from svtas_ray.data.layout import Dataset
from svtas_ray.data.synthetic import PRESET_BACKGROUND, generate
from svtas_ray.models.trivial import (
    VARIANTS,
    LinearClassifier,
    NearestClassMean,
    evaluate_trivial,
)


def test_nearest_class_mean_by_hand() -> None:
    x = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    y = np.array([0, 0, 2])
    model = NearestClassMean.fit([(x[:1], y[:1]), (x[1:], y[1:])], num_classes=3)
    np.testing.assert_allclose(model.means[[0, 2]], [[1.0, 0.0], [10.0, 10.0]])
    assert model.var == pytest.approx(2.0 / (3 * 2))  # within-class squares / (frames * dims)
    assert list(model.seen) == [True, False, True]
    probs = model.probs(np.array([[1.0, 0.5], [9.0, 9.0]]))
    assert probs.argmax(1).tolist() == [0, 2]
    assert probs[:, 1].max() == 0.0  # an unseen class is never predicted
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)


def test_linear_classifier_separates_separable_data() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    x = np.eye(3)[y] * 4 + rng.normal(size=(300, 3)) * 0.5
    model = LinearClassifier.fit(x, y, num_classes=4, steps=50)
    assert (model.probs(x).argmax(1) == y).mean() > 0.97
    assert model.probs(x)[:, 3].max() < 0.01


@pytest.fixture(scope="module")
def small_gtea(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SynthConfig(preset="gtea", num_videos=10, scale=0.5, feature_dim=16)
    root = generate(cfg, tmp_path_factory.mktemp("synth") / "gtea")
    # Features far from zero mean and unit variance: the baselines must standardise.
    for path in (root / "features").glob("*.npy"):
        np.save(path, np.load(path) * 50 + 20)
    return root


def test_baselines_beat_chance_by_a_wide_margin(small_gtea: Path) -> None:
    ds = Dataset.open(small_gtea, PRESET_BACKGROUND["gtea"])
    train, test = ds.split_videos(1, "train"), ds.split_videos(1, "test")
    results = evaluate_trivial(ds, train[:-2], train[-2:], test, windows=(4, 8))
    chance = 100 / ds.num_classes
    for result in results:
        assert set(result.scores) == set(VARIANTS)
        assert result.scores["raw"]["acc"] > 3 * chance, result.method
        assert result.scores["ma"]["acc"] >= result.scores["raw"]["acc"] - 2
        assert result.scores["ma"]["edit"] > result.scores["raw"]["edit"]
        for variant, preds in result.predictions.items():
            assert {v: len(p) for v, p in preds.items()} == {v: len(ds.labels(v)) for v in test}, (
                variant
            )
        assert set(result.hold) == {"hold", "ma+hold"}
        assert result.extra["window"] in (4, 8)
