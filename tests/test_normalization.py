"""FeatureStats: exact moments in bounded blocks, the std floor, apply, and the dict round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from svtas_ray.data.features import FeatureSource
from svtas_ray.data.layout import Dataset
from svtas_ray.data.normalization import FeatureStats, MomentAccumulator, iter_feature_blocks


def test_blocks_merge_to_the_moments_of_all_frames() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 7)) * 50 + 1e4  # large offset: sums of squares would cancel
    stats = FeatureStats.from_blocks([x[:1], x[1:300], x[300:301], x[301:]])
    assert stats.count == 1000
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats.std, x.std(0), rtol=1e-5)
    assert stats.mean.dtype == np.float32 and stats.std.dtype == np.float32


def test_constant_dims_get_a_floor_not_a_blow_up() -> None:
    x = np.zeros((10, 3))
    x[:, 0] = np.arange(10)
    stats = FeatureStats.from_blocks([x])
    assert stats.std[1] == pytest.approx(1e-6 * stats.std.mean(), rel=1e-3)
    assert np.isfinite(stats.apply(x)).all()
    ones = FeatureStats.from_blocks([np.full((4, 2), 3.0)])  # every dim constant: std 1
    np.testing.assert_array_equal(ones.std, [1.0, 1.0])
    np.testing.assert_array_equal(ones.apply(np.full((1, 2), 3.0)), [[0.0, 0.0]])


def test_apply_numpy_and_torch_agree_and_keep_type() -> None:
    stats = FeatureStats(np.array([1.0, -2.0]), np.array([2.0, 0.5]), 5)
    x = np.array([[[3.0, -1.0]]], dtype=np.float32)  # (..., D)
    expected = np.array([[[1.0, 2.0]]], dtype=np.float32)
    np.testing.assert_array_equal(stats.apply(x), expected)
    out = stats.apply(torch.from_numpy(x))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), expected)
    with pytest.raises(ValueError, match="3 dims"):
        stats.apply(np.zeros((1, 3)))


def test_dict_round_trip_through_json() -> None:
    stats = FeatureStats.from_blocks([np.random.default_rng(1).normal(size=(20, 4))])
    again = FeatureStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert again == stats
    with pytest.raises(ValueError, match="count"):
        FeatureStats.from_dict({"mean": [0.0], "std": [1.0]})
    with pytest.raises(ValueError, match="positive"):
        FeatureStats(np.zeros(2), np.array([1.0, 0.0]), 1)


def test_from_dataset_reads_in_blocks_and_equals_the_whole(tiny_dataset: Path) -> None:
    ds = Dataset.open(tiny_dataset)
    videos = ds.split_videos(1, "train")
    stats = FeatureStats.from_dataset(ds, videos, sample_rate=2)
    whole = np.concatenate([np.load(ds.feature_path(v)).T[::2] for v in videos])
    assert stats.count == len(whole)
    np.testing.assert_allclose(stats.mean, whole.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.std, whole.std(0), rtol=1e-5)
    # A block budget of 3 frames: many blocks, the same frames in order.
    source = FeatureSource(ds.feature_path(videos[0]), len(ds.labels(videos[0])))
    blocks = list(iter_feature_blocks(source, 2, block_bytes=3 * 4 * source.dim))
    assert len(blocks) > 3 and max(len(b) for b in blocks) <= 3
    np.testing.assert_array_equal(
        np.concatenate(blocks), np.load(ds.feature_path(videos[0])).T[::2]
    )


def test_empty_accumulator_refuses() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        MomentAccumulator().stats()
