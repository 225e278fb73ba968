"""Perturbed validation streams, what the hold rule is tuned on with ``hold_tuning_draws``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_helpers import ray_cluster, tiny_config, tiny_gtea

from svtas_ray.config import TrainConfig
from svtas_ray.data.layout import Dataset
from svtas_ray.errors import ConfigError
from svtas_ray.evaluate import dropout_seeds, stream_videos
from svtas_ray.models.build import build_segmenter
from svtas_ray.rl.trainer import split_videos

__all__ = ["ray_cluster", "tiny_gtea"]


@pytest.mark.parametrize(("input_dropout", "dropout"), [(0.3, 0.0), (0.0, 0.5)])
def test_perturbed_streams_are_seeded_and_leave_the_model_as_found(
    tiny_gtea: Path, tmp_path: Path, input_dropout: float, dropout: float
) -> None:
    """Both the input dropout and the TCN layers' dropout are on in a perturbed stream."""
    cfg = tiny_config(tiny_gtea, tmp_path)
    model_cfg = dataclasses.replace(cfg.model, input_dropout=input_dropout, dropout=dropout)
    cfg = dataclasses.replace(cfg, model=model_cfg)
    _, val, _ = split_videos(cfg)
    classes = Dataset.open(cfg.data.root, cfg.data.background).classes.num_classes
    torch.manual_seed(0)
    model = build_segmenter(cfg.model, classes, (32,))
    model.train()
    rng_before = torch.get_rng_state()

    def probs(seed: int | None) -> np.ndarray:
        (row,) = stream_videos(model, cfg, "train", val[:1], seed)
        return np.asarray(row["probs"], np.float32)

    plain, first, again, other = probs(None), probs(1), probs(1), probs(2)
    np.testing.assert_array_equal(first, again)  # a draw is reproducible from its seed
    assert not np.array_equal(first, other)  # another seed, another draw
    assert not np.array_equal(first, plain)  # and not the deterministic stream
    np.testing.assert_array_equal(plain, probs(None))
    assert model.training and all(m.training for m in model.modules())  # modes restored
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG untouched


def test_tuning_seeds_are_distinct_and_follow_the_run_seed() -> None:
    seeds = dropout_seeds(0, 3)
    assert len(set(seeds)) == 3 and dropout_seeds(0, 3) == seeds
    assert dropout_seeds(1, 3) != seeds and dropout_seeds(0, 0) == []


def test_negative_draws_are_rejected() -> None:
    with pytest.raises(ConfigError, match="hold_tuning_draws must be >= 0"):
        TrainConfig(hold_tuning_draws=-1)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_the_trainer_tunes_on_k_perturbed_streams_of_each_validation_video(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    import ray

    from svtas_ray.rl.trainer import Trainer

    cfg = dataclasses.replace(tiny_config(tiny_gtea, tmp_path), hold_tuning_draws=2)
    with Trainer(cfg) as trainer:
        weights = ray.get(trainer.learners[0].eval_weights.remote())
        rows = trainer._tuning_rows(weights)
        plain = trainer._stream("val", weights)
    assert [r["video"] for r in rows] == [r["video"] for r in plain] * 2
    first, second = rows[0]["probs"], rows[len(plain)]["probs"]
    assert not np.array_equal(first, second) and not np.array_equal(first, plain[0]["probs"])
