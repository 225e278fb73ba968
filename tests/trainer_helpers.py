"""Shared set-up of the trainer tests: a tiny synthetic dataset, a tiny config, one Ray cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from svtas_ray.config import (
    AlgoConfig,
    ClipConfig,
    DataConfig,
    ModelConfig,
    ResourceConfig,
    SynthConfig,
    TrainConfig,
)


@pytest.fixture(scope="session")
def tiny_gtea(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from svtas_ray.data.cache import ensure_synthetic

    out = tmp_path_factory.mktemp("data") / "gtea"
    return ensure_synthetic(
        SynthConfig(preset="gtea", num_videos=6, scale=0.3, feature_dim=32), out
    )


def tiny_config(root: Path, runs: Path, kind: str = "ppo", **algo: object) -> TrainConfig:
    """A config that trains in a second per iteration on 2 cores."""
    return TrainConfig(
        name="test",
        runs_dir=str(runs),
        iterations=2,
        eval_every=2,
        val_videos=1,
        data=DataConfig(root=str(root)),
        clip=ClipConfig(clip_len=16, sample_rate=2),
        model=ModelConfig(
            embed_dim=16, hidden_dim=16, tcn_stages=2, tcn_layers=4, dropout=0.0, value_hidden=16
        ),
        # no supervised pre-training unless a test asks: two iterations should run the objective
        algo=AlgoConfig(kind=kind, chunk_clips=4, **{"pretrain_iterations": 0, **algo}),  # type: ignore[arg-type]
        resources=ResourceConfig(
            num_workers=1,
            envs_per_worker=2,
            num_learners=1,
            cpus_per_worker=0.5,
            cpus_per_learner=0.5,
        ),
    )


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One embedded cluster for every Ray test of the session."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray")
    started = False
    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=512 * 1024**2,
        )
        started = True
    yield
    if started:
        ray.shutdown()
