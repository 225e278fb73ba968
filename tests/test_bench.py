"""The offline-vs-streaming benchmark: table logic by hand, and ``--quick`` end to end (slow)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from svtas_ray.bench.plan import ALGOS, HEADS, SETTINGS, TRIVIAL, plan_jobs, protocol_overrides
from svtas_ray.bench.report import (
    aggregate,
    format_table,
    plot_learning_curves,
    plot_metrics,
    targets,
)
from svtas_ray.config import ModelConfig
from svtas_ray.metrics import METRIC_NAMES
from svtas_ray.models.trivial import VARIANTS

REPO = Path(__file__).resolve().parents[1]


def run_row(method: str, head: str, split: int, seed: int, score: float, **extra: float) -> dict:
    return {
        "method": method,
        "head": head,
        "input": "features",
        "split": split,
        "seed": seed,
        **{k: score for k in METRIC_NAMES},
        "train_s": 10.0,
        "latency_ms": 2.0,
        "fps": 32.0,
        "params": 100,
        **extra,
    }


def test_aggregate_mean_and_sample_std_over_splits_and_seeds() -> None:
    runs = pd.DataFrame(
        [
            run_row("ppo", "brt", 1, 0, 60.0),
            run_row("ppo", "brt", 2, 0, 70.0),
            run_row("ppo", "brt", 1, 1, 80.0),
            run_row("offline", "mstcn", 1, 0, 90.0),
        ]
    )
    summary = aggregate(runs)
    assert list(summary["method"]) == ["ppo", "offline"]  # first-appearance order
    ppo = summary.iloc[0]
    assert ppo["acc"] == pytest.approx(70.0)
    assert ppo["acc_std"] == pytest.approx(10.0)  # sample std of 60, 70, 80
    assert ppo["runs"] == 3
    assert np.isnan(summary.iloc[1]["edit_std"])  # one run: no std


def test_format_table_cells() -> None:
    runs = pd.DataFrame(
        [
            run_row("ppo", "brt", 1, 0, 60.0),
            run_row("ppo", "brt", 2, 0, 70.0),
            run_row("offline", "mstcn", 1, 0, 91.25, latency_ms=float("nan")),
        ]
    )
    table = format_table(aggregate(runs))
    assert table.loc[0, "Acc"] == "65.0 ± 7.1"
    assert table.loc[1, "F1@50"] == "91.2"  # no ± for a single run
    assert table.loc[1, "latency ms/clip"] == "–"
    assert table.loc[0, "runs"] == "2"


def summary_of(scores: dict[tuple[str, str], tuple[float, float, float]]) -> pd.DataFrame:
    """A summary with (acc, edit, f1@50) per row; the other metrics equal acc."""
    rows = []
    for (method, head), (acc, edit, f50) in scores.items():
        row = run_row(method, head, 1, 0, acc)
        row.update({"edit": edit, "f1@50": f50})
        rows.append(row)
    return aggregate(pd.DataFrame(rows))


def test_targets_distances() -> None:
    summary = summary_of(
        {
            ("offline", "mstcn"): (90.0, 85.0, 80.0),
            ("naive_stream", "mstcn"): (50.0, 20.0, 10.0),
            ("supervised", "causal_mstcn"): (80.0, 60.0, 55.0),
            ("ppo", "causal_mstcn"): (81.0, 65.0, 57.0),
            ("reinforce", "brt"): (70.0, 50.0, 40.0),
            ("ppo", "causal_mstcn+hold"): (80.0, 60.0, 52.0),
            ("ppo", "causal_mstcn+gate"): (80.0, 61.5, 51.0),
        }
    )
    found = {t["target"]: t for t in targets(summary)}
    learned = found["ppo/causal_mstcn+gate (learned hold) beats the hand rule on edit"]
    assert learned["distance"] == pytest.approx(1.5) and learned["holds"]
    learned = found["ppo/causal_mstcn+gate (learned hold) beats the hand rule on f1@50"]
    assert learned["distance"] == pytest.approx(-1.0) and not learned["holds"]
    collapse = found["naive streaming mstcn collapses (acc offline - naive)"]
    assert collapse["distance"] == pytest.approx(40.0) and collapse["holds"]
    edit = found["best RL row beats supervised on edit"]
    assert edit["distance"] == pytest.approx(65.0 - 60.0 - 3) and edit["holds"]
    f50 = found["best RL row beats supervised on f1@50"]
    assert f50["distance"] == pytest.approx(57.0 - 55.0 - 3) and not f50["holds"]
    gap = found["best streaming row within 5 of offline MS-TCN on f1@50"]
    assert gap["distance"] == pytest.approx(80.0 - 57.0 - 5) and not gap["holds"]
    gap = found["best streaming row within 5 of offline MS-TCN on edit"]
    assert gap["distance"] == pytest.approx(85.0 - 65.0 - 5) and not gap["holds"]


def test_targets_skip_missing_rows() -> None:
    summary = summary_of({("ppo", "brt"): (1.0, 2.0, 3.0)})
    assert targets(summary) == []


def test_learning_curves_plot_every_streaming_run(tmp_path: Path) -> None:
    logs = []
    for i, final in enumerate((40.0, 60.0)):
        log = pd.DataFrame(
            {"wall_s": [5.0, 10.0, 15.0], "val_edit": [10.0, np.nan, final], "val_f1@50": 20.0}
        )
        log.to_parquet(tmp_path / f"m{i}.parquet")
        logs.append(str(tmp_path / f"m{i}.parquet"))
    runs = pd.DataFrame(
        [
            run_row("ppo", "causal_mstcn", 1, 0, 50.0, metrics=logs[0]),
            run_row("supervised", "causal_mstcn", 1, 0, 50.0, metrics=logs[1]),
            run_row("ncm", "ma", 1, 0, 30.0),
            run_row("offline", "mstcn", 1, 0, 70.0),
        ]
    )
    path = plot_learning_curves(runs, tmp_path / "curves.png", "test")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_learning_curves(runs.drop(columns="metrics"), tmp_path / "none.png") is None


def test_protocol_overrides_keep_the_experiment_settings_but_not_the_job_fields() -> None:
    from svtas_ray.config import TrainConfig, override
    from svtas_ray.experiments import load_experiment

    exp = load_experiment("salads").config
    found = protocol_overrides(exp)
    assert "model.head" not in found and "algo.kind" not in found
    job = override(TrainConfig(model=ModelConfig(head="brt")), found)
    assert job.clip == exp.clip and job.reward == exp.reward
    assert job.model.head == "brt" and job.model.tcn_layers == exp.model.tcn_layers
    capped = override(exp, {"max_epochs": 7.0, "min_iterations": 3})  # not the defaults
    job = override(TrainConfig(), protocol_overrides(capped))
    assert (job.max_epochs, job.min_iterations) == (7.0, 3)


def test_an_experiments_benchmark_selects_on_its_own_validation_videos() -> None:
    import argparse

    from svtas_ray.cli.bench import add_arguments, setting_from_args
    from svtas_ray.experiments import load_experiment

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    own = load_experiment("breakfast").config.val_videos
    setting, overrides = setting_from_args(
        parser.parse_args(["--setting", "recipe", "--experiment", "breakfast"])
    )
    assert setting.name == "recipe-breakfast" and setting.val_videos == own != 2
    assert overrides["clip.clip_len"] == load_experiment("breakfast").config.clip.clip_len
    flags = ["--setting", "recipe", "--experiment", "breakfast", "--val-videos", "3"]
    assert setting_from_args(parser.parse_args(flags))[0].val_videos == 3
    assert setting_from_args(parser.parse_args(["--setting", "recipe"]))[0].val_videos == 2
    # gtea takes the trainer's own count (a tenth of the training videos, 2-8): 2 on GTEA itself
    gtea = setting_from_args(parser.parse_args(["--setting", "recipe", "--experiment", "gtea"]))
    assert gtea[0].val_videos is None


def test_an_experiments_data_root_takes_the_experiments_background_unless_bg_is_given() -> None:
    import argparse

    from svtas_ray.cli.bench import add_arguments, background_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    root = ["--data-root", "D"]
    assert background_from_args(parser.parse_args([*root, "--experiment", "salads"])) == ()
    assert background_from_args(parser.parse_args([*root, "--experiment", "egtea"])) == ("None",)
    flags = [*root, "--experiment", "egtea", "--bg", "SIL"]
    assert background_from_args(parser.parse_args(flags)) == ("SIL",)
    assert background_from_args(parser.parse_args(root)) is None  # the benchmark's default


def test_plan_jobs_covers_every_row_split_and_seed() -> None:
    full = SETTINGS["full"]
    jobs = plan_jobs(full)
    per = len(full.offline) + len(full.trivial) + len(ALGOS) * len(HEADS)
    assert len(jobs) == per * len(full.splits) * len(full.seeds)
    assert {j.method for j in jobs if j.kind == "trivial"} == {"ncm", "linear"}
    assert len({j.name for j in jobs}) == len(jobs)
    assert jobs[0].kind == "offline" and jobs[-1].kind == "stream"  # long jobs start first
    quick = plan_jobs(SETTINGS["quick"])
    assert {(j.method, j.head) for j in quick if j.kind == "stream"} == {
        (a, h) for a in ALGOS for h in HEADS
    }


def test_plot_metrics_writes_png(tmp_path: Path) -> None:
    runs = pd.DataFrame([run_row("ppo", "brt", 1, 0, 60.0), run_row("ppo", "brt", 2, 0, 70.0)])
    path = plot_metrics(aggregate(runs), tmp_path / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_script_help_needs_no_ray() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "offline_vs_streaming.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--quick" in out.stdout and "Offline TAS vs streaming TAS" in out.stdout


@pytest.mark.slow
def test_quick_end_to_end(tmp_path: Path) -> None:
    """``--quick`` from scratch: every row, tables, targets and plots (~4-5 min on 2 cores)."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "offline_vs_streaming.py"),
        "--quick",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--publish",
        str(tmp_path / "docs"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    runs = pd.read_parquet(out / "runs.parquet")
    rows = {(m, h) for m, h in zip(runs["method"], runs["head"], strict=True)}
    offline = {(kind, m) for kind in ("offline", "naive_stream") for m in ("mstcn", "asformer")}
    trivial = {(m, v) for m in TRIVIAL for v in VARIANTS}
    stream = {(a, h + hold) for a in ALGOS for h in HEADS for hold in ("", "+hold")}
    assert rows == offline | trivial | stream
    assert runs[list(METRIC_NAMES)].notna().all().all()
    assert ((runs[list(METRIC_NAMES)] >= 0) & (runs[list(METRIC_NAMES)] <= 100)).all().all()
    for name in ("table.md", "targets.md", "metrics.png", "learning_curves.png"):
        assert (tmp_path / "docs" / name).is_file()
    assert len(list((tmp_path / "docs").glob("colour_bars_*.png"))) == 2
    assert "best RL row beats supervised" in (out / "targets.md").read_text()
    # A rerun with the same inputs reuses every finished job and rebuilds the same table.
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert again.returncode == 0, again.stderr[-4000:]
    # A job per offline model (two rows), per trivial baseline (a row per variant), per streaming
    # (algo, head) (raw and with the hold rule).
    jobs = 2 + len(TRIVIAL) + len(ALGOS) * len(HEADS)
    assert f"{jobs} of {jobs} jobs already done" in again.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), runs)


