"""Asynchronous sampling (``algo.staleness``): the workers sample the next chunks with the weights
of the moment while the learners update; k = 0 is exactly the synchronous loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trainer_helpers import ray_cluster, tiny_config, tiny_gtea

from svtas_ray import config as config_mod
from svtas_ray.rl.trainer import Trainer

__all__ = ["ray_cluster", "tiny_gtea"]

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]


def hand_loop(trainer: Trainer, staleness: int, iterations: int) -> list[dict[str, float]]:
    """The learner's stats per update, driving the actors by hand: chunk ``i`` is sampled with
    the weights after ``max(0, i - staleness)`` updates (each worker samples in order)."""
    import ray

    worker, learner = trainer.workers[0], trainer.learners[0]
    clips = trainer.cfg.algo.chunk_clips
    requested: list[Any] = []
    out = []
    for i in range(iterations):
        while len(requested) <= min(i + staleness, iterations - 1):
            weights = learner.weights.remote()
            requested.append(worker.sample.options(num_returns=2).remote(weights, clips)[0])
        out.append(ray.get(learner.update.remote([None], requested[i], progress=0.0)))
    return out


@pytest.mark.parametrize("staleness", [0, 2])
def test_the_trainer_equals_the_hand_driven_loop_of_its_staleness(
    tiny_gtea: Path, tmp_path: Path, staleness: int
) -> None:
    cfg = config_mod.override(
        tiny_config(tiny_gtea, tmp_path / "runs", "ppo"),
        {"algo.staleness": staleness, "val_videos": 0},
    )
    iterations = 3
    with Trainer(cfg) as trainer:
        rows = [trainer.step() for _ in range(iterations)]
    with Trainer(cfg) as fresh:
        expected = hand_loop(fresh, staleness, iterations)
    assert [r["staleness"] for r in rows] == [min(i, staleness) for i in range(iterations)]
    for row, stats in zip(rows, expected, strict=True):
        assert row["loss_policy"] == stats["policy"] and row["loss_value"] == stats["value"]
