"""Memory-mapped features: exact reads, bounded memory on a 1,000,000-frame file, the checks
of a feature file opened on its own (``svtas-ray stream --features``), and the time-major
rewrite (the same arrays, frames contiguous on disk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from svtas_ray.data import features
from svtas_ray.data.clips import ClipPlan
from svtas_ray.data.features import FeatureSource, open_feature_file, write_time_major
from svtas_ray.errors import DataError


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_reads_frames_exactly(tmp_path: Path) -> None:
    data = np.arange(6 * 50, dtype=np.float64).reshape(6, 50)
    np.save(tmp_path / "f.npy", data)
    source = FeatureSource(tmp_path / "f.npy", 50)
    assert source.dim == 6
    out = source.read(np.array([3, 4, 5]))
    assert out.dtype == np.float32 and out.shape == (3, 6)
    assert np.array_equal(out, data[:, 3:6].T.astype(np.float32))
    strided = source.read(np.array([0, 10, 49, 49]))
    assert np.array_equal(strided, data[:, [0, 10, 49, 49]].T.astype(np.float32))


def test_million_frame_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    frames, dim = 1_000_000, 64  # 256 MB on disk, more than the allowed growth
    path = tmp_path / "long.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(dim, frames))
    for start in range(0, frames, 200_000):
        stop = start + 200_000
        out[:, start:stop] = np.arange(start, stop, dtype=np.float32)[None, :] % 1000
    out.flush()
    del out
    before = _rss_mb()
    source = FeatureSource(path, frames)
    plan = ClipPlan(frames, clip_len=128, sample_rate=1)
    peak, checksum = before, 0.0
    for k in range(plan.num_clips):
        idx, _ = plan.frames(k)
        clip = source.read(idx)
        checksum += float(clip[-1, 0])
        if k % 50 == 0:
            peak = max(peak, _rss_mb())
    peak = max(peak, _rss_mb())
    source.validate()  # the whole-file NaN scan is bounded too
    peak = max(peak, _rss_mb())
    assert checksum == sum(
        float(min(128 * k + 127, frames - 1) % 1000) for k in range(plan.num_clips)
    )
    assert peak - before < 100, f"resident memory grew by {peak - before:.0f} MB"


def test_open_feature_file_checks_what_training_checks(tmp_path: Path) -> None:
    """One sentence naming the file per problem; the file's own T is the number of frames."""
    good = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "good.npy", good)
    source = open_feature_file(tmp_path / "good.npy", expected_dim=3)
    assert (source.dim, source.num_frames) == (3, 4)
    np.testing.assert_array_equal(source.read(np.arange(4)), good.T)
    with pytest.raises(DataError, match=r"good\.npy: features have D=3 .* expects D=5"):
        open_feature_file(tmp_path / "good.npy", expected_dim=5)
    bad = {
        "nan.npy": (np.full((3, 4), np.nan, np.float32), r"NaN or inf in features at frame 0"),
        "empty.npy": (np.zeros((3, 0), np.float32), r"feature file is empty \(shape \(3, 0\)\)"),
        "ints.npy": (np.zeros((3, 4), np.int64), "features must be floating point"),
        "flat.npy": (np.zeros(4, np.float32), r"features must be 2-D \(D, T\)"),
        "objects.npy": (np.array([{"x": 1}], dtype=object), r"not a readable \.npy array"),
    }
    for name, (array, message) in bad.items():
        np.save(tmp_path / name, array, allow_pickle=True)
        with pytest.raises(DataError, match=rf"{name}: {message}"):
            open_feature_file(tmp_path / name)
    (tmp_path / "text.npy").write_text("1 2 3\n")
    with pytest.raises(DataError, match=r"text\.npy: not a readable \.npy array"):
        open_feature_file(tmp_path / "text.npy")
    with pytest.raises(DataError, match=r"missing\.npy: feature file not found"):
        open_feature_file(tmp_path / "missing.npy")


@pytest.mark.parametrize("whole_file", [True, False])
def test_time_major_rewrite_keeps_the_array_and_its_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole_file: bool
) -> None:
    """Read whole, or block by block (the smallest block, 64 frames, over 101: one short)."""
    if not whole_file:
        monkeypatch.setattr(features, "_WHOLE_FILE_BYTES", 0)
        monkeypatch.setattr(features, "_BLOCK_BYTES", 0)
    data = np.random.default_rng(0).normal(size=(6, 101))
    path = tmp_path / "f.npy"
    np.save(path, data)
    frames = np.array([0, 7, 8, 9, 50, 99, 100])
    before = FeatureSource(path, None).read(frames)
    assert not FeatureSource(path, None).time_major

    assert write_time_major(path)
    loaded = np.load(path)
    assert loaded.flags.f_contiguous and not loaded.flags.c_contiguous
    assert loaded.dtype == np.float64 and np.array_equal(loaded, data)
    source = FeatureSource(path, None)
    assert source.time_major
    np.testing.assert_array_equal(source.read(frames), before)
    np.testing.assert_array_equal(source.read(np.arange(101)), data.T.astype(np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["f.npy"]  # no temporary file left

    assert not write_time_major(path)  # already time-major: nothing written
    assert np.array_equal(np.load(path), data)


def test_time_major_refuses_a_bad_file_and_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "ints.npy"
    np.save(path, np.zeros((3, 4), np.int64))
    with pytest.raises(DataError, match=r"ints\.npy: features must be floating point"):
        write_time_major(path)
    assert np.load(path).flags.c_contiguous
    assert [p.name for p in tmp_path.iterdir()] == ["ints.npy"]


def test_time_major_refuses_a_folder_in_the_way_of_its_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "f.npy"
    np.save(path, np.zeros((3, 4), np.float32))
    (tmp_path / ".f.npy.time-major.tmp").mkdir()  # what the conversion would write through
    with pytest.raises(DataError, match=r"time-major\.tmp: is in the way of the conversion"):
        write_time_major(path)
    assert np.load(path).flags.c_contiguous and (tmp_path / ".f.npy.time-major.tmp").is_dir()
