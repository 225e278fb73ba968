"""Offline TAS against streaming TAS on one dataset, one protocol, one table.

Rows are (method, head): the offline baselines on whole videos (``offline``: MS-TCN, ASFormer),
the same trained models run clip by clip (``naive_stream``), and the streaming segmenters
(``causal_mstcn``, ``brt``) trained by the Ray trainer with every ``algo.kind`` (``supervised``
and the RL objectives), plus optional external prediction folders. Every (row, split, seed) is
one job; jobs run in parallel as Ray tasks that reserve one CPU each, at most one job per CPU
in flight (a streaming job's rollout worker and learner reserve nothing more and take turns, so a
job uses about one core: the wall-clock budget means the same thing for every job, however many
run at once).

Protocol (the same for every row): test videos of each split scored with the MS-TCN metrics
(background dropped); streaming jobs train for the same wall-clock budget with the same
hyperparameters, and their test scores are those of the checkpoint selected on validation videos
carved from the training split (never the test split); offline models train a fixed number of
epochs (their papers' protocol) and report the last epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from svtas_ray.config import DataConfig, SynthConfig
from svtas_ray.metrics import METRIC_NAMES

log = logging.getLogger(__name__)

OFFLINE_MODELS = ("mstcn", "asformer")
ALGOS = ("supervised", "ppo", "reinforce", "actor_critic", "paper_mc", "paper_td")
RL_ALGOS = ALGOS[1:]
HEADS = ("causal_mstcn", "brt")
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
    algos: tuple[str, ...] = ALGOS
    """Streaming objectives (algo.kind)."""
    heads: tuple[str, ...] = HEADS
    """Streaming heads (model.head)."""
    budget_s: float = 120.0
    """Wall-clock training budget of every streaming job (validation evaluations included)."""
    offline_epochs: int = 50
    """Epochs of the offline models (MS-TCN's GTEA protocol: 50)."""
    val_videos: int = 2
    """Training videos held out for model selection of streaming jobs."""
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
    "algos": Setting(
        "algos",
        SynthConfig(preset="gtea"),
        seeds=(0, 1, 2),
        offline=(),
        heads=("causal_mstcn",),
        budget_s=60.0,
    ),
}


@dataclass(frozen=True)
class Job:
    """One training + evaluation: an offline model or a streaming (algo, head), one split/seed."""

    kind: str
    """'offline' (gives the offline and the naive-streaming row) or 'stream'."""
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
            jobs += [Job("stream", a, h, split, seed) for h in setting.heads for a in setting.algos]
    return sorted(jobs, key=lambda j: j.kind != "offline")


# --------------------------------------------------------------------------- jobs


def _median_seconds(fn: Callable[[Any], object], items: Sequence[Any]) -> float:
    """Median seconds of ``fn(item)`` over ``items`` (second pass: the first one warms up)."""
    for item in items:
        fn(item)
    times = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_offline_job(
    job: Job, data: DataConfig, setting: Setting, clip_frames: int, out: Path
) -> list[dict[str, Any]]:
    """Train one offline model; score it on whole videos and naively streamed, time both."""
    import torch

    from svtas_ray.baseline import evaluate_offline, load_video, train_offline
    from svtas_ray.config import OfflineTrainConfig
    from svtas_ray.data.layout import Dataset

    torch.set_num_threads(1)
    cfg = OfflineTrainConfig(
        data=dataclasses.replace(data, split=job.split),
        model=job.head,  # type: ignore[arg-type]
        epochs=setting.offline_epochs,
        seed=job.seed,
        naive_clip_len=clip_frames,
    )
    folder = out / "jobs" / job.name
    folder.mkdir(parents=True, exist_ok=True)
    device = torch.device("cpu")
    model, seconds = train_offline(cfg, folder, device)
    table = evaluate_offline(model, cfg, folder, device, naive=True, train_seconds=seconds)
    ds = Dataset.open(data.root, data.background, data.features_dir)
    features, _ = load_video(ds, ds.split_videos(job.split, "test")[0], 1, data.alignment)
    x = torch.from_numpy(features)[None]
    clips = [x[:, s : s + clip_frames] for s in range(0, x.shape[1], clip_frames)]
    model.eval()
    with torch.no_grad():
        whole = _median_seconds(model, [x])
        per_clip = _median_seconds(model, clips)
    params = sum(p.numel() for p in model.parameters())
    rows = []
    for rec in table.to_dict("records"):
        naive = str(rec["variant"]).startswith("naive")
        row = _row(job, "naive_stream" if naive else "offline", rec, seconds, params)
        row["latency_ms"] = 1000 * per_clip if naive else float("nan")
        row["fps"] = clip_frames / per_clip if naive else x.shape[1] / whole
        row["predictions"] = str(folder / "predictions" / str(rec["variant"]))
        rows.append(row)
    return rows