def test_cli_sub_command_registers_and_parses() -> None:
    import argparse

    from svtas_ray.cli.bench import add_parsers, cmd_offline_vs_streaming

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["bench", "offline-vs-streaming", "--quick", "--external", "x=/tmp", "--set", "algo.lr=1"]
    )
    assert args.func is cmd_offline_vs_streaming
    assert args.quick and args.external == ["x=/tmp"] and args.set == ["algo.lr=1"]


def test_external_predictions_scored_per_split(tiny_dataset: Path, tmp_path: Path) -> None:
    from svtas_ray.bench.jobs import run_external
    from svtas_ray.config import DataConfig

    preds = tmp_path / "preds"
    preds.mkdir()
    gt = (tiny_dataset / "groundTruth" / "v0.txt").read_text()
    (preds / "v0.txt").write_text(gt)  # a perfect prediction of the one test video
    rows = run_external("perfect", preds, DataConfig(root=str(tiny_dataset)), [1])
    assert len(rows) == 1
    assert rows[0]["method"] == "perfect" and rows[0]["head"] == "external"
    assert all(rows[0][k] == pytest.approx(100.0) for k in METRIC_NAMES)


def test_finished_jobs_are_reused_only_with_the_same_inputs(tmp_path: Path) -> None:
    """Saved rows come back without any job running; other data or overrides invalidate them."""
    import json

    from svtas_ray.bench.jobs import fingerprint, finished_jobs, run_jobs
    from svtas_ray.bench.plan import Job
    from svtas_ray.config import DataConfig

    setting = SETTINGS["quick"]
    data = DataConfig(root=str(tmp_path))
    key = fingerprint(data, setting, {}, (64, 2))
    assert key != fingerprint(data, setting, {"algo.lr": 0.01}, (64, 2))
    assert key != fingerprint(DataConfig(root=str(tmp_path / "other")), setting, {}, (64, 2))
    jobs = [Job("stream", "ppo", "brt", 1, 0), Job("stream", "supervised", "brt", 1, 0)]
    done = tmp_path / "done"
    done.mkdir()
    for i, job in enumerate(jobs):
        rows = [run_row(job.method, job.head, 1, 0, 10.0 * (i + 1))]
        (done / f"{job.name}.json").write_text(json.dumps({"key": key, "rows": rows}))
    assert finished_jobs(jobs, done, "another key") == {}
    # Every job is done: no Ray cluster starts, the rows come back in job order.
    rows = run_jobs(jobs, data, setting, (64, 2), {}, tmp_path)
    assert [(r["method"], r["acc"]) for r in rows] == [("ppo", 10.0), ("supervised", 20.0)]


