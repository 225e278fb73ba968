"""A 4-trial ASHA sweep with tiny budgets: completes, stops a trial early, survives an interrupt.

experiments/sweep.py runs in a subprocess (its own embedded Ray cluster); it is interrupted with
SIGINT once a trial has reported a checkpoint, then continued with ``--resume`` (Tuner.restore).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from svtas_ray import config as config_mod
from svtas_ray.config import TrainConfig

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]

TINY = [
    "--synth=num_videos=6",
    "--synth=scale=0.3",
    "--synth=feature_dim=32",
    "--set=iterations=8",
    "--set=val_videos=1",
    "--set=clip.clip_len=16",
    "--set=model.hidden_dim=16",
    "--set=model.tcn_stages=2",
    "--set=model.tcn_layers=4",
    "--set=algo.chunk_clips=4",
    "--set=resources.envs_per_worker=2",
    "--set=resources.cpus_per_worker=0.5",
    "--set=resources.cpus_per_learner=0.5",
    "--set=resources.num_cpus=2",
    # The gtea protocol turns the learned hold gate on. In 8 iterations of this tiny model both
    # learning rates still label nearly every frame background, and the gate holds that label, so
    # the good trials score 0 while the untrained ones score a few Edit points from random
    # segments. Without the gate, the good trials' early switches score above them at the rungs
    # (measured: validation Edit 6.7 at iteration 4, against 0 with the gate).
    "--set=model.hold_gate=false",
]
# A hopeless learning rate next to a good one: ASHA has something to stop. Two iterations per
# report, so that at the first rung the good trials have learnt enough not to tie with the
# hopeless ones (after one tiny iteration both can still score 0 on Edit and F1@50). One trial at
# a time, in grid order: a good trial has always reported at a rung before a hopeless one reaches
# it (concurrent trials raced, and a hopeless trial that reached every rung first was never
# compared with anything: the test failed that way once in CI).
SPACE = {"algo.lr": {"grid": [3e-3, 1e-7, 3e-3, 1e-7]}, "algo.kind": {"choice": ["supervised"]}}


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    env["SVTAS_CACHE"] = str(tmp / "cache")
    env.pop("RAY_ADDRESS", None)
    return env


def _sweep(args: list[str], tmp: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(REPO / "experiments" / "sweep.py"), *args]
    return subprocess.Popen(
        cmd, env=_env(tmp), cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _reap(proc: subprocess.Popen[str], timeout: float) -> str:
    """Wait for ``proc``; on timeout kill it and every process it started. Its output."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kids = []
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    for p in kids:
        if p.is_running():
            p.kill()
    return out


def test_asha_sweep_stops_early_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    start = time.monotonic()
    first = _sweep(
        [
            *TINY,
            f"--space={space}",
            "--samples=1",
            "--report-every=2",
            "--max-concurrent=1",
            f"--out={out}",
        ],
        tmp_path,
    )
    # Interrupt once some trial has saved a checkpoint (and so is resumable).
    while time.monotonic() - start < 90 and first.poll() is None:
        if list((out / "tune").glob("*/checkpoint_*")):
            break
        time.sleep(0.5)
    assert first.poll() is None, _reap(first, 5)  # still running: the interrupt is real
    kids = psutil.Process(first.pid).children(recursive=True)
    first.send_signal(signal.SIGINT)
    log1 = _reap(first, 60)
    for p in kids:
        if p.is_running():
            p.kill()
    assert not (out / "trials.csv").exists(), log1[-3000:]

    second = _sweep([f"--resume={out}"], tmp_path)
    log2 = _reap(second, 300)
    assert second.returncode == 0, log2[-4000:]

    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 4, trials
    assert (trials["status"] == "done").all(), trials
    assert trials["stopped_early"].sum() >= 1, trials
    assert trials["iterations"].max() == 8
    assert len(list((out / "tune").glob("train_trial_*"))) == 4  # restored, not restarted
    best = config_mod.load(TrainConfig, out / "best_config.json")
    assert best.algo.lr == pytest.approx(3e-3)
    assert (out / "trials.parquet").is_file() and (out / "trials.md").is_file()
