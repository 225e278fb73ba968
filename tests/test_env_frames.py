"""The env in frames mode: clips decoded from rendered synthetic videos and the real GTEA video."""

from __future__ import annotations

import functools
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AsyncVectorEnv

from envs import VideoSegmentationEnv
from svtas_ray.config import ClipConfig, DataConfig, EnvConfig, SynthConfig
from svtas_ray.data.clips import ClipPlan
from svtas_ray.data.synthetic import generate
from svtas_ray.data.video import VideoSource
from svtas_ray.errors import DataError


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SynthConfig(
        preset="gtea", num_videos=4, scale=0.2, feature_dim=8, videos=True, video_size=(48, 64)
    )
    return generate(cfg, tmp_path_factory.mktemp("synth") / "gtea")


def frames_cfg(
    root: Path, clip_len: int = 8, sample_rate: int = 2, alignment: str = "strict", **fields: object
) -> EnvConfig:
    data = DataConfig(
        root=str(root),
        modality="frames",
        frame_size=(36, 44),
        alignment=alignment,  # type: ignore[arg-type]
    )
    return EnvConfig(data=data, clip=ClipConfig(clip_len, sample_rate), **fields)  # type: ignore[arg-type]


def test_check_env_frames(video_root: Path) -> None:
    env = VideoSegmentationEnv(frames_cfg(video_root, context=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no render modes
        check_env(env)
    assert env.observation_space.shape == (10, 36, 44, 3)
    assert env.observation_space.dtype == np.uint8
    env.close()


def test_frames_are_the_clip_plan_frames_with_zero_context(video_root: Path) -> None:
    env = VideoSegmentationEnv(frames_cfg(video_root, clip_len=8, sample_rate=3, context=3))
    obs, info = env.reset(seed=0)
    video = info["video"]
    source = VideoSource(env.dataset.require_video_path(video), (36, 44))
    plan = ClipPlan(len(env.dataset.labels(video)), 8, 3)
    assert (obs[:3] == 0).all()  # nothing before the start of the video
    assert np.array_equal(obs[3:], source.read(plan.frames(0)[0]))
    previous = obs
    obs, *_ = env.step(np.zeros(8, np.int64))
    assert np.array_equal(obs[:3], previous[-3:])  # context = the last slots of the last clip
    assert np.array_equal(obs[3:], source.read(plan.frames(1)[0]))
    assert obs.std() > 5  # rendered patterns, not a blank buffer
    env.close()


def test_frame_count_must_match_the_labels(video_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(video_root, root)
    env = VideoSegmentationEnv(frames_cfg(root, part="test"))
    video = env.videos[0]
    label_file = root / "groundTruth" / f"{video}.txt"
    lines = label_file.read_text().splitlines()
    label_file.write_text("\n".join(lines[:-3]) + "\n")  # 3 frames fewer than the video
    fresh = VideoSegmentationEnv(frames_cfg(root, part="test"))
    with pytest.raises(
        DataError, match=rf"{video}\.mp4: video frames {len(lines)} != label length"
    ):
        fresh.reset()
    cropped = VideoSegmentationEnv(frames_cfg(root, alignment="crop", part="test"))
    obs, _ = cropped.reset()
    assert obs.shape == (8, 36, 44, 3)


def test_async_vector_env_decodes_in_spawned_workers(video_root: Path) -> None:
    cfg = frames_cfg(video_root)
    local = VideoSegmentationEnv(cfg)
    expected, _ = local.reset(seed=1)  # the parent decodes first: children must not inherit it
    envs = AsyncVectorEnv([functools.partial(VideoSegmentationEnv, cfg)] * 2, context="spawn")
    try:
        obs: np.ndarray = envs.reset(seed=1)[0]
        assert obs.shape == (2, 8, 36, 44, 3) and np.array_equal(obs[0], expected)
        for _ in range(3):
            obs, *_ = envs.step(envs.action_space.sample())
        assert obs.dtype == np.uint8
    finally:
        envs.close()
        local.close()


def test_real_gtea_video_in_frames_mode(gtea_root: Path) -> None:
    cfg = EnvConfig(
        data=DataConfig(root=str(gtea_root), modality="frames", frame_size=(72, 128)),
        clip=ClipConfig(64, 1),
        part="test",
        videos=("S1_Cheese_C1",),
    )
    env = VideoSegmentationEnv(cfg)
    obs, info = env.reset(seed=0)
    source = VideoSource(env.dataset.require_video_path("S1_Cheese_C1"), (72, 128))
    assert np.array_equal(obs, source.read(np.arange(64)))
    steps = 0
    while True:
        assert obs.shape == (64, 72, 128, 3) and obs.dtype == np.uint8 and obs.std() > 5
        obs, _, terminated, _, info = env.step(np.where(info["mask"], info["labels"], 0))
        steps += 1
        if terminated:
            break
    assert steps == 15  # ceil(943 / 64)
    assert info["episode"].prediction.shape == (943,)
    assert info["acc"] == info["edit"] == info["f1@50"] == 100.0
    env.close()
