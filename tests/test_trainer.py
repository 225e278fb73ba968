"""The trainer on a real embedded Ray cluster: a run, its directory, resume, worker death, DDP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from trainer_helpers import ray_cluster, tiny_config, tiny_gtea

from svtas_ray import config as config_mod
from svtas_ray.models.checkpoint import Checkpoint, load_segmenter
from svtas_ray.rl.trainer import Trainer, selection_score

__all__ = ["ray_cluster", "tiny_gtea"]

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]


def test_a_run_writes_its_directory(tiny_gtea: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_gtea, tmp_path / "runs", "ppo")
    with Trainer(cfg) as trainer:
        row = trainer.train()
        results = trainer.finish()
        run = trainer.path
    assert run.parent == tmp_path / "runs" / "test"
    assert config_mod.load(type(cfg), run / "config.json") == cfg
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert list(metrics["iteration"]) == [1, 2]
    for column in (
        "loss_policy",
        "loss_ce",
        "env_steps_per_s",
        "frames_per_s",
        "sample_s",
        "learn_s",
        "val_edit",
    ):
        assert column in metrics, column
    assert row["env_steps"] == 2 * 2 * 4
    assert (run / "eval" / "val" / "per_video.parquet").is_file()
    test_table = pd.read_parquet(run / "eval" / "test_best" / "per_video.parquet")
    assert len(test_table) == len(trainer.test_videos)
    assert set(results) == {"test_best", "test_best_hold"}  # selection='last': best.pt is last
    hold = json.loads((run / "meta.json").read_text())["hold_rule"]
    assert 0 <= hold["theta"] < 1 and hold["min_len"] >= 0  # tuned on validation videos
    assert hold["tuning_draws"] == cfg.hold_tuning_draws > 0  # on perturbed validation streams
    assert (run / "eval" / "test_best_hold" / "per_video.parquet").is_file()
    assert "Test split" in (run / "summary.md").read_text()
    assert list(run.glob("events.out.tfevents.*"))
    meta = json.loads((run / "meta.json").read_text())
    assert len(meta["worker_nodes"]) == 1 and meta["val_videos"][0] not in meta["test_videos"]
    for name in ("best", "last"):
        ckpt = Checkpoint.read(run / "checkpoints" / f"{name}.pt")
        assert ckpt.train_state is not None and ckpt.classes is not None
        assert {"optimizer", "scheduler", "rng", "iteration"} <= set(ckpt.train_state)
        assert ckpt.config == config_mod.to_dict(cfg) and ckpt.num_classes == len(ckpt.classes)
    assert ckpt.train_state["iteration"] == 2
    # the one checkpoint format: eval/stream rebuild the model from the file alone
    model, loaded_cfg, _ = load_segmenter(run / "checkpoints" / "best.pt")
    assert loaded_cfg == cfg and sum(p.numel() for p in model.parameters()) > 0


def test_max_epochs_stops_after_that_many_passes_over_the_fitting_clips(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    """... and not before ``min_iterations``, when the passes come first."""
    cfg = tiny_config(tiny_gtea, tmp_path / "runs", "supervised")
    cfg = config_mod.override(
        cfg, {"iterations": 50, "max_epochs": 1.0, "min_iterations": 0, "test_at_end": False}
    )
    with Trainer(cfg) as trainer:
        trainer.train()
        clips, steps, iterations = trainer.clips_per_epoch, trainer.env_steps, trainer.iteration
    per_iteration = 2 * 4  # envs_per_worker x chunk_clips
    assert 0 < clips < 50 * per_iteration
    assert steps >= clips > steps - per_iteration  # the first iteration that completes a pass
    assert iterations == steps // per_iteration < 50
    with Trainer(config_mod.override(cfg, {"min_iterations": iterations + 2})) as trainer:
        trainer.train()
        assert trainer.iteration == iterations + 2


def test_resume_continues_at_the_same_iteration(tiny_gtea: Path, tmp_path: Path) -> None:
    """Also: the last iteration of every train() call is validated, off the eval_every schedule
    (at an iteration count, and when the time budget runs out)."""
    cfg = tiny_config(tiny_gtea, tmp_path / "runs", "supervised")
    cfg = config_mod.override(cfg, {"eval_every": 3})
    with Trainer(cfg) as trainer:
        trainer.train(iterations=1)
        run = trainer.path
        weights = trainer.learners[0].weights.remote()
        import ray

        saved = ray.get(weights)
    with Trainer.resume(run) as resumed:
        assert resumed.iteration == 1
        restored = __import__("ray").get(resumed.learners[0].weights.remote())
        for key, value in saved.items():
            np.testing.assert_array_equal(restored[key], value)
        resumed.train(iterations=100, time_budget_s=1e-3)  # one iteration, then out of time
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert list(metrics["iteration"]) == [1, 2]
    assert metrics["val_edit"].notna().all(), metrics
    train_state = Checkpoint.read(run / "checkpoints" / "last.pt").train_state
    assert train_state is not None and train_state["iteration"] == 2


def test_selection_keeps_the_last_weights_or_the_best_validated(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    for selection in ("last", "val"):
        cfg = config_mod.override(
            tiny_config(tiny_gtea, tmp_path / selection, "supervised"),
            {"selection": selection, "iterations": 4, "eval_every": 1},
        )
        with Trainer(cfg) as trainer:
            trainer.train()
            results = trainer.finish()
            run = trainer.path
        kept = Checkpoint.read(run / "checkpoints" / "best.pt").train_state
        assert kept is not None
        metrics = pd.read_parquet(run / "metrics.parquet")
        score = metrics.apply(
            lambda r: selection_score({k[4:]: r[k] for k in r.index if k.startswith("val_")}),
            axis=1,
        )
        best_iteration = int(metrics["iteration"][score.idxmax()])  # the first of equal maxima
        want = 4 if selection == "last" else best_iteration
        assert kept["iteration"] == want, (selection, list(score))
        assert ("test_last" in results) == (selection == "val")


def test_averaged_weights_are_evaluated_and_saved_and_resume_restores_both(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    import ray

    cfg = tiny_config(tiny_gtea, tmp_path / "runs", "supervised", ema_decay=0.9)
    with Trainer(cfg) as trainer:
        trainer.train(iterations=2)
        run = trainer.path
        live = ray.get(trainer.learners[0].weights.remote())
        averaged = ray.get(trainer.learners[0].eval_weights.remote())
    assert any(not np.array_equal(live[k], averaged[k]) for k in live)
    last = Checkpoint.read(run / "checkpoints" / "last.pt")
    assert last.train_state is not None and last.train_state["ema_steps"] > 1
    for key, value in averaged.items():  # the checkpoint's model is the average
        np.testing.assert_array_equal(last.state_dict[key].numpy(), value)
        np.testing.assert_array_equal(last.train_state["live"][key].numpy(), live[key])
    with Trainer.resume(run) as resumed:
        learner = resumed.learners[0]
        for got, want in ((learner.weights, live), (learner.eval_weights, averaged)):
            restored = ray.get(got.remote())
            for key, value in want.items():
                np.testing.assert_array_equal(restored[key], value)


def test_a_killed_worker_is_recreated_and_the_iteration_completes(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    import ray

    cfg = tiny_config(tiny_gtea, tmp_path / "runs", "ppo")
    cfg = config_mod.override(
        cfg, {"resources.num_workers": 2, "resources.cpus_per_worker": 0.25, "val_videos": 0}
    )
    with Trainer(cfg) as trainer:
        trainer.train(iterations=1)
        ray.kill(trainer.workers[1])
        row = trainer.step()
        assert row["workers"] == 1 and row["worker_restarts"] == 1
        # the update submitted on the dead worker's chunk failed without running: one update
        # per iteration
        state = ray.get(trainer.learners[0].state.remote())
        assert state["scheduler"]["updates"] == trainer.iteration == 2
        row = trainer.step()  # the recreated worker samples again
        assert row["workers"] == 2


def test_two_learners_keep_identical_weights(tiny_gtea: Path, tmp_path: Path) -> None:
    import ray

    cfg = tiny_config(tiny_gtea, tmp_path / "runs", "ppo")
    cfg = config_mod.override(
        cfg, {"resources.num_learners": 2, "resources.cpus_per_learner": 0.5, "val_videos": 0}
    )
    with Trainer(cfg) as trainer:
        trainer.train(iterations=2)
        a, b = ray.get([lrn.weights.remote() for lrn in trainer.learners])
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_a_short_supervised_run_beats_the_random_policy_on_validation(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(tiny_gtea, tmp_path / "runs", "supervised", lr=5e-3)
    cfg = config_mod.override(
        cfg,
        {"iterations": 40, "eval_every": 40, "resources.envs_per_worker": 4, "test_at_end": False},
    )
    with Trainer(cfg) as trainer:
        random_policy = trainer.evaluate("val")
        row = trainer.train()
    assert row["val_edit"] > random_policy["edit"] + 5, (random_policy, row)
    assert row["val_acc"] > random_policy["acc"] + 10
