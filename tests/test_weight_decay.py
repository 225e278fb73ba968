"""The learner's weight decay is decoupled (AdamW), and stays so when a checkpoint is loaded."""

from __future__ import annotations

from pathlib import Path

import torch
from trainer_helpers import tiny_config, tiny_gtea

from svtas_ray.rl.learner import Learner

__all__ = ["tiny_gtea"]

LR, DECAY = 0.01, 0.1


def learner(root: Path, runs: Path) -> Learner:
    cfg = tiny_config(root, runs, "supervised", lr=LR, weight_decay=DECAY, warmup_steps=0)
    return Learner(cfg, num_classes=5, obs_shape=(16, 32))


def test_a_step_without_gradient_only_shrinks_the_weights(tiny_gtea: Path, tmp_path: Path) -> None:
    """Decoupled: w <- w (1 - lr decay). An L2 term in Adam's gradient would instead move every
    weight by about lr towards zero (Adam normalises the gradient), whatever its size."""
    learn = learner(tiny_gtea, tmp_path)
    before = learn.flat.flat.detach().clone()
    learn.flat.zero_grad()
    learn._step()
    torch.testing.assert_close(learn.flat.flat.detach(), before * (1 - LR * DECAY))


def test_a_checkpoint_of_coupled_adam_loads_as_decoupled(tiny_gtea: Path, tmp_path: Path) -> None:
    learn = learner(tiny_gtea, tmp_path)
    learn.flat.zero_grad()
    learn._step()
    state = learn.state()
    for group in state["optimizer"]["param_groups"]:  # as torch.optim.Adam without it saves
        group.update(decoupled_weight_decay=False, weight_decay=0.5)
    learn.load_state(state)
    (group,) = learn.optimizer.param_groups
    assert group["decoupled_weight_decay"] is True and group["weight_decay"] == DECAY
