"""Faults during training, on a real embedded Ray cluster: actors killed with ``ray.kill`` and a
driver killed with SIGKILL (slow tier), and bad data met inside an actor (default tier). Each run
recovers (or resumes) with nothing lost: every iteration's metrics row is there exactly once, the
restarts are recorded in meta.json; bad data is one sentence and exit code 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
from trainer_helpers import ray_cluster, tiny_config, tiny_gtea

from svtas_ray import config as config_mod
from svtas_ray.rl.run_dir import read_metrics
from svtas_ray.rl.trainer import Trainer

__all__ = ["ray_cluster", "tiny_gtea"]

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]


def iterations(run: Path) -> list[int]:
    return [int(i) for i in read_metrics(run / "metrics.parquet")["iteration"]]


@pytest.mark.slow
def test_the_only_rollout_worker_dies_and_the_iteration_is_sampled_again(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(tiny_gtea, tmp_path / "runs")
    with Trainer(cfg) as trainer:
        trainer.train(iterations=1)
        ray.kill(trainer.workers[0])
        trainer.train(iterations=3)
        run = trainer.path
        assert trainer.worker_restarts == 1
    assert iterations(run) == [1, 2, 3]
    assert json.loads((run / "meta.json").read_text())["worker_restarts"] == 1


@pytest.mark.slow
def test_a_worker_dies_before_validation_and_its_videos_are_evaluated_again(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    cfg = config_mod.override(
        tiny_config(tiny_gtea, tmp_path / "runs"),
        {"resources.num_workers": 2, "resources.cpus_per_worker": 0.25, "val_videos": 2},
    )
    with Trainer(cfg) as trainer:
        trainer.train(iterations=1)
        ray.kill(trainer.workers[1])  # holds the second validation video
        scores = trainer.evaluate("val")
        run = trainer.path
        assert trainer.worker_restarts == 1
    per_video = pd.read_parquet(run / "eval" / "val" / "per_video.parquet")
    assert len(per_video) == 2 and 0 <= scores["acc"] <= 100


@pytest.mark.slow
def test_the_learner_dies_and_is_recreated_from_the_last_checkpoint(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(tiny_gtea, tmp_path / "runs")
    with Trainer(cfg) as trainer:
        trainer.train(iterations=2)
        before = ray.get(trainer.learners[0].weights.remote())
        ray.kill(trainer.learners[0])
        trainer.train(iterations=4)
        run = trainer.path
        assert trainer.learner_restarts == 1 and trainer.iteration == 4
        after = ray.get(trainer.learners[0].weights.remote())
    assert iterations(run) == [1, 2, 3, 4]
    assert any((before[k] != after[k]).any() for k in before)  # it trained on after recovery
    assert json.loads((run / "meta.json").read_text())["learner_restarts"] == 1


@pytest.mark.slow
def test_a_killed_driver_resumes_with_every_row_once(tiny_gtea: Path, tmp_path: Path) -> None:
    """SIGKILL the training process right after it wrote a metrics row (before or while it
    saves the checkpoint), resume, three times: the rows are 1..N, without a gap or a duplicate."""
    cfg = config_mod.override(
        tiny_config(tiny_gtea, tmp_path / "runs"), {"iterations": 8, "eval_every": 1}
    )
    config_mod.save(cfg, tmp_path / "cfg.json")
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    base = [sys.executable, "-m", "svtas_ray", "train"]
    run: Path | None = None
    killed_at = []
    for target in (2, 4, 6):
        start = ["--resume", str(run)] if run else ["--config", str(tmp_path / "cfg.json")]
        proc = subprocess.Popen(
            [*base, *start], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        if run is None:
            line = proc.stdout.readline() if proc.stdout else ""
            run = Path(line.split("run directory: ", 1)[1].strip())
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            table = run / "metrics.parquet"
            if table.is_file() and len(iterations(run)) >= target:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its embedded cluster
        proc.wait()
        killed_at.append(iterations(run)[-1])
        assert iterations(run) == list(range(1, killed_at[-1] + 1))
    assert run is not None and killed_at[-1] < 8, killed_at
    final = subprocess.run([*base, "--resume", str(run)], env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-2000:]
    assert iterations(run) == list(range(1, 9))


@ray.remote
class _Reader:
    """An actor that meets bad data in its constructor or in a method, as workers do."""

    def __init__(self, fail: bool) -> None:
        from svtas_ray.errors import DataError

        if fail:
            raise DataError("features/v3.npy: NaN or inf at frame 12")

    def read(self) -> None:
        from svtas_ray.errors import DataError

        raise DataError("features/v7.npy: NaN or inf at frame 40")


@pytest.mark.parametrize("in_constructor", [False, True])
def test_a_data_error_inside_an_actor_comes_back_as_its_one_sentence(
    in_constructor: bool,
) -> None:
    from svtas_ray.errors import DataError, user_error

    with pytest.raises(ray.exceptions.RayError) as info:
        ray.get(_Reader.remote(in_constructor).read.remote())
    assert str(info.value).count("\n") > 3  # what Ray gives: a traceback
    error = user_error(info.value)
    expected = "v3.npy: NaN or inf at frame 12" if in_constructor else "v7.npy: NaN or inf at"
    assert isinstance(error, DataError) and expected in str(error) and "\n" not in str(error)


def test_nan_features_met_in_training_are_one_sentence(tiny_gtea: Path, tmp_path: Path) -> None:
    """Through the real CLI: NaN in the training features stops ``train`` with exit code 2."""
    import shutil

    import numpy as np

    root = tmp_path / "data"
    shutil.copytree(tiny_gtea, root)
    for path in (root / "features").glob("*.npy"):
        np.save(path, np.full_like(np.load(path), np.nan))
    cfg = config_mod.override(tiny_config(root, tmp_path / "runs"), {"iterations": 1})
    config_mod.save(cfg, tmp_path / "cfg.json")
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.run(
        [sys.executable, "-m", "svtas_ray", "train", "--config", str(tmp_path / "cfg.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "NaN" in lines[-1] and ".npy" in lines[-1] and "Traceback" not in proc.stderr
