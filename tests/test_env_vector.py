"""The env inside gymnasium's vector envs, and the batched path (many envs in one process)."""

from __future__ import annotations

import functools
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

from envs import ENV_ID, VideoSegmentationBatch, VideoSegmentationEnv
from svtas_ray.config import ClipConfig, DataConfig, EnvConfig, SynthConfig
from svtas_ray.data.synthetic import generate
from svtas_ray.metrics import METRIC_NAMES


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SynthConfig(preset="gtea", num_videos=4, scale=0.2, feature_dim=8)
    return generate(cfg, tmp_path_factory.mktemp("synth") / "gtea")


def cfg_of(root: Path, **fields: object) -> EnvConfig:
    clip = ClipConfig(16, 1)
    return EnvConfig(data=DataConfig(root=str(root)), clip=clip, **fields)  # type: ignore[arg-type]


def truth(infos: list[dict]) -> np.ndarray:
    return np.stack([np.where(i["mask"], i["labels"], 0) for i in infos])


def test_sync_vector_env_runs_through_episode_ends(synth_root: Path) -> None:
    envs = SyncVectorEnv([functools.partial(VideoSegmentationEnv, cfg_of(synth_root))] * 3)
    obs: np.ndarray
    obs, infos = envs.reset(seed=0)
    assert obs.shape == (3, 16, 8) and obs.dtype == np.float32
    assert envs.single_action_space.shape == (16,)
    ended = 0
    for _ in range(40):
        # gymnasium's default next-step autoreset: the action after a termination is ignored
        action = np.where(infos["mask"], infos["labels"], 0)
        obs, _, terminated, truncated, infos = envs.step(action)
        assert obs.shape == (3, 16, 8) and not truncated.any()
        if terminated.any():
            ended += int(terminated.sum())
            assert (infos["acc"][terminated] == 100.0).all()
    assert ended >= 3
    envs.close()


def test_sync_vector_env_with_videos_ending_together(synth_root: Path) -> None:
    # one clip per video: every env terminates at every step, with predictions of other lengths
    cfg = EnvConfig(data=DataConfig(root=str(synth_root)), clip=ClipConfig(512, 1))
    videos = VideoSegmentationEnv(cfg).videos
    envs = SyncVectorEnv([functools.partial(VideoSegmentationEnv, cfg, videos=[v]) for v in videos])
    envs.reset(seed=2)
    _, _, terminated, _, infos = envs.step(np.zeros((3, 512), np.int64))
    assert terminated.all()
    lengths = {len(episode.prediction) for episode in infos["episode"]}
    assert len(lengths) > 1 and infos["acc"].shape == (3,)
    envs.close()


def test_async_vector_env_with_spawn(synth_root: Path) -> None:
    make = functools.partial(gymnasium.make, "envs:" + ENV_ID, config=cfg_of(synth_root))
    envs = AsyncVectorEnv([make, make], context="spawn")
    try:
        obs: np.ndarray
        obs, infos = envs.reset(seed=5)
        reference = VideoSegmentationEnv(cfg_of(synth_root))
        for i in range(2):  # the same as a local env with the same seed
            local, local_info = reference.reset(seed=5 + i)
            assert np.array_equal(obs[i], local) and infos["video"][i] == local_info["video"]
        for _ in range(5):
            obs, rewards, *_ = envs.step(envs.action_space.sample())
            assert obs.shape == (2, 16, 8) and rewards.shape == (2,)
    finally:
        envs.close()


def test_batch_steps_like_separate_envs_and_auto_resets(synth_root: Path) -> None:
    cfg = cfg_of(synth_root)
    batch = VideoSegmentationBatch(cfg, 3)
    singles = [VideoSegmentationEnv(cfg) for _ in range(3)]
    obs, infos = batch.reset(seed=7)
    assert obs.shape == (3, 16, 8) and batch.action_space.shape == (3, 16)
    single = [env.reset(seed=7 + i) for i, env in enumerate(singles)]
    finished = []
    for _ in range(60):
        for i in range(3):
            assert (
                np.array_equal(obs[i], single[i][0]) and infos[i]["video"] == single[i][1]["video"]
            )
        action = truth(infos)
        action[:, ::5] = 0  # not perfect: every fifth slot says class 0
        obs, rewards, terminated, truncated, infos = batch.step(action)
        assert not truncated.any()
        for i, env in enumerate(singles):
            ob, reward, term, _, info = env.step(action[i])
            assert reward == rewards[i] and term == terminated[i]
            if term:
                final = infos[i]["final_info"]
                assert {n: final[n] for n in METRIC_NAMES} == {n: info[n] for n in METRIC_NAMES}
                assert np.array_equal(final["episode"].prediction, info["episode"].prediction)
                assert infos[i]["clip_index"] == 0  # the next episode's first clip
                finished.append(final)
                single[i] = env.reset()
            else:
                single[i] = (ob, info)
    assert len(finished) >= 3
    assert all(0 < f["acc"] < 100 for f in finished)
    batch.close()


def test_batch_reset_on_chosen_videos_and_bad_actions(synth_root: Path) -> None:
    batch = VideoSegmentationBatch(cfg_of(synth_root), 2)
    with pytest.raises(RuntimeError, match=r"before reset\(\)"):
        batch.step(np.zeros((2, 16), np.int64))
    video = batch.envs[0].videos[1]
    _, infos = batch.reset(videos=[video, None])
    assert infos[0]["video"] == video
    with pytest.raises(ValueError, match=r"shape \(2, 16\), one row of class ids per env"):
        batch.step(np.zeros(16, np.int64))
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        VideoSegmentationBatch(cfg_of(synth_root), 0)
