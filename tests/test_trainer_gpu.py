"""Learners on a CUDA device (bf16 autocast): every objective updates with finite losses.

Skipped without a GPU. Needs no Ray and no environment: the chunk is random but well formed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_helpers import tiny_config

from svtas_ray.config import override
from svtas_ray.rl.batch import Chunk
from svtas_ray.rl.learner import Learner
from svtas_ray.rl.policy import state_to_numpy

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

KINDS = ("supervised", "ppo", "reinforce", "actor_critic", "paper_mc", "paper_td")


def random_chunk(learner: Learner, n: int, k: int, length: int, dim: int, classes: int) -> Chunk:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, (n, k, length))
    masks = np.ones((n, k, length), bool)
    masks[:, -1, length // 2 :] = False
    labels[~masks] = -100
    dones = np.zeros((n, k), bool)
    dones[0, k // 2] = True
    start = tuple(state_to_numpy(learner.model.initial_state(n, "cpu")))
    return Chunk(
        obs=rng.normal(size=(n, k, length, dim)).astype(np.float32),
        actions=rng.integers(0, classes, (n, k, length)),
        logp=np.full((n, k, length), -np.log(classes), np.float32),
        rewards=rng.normal(size=(n, k)).astype(np.float32),
        values=np.zeros((n, k), np.float32),
        labels=labels,
        masks=masks,
        dones=dones,
        last_value=np.zeros(n, np.float32),
        start_state=start,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_cuda_learner_updates_every_objective(kind: str, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, tmp_path, kind)
    cfg = override(
        cfg, {"resources.gpus_per_learner": 1, "clip.clip_len": 64, "model.hidden_dim": 64}
    )
    learner = Learner(cfg, num_classes=11, obs_shape=(64, 32))
    assert learner.device.type == "cuda"
    chunk = random_chunk(learner, n=16, k=8, length=64, dim=32, classes=11)
    learner.update([None], chunk)  # warm-up (kernels, allocator)
    torch.cuda.synchronize()
    start = time.perf_counter()
    stats = learner.update([None], chunk)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    print(f"{kind}: {elapsed * 1000:.1f} ms per update of 16x8 clips; {stats}")
    assert all(np.isfinite(v) for v in stats.values()), stats
    assert all(p.device.type == "cuda" for p in learner.model.parameters())
    assert all(w.dtype == np.float32 for w in learner.weights().values())
