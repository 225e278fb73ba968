"""``svtas-ray train / eval / stream`` in-process through their own parser (cli.py wires them)."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from trainer_helpers import ray_cluster, tiny_config, tiny_gtea

from svtas_ray import config as config_mod
from svtas_ray.cli.train import add_parsers
from svtas_ray.data.layout import Dataset
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


def test_a_bad_test_video_stops_train_before_it_starts(tiny_gtea: Path, tmp_path: Path) -> None:
    root = tmp_path / "gtea"
    shutil.copytree(tiny_gtea, root)
    runs = tmp_path / "runs"
    cfg = tiny_config(root, runs, "supervised")
    test_video = sorted(Dataset.open(root).split_videos(cfg.data.split, "test"))[-1]
    path = root / "features" / f"{test_video}.npy"
    np.save(path, np.zeros((16, np.load(path).shape[1]), np.float32))  # D 16, the others 32
    config_mod.save(cfg, tmp_path / "train.json")
    with pytest.raises(SvtasError, match=rf"^{path}: features have D = 16, but .* have D = 32"):
        run(["train", "--config", str(tmp_path / "train.json")])
    assert not runs.exists()  # refused before a run folder (or Ray) was made


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

    # bad outputs and damaged runs are refused in one sentence before any video is streamed
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SvtasError, match="--out names a folder to write into, and this is a file"):
        run(["eval", "--checkpoint", str(ckpt), "--out", str(tmp_path / "a-file")])
    stream_to = ["stream", "--checkpoint", str(ckpt), "--features", str(video), "--out"]
    with pytest.raises(SvtasError, match="--out names a file to write, and this is a folder"):
        run([*stream_to, str(tmp_path)])
    with pytest.raises(SvtasError, match="a-file is a file, not a folder"):
        run([*stream_to, str(tmp_path / "a-file" / "pred.txt")])
    loose = tmp_path / "loose" / "best.pt"
    loose.parent.mkdir()
    shutil.copy(ckpt, loose)
    with pytest.raises(SvtasError, match=r"not inside a run folder .* give --out"):
        run(["eval", "--checkpoint", str(loose)])
    with pytest.raises(SvtasError, match="not inside a run folder, so without tuned settings"):
        run(["eval", "--checkpoint", str(loose), "--post", "hold", "--out", str(tmp_path / "l")])
    meta_path.write_text(json.dumps({**meta, "hold_gate": {"offset": 1.0}}))
    with pytest.raises(SvtasError, match=rf"^{ckpt}: the model has no hold gate"):
        run(["eval", "--checkpoint", str(ckpt)])  # the gate, chosen from meta.json by default
    meta_path.write_text(json.dumps([meta]))
    with pytest.raises(SvtasError, match=r"meta\.json: a run meta file holds a JSON object, not a"):
        run(["stream", "--checkpoint", str(ckpt), "--features", str(video)])