def run_stream_job(
    job: Job, data: DataConfig, setting: Setting, overrides: Sequence[str], out: Path
) -> list[dict[str, Any]]:
    """Train one streaming (algo, head) for the budget; test the validation-selected weights."""
    import ray
    import torch

    from svtas_ray.baseline import load_video
    from svtas_ray.config import (
        AlgoConfig,
        ModelConfig,
        ResourceConfig,
        TrainConfig,
        apply_overrides,
    )
    from svtas_ray.data.layout import Dataset
    from svtas_ray.rl.checkpoint import load_checkpoint
    from svtas_ray.rl.policy import build_policy
    from svtas_ray.rl.trainer import Trainer

    torch.set_num_threads(1)
    cfg = TrainConfig(
        name=job.name,
        runs_dir=str(out / "runs"),
        seed=job.seed,
        iterations=1_000_000,  # the budget stops it
        time_budget_s=setting.budget_s,
        eval_every=setting.eval_every,
        val_videos=setting.val_videos,
        data=dataclasses.replace(data, split=job.split),
        model=ModelConfig(head=job.head),  # type: ignore[arg-type]
        algo=AlgoConfig(kind=job.method),  # type: ignore[arg-type]
        # The task holds one CPU; its actors reserve none so the job never exceeds it.
        resources=ResourceConfig(cpus_per_worker=0, cpus_per_learner=0, torch_threads=1),
    )
    cfg = apply_overrides(cfg, overrides)
    with Trainer(cfg) as trainer:
        # Wait until the learner process is up: its start-up (torch import, ~5-10 s on a busy
        # machine) would otherwise eat the first iteration of a short budget.
        ray.get(trainer.learners[0].weights.remote())
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
        results = trainer.finish()  # train() validated its last iteration: selection saw all
        path = trainer.path
        obs_shape, num_classes = trainer.obs_shape, trainer.num_classes
    model = build_policy(cfg, num_classes, obs_shape)
    model.load_state_dict(load_checkpoint(path / "checkpoints" / "best.pt")["model"])
    model.eval()
    ds = Dataset.open(data.root, data.background, data.features_dir)
    video = ds.split_videos(job.split, "test")[0]
    features, _ = load_video(ds, video, cfg.clip.sample_rate, data.alignment)
    length = cfg.clip.clip_len
    clips = [torch.from_numpy(features[s : s + length]) for s in range(0, len(features), length)]
    state = model.initial_state(1)

    def step(clip: torch.Tensor) -> None:
        model(clip[None], state)

    with torch.no_grad():
        per_clip = _median_seconds(step, clips)
    row = _row(
        job, job.method, results["test_best"], seconds, sum(p.numel() for p in model.parameters())
    )
    row["latency_ms"] = 1000 * per_clip
    row["fps"] = length / per_clip
    row["predictions"] = str(path / "eval" / "test_best" / "predictions")
    row["iterations"] = len(pd.read_parquet(path / "metrics.parquet"))
    return [row]


def run_external(name: str, pred_dir: Path, data: DataConfig, splits: Sequence[int]) -> list[dict]:
    """Score a folder of prediction files (another codebase's) on each split's test videos."""
    from svtas_ray.data.layout import Dataset
    from svtas_ray.evaluate import score_predictions

    ds = Dataset.open(data.root, data.background, data.features_dir)
    rows = []
    for split in splits:
        scores, _ = score_predictions(ds, pred_dir, ds.split_videos(split, "test"))
        row = _row(Job("external", name, "external", split, 0), name, scores, float("nan"), 0)
        row.update(latency_ms=float("nan"), fps=float("nan"), predictions=str(pred_dir))
        rows.append(row)
    return rows