def test_a_missing_data_root_is_one_sentence_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from svtas_ray.cli.bench import main

    missing = tmp_path / "missing"
    assert main(["--quick", "--data-root", str(missing), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{missing}: dataset root not found" in err
    assert not (tmp_path / "out").exists()  # failed before any job ran


def test_a_trivial_job_scores_every_post_processing_variant(tmp_path: Path) -> None:
    """The trivial baselines' rows: one per variant, scored on the split's test videos with the
    predictions written; the hold rule and the moving average never do worse than chance."""
    import dataclasses

    from conftest import write_tiny_dataset

    from svtas_ray.bench.jobs import run_trivial_job
    from svtas_ray.bench.plan import Job
    from svtas_ray.config import DataConfig

    root = write_tiny_dataset(tmp_path / "ds", lengths=(60, 57, 63, 70), dim=5)
    (root / "splits" / "train.split1.bundle").write_text("v1.txt\nv2.txt\nv3.txt\n")
    setting = dataclasses.replace(SETTINGS["quick"], val_videos=1)
    rows = run_trivial_job(
        Job("trivial", "ncm", "frame-wise", 1, 0), DataConfig(root=str(root)), setting, (8, 1),
        tmp_path / "out",
    )  # fmt: skip
    assert [r["head"] for r in rows] == ["raw", "hold", "ma", "ma+hold"]
    assert all(r["method"] == "ncm" and 0 <= r["acc"] <= 100 for r in rows)
    assert all(len(list(Path(r["predictions"]).glob("*.txt"))) == 1 for r in rows)


def test_overrides_are_checked_against_each_jobs_own_objective() -> None:
    from svtas_ray.bench.run import checked_clip
    from svtas_ray.errors import ConfigError

    reinforce = dataclasses.replace(SETTINGS["recipe"], algos=("reinforce",))
    only_reinforce = {"algo.baseline": "mean_of_samples", "clip.clip_len": 32}
    assert checked_clip(reinforce, only_reinforce).clip_len == 32
    with pytest.raises(ConfigError, match=r"applies to algo\.kind='reinforce', not 'supervised'"):
        checked_clip(SETTINGS["recipe"], only_reinforce)
