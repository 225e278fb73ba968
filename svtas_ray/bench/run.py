"""One benchmark run: every job of a setting, then the tables, targets and plots."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from svtas_ray.bench.jobs import run_external, run_jobs
from svtas_ray.bench.plan import Setting, plan_jobs
from svtas_ray.bench.report import (
    aggregate,
    format_table,
    plot_colour_bars,
    plot_learning_curves,
    plot_metrics,
    targets,
    targets_markdown,
)
from svtas_ray.config import AlgoConfig, ClipConfig, DataConfig, TrainConfig, override
from svtas_ray.results import markdown_table, write_table

log = logging.getLogger(__name__)


def checked_clip(setting: Setting, overrides: Mapping[str, Any]) -> ClipConfig:
    """The streaming protocol's clips, after checking ``overrides`` against every streaming job's
    config before any job starts (each with its own ``algo.kind``, as the jobs will apply them)."""
    configs = [
        override(TrainConfig(algo=AlgoConfig(kind=kind)), overrides)  # type: ignore[arg-type]
        for kind in setting.algos or ("ppo",)
    ]
    return configs[0].clip


def run_benchmark(
    setting: Setting,
    data: DataConfig,
    out: Path,
    overrides: Mapping[str, Any] | None = None,
    external: dict[str, Path] | None = None,
    num_cpus: int | None = None,
    publish: Path | None = None,
    colour_bar_videos: int = 2,
) -> pd.DataFrame:
    """Run every job of ``setting``, write the tables and plots under ``out``; the text table.

    Writes ``runs.*`` (a row per method, head, split, seed), ``summary.*`` (mean and std),
    ``table.md`` (formatted), ``targets.md``, ``metrics.png``, ``learning_curves.png`` (validation
    Edit and F1@50 against wall-clock) and ``colour_bars_<video>.png``;
    with ``publish`` copies ``table.md``, ``targets.md`` and the PNGs there too.
    """
    out = out.resolve()
    overrides = dict(overrides or {})
    clip = checked_clip(setting, overrides)
    jobs = plan_jobs(setting)
    log.info("%d jobs on %s (%s), output in %s", len(jobs), data.root, setting.name, out)
    t0 = time.perf_counter()
    rows = run_jobs(
        jobs, data, setting, (clip.clip_len, clip.sample_rate), overrides, out, num_cpus
    )
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
        f"setting {setting.name}: {Path(data.root).name}, splits {list(setting.splits)}, seeds "
        f"{list(setting.seeds)}, streaming budget {setting.budget_s:.0f} s per job, offline "
        f"{setting.offline_epochs} epochs (sample rate {setting.offline_sample_rate}), clips "
        f"{clip.clip_len}x{clip.sample_rate}; "
        f"{len(jobs)} jobs in {wall / 60:.1f} min"
    )
    (out / "table.md").write_text(f"{header}\n\n{markdown_table(table)}\n")
    (out / "targets.md").write_text(targets_markdown(found) + "\n")
    pngs = [plot_metrics(summary, out / "metrics.png")]
    title = f"{setting.name}: {Path(data.root).name}"
    curves = plot_learning_curves(runs, out / "learning_curves.png", title)
    pngs += [curves] if curves is not None else []
    pngs += plot_colour_bars(runs, data, out, colour_bar_videos)
    if publish is not None:
        publish.mkdir(parents=True, exist_ok=True)
        for path in [out / "table.md", out / "targets.md", *pngs]:
            shutil.copyfile(path, publish / path.name)
    return table
