"""EGTEA Gaze+: streaming verb segmentation of 86 long egocentric cooking videos, PPO on Ray.

The protocol as a config literal; ``experiments/egtea.py`` is its runnable script (its docstring
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
    name="egtea",
    num_classes=20,  # 19 verbs + None (svtas_ray/data/egtea.py writes this mapping)
    splits=(1, 2, 3),
    config=TrainConfig(
        name="egtea",
        iterations=500,
        eval_every=20,
        val_videos=4,
        # resample: features extracted at another frame rate than the labels are mapped by index
        data=DataConfig(background=("None",), alignment="resample"),
        clip=ClipConfig(clip_len=128, sample_rate=8),
        reward=RewardConfig(kind="segmental", edit_weight=0.5, f1_weights=(0.0, 0.0, 0.5)),
        # The learned hold gate and acting under dropout: docs/learning.md, "The gate by default".
        model=ModelConfig(
            head="causal_mstcn", hidden_dim=64, tcn_stages=2, tcn_layers=10, hold_gate=True
        ),
        algo=AlgoConfig(kind="ppo", ce_coef=1.0, ent_coef=0.01, chunk_clips=8, act_dropout=True),
        resources=ResourceConfig(num_workers=1, envs_per_worker=8, num_learners=1),
    ),
    # Real EGTEA videos average ~28k frames; 32 videos at half length keep the default small.
    synthetic=SynthConfig(preset="egtea", num_videos=32, scale=0.5),
    quick={"iterations": 1_000_000, "time_budget_s": 180.0, "eval_every": 10},
)
