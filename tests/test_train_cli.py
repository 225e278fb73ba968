"""``svtas-ray train / eval / stream`` in-process through their own parser (cli.py wires them)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from trainer_helpers import ray_cluster, tiny_config, tiny_gtea

from svtas_ray import config as config_mod
from svtas_ray.cli.train import add_parsers
from svtas_ray.errors import SvtasError

__all__ = ["ray_cluster", "tiny_gtea"]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="svtas-ray")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_help_needs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("train", "eval", "stream"):
        with pytest.raises(SystemExit) as exc:
            run([command, "--help"])
        assert exc.value.code == 0
    assert "--resume" in capsys.readouterr().out


def test_train_on_a_missing_dataset_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(SvtasError, match="no dataset here"):
        run(["train", "--set", f"data.root={tmp_path / 'nowhere'}"])


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_train_then_eval_then_stream(
    tiny_gtea: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="svtas_ray")
    cfg_path = tmp_path / "train.json"
    config_mod.save(tiny_config(tiny_gtea, tmp_path / "runs", "supervised"), cfg_path)
    assert run(["train", "--config", str(cfg_path), "--set", "iterations=1"]) == 0
    out = capsys.readouterr().out
    assert "test_best" in out
    # one line per validation and the TensorBoard pointer (a bar only on a terminal)
    assert "iteration 1: validation Acc" in caplog.text
    assert "TensorBoard: tensorboard --logdir" in caplog.text
    run_dir = next((tmp_path / "runs" / "test").iterdir())
    ckpt = run_dir / "checkpoints" / "best.pt"

    assert run(["eval", "--checkpoint", str(ckpt), "--split", "test", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"edit"' in out and '"post": "hold"' in out  # the run's hold rule by default
    assert (run_dir / "eval" / "test_cli" / "per_video.parquet").is_file()
    # each stage re-applied from meta.json reproduces the run's own row of the same weights
    for post, row in (("hold", "test_best_hold"), ("raw", "test_best")):
        out_dir = tmp_path / f"eval-{post}"
        argv = ["eval", "--checkpoint", str(ckpt), "--post", post, "--out", str(out_dir)]
        assert run(argv) == 0
        stored = run_dir / "eval" / row / "predictions"
        files = sorted(p.name for p in stored.iterdir())
        assert files and files == sorted(p.name for p in (out_dir / "predictions").iterdir())
        for name in files:
            assert (out_dir / "predictions" / name).read_text() == (stored / name).read_text()
    with pytest.raises(SvtasError, match=r"meta.json: the run tuned no hold gate"):
        run(["eval", "--checkpoint", str(ckpt), "--post", "gate"])
    # the settings come from meta.json: edited there, the stage applies the edited ones
    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["hold_rule"].update(theta=0.9, min_len=7, window=1)
    meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    assert run(["eval", "--checkpoint", str(ckpt), "--out", str(tmp_path / "eval-edited")]) == 0
    assert "(theta 0.9, minimum run 7 slots)" in capsys.readouterr().out

    video = sorted((tiny_gtea / "features").glob("*.npy"))[0]
    assert run(["stream", "--checkpoint", str(ckpt), "--features", str(video)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("clip 1/") and "ms)" in out
    assert "validation videos (theta 0.9, minimum run 7 slots))" in out  # meta.json's rule
    hold_pred = (run_dir / "stream" / f"{video.stem}.txt").read_text().split()
    raw = ["stream", "--checkpoint", str(ckpt), "--features", str(video), "--post", "raw"]
    assert run(raw) == 0
    out = capsys.readouterr().out
    assert out.startswith("clip 1/") and "(post-processing: none" in out
    pred = (run_dir / "stream" / f"{video.stem}.txt").read_text().split()
    assert len(pred) == len(hold_pred) == np.load(video).shape[1]
    assert (run_dir / "stream" / f"{video.stem}.png").stat().st_size > 0  # the colour bar
