"""The svtas-ray command line: help without data, scoring files of both formats, exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from svtas_ray.data.layout import Dataset
from svtas_ray.data.predictions import MSTCN_HEADER, write_prediction
from svtas_ray.metrics import score_videos

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "svtas_ray", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=env,
        timeout=300,
    )


def test_help_needs_no_data_ray_or_gpu() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("synth", "check-data", "time-major", "score", "convert-egtea"):
        assert command in out.stdout
        assert run_cli(command, "--help").returncode == 0


def _noisy_predictions(ds: Dataset, videos: list[str], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    preds = {}
    for v in videos:
        gt = ds.labels(v)
        pred = gt.copy()
        flip = rng.random(len(gt)) < 0.05
        pred[flip] = rng.integers(0, ds.num_classes, flip.sum())
        preds[v] = pred
    return preds


@pytest.mark.parametrize("fmt", ["plain", "mstcn"])
def test_score_real_gtea_predictions_in_both_formats(
    gtea_root: Path, tmp_path: Path, fmt: str
) -> None:
    ds = Dataset.open(gtea_root)
    videos = ds.split_videos(2, "test")
    preds = _noisy_predictions(ds, videos, seed=3)
    for v, pred in preds.items():
        write_prediction(tmp_path / f"{v}.txt", pred, ds.classes, fmt)  # type: ignore[arg-type]
    if fmt == "mstcn":
        assert (tmp_path / f"{videos[0]}.txt").read_text().startswith(MSTCN_HEADER)
    out = run_cli(
        "score",
        "--gt",
        str(gtea_root),
        "--pred",
        str(tmp_path),
        "--split",
        "2",
        "--json",
        "--out",
        str(tmp_path / "table.parquet"),
    )
    assert out.returncode == 0, out.stderr
    scores = json.loads(out.stdout)
    expected, _ = score_videos(preds, {v: ds.labels(v) for v in videos}, ds.background_ids)
    assert scores["videos"] == len(videos) == 7
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value)
    assert 90 < scores["acc"] < 97  # 5 % flipped, some flips land on the right class
    assert scores["edit"] < 60  # isolated flips over-segment
    table = pd.read_parquet(tmp_path / "table.parquet")
    assert sorted(table["video"]) == sorted(videos)


def test_score_text_output_lists_every_metric(tiny_dataset: Path, tmp_path: Path) -> None:
    ds = Dataset.open(tiny_dataset)
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    for v in ds.videos():
        write_prediction(pred_dir / f"{v}.txt", ds.labels(v), ds.classes)
    out = run_cli(
        "score", "--gt", str(tiny_dataset), "--pred", str(pred_dir), "--out", str(tmp_path / "t")
    )
    assert out.returncode == 0, out.stderr
    for name in ("acc", "edit", "f1@10", "f1@25", "f1@50"):
        assert f"{name:>6}  100.00" in out.stdout
    assert (tmp_path / "t.csv").is_file() and (tmp_path / "t.md").is_file()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda p: p.write_text("a\n" * 3),
            r"v0\.txt: prediction has 3 frames but its ground truth",
        ),
        # the line of the file, counted from 1 as in every label-file message
        (lambda p: p.write_text("a\nzebra\n"), r"v0\.txt:2: label 'zebra' is not in"),
        (
            lambda p: p.write_text(f"{MSTCN_HEADER}\na a\na zebra\n"),
            r"v0\.txt:3: label 'zebra' is not in the dataset's mapping\.txt$",
        ),
        (lambda p: p.unlink(), r"v0\.txt: prediction file not found"),
    ],
)
def test_score_bad_predictions_exit_2_with_one_sentence(
    tiny_dataset: Path, tmp_path: Path, mutate: object, message: str
) -> None:
    ds = Dataset.open(tiny_dataset)
    for v in ds.videos():
        write_prediction(tmp_path / f"{v}.txt", ds.labels(v), ds.classes)
    mutate(tmp_path / "v0.txt")  # type: ignore[operator]
    out = run_cli("score", "--gt", str(tiny_dataset), "--pred", str(tmp_path), "--split", "1")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    import re

    assert re.search(message, out.stderr), out.stderr


def test_check_data_reports_and_fails_cleanly(tiny_dataset: Path) -> None:
    out = run_cli("check-data", str(tiny_dataset), "--require", "features")
    assert out.returncode == 0, out.stderr
    assert "videos      3" in out.stdout and "ok: dataset is valid" in out.stdout
    (tiny_dataset / "mapping.txt").unlink()
    out = run_cli("check-data", str(tiny_dataset))
    assert out.returncode == 2
    assert out.stderr.strip().endswith("mapping file not found (expected '<id> <name>' per line)")
    assert "Traceback" not in out.stderr


def test_time_major_rewrites_every_feature_file_once(tiny_dataset: Path) -> None:
    before = {p.name: np.load(p) for p in (tiny_dataset / "features").glob("*.npy")}
    out = run_cli("time-major", str(tiny_dataset))
    assert out.returncode == 0, out.stderr
    assert "3 feature files rewritten time-major, 0 already were" in out.stdout
    for name, array in before.items():
        after = np.load(tiny_dataset / "features" / name)
        assert after.flags.f_contiguous and np.array_equal(after, array)
    out = run_cli("time-major", str(tiny_dataset))
    assert "0 feature files rewritten time-major, 3 already were" in out.stdout
    out = run_cli("time-major", str(tiny_dataset), "--features-dir", "nothing")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().endswith("nothing: no feature files of the dataset's videos")


def test_bad_override_key_exits_2(tmp_path: Path) -> None:
    out = run_cli("synth", "--out", str(tmp_path / "x"), "--set", "bogus_key=1")
    assert out.returncode == 2
    assert "unknown config key 'bogus_key'" in out.stderr
    out = run_cli("synth", "--out", str(tmp_path / "x"), "--scale", "0")
    assert out.returncode == 2
    assert "synth.scale must be > 0" in out.stderr


def test_synth_writes_validates_and_reuses_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "gtea"
    args = ("synth", "--preset", "gtea", "--num-videos", "4", "--scale", "0.2", "--out", str(out))
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "videos      4" in first.stdout and "classes     11" in first.stdout
    stamp = (out / "features").stat().st_mtime_ns
    again = run_cli(*args)
    assert again.returncode == 0 and (out / "features").stat().st_mtime_ns == stamp  # reused
    other = run_cli(*args, "--seed", "1")
    assert other.returncode == 2 and "pass --overwrite" in other.stderr
    assert run_cli(*args, "--seed", "1", "--overwrite").returncode == 0


def test_viz_draws_ground_truth_and_predictions(tiny_dataset: Path, tmp_path: Path) -> None:
    ds = Dataset.open(tiny_dataset)
    for name in ("good", "bad"):
        (tmp_path / name).mkdir()
    write_prediction(tmp_path / "good" / "v1.txt", ds.labels("v1"), ds.classes)
    write_prediction(tmp_path / "bad" / "v1.txt", (ds.labels("v1") + 1) % 3, ds.classes)
    png = tmp_path / "bars.png"
    out = run_cli(
        "viz",
        "--gt",
        str(tiny_dataset),
        "--video",
        "v1",
        "--pred",
        f"ours={tmp_path / 'good'}",
        "--pred",
        str(tmp_path / "bad"),
        "--out",
        str(png),
    )
    assert out.returncode == 0, out.stderr
    from matplotlib.image import imread

    image = imread(png)
    assert image.shape[0] > 100 and image.shape[1] > 800
    assert image[..., :3].std() > 0.1  # colours, not a blank canvas
