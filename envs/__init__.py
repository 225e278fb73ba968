"""Gymnasium environments of svtas-ray (importing this registers them; no Ray is imported).

- ``svtas/VideoSegmentation-v0``: :class:`VideoSegmentationEnv`, one video = one episode of clips.
  ``gymnasium.make("svtas/VideoSegmentation-v0", config=EnvConfig(...))`` or with the config's
  fields as keyword dicts: ``gymnasium.make(..., data={"root": ...}, clip={"clip_len": 64})``.
- :class:`VideoSegmentationBatch`: many of them stepped together in one process.
"""

from __future__ import annotations

import gymnasium

from envs.batched import VideoSegmentationBatch
from envs.video_segmentation import (
    ENV_ID,
    EpisodeResult,
    VideoSegmentationEnv,
    make_env_config,
)

if ENV_ID not in gymnasium.registry:  # importing twice (e.g. reload) must not warn
    gymnasium.register(id=ENV_ID, entry_point="envs.video_segmentation:VideoSegmentationEnv")

__all__ = [
    "ENV_ID",
    "EpisodeResult",
    "VideoSegmentationBatch",
    "VideoSegmentationEnv",
    "make_env_config",
]
