"""The env's rewards and end-of-episode scores: maximal return for the ground truth, and the same
scores as ``svtas-ray score`` on the same full-length predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs import VideoSegmentationEnv
from svtas_ray.config import ClipConfig, DataConfig, EnvConfig, RewardConfig, SynthConfig
from svtas_ray.data.clips import ClipPlan
from svtas_ray.data.predictions import write_prediction
from svtas_ray.data.synthetic import generate
from svtas_ray.metrics import METRIC_NAMES, score_video, summarize
from svtas_ray.rewards import potential

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SynthConfig(preset="gtea", num_videos=4, scale=0.2, feature_dim=8)
    return generate(cfg, tmp_path_factory.mktemp("synth") / "gtea")


def make_env(root: Path, clip_len: int, sample_rate: int, **fields: object) -> VideoSegmentationEnv:
    clip = ClipConfig(clip_len, sample_rate)
    cfg = EnvConfig(data=DataConfig(root=str(root)), clip=clip, order="sequential", **fields)  # type: ignore[arg-type]
    return VideoSegmentationEnv(cfg)


def noisy(labels: np.ndarray, mask: np.ndarray, rng: np.random.Generator, c: int) -> np.ndarray:
    """The clip's labels with a random block of slots relabelled (over-segmentation)."""
    action = np.where(mask, labels, 0)
    start = rng.integers(len(action))
    action[start : start + rng.integers(1, 6)] = rng.integers(c)
    return action


def play(env: VideoSegmentationEnv, policy: str, seed: int = 0) -> tuple[list[float], dict]:
    """Rewards and final info of one episode (next video in the sequential pass)."""
    rng = np.random.default_rng(seed)
    _, info = env.reset()
    rewards = []
    while True:
        if policy == "truth":
            action = np.where(info["mask"], info["labels"], 0)
        else:
            action = noisy(info["labels"], info["mask"], rng, env.num_classes)
        _, reward, terminated, _, info = env.step(action)
        rewards.append(reward)
        if terminated:
            return rewards, info


def test_ground_truth_policy_gets_the_maximal_return(synth_root: Path) -> None:
    weights = RewardConfig(acc_weight=0.2, edit_weight=0.3, f1_weights=(0.1, 0.2, 0.2))
    env = make_env(synth_root, 16, 1, reward=weights)
    for _ in env.videos:
        rewards, info = play(env, "truth")
        assert sum(rewards) == pytest.approx(1.0)  # Φ of perfect scores = sum of the weights
        assert info["episode_return"] == pytest.approx(1.0)
        assert all(info[name] == 100.0 for name in METRIC_NAMES)
        assert np.array_equal(info["episode"].prediction, env.dataset.labels(info["video"]))


@pytest.mark.parametrize("kind", ["segmental", "terminal"])
def test_return_is_the_potential_of_the_final_scores(synth_root: Path, kind: str) -> None:
    cfg = RewardConfig(kind=kind, acc_weight=0.5, edit_weight=0.25, f1_weights=(0, 0.25, 0))  # type: ignore[arg-type]
    env = make_env(synth_root, 8, 2, reward=cfg)
    rewards, info = play(env, "noisy", seed=1)
    phi = potential({k: info[k] for k in METRIC_NAMES}, cfg)
    assert 0 < phi < 1
    assert sum(rewards) == pytest.approx(phi)
    if kind == "terminal":
        assert rewards[:-1] == [0.0] * (len(rewards) - 1)


@pytest.mark.parametrize(("clip_len", "sample_rate"), [(16, 1), (8, 3)])
def test_end_scores_equal_the_score_cli(
    synth_root: Path, tmp_path: Path, clip_len: int, sample_rate: int
) -> None:
    env = make_env(synth_root, clip_len, sample_rate)
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    finals = []
    for k, _ in enumerate(env.videos):
        _, info = play(env, "noisy", seed=k)
        labels = env.dataset.labels(info["video"])
        # the env's per-video scores are those of its full-length prediction
        bg = env.dataset.background_ids
        expected = score_video(info["episode"].prediction, labels, bg, video=info["video"])
        assert info["episode"].score == expected
        assert {n: info[n] for n in METRIC_NAMES} == expected.metrics()
        write_prediction(
            pred_dir / f"{info['video']}.txt", info["episode"].prediction, env.dataset.classes
        )
        finals.append(info)
    assert sorted(f["video"] for f in finals) == sorted(env.videos)
    assert min(f["edit"] for f in finals) < 100  # the noisy policy is scored, not trivially
    cli_args = ["score", "--gt", str(synth_root), "--pred", str(pred_dir), "--json"]
    out = subprocess.run(
        [sys.executable, "-m", "svtas_ray", *cli_args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    cli = json.loads(out.stdout)
    pooled = summarize([f["episode"].score for f in finals])
    assert cli["videos"] == len(finals)
    for name in METRIC_NAMES:
        assert cli[name] == pytest.approx(pooled[name], abs=1e-9), name


def test_prediction_is_the_actions_expanded_to_raw_frames(synth_root: Path) -> None:
    env = make_env(synth_root, 5, 3)
    rng = np.random.default_rng(0)
    _, info = env.reset()
    actions = []
    while True:
        action = rng.integers(0, env.num_classes, 5)
        actions.append(action)
        *_, terminated, _, info = env.step(action)
        if terminated:
            break
    plan = ClipPlan(len(info["episode"].prediction), 5, 3)
    assert np.array_equal(info["episode"].prediction, plan.expand(np.concatenate(actions)))