def _row(job: Job, method: str, scores: Mapping[Any, Any], seconds: float, params: int) -> dict:
    return {
        "method": method,
        "head": job.head,
        "input": "features",
        "split": job.split,
        "seed": job.seed,
        **{k: float(scores[k]) for k in METRIC_NAMES},
        "train_s": float(seconds),
        "params": int(params),
    }


def run_jobs(
    jobs: Sequence[Job],
    data: DataConfig,
    setting: Setting,
    clip_frames: int,
    overrides: Sequence[str],
    out: Path,
    num_cpus: int | None = None,
) -> list[dict[str, Any]]:
    """Run every job as a Ray task holding one CPU; rows in the order the jobs were given.

    Each finished job's rows are saved under ``out/done/`` with a fingerprint of the data,
    setting and overrides; a rerun with the same fingerprint reuses them, so an interrupted
    benchmark resumes where it stopped (jobs whose inputs changed run again).
    """
    key = fingerprint(data, setting, overrides, clip_frames)
    done_dir = out / "done"
    results = finished_jobs(jobs, done_dir, key)
    if results:
        log.info("%d of %d jobs already done in %s: reused", len(results), len(jobs), done_dir)
    todo = [job for job in jobs if job not in results]
    if todo:
        done_dir.mkdir(parents=True, exist_ok=True)
        for job, rows in _run_tasks(todo, data, setting, clip_frames, overrides, out, num_cpus):
            results[job] = rows
            (done_dir / f"{job.name}.json").write_text(json.dumps({"key": key, "rows": rows}))
    return [row for job in jobs for row in results[job]]


def fingerprint(
    data: DataConfig, setting: Setting, overrides: Sequence[str], clip_frames: int
) -> str:
    """What a job's result depends on besides the job itself, as a hex digest."""
    return hashlib.sha1(repr((data, setting, tuple(overrides), clip_frames)).encode()).hexdigest()


def finished_jobs(jobs: Sequence[Job], done_dir: Path, key: str) -> dict[Job, list[dict]]:
    """The saved rows of each job in ``done_dir`` whose fingerprint is ``key``."""
    results = {}
    for job in jobs:
        path = done_dir / f"{job.name}.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("key") == key:
                results[job] = saved["rows"]
    return results


def _run_tasks(
    jobs: Sequence[Job],
    data: DataConfig,
    setting: Setting,
    clip_frames: int,
    overrides: Sequence[str],
    out: Path,
    num_cpus: int | None,
) -> Iterator[tuple[Job, list[dict[str, Any]]]]:
    """Each job's rows as it finishes; a failed job raises here with its traceback."""
    import ray
    from tqdm import tqdm

    from svtas_ray.rl.ray_session import init_ray

    started = init_ray(num_cpus, log_to_driver=False, object_store_memory=512 * 1024**2)
    offline = ray.remote(num_cpus=1, max_retries=0)(run_offline_job)
    stream = ray.remote(num_cpus=1, max_retries=0)(run_stream_job)

    def submit(job: Job) -> Any:
        if job.kind == "offline":
            return offline.remote(job, data, setting, clip_frames, out)
        return stream.remote(job, data, setting, list(overrides), out)

    # At most one job per CPU is in flight: Ray lends a task's CPU to other tasks while it waits
    # in ray.get (a trainer waiting on its actors), so the CPU reservation alone does not bound
    # how many jobs share the machine.
    slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
    try:
        queue = list(jobs)
        pending: dict[Any, Job] = {}
        with tqdm(total=len(jobs), desc="bench jobs", unit="job") as bar:
            while queue or pending:
                while queue and len(pending) < slots:
                    job = queue.pop(0)
                    pending[submit(job)] = job
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                rows = ray.get(done[0])
                bar.update(1)
                yield job, rows
    finally:
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------- the whole run


