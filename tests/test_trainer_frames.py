"""Frames mode: chunks carry frame references, the learner decodes; a run on rendered synthetic
video; ``eval`` and ``stream`` of its checkpoint on the real GTEA video (skipped without it)."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_helpers import ray_cluster, tiny_config

from svtas_ray.config import SynthConfig, TrainConfig
from svtas_ray.errors import SvtasError

__all__ = ["ray_cluster"]

REAL_VIDEO = "S1_Cheese_C1"
"""The one real GTEA video in the shared data (943 frames = its label length)."""


def real_gtea() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return Path(os.environ.get("SVTAS_SHARED_DATA", default)) / "gtea"


@pytest.fixture(scope="module")
def frames_gtea(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic gtea (the real class names) with rendered 32×32 videos."""
    from svtas_ray.data.cache import ensure_synthetic

    out = tmp_path_factory.mktemp("data") / "gtea_frames"
    synth = SynthConfig(preset="gtea", num_videos=4, scale=0.15, videos=True, video_size=(32, 32))
    return ensure_synthetic(synth, out)


def frames_config(root: Path, runs: Path, kind: str = "ppo") -> TrainConfig:
    cfg = tiny_config(root, runs, kind)
    return dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, modality="frames", frame_size=(32, 32)),
        model=dataclasses.replace(cfg.model, input="frames", backbone_width=4),
    )


def test_a_chunk_refers_to_frames_and_the_learner_decodes_what_the_worker_saw(
    frames_gtea: Path, tmp_path: Path
) -> None:
    from svtas_ray.rl import algorithms
    from svtas_ray.rl.frames import FrameDecoder, clip_refs
    from svtas_ray.rl.learner import Learner
    from svtas_ray.rl.policy import FrameCategorical
    from svtas_ray.rl.rollout import RolloutWorker
    from svtas_ray.rl.trainer import split_videos

    cfg = frames_config(frames_gtea, tmp_path)
    fit, _, _ = split_videos(cfg)
    worker = RolloutWorker(cfg, tuple(fit), 0)
    learner = Learner(cfg, worker.num_classes, worker.obs_shape)
    worker.sample(learner.weights(), 2)  # start mid-video
    clips = 12
    chunk, _ = worker.sample(learner.weights(), clips)
    assert chunk.dones.any(), "the tiny videos should end inside a 12-clip chunk"

    # no pixels travel: the chunk is small and holds no uint8 image arrays
    assert chunk.obs is None
    arrays = [getattr(chunk, f.name) for f in dataclasses.fields(chunk)]
    assert not any(isinstance(a, np.ndarray) and a.dtype == np.uint8 for a in arrays)
    pixels = chunk.actions.size * 32 * 32 * 3
    size = len(pickle.dumps(chunk, protocol=5))
    assert size < pixels / 10, (size, pixels)

    # the decoder reads exactly the worker's current observation from its references
    videos, frames = clip_refs(worker.plans, worker.infos)
    decoded = FrameDecoder(cfg.data).decode(np.array(videos)[:, None], frames[:, None])
    np.testing.assert_array_equal(decoded[:, 0], worker.obs)

    # and the learner's replay of the decoded chunk gives the behaviour log-probs
    batch = learner.tensors(chunk)
    assert batch.obs.shape == (2, clips, 16, 32, 32, 3) and batch.obs.dtype == torch.uint8
    fresh = learner.model.initial_state(chunk.rows, "cpu")
    learner.model.eval()
    with torch.no_grad():
        rep = algorithms.replay(learner.model, batch, range(clips), batch.start_state, fresh)
    logp = FrameCategorical(rep.logits[-1]).log_prob(batch.actions)
    torch.testing.assert_close(logp[batch.masks], batch.logp[batch.masks], atol=1e-4, rtol=1e-4)
    learner.model.train()
    stats = learner.update([None], chunk)
    assert np.isfinite(stats["total"])


@pytest.fixture(scope="module")
def frames_run(
    frames_gtea: Path, tmp_path_factory: pytest.TempPathFactory, ray_cluster: None
) -> Path:
    """A tiny frames-mode training run on Ray; its run directory."""
    from svtas_ray.rl.trainer import Trainer

    cfg = frames_config(frames_gtea, tmp_path_factory.mktemp("runs"), "supervised")
    cfg = dataclasses.replace(cfg, iterations=3, eval_every=3, test_at_end=False)
    with Trainer(cfg) as trainer:
        row = trainer.train()
        trainer.finish()
        path = trainer.path
    assert row["iteration"] == 3 and np.isfinite(row["loss_ce"])
    assert row["frames_per_s"] > 0 and "val_edit" in row
    return path


@pytest.mark.ray
def test_a_frames_mode_run_completes_its_iterations(frames_run: Path) -> None:
    import pandas as pd

    metrics = pd.read_parquet(frames_run / "metrics.parquet")
    assert list(metrics["iteration"]) == [1, 2, 3]
    assert (frames_run / "checkpoints" / "best.pt").is_file()


@pytest.mark.ray
def test_eval_and_stream_on_the_real_gtea_video(
    frames_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = real_gtea()
    video = real / "videos" / f"{REAL_VIDEO}.mp4"
    if not video.is_file():
        pytest.skip(f"real GTEA data absent ({video}; set SVTAS_SHARED_DATA)")
    from test_train_cli import run

    ckpt = str(frames_run / "checkpoints" / "best.pt")
    root = f"data.root={real}"
    assert run(["eval", "--checkpoint", ckpt, "--set", root, "--videos", REAL_VIDEO]) == 0
    assert "1 test videos" in capsys.readouterr().out
    out = frames_run / "eval" / "test_cli"
    assert len((out / "predictions" / f"{REAL_VIDEO}.txt").read_text().split()) == 943
    assert (out / "colour_bars" / f"{REAL_VIDEO}.png").is_file()

    # stream with the run's own (synthetic) dataset: no ground truth for this file name there
    pred_file = tmp_path / "stream" / "cheese.txt"
    argv = ["stream", "--checkpoint", ckpt, "--video", str(video), "--out", str(pred_file)]
    assert run(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("clip 1/30 (") and "ms)" in lines[0]
    assert len(pred_file.read_text().split()) == 943
    assert pred_file.with_suffix(".png").stat().st_size > 0

    other = real.parent / "ha4m"  # 13 classes named 0..12: not the checkpoint's
    if other.is_dir():
        with pytest.raises(SvtasError, match="trained for 11 classes but the dataset has 13"):
            run(
                [
                    "eval",
                    "--checkpoint",
                    ckpt,
                    "--set",
                    f"data.root={other}",
                    "--set",
                    "data.background=",
                ]
            )
