"""Scoring segmentations against a dataset's ground truth with the standard TAS metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from svtas_ray.data.layout import Dataset
from svtas_ray.data.predictions import prediction_path, read_prediction
from svtas_ray.errors import DataError
from svtas_ray.metrics import VideoScore, score_videos


def prediction_videos(ds: Dataset, pred_dir: Path, split: int | None) -> list[str]:
    """Videos to score: the test split's, or (no split) every prediction file in ``pred_dir``."""
    if split is not None:
        return ds.split_videos(split, "test")
    if not pred_dir.is_dir():
        raise DataError(f"{pred_dir}: prediction folder not found")
    videos = sorted(p.stem for p in pred_dir.glob("*.txt"))
    if not videos:
        raise DataError(f"{pred_dir}: no prediction files (*.txt) found")
    for v in videos:
        if not ds.label_path(v).is_file():
            raise DataError(f"{pred_dir / (v + '.txt')}: no ground truth {ds.label_path(v)}")
    return videos


def score_predictions(
    ds: Dataset, pred_dir: str | Path, videos: Sequence[str]
) -> tuple[dict[str, float], list[VideoScore]]:
    """Pooled scores and per-video scores of the prediction files of ``videos`` in ``pred_dir``."""
    pred_dir = Path(pred_dir)
    preds: dict[str, np.ndarray] = {}
    gts: dict[str, np.ndarray] = {}
    for video in videos:
        gt = ds.labels(video)
        path = prediction_path(pred_dir, video)
        pred = read_prediction(path, ds.classes)
        if len(pred) != len(gt):
            raise DataError(
                f"{path}: prediction has {len(pred)} frames but its ground truth "
                f"{ds.label_path(video)} has {len(gt)}"
            )
        preds[video], gts[video] = pred, gt
    return score_videos(preds, gts, ds.background_ids)