def prepare_data(
    setting: Setting,
    data_root: str | None,
    cache: Path,
    background: tuple[str, ...] | None = None,
    features_dir: str = "features",
    gtea_labels: Path | None = None,
) -> DataConfig:
    """The dataset of the run: ``data_root`` as given, else the setting's synthetic one."""
    from svtas_ray.data.cache import ensure_synthetic
    from svtas_ray.data.synthetic import PRESET_BACKGROUND
    from svtas_ray.errors import ConfigError

    if data_root:
        from svtas_ray.data.layout import Dataset

        bg = background if background is not None else ("background",)
        Dataset.open(data_root, bg, features_dir)  # bad data fails here, before any job starts
        return DataConfig(
            root=str(Path(data_root).resolve()), background=bg, features_dir=features_dir
        )
    if setting.synth is None:
        raise ConfigError(f"setting {setting.name!r} needs --data-root")
    bg = PRESET_BACKGROUND[setting.synth.preset]
    labels = None
    tag: str = setting.synth.preset
    if setting.gtea_labels:
        if gtea_labels is None or not (gtea_labels / "mapping.txt").is_file():
            raise ConfigError(
                f"setting {setting.name!r} needs the real GTEA labels ({gtea_labels}: not found; "
                "set SVTAS_SHARED_DATA or pass --data-root)"
            )
        labels, tag = gtea_labels, "gtea-labels"
    digest = hashlib.sha1(f"{setting.synth!r}{labels}".encode()).hexdigest()[:8]
    root = cache / "synthetic" / f"bench-{tag}-{digest}"
    ensure_synthetic(setting.synth, root, from_labels=labels, background=bg)
    return DataConfig(root=str(root.resolve()), background=bg)


def run_benchmark(
    setting: Setting,
    data: DataConfig,
    out: Path,
    overrides: Sequence[str] = (),
    external: dict[str, Path] | None = None,
    num_cpus: int | None = None,
    publish: Path | None = None,
    colour_bar_videos: int = 2,
) -> pd.DataFrame:
    """Run every job of ``setting``, write the tables and plots under ``out``; the text table.

    Writes ``runs.*`` (a row per method, head, split, seed), ``summary.*`` (mean and std),
    ``table.md`` (formatted), ``targets.md``, ``metrics.png`` and ``colour_bars_<video>.png``;
    with ``publish`` copies ``table.md``, ``targets.md`` and the PNGs there too.
    """
    from svtas_ray.bench_report import (
        aggregate,
        format_table,
        plot_colour_bars,
        plot_metrics,
        targets,
        targets_markdown,
    )
    from svtas_ray.config import TrainConfig, apply_overrides
    from svtas_ray.results import markdown_table, write_table

    out = out.resolve()
    clip = apply_overrides(TrainConfig(), overrides).clip  # also checks them before any job
    jobs = plan_jobs(setting)
    log.info("%d jobs on %s (%s), output in %s", len(jobs), data.root, setting.name, out)
    t0 = time.perf_counter()
    rows = run_jobs(jobs, data, setting, clip.clip_len * clip.sample_rate, overrides, out, num_cpus)
    for name, folder in (external or {}).items():
        rows += run_external(name, folder, data, setting.splits)
    wall = time.perf_counter() - t0
    runs = pd.DataFrame(rows)
    write_table(runs, out / "runs")
    summary = aggregate(runs)
    write_table(summary, out / "summary")
    table = format_table(summary)
    found = targets(summary)
    header = (
        f"setting {setting.name}: {data.root}, splits {list(setting.splits)}, seeds "
        f"{list(setting.seeds)}, streaming budget {setting.budget_s:.0f} s per job, offline "
        f"{setting.offline_epochs} epochs, clips {clip.clip_len}x{clip.sample_rate}; "
        f"{len(jobs)} jobs in {wall / 60:.1f} min"
    )
    (out / "table.md").write_text(f"{header}\n\n{markdown_table(table)}\n")
    (out / "targets.md").write_text(targets_markdown(found) + "\n")
    pngs = [plot_metrics(summary, out / "metrics.png")]
    pngs += plot_colour_bars(runs, data, out, colour_bar_videos)
    if publish is not None:
        publish.mkdir(parents=True, exist_ok=True)
        for path in [out / "table.md", out / "targets.md", *pngs]:
            shutil.copyfile(path, publish / path.name)
    return table
