"""Breakfast: streaming action segmentation of 1712 cooking videos (10 dishes), PPO on Ray.

The protocol as a config literal; ``experiments/breakfast.py`` is its runnable script (its docstring
says how to run it and what to expect).
"""

from __future__ import annotations

from svtas_ray.config import (
    AlgoConfig,
    ClipConfig,
    DataConfig,
    ModelConfig,
    ResourceConfig,
    RewardConfig,
    SynthConfig,
    TrainConfig,
)
from svtas_ray.experiments.protocol import Experiment

EXPERIMENT = Experiment(
    name="breakfast",
    num_classes=48,  # 47 actions + SIL (mapping.txt of the MS-TCN release)
    splits=(1, 2, 3, 4),
    config=TrainConfig(
        name="breakfast",
        iterations=1000,
        eval_every=25,
        val_videos=8,
        data=DataConfig(background=()),
        clip=ClipConfig(clip_len=128, sample_rate=8),
        reward=RewardConfig(kind="segmental", edit_weight=0.5, f1_weights=(0.0, 0.0, 0.5)),
        # The learned hold gate and acting under dropout: docs/learning.md, "The gate by default".
        model=ModelConfig(
            head="causal_mstcn", hidden_dim=64, tcn_stages=2, tcn_layers=10, hold_gate=True
        ),
        algo=AlgoConfig(kind="ppo", ce_coef=1.0, ent_coef=0.01, chunk_clips=8, act_dropout=True),
        resources=ResourceConfig(num_workers=1, envs_per_worker=8, num_learners=1),
    ),
    # 120 videos keep the synthetic default to ~100 MB and minutes of generation on 2 cores.
    synthetic=SynthConfig(preset="breakfast", num_videos=120),
    quick={"iterations": 1_000_000, "time_budget_s": 180.0, "eval_every": 10, "val_videos": 4},
)
