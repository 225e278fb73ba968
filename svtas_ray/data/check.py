"""Whole-dataset validation and a summary of what a dataset holds (``svtas-ray check-data``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from svtas_ray.data.features import Alignment, FeatureSource
from svtas_ray.data.layout import Dataset
from svtas_ray.data.video import VideoSource
from svtas_ray.errors import DataError
from svtas_ray.metrics import segments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSummary:
    """What ``check_dataset`` found (all figures over the videos it checked)."""

    root: str
    videos: int
    classes: int
    frames: int
    min_frames: int
    mean_frames: float
    max_frames: int
    segments_per_video: float
    action_segments_per_video: float
    background_share: float
    splits: tuple[int, ...]
    feature_dim: int | None
    with_features: int
    with_videos: int

    def as_text(self) -> str:
        feats = (
            f"{self.with_features} files, D={self.feature_dim}" if self.with_features else "none"
        )
        return "\n".join(
            [
                f"dataset     {self.root}",
                f"videos      {self.videos}",
                f"classes     {self.classes}",
                f"frames      {self.frames} (min {self.min_frames}, mean {self.mean_frames:.0f}, "
                f"max {self.max_frames})",
                f"segments    {self.segments_per_video:.1f} per video, "
                f"{self.action_segments_per_video:.1f} without background",
                f"background  {100 * self.background_share:.1f} % of frames",
                f"splits      {', '.join(map(str, self.splits)) or 'none'}",
                f"features    {feats}",
                f"video files {self.with_videos or 'none'}",
            ]
        )


def check_dataset(
    ds: Dataset,
    split: int | None = None,
    alignment: Alignment = "strict",
    require: Literal["features", "frames"] | None = None,
    deep_video: bool = False,
    progress: bool = False,
) -> DatasetSummary:
    """Validate labels, splits, features and videos of ``ds``; raise DataError on the first problem.

    With ``split`` only that split's videos are checked; otherwise every split bundle must be
    consistent and every video with labels is checked. Feature and video files are validated
    where they exist (the summary counts them); ``require`` makes features (or video files, for
    'frames') mandatory for every video, as training in that modality needs.
    """
    if split is not None:
        names = sorted(set(ds.split_videos(split, "train")) | set(ds.split_videos(split, "test")))
        splits: tuple[int, ...] = (split,)
    else:
        names = ds.videos()
        if not names:
            raise DataError(f"{ds.root / 'groundTruth'}: no label files found")
        splits = tuple(ds.check_splits())
    lengths, seg_counts, action_counts, background, dims = [], [], [], 0, set()
    with_features = with_videos = 0
    bg = ds.background_ids
    for video in _progress(names, progress):
        labels = ds.labels(video)
        lengths.append(len(labels))
        seg_counts.append(len(segments(labels)[0]))
        action_counts.append(len(segments(labels, bg)[0]))
        background += int(np.isin(labels, bg).sum())
        if require == "features" or ds.feature_path(video).is_file():
            source = FeatureSource(ds.feature_path(video), len(labels), alignment)
            source.validate()
            dims.add(source.dim)
            source.close()
            with_features += 1
        path = ds.require_video_path(video) if require == "frames" else ds.video_path(video)
        if path is not None:
            VideoSource(path, (32, 32)).validate(len(labels), deep_video)
            with_videos += 1
    if len(dims) > 1:
        raise DataError(f"{ds.root / ds.features_dir}: feature files disagree on D: {sorted(dims)}")
    total = int(sum(lengths))
    return DatasetSummary(
        root=str(ds.root),
        videos=len(names),
        classes=ds.num_classes,
        frames=total,
        min_frames=int(min(lengths)),
        mean_frames=total / len(lengths),
        max_frames=int(max(lengths)),
        segments_per_video=float(np.mean(seg_counts)),
        action_segments_per_video=float(np.mean(action_counts)),
        background_share=background / total,
        splits=splits,
        feature_dim=dims.pop() if dims else None,
        with_features=with_features,
        with_videos=with_videos,
    )


def check_inputs(
    ds: Dataset,
    videos: Iterable[str],
    modality: Literal["features", "frames"],
    alignment: Alignment = "strict",
) -> None:
    """What training needs of ``videos`` before it starts, from file headers only: each label
    file reads, each feature file (``modality='features'``) is a float ``(D, T)`` array aligned
    with its labels and of the same D as the others, each video file (``'frames'``) exists.
    Raises DataError naming the first file that fails. The full scan (NaN/inf in every frame,
    decoding every video) is ``check_dataset``'s; training finds those as it reads."""
    first: tuple[int, str] | None = None
    for video in videos:
        labels = ds.labels(video)
        if modality == "frames":
            ds.require_video_path(video)
            continue
        source = FeatureSource(ds.feature_path(video), len(labels), alignment)
        if first is None:
            first = (source.dim, video)
        elif source.dim != first[0]:
            raise DataError(
                f"{source.path}: features have D = {source.dim}, but {first[1]}'s have "
                f"D = {first[0]} (every video of a dataset needs the same D)"
            )


def _progress(items: list[str], enabled: bool) -> Iterable[str]:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="checking", unit="video")
