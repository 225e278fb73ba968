"""Frames mode without pixels in the object store: clip references out, frames decoded in.

A rollout worker decodes the frames of its clips to run the policy, but a chunk carries only
references to them: the video id and the label-frame index of every slot (:func:`clip_refs`).
The learner decodes the same frames again from the video files with
:class:`~svtas_ray.data.video.VideoSource` at ``data.frame_size`` (:class:`FrameDecoder`), so a
chunk of ``K`` clips of ``L`` slots is ``K·L`` int32 instead of ``K·L·H·W·3`` bytes of RGB
(9.6 MB per 64-frame clip at 224², docs/ray.md). Both sides map label frames to video frames
with the environment's ``data.alignment`` rule, so the learner sees what the worker saw.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from svtas_ray.config import ClipConfig, DataConfig
from svtas_ray.data.alignment import aligned_index
from svtas_ray.data.clips import ClipPlan
from svtas_ray.data.layout import Dataset
from svtas_ray.data.video import VideoSource

log = logging.getLogger(__name__)

MAX_OPEN_VIDEOS = 8
"""Video readers a decoder keeps open (least recently used first out); each holds a decoder."""


class VideoPlans:
    """Frame labels and clip plans of a dataset's videos, cached per process (small arrays)."""

    def __init__(self, dataset: Dataset, clip: ClipConfig) -> None:
        self.dataset, self.clip = dataset, clip
        self._labels: dict[str, np.ndarray] = {}

    def labels(self, video: str) -> np.ndarray:
        """Raw frame labels ``(T,)`` of ``video``."""
        if video not in self._labels:
            self._labels[video] = self.dataset.labels(video)
        return self._labels[video]

    def plan(self, video: str) -> ClipPlan:
        return ClipPlan(len(self.labels(video)), self.clip.clip_len, self.clip.sample_rate)


def clip_refs(plans: VideoPlans, infos: Sequence[dict[str, Any]]) -> tuple[list[str], np.ndarray]:
    """Video ids ``(N,)`` and label-frame indices ``(N, L)`` int32 of the clips the env ``infos``
    describe (their ``video`` and ``clip_index``)."""
    videos = [str(i["video"]) for i in infos]
    frames = [plans.plan(str(i["video"])).frames(int(i["clip_index"]))[0] for i in infos]
    return videos, np.stack(frames).astype(np.int32)


class FrameDecoder:
    """Decodes the frames chunks refer to, in the process that calls it (the learner).

    decord readers are opened lazily here and never leave the process (see
    :mod:`svtas_ray.data.video`); at most :data:`MAX_OPEN_VIDEOS` stay open.
    """

    def __init__(self, data: DataConfig) -> None:
        self.data = data
        self.dataset = Dataset.open(data.root, data.background, data.features_dir)
        self._open: OrderedDict[str, tuple[VideoSource, Callable[[np.ndarray], np.ndarray]]] = (
            OrderedDict()
        )

    def _source(self, video: str) -> tuple[VideoSource, Callable[[np.ndarray], np.ndarray]]:
        if video in self._open:
            self._open.move_to_end(video)
            return self._open[video]
        source = VideoSource(self.dataset.require_video_path(video), self.data.frame_size)
        index = aligned_index(
            source.path,
            "video frames",
            source.num_frames,
            len(self.dataset.labels(video)),
            self.data.alignment,
        )
        self._open[video] = (source, index)
        if len(self._open) > MAX_OPEN_VIDEOS:
            _, (old, _) = self._open.popitem(last=False)
            old.close()
        return source, index

    def decode(self, video: np.ndarray, frame_index: np.ndarray) -> np.ndarray:
        """Frames ``(N, K, L, H, W, 3)`` uint8 of clip references ``video`` ``(N, K)`` and
        ``frame_index`` ``(N, K, L)``; every video's frames are read in one sorted batch."""
        height, width = self.data.frame_size
        out = np.empty((*frame_index.shape, height, width, 3), np.uint8)
        for name in np.unique(video):
            source, index = self._source(str(name))
            where = video == name  # (N, K)
            wanted = frame_index[where]  # (M, L)
            unique, inverse = np.unique(wanted, return_inverse=True)
            decoded = source.read(index(unique.astype(np.int64)))
            out[where] = decoded[inverse.reshape(wanted.shape)]
        return out

    def close(self) -> None:
        for source, _ in self._open.values():
            source.close()
        self._open.clear()
