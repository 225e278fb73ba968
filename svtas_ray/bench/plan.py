"""What a benchmark covers: its settings and the jobs they plan (offline vs streaming TAS).

Rows are (method, head): the offline baselines on whole videos (``offline``: MS-TCN, ASFormer),
the same trained models run clip by clip (``naive_stream``), the trivial causal baselines
(``ncm``, ``linear``; raw, moving average, hold rule), and the streaming segmenters
(``causal_mstcn``, ``brt``) trained by the Ray trainer with every ``algo.kind`` (``supervised``
and the RL objectives), plus optional external prediction folders. Every (row, split, seed) is
one job (:mod:`.jobs` runs them).

Protocol (the same for every row): test videos of each split scored with the MS-TCN metrics
(background dropped); streaming jobs train for the same wall-clock budget with the same
hyperparameters, and their test scores are those of the checkpoint selected on validation videos
carved from the training split (never the test split); offline models train a fixed number of
epochs (their papers' protocol) and report the last epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from svtas_ray.config import AlgoKind, Head, SynthConfig, TrainConfig, choices, to_dict

OFFLINE_MODELS = ("mstcn", "asformer")
"""The offline TAS models of the tables (the frame-wise 'linear' baseline is not an offline TAS
model; it belongs with the trivial baselines)."""
ALGOS = choices(AlgoKind)
RL_ALGOS = tuple(a for a in ALGOS if a != "supervised")
HEADS = choices(Head)
TRIVIAL = ("ncm", "linear")
"""Trivial causal baselines: per-frame nearest class mean and linear classifier."""
KEYS = ("method", "head", "input")
"""A row of the summary table: runs with equal keys are aggregated over splits and seeds."""


@dataclass(frozen=True)
class Setting:
    """What one benchmark run covers: data, rows, splits, seeds and budgets."""

    name: str
    """Setting name (also the output sub-folder)."""
    synth: SynthConfig | None
    """The synthetic dataset generated when no --data-root is given (None: --data-root needed)."""
    gtea_labels: bool = False
    """Synthesise features for the real GTEA label sequences (shared data) instead of a preset's."""
    splits: tuple[int, ...] = (1,)
    """Cross-validation splits: every row runs on each."""
    seeds: tuple[int, ...] = (0,)
    """Seeds: every row runs with each (model init, env order, validation subset)."""
    offline: tuple[str, ...] = OFFLINE_MODELS
    """Offline models (each also gives its naive-streaming row)."""
    trivial: tuple[str, ...] = TRIVIAL
    """Trivial causal baselines ('ncm', 'linear'), each raw, with a causal moving average and
    with the hold rule: every table carries them (a model that does not beat them is not
    trained)."""
    algos: tuple[str, ...] = ALGOS
    """Streaming objectives (algo.kind)."""
    heads: tuple[str, ...] = HEADS
    """Streaming heads (model.head)."""
    budget_s: float = 120.0
    """Wall-clock training budget of every streaming job (validation evaluations included)."""
    offline_epochs: int = 50
    """Epochs of the offline models (MS-TCN's GTEA protocol: 50)."""
    offline_sample_rate: int = 1
    """The offline models train and predict on every this-many-th frame (MS-TCN: 1 on GTEA, 2 on
    50Salads; predictions are repeated back to every frame)."""
    val_videos: int | None = 2
    """Training videos held out for model selection of streaming jobs (None: the trainer's
    default, ``TrainConfig.val_videos``)."""
    eval_every: int = 5
    """Validation every this many iterations of a streaming job."""


SETTINGS = {
    # Every row, tiny budgets, short videos: what the slow test runs (~4 min on 2 cores).
    "quick": Setting(
        "quick",
        SynthConfig(preset="gtea", scale=0.5),
        budget_s=8.0,
        offline_epochs=5,
        eval_every=2,
    ),
    # The full setting: real GTEA label sequences, synthetic features, all 4 splits, one
    # seed (the spread is over splits), 120 s per streaming job: 56 jobs, ~1.5 h on 2 cores.
    # --seeds 0 1 2 triples the streaming jobs and the offline ones.
    "full": Setting(
        "full", SynthConfig(preset="gtea"), gtea_labels=True, splits=(1, 2, 3, 4), seeds=(0,)
    ),
    # Issue 6's comparison: the six objectives on the gtea preset, split 1, 3 seeds, equal budget
    # (no offline rows: add them with --offline mstcn; 50 epochs x 3 seeds cost ~15 min here).
    # Issue 14's recipe check, one dataset per run (--experiment NAME: that protocol's synthetic
    # data and hyperparameters; gtea uses the real GTEA label sequences): supervised vs the
    # default (PPO after supervised pre-training) at equal wall-clock, offline MS-TCN and the
    # trivial baselines, split 1, 3 seeds.
    "recipe": Setting(
        "recipe",
        SynthConfig(preset="gtea"),
        gtea_labels=True,
        seeds=(0, 1, 2),
        offline=("mstcn",),
        algos=("supervised", "ppo"),
        heads=("causal_mstcn",),
        budget_s=120.0,
        eval_every=10,
    ),
    "algos": Setting(
        "algos",
        SynthConfig(preset="gtea"),
        seeds=(0, 1, 2),
        offline=(),
        heads=("causal_mstcn",),
        budget_s=60.0,
    ),
}


PROTOCOL_SECTIONS = ("clip", "reward", "model", "algo")
"""The sections of an experiment's config that its benchmark jobs keep (``--experiment``)."""
JOB_FIELDS = ("model.head", "algo.kind")
"""Set by each job (its row), never by the protocol."""


def protocol_overrides(cfg: TrainConfig) -> dict[str, Any]:
    """Dotted overrides that give a benchmark job ``cfg``'s clips, reward, model and objective
    hyperparameters (all but the fields each job sets itself, :data:`JOB_FIELDS`) and its cap on
    passes over the data (``max_epochs``, ``min_iterations``; the wall-clock budget is the
    setting's)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}", value)
        elif prefix not in JOB_FIELDS:
            out[prefix] = node

    data = to_dict(cfg)
    for section in PROTOCOL_SECTIONS:
        walk(section, data[section])
    out["max_epochs"] = cfg.max_epochs
    out["min_iterations"] = cfg.min_iterations
    return out


@dataclass(frozen=True)
class Job:
    """One training + evaluation: an offline model or a streaming (algo, head), one split/seed."""

    kind: str
    """'offline' (gives the offline and the naive-streaming row), 'trivial' (a baseline's
    post-processing variants) or 'stream'."""
    method: str
    """Offline: 'offline'; streaming: the algo.kind."""
    head: str
    """Offline: 'mstcn' / 'asformer'; streaming: 'causal_mstcn' / 'brt'."""
    split: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.method}-{self.head}-split{self.split}-seed{self.seed}"


def plan_jobs(setting: Setting) -> list[Job]:
    """Every job of ``setting``; the long offline jobs first so that they start first."""
    jobs = []
    for split in setting.splits:
        for seed in setting.seeds:
            jobs += [Job("offline", "offline", m, split, seed) for m in setting.offline]
            jobs += [Job("trivial", m, "frame-wise", split, seed) for m in setting.trivial]
            jobs += [Job("stream", a, h, split, seed) for h in setting.heads for a in setting.algos]
    return sorted(jobs, key=lambda j: j.kind != "offline")
