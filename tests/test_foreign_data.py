"""benchmarks/foreign_data.py: a valid MS-TCN dataset of a structure unlike the synthetic one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from svtas_ray.data.check import check_dataset
from svtas_ray.data.layout import Dataset

REPO = Path(__file__).resolve().parents[1]


def test_foreign_generator_writes_a_valid_dataset_that_leaves_subjects_out(
    tmp_path: Path,
) -> None:
    script = REPO / "benchmarks" / "foreign_data.py"
    args = ["--out", str(tmp_path / "d"), "--videos", "9", "--subjects", "3", "--dim", "40"]
    subprocess.run([sys.executable, str(script), *args], check=True, capture_output=True)
    ds = Dataset.open(tmp_path / "d", background=("background",))
    summary = check_dataset(ds, require="features")
    assert (summary.videos, summary.classes, summary.feature_dim) == (9, 25, 40)
    assert summary.splits == (1, 2, 3)
    assert 0.0 < summary.background_share < 0.5
    assert summary.action_segments_per_video >= 4
    for split in summary.splits:
        test, train = ds.split_videos(split, "test"), ds.split_videos(split, "train")
        subjects = {v.split("_")[0] for v in test}
        assert len(subjects) == 1 and not subjects & {v.split("_")[0] for v in train}
        assert sorted(test + train) == sorted(ds.videos())
    feats = np.load(tmp_path / "d" / "features" / f"{ds.videos()[0]}.npy")
    assert feats.dtype == np.float32 and feats.flags.c_contiguous  # the MS-TCN layout
    assert (feats >= 0).all()  # relu activations
    assert np.all(feats[-12:-4] == 0) and np.all(feats[-4:] == feats[-4, 0]) and feats[-4, 0] > 0
    relu = feats[:-12]
    assert 0.2 < float((relu == 0).mean()) < 0.9  # sparse, but not dead
    assert (relu.std(axis=1) > 0).all()  # every projected dim varies over time
