"""Running a benchmark's jobs (:mod:`.plan` says which rows and the protocol): one Ray task
holding one CPU per job, at most one job per CPU in flight (a streaming job's rollout worker and
learner reserve nothing more and take turns, so a wall-clock budget means the same for every job,
however many run at once). Offline models train on whole videos and are also run clip by clip;
trivial baselines are fitted and post-processed; streaming jobs train on Ray and are tested with
their validation-selected weights. Finished jobs are saved and reused on a rerun.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from svtas_ray.bench.plan import Job, Setting
from svtas_ray.config import DataConfig
from svtas_ray.metrics import METRIC_NAMES

log = logging.getLogger(__name__)


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
    """Train one offline model; score it on whole videos and naively streamed (clips of
    ``clip_frames`` raw frames, as the streaming models see them), time both."""
    import torch

    from svtas_ray.config import OfflineTrainConfig
    from svtas_ray.data.features import read_video_features
    from svtas_ray.data.layout import Dataset
    from svtas_ray.evaluate import evaluate_offline
    from svtas_ray.models.offline_training import train_offline

    torch.set_num_threads(1)
    rate = setting.offline_sample_rate
    slots = max(1, clip_frames // rate)  # sampled frames per naive-streaming clip
    cfg = OfflineTrainConfig(
        data=dataclasses.replace(data, split=job.split),
        model=job.head,  # type: ignore[arg-type]
        epochs=setting.offline_epochs,
        sample_rate=setting.offline_sample_rate,
        seed=job.seed,
        naive_clip_len=slots,
    )
    folder = out / "jobs" / job.name
    folder.mkdir(parents=True, exist_ok=True)
    device = torch.device("cpu")
    model, seconds = train_offline(cfg, folder, device)
    table = evaluate_offline(model, cfg, folder, device, naive=True, train_seconds=seconds)
    ds = Dataset.open(data.root, data.background, data.features_dir)
    video = ds.split_videos(job.split, "test")[0]
    features, _ = read_video_features(ds, video, rate, data.alignment)
    x = torch.from_numpy(features)[None]
    clips = [x[:, s : s + slots] for s in range(0, x.shape[1], slots)]
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
        row["fps"] = slots * rate / per_clip if naive else x.shape[1] * rate / whole
        row["predictions"] = str(folder / "predictions" / str(rec["variant"]))
        rows.append(row)
    return rows


def run_trivial_job(
    job: Job, data: DataConfig, setting: Setting, clip: tuple[int, int], out: Path
) -> list[dict[str, Any]]:
    """A trivial causal baseline on the streaming protocol's sampled frames: fitted on the
    training videos, hold rule and moving-average window chosen on the validation videos the
    streaming jobs use, one row per post-processing variant ('ncm/raw', 'ncm/ma+hold', ...)."""
    from svtas_ray.config import ClipConfig, TrainConfig
    from svtas_ray.data.layout import Dataset
    from svtas_ray.data.predictions import write_video_prediction
    from svtas_ray.models.trivial import VARIANTS, evaluate_trivial
    from svtas_ray.rl.trainer import split_videos

    clip_len, sample_rate = clip
    cfg = TrainConfig(
        seed=job.seed,
        val_videos=setting.val_videos,
        data=dataclasses.replace(data, split=job.split),
        clip=ClipConfig(clip_len=clip_len, sample_rate=sample_rate),
    )
    fit, val, test = split_videos(cfg)
    ds = Dataset.open(data.root, data.background, data.features_dir)
    t0 = time.perf_counter()
    (result,) = evaluate_trivial(
        ds, fit, val, test, (job.method,), sample_rate, (16, 64, 256), data.alignment
    )
    seconds = time.perf_counter() - t0
    rows = []
    for variant in VARIANTS:
        folder = out / "trivial" / job.name / variant
        folder.mkdir(parents=True, exist_ok=True)
        for video, labels in result.predictions[variant].items():
            write_video_prediction(folder, video, labels, ds.classes)
        row = _row(job, job.method, result.scores[variant], seconds, 0)
        row.update(head=variant, latency_ms=float("nan"), fps=float("nan"))
        row["predictions"] = str(folder)
        rows.append(row)
    return rows


def run_stream_job(
    job: Job, data: DataConfig, setting: Setting, overrides: Mapping[str, Any], out: Path
) -> list[dict[str, Any]]:
    """Train one streaming (algo, head) for the budget; test the validation-selected weights."""
    import ray
    import torch

    from svtas_ray.config import (
        AlgoConfig,
        ModelConfig,
        ResourceConfig,
        TrainConfig,
        override,
    )
    from svtas_ray.data.features import read_video_features
    from svtas_ray.data.layout import Dataset
    from svtas_ray.models.checkpoint import load_segmenter
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
    cfg = override(cfg, overrides)
    with Trainer(cfg) as trainer:
        # Wait until the learner process is up: its start-up (torch import, ~5-10 s on a busy
        # machine) would otherwise eat the first iteration of a short budget.
        ray.get(trainer.learners[0].weights.remote())
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
        results = trainer.finish()  # train() validated its last iteration: selection saw all
        path = trainer.path
    model, _, _ = load_segmenter(path / "checkpoints" / "best.pt")
    model.eval()
    ds = Dataset.open(data.root, data.background, data.features_dir)
    video = ds.split_videos(job.split, "test")[0]
    features, _ = read_video_features(ds, video, cfg.clip.sample_rate, data.alignment)
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
    row["metrics"] = str(path / "metrics.parquet")  # the learning curve's source
    rows = [row]
    # the same weights post-processed: the hold rule, and the learned gate (model.hold_gate),
    # each with its settings tuned on the validation videos
    for stage in ("hold", "gate"):
        if f"test_best_{stage}" in results:
            scores = results[f"test_best_{stage}"]
            held = {**row, **{k: float(scores[k]) for k in METRIC_NAMES}}
            folder = path / "eval" / f"test_best_{stage}" / "predictions"
            held.update(head=f"{job.head}+{stage}", predictions=str(folder))
            rows.append(held)
    return rows


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
    clip: tuple[int, int],
    overrides: Mapping[str, Any],
    out: Path,
    num_cpus: int | None = None,
) -> list[dict[str, Any]]:
    """Run every job as a Ray task holding one CPU; rows in the order the jobs were given.
    ``clip``: the streaming protocol's (clip_len, sample_rate).

    Each finished job's rows are saved under ``out/done/`` with a fingerprint of the data,
    setting and overrides; a rerun with the same fingerprint reuses them, so an interrupted
    benchmark resumes where it stopped (jobs whose inputs changed run again).
    """
    key = fingerprint(data, setting, overrides, clip)
    done_dir = out / "done"
    results = finished_jobs(jobs, done_dir, key)
    if results:
        log.info("%d of %d jobs already done in %s: reused", len(results), len(jobs), done_dir)
    todo = [job for job in jobs if job not in results]
    if todo:
        done_dir.mkdir(parents=True, exist_ok=True)
        for job, rows in _run_tasks(todo, data, setting, clip, overrides, out, num_cpus):
            results[job] = rows
            (done_dir / f"{job.name}.json").write_text(json.dumps({"key": key, "rows": rows}))
    return [row for job in jobs for row in results[job]]


def fingerprint(
    data: DataConfig, setting: Setting, overrides: Mapping[str, Any], clip: tuple[int, int]
) -> str:
    """What a job's result depends on besides the job itself, as a hex digest."""
    return hashlib.sha1(repr((data, setting, sorted(overrides.items()), clip)).encode()).hexdigest()


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
    clip: tuple[int, int],
    overrides: Mapping[str, Any],
    out: Path,
    num_cpus: int | None,
) -> Iterator[tuple[Job, list[dict[str, Any]]]]:
    """Each job's rows as it finishes; a failed job raises here with its traceback."""
    import ray
    from tqdm import tqdm

    from svtas_ray.rl.ray_session import init_ray

    started = init_ray(num_cpus, log_to_driver=False, object_store_memory=512 * 1024**2)
    offline = ray.remote(num_cpus=1, max_retries=0)(run_offline_job)
    trivial = ray.remote(num_cpus=1, max_retries=0)(run_trivial_job)
    stream = ray.remote(num_cpus=1, max_retries=0)(run_stream_job)

    def submit(job: Job) -> Any:
        if job.kind == "offline":
            return offline.remote(job, data, setting, clip[0] * clip[1], out)
        if job.kind == "trivial":
            return trivial.remote(job, data, setting, clip, out)
        return stream.remote(job, data, setting, dict(overrides), out)

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
