"""The segmentation env: API (check_env, gymnasium.make), episodes, observations, errors, memory."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs import ENV_ID, VideoSegmentationEnv
from svtas_ray.config import ClipConfig, DataConfig, EnvConfig, RewardConfig, SynthConfig
from svtas_ray.data.clips import IGNORE_INDEX, ClipPlan
from svtas_ray.data.synthetic import generate
from svtas_ray.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SynthConfig(preset="gtea", num_videos=4, scale=0.2, feature_dim=16)
    return generate(cfg, tmp_path_factory.mktemp("synth") / "gtea")


def env_cfg(root: Path, clip_len: int = 16, sample_rate: int = 2, **fields: object) -> EnvConfig:
    data = DataConfig(root=str(root))
    return EnvConfig(data=data, clip=ClipConfig(clip_len, sample_rate), **fields)  # type: ignore[arg-type]


def run_episode(env: VideoSegmentationEnv, policy: str = "truth", **reset: object) -> list:
    """Steps of one episode as (obs, reward, info) with info of the clip the action was for."""
    obs, info = env.reset(**reset)  # type: ignore[arg-type]
    steps: list = []
    while True:
        action = np.where(info["mask"], info["labels"], 0) if policy == "truth" else None
        if action is None:
            action = np.zeros(env.clip_len, np.int64)
        next_obs, reward, terminated, truncated, next_info = env.step(action)
        assert not truncated
        steps.append((obs, reward, info))
        if terminated:
            steps.append((next_obs, None, next_info))
            return steps
        obs, info = next_obs, next_info


def write_index_dataset(root: Path, lengths: tuple[int, ...]) -> Path:
    """Features (2, T) whose row 0 is the frame index + 1 (so 0 means 'no frame'): videos
    ``w0..`` of ``lengths`` frames train, one more of 8 frames tests."""
    for sub in ("groundTruth", "splits", "features"):
        (root / sub).mkdir(parents=True)
    (root / "mapping.txt").write_text("0 a\n1 b\n2 background\n")
    names = []
    for i, n in enumerate((*lengths, 8)):  # the last, of 8 frames, is the test split's
        labels = (np.arange(n) // 5) % 3
        text = "".join(("a", "b", "background")[c] + "\n" for c in labels)
        (root / "groundTruth" / f"w{i}.txt").write_text(text)
        feats = np.stack([np.arange(n) + 1.0, np.full(n, i)]).astype(np.float32)
        np.save(root / "features" / f"w{i}.npy", feats)
        names.append(f"w{i}.txt\n")
    (root / "splits" / "train.split1.bundle").write_text("".join(names[:-1]))
    (root / "splits" / "test.split1.bundle").write_text(names[-1])
    return root


# --------------------------------------------------------------------------- API


def test_check_env_features(synth_root: Path) -> None:
    env = VideoSegmentationEnv(env_cfg(synth_root, context=4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Box(-inf, inf) by contract; no render modes
        check_env(env)
    assert env.observation_space.shape == (20, 16)
    assert env.observation_space.dtype == np.float32
    assert env.action_space.shape == (16,)
    assert (env.action_space.nvec == env.num_classes).all()


def test_gymnasium_make_with_typed_config_and_with_dicts(synth_root: Path) -> None:
    typed = gymnasium.make(ENV_ID, config=env_cfg(synth_root, clip_len=8, sample_rate=1))
    plain = gymnasium.make(
        ENV_ID, data={"root": str(synth_root)}, clip={"clip_len": 8, "sample_rate": 1}
    )
    assert typed.spec is not None and typed.spec.id == ENV_ID
    assert typed.unwrapped.config == plain.unwrapped.config  # type: ignore[attr-defined]
    for env in (typed, plain):
        obs, info = env.reset(seed=3)
        assert obs.shape == (8, 16) and info["clip_index"] == 0
        obs, reward, _, truncated, info = env.step(env.action_space.sample())
        assert obs.shape == (8, 16) and info["clip_index"] == 1
        assert isinstance(reward, float) and not truncated
        env.close()


def test_config_from_rllib_style_dict_with_overrides(synth_root: Path) -> None:
    base = {"data": {"root": str(synth_root), "split": 1}, "clip": {"clip_len": 8}}
    env = VideoSegmentationEnv(base, clip={"sample_rate": 4}, part="test")
    assert env.config.clip == ClipConfig(8, 4)
    assert env.config.data.root == str(synth_root) and env.config.part == "test"
    typed = VideoSegmentationEnv(env_cfg(synth_root), context=2)
    assert typed.config.context == 2 and typed.config.clip == ClipConfig(16, 2)


def test_import_has_no_ray_and_features_mode_no_torch(synth_root: Path) -> None:
    code = (
        "import sys, numpy as np; from envs import VideoSegmentationEnv as E; "
        f"e = E({{'data': {{'root': {str(synth_root)!r}}}}}); e.reset(seed=0); "
        "e.step(np.zeros(e.clip_len, np.int64)); "
        "bad = [m for m in ('ray', 'torch', 'decord') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


# --------------------------------------------------------------------------- episodes


@pytest.mark.parametrize(("clip_len", "sample_rate"), [(1, 1), (7, 1), (8, 3), (16, 2), (64, 1)])
def test_episode_length_is_the_number_of_clips(
    tiny_dataset: Path, clip_len: int, sample_rate: int
) -> None:
    env = VideoSegmentationEnv(env_cfg(tiny_dataset, clip_len, sample_rate))
    for video in env.videos:
        steps = run_episode(env, options={"video": video})
        frames = len(env.dataset.labels(video))
        span = clip_len * sample_rate
        assert len(steps) - 1 == math.ceil(frames / span)
        infos = [info for _, _, info in steps]
        assert [i["clip_index"] for i in infos] == list(range(len(steps)))
        assert all(i["num_clips"] == len(steps) - 1 and i["video"] == video for i in infos)
        assert sum(int(i["mask"].sum()) for i in infos) == math.ceil(frames / sample_rate)
        final = infos[-1]
        assert final["episode"].prediction.shape == (frames,)
        assert not final["mask"].any() and (final["labels"] == IGNORE_INDEX).all()
        assert (steps[-1][0] == 0).all()


def test_info_labels_are_the_sampled_ground_truth(tiny_dataset: Path) -> None:
    env = VideoSegmentationEnv(env_cfg(tiny_dataset, clip_len=6, sample_rate=3))
    steps = run_episode(env, options={"video": "v1"})
    labels = env.dataset.labels("v1")
    plan = ClipPlan(len(labels), 6, 3)
    for k, (_, _, info) in enumerate(steps[:-1]):
        assert np.array_equal(info["labels"], plan.sample(labels, k))
        assert np.array_equal(info["mask"], plan.frames(k)[1])


def test_observation_holds_context_then_clip(tmp_path: Path) -> None:
    root = write_index_dataset(tmp_path / "idx", (23,))
    cfg = env_cfg(root, clip_len=4, sample_rate=2, context=5)
    env = VideoSegmentationEnv(cfg)
    steps = run_episode(env, options={"video": "w0"})
    assert len(steps) - 1 == 3  # 23 frames, 8 per clip
    for k, (obs, _, _) in enumerate(steps[:-1]):
        clip = 8 * k + 2 * np.arange(4)
        context = 8 * k - 2 * np.arange(5, 0, -1)
        expected = np.concatenate([context, np.minimum(clip, 22)]) + 1.0
        expected[:5][context < 0] = 0.0  # zeros before the start of the video
        assert np.array_equal(obs[:, 0], expected), k
        assert obs.shape == (9, 2) and obs.dtype == np.float32


def test_sequential_order_and_reset_option(tiny_dataset: Path) -> None:
    env = VideoSegmentationEnv(env_cfg(tiny_dataset, order="sequential"))
    assert env.videos == ("v1", "v2")
    seen = [env.reset()[1]["video"] for _ in range(5)]
    assert seen == ["v1", "v2", "v1", "v2", "v1"]
    assert env.reset(seed=1)[1]["video"] == "v1"  # seeding restarts the pass
    assert env.reset(options={"video": "v2"})[1]["video"] == "v2"
    subset = VideoSegmentationEnv(env_cfg(tiny_dataset, part="test", videos=("v0",)))
    assert subset.videos == ("v0",)


def test_determinism_under_reset_seed(synth_root: Path) -> None:
    def trace(env: VideoSegmentationEnv, seed: int) -> list:
        out = [env.reset(seed=seed)]
        out += [env.reset() for _ in range(7)]
        return [(info["video"], obs) for obs, info in out]

    a = VideoSegmentationEnv(env_cfg(synth_root))
    b = VideoSegmentationEnv(env_cfg(synth_root))
    first, again, other = trace(a, 11), trace(a, 11), trace(b, 11)
    for x, y, z in zip(first, again, other, strict=True):
        assert x[0] == y[0] == z[0] and np.array_equal(x[1], y[1]) and np.array_equal(x[1], z[1])
    sequences = {tuple(v for v, _ in trace(a, seed)) for seed in range(6)}
    assert len(sequences) > 1  # the seed does choose the videos
    assert {v for s in sequences for v in s} == set(a.videos)


# --------------------------------------------------------------------------- errors


def test_bad_configuration_is_one_clear_error(tiny_dataset: Path) -> None:
    root = str(tiny_dataset)
    unknown_split = r"train\.split7\.bundle: split file not found \(splits here: \[1\]\)"
    with pytest.raises(DataError, match=unknown_split):
        VideoSegmentationEnv({"data": {"root": root, "split": 7}})
    with pytest.raises(ConfigError, match="clip_len must be >= 1"):
        VideoSegmentationEnv({"data": {"root": root}, "clip": {"clip_len": 0}})
    with pytest.raises(ConfigError, match="unknown config key 'clips'"):
        VideoSegmentationEnv({"data": {"root": root}, "clips": {}})
    with pytest.raises(ConfigError, match="'nope' is not in the train part of split 1"):
        VideoSegmentationEnv({"data": {"root": root}, "videos": ["nope"]})
    (tiny_dataset / "features" / "v2.npy").unlink()
    with pytest.raises(DataError, match=r"v2\.npy: feature file not found"):
        VideoSegmentationEnv({"data": {"root": root}})


def test_bad_actions_and_misuse_are_one_clear_error(tiny_dataset: Path) -> None:
    env = VideoSegmentationEnv(env_cfg(tiny_dataset, clip_len=8, sample_rate=1))
    with pytest.raises(RuntimeError, match=r"before reset\(\)"):
        env.step(np.zeros(8, np.int64))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must have shape \(8,\).*got shape \(7,\)"):
        env.step(np.zeros(7, np.int64))
    with pytest.raises(ValueError, match=r"action must have shape \(8,\)"):
        env.step(np.zeros((1, 8), np.int64))
    with pytest.raises(ValueError, match=r"class id 3, outside \[0, 3\)"):
        env.step(np.full(8, 3))
    with pytest.raises(ValueError, match=r"class id -1, outside \[0, 3\)"):
        env.step(np.full(8, -1))
    with pytest.raises(ValueError, match="integer class ids, got dtype float64"):
        env.step(np.zeros(8))
    with pytest.raises(ConfigError, match="video='v0' is not one of this env's 2 videos"):
        env.reset(options={"video": "v0"})
    with pytest.raises(ConfigError, match=r"unknown reset option\(s\) \['start'\]"):
        env.reset(options={"start": 3})
    run_episode(env, policy="zeros", options={"video": "v1"})
    with pytest.raises(RuntimeError, match="after the episode terminated"):
        env.step(np.zeros(8, np.int64))
    env.close()


def test_feature_dimension_mismatch_is_named(tiny_dataset: Path) -> None:
    np.save(tiny_dataset / "features" / "v2.npy", np.zeros((9, 33), np.float32))
    env = VideoSegmentationEnv(env_cfg(tiny_dataset))
    with pytest.raises(DataError, match=r"v2\.npy: features have D=9 but this env's videos have"):
        env.reset(options={"video": "v2"})


# --------------------------------------------------------------------------- memory


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_egtea_length_episode_runs_in_bounded_memory(tmp_path: Path) -> None:
    frames, dim = 200_000, 128  # 100 MB of features: 5x an EGTEA video, more than the bound
    root = tmp_path / "long"
    for sub in ("groundTruth", "splits", "features"):
        (root / sub).mkdir(parents=True)
    (root / "mapping.txt").write_text("0 a\n1 b\n2 background\n")
    labels = (np.arange(frames) // 997) % 3
    names = np.array(["a\n", "b\n", "background\n"])
    (root / "groundTruth" / "long.txt").write_text("".join(names[labels]))
    (root / "splits" / "train.split1.bundle").write_text("long.txt\n")
    out = np.lib.format.open_memmap(root / "features" / "long.npy", "w+", np.float32, (dim, frames))
    for start in range(0, frames, 50_000):
        out[:, start : start + 50_000] = np.float32(start % 7)
    out.flush()
    del out
    env = VideoSegmentationEnv(env_cfg(root, clip_len=128, sample_rate=1))
    action = np.zeros(128, np.int64)
    env.reset(seed=0)
    before = peak = _rss_mb()
    for _ in range(2):  # memory grows neither with video length nor with episodes
        steps = 0
        while True:
            steps += 1
            *_, terminated, _, info = env.step(action)
            if steps % 200 == 0:
                peak = max(peak, _rss_mb())
            if terminated:
                break
        assert steps == math.ceil(frames / 128)
        assert info["acc"] == pytest.approx(100 * np.mean(labels == 0))
        env.reset()
    peak = max(peak, _rss_mb())
    env.close()
    assert peak - before < 60, f"resident memory grew by {peak - before:.0f} MB"


def test_reward_config_reaches_the_env(tiny_dataset: Path) -> None:
    cfg = env_cfg(tiny_dataset, sample_rate=1, reward=RewardConfig(kind="accuracy"))
    steps = run_episode(VideoSegmentationEnv(cfg), options={"video": "v1"})
    assert [r for _, r, _ in steps[:-1]] == [1.0] * 4


def test_speed_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "env_speed.md"
    args = ["--steps", "50", "--repeats", "1", "--dim", "8", "--skip-frames", "--out", str(out)]
    script = REPO / "benchmarks" / "env_speed.py"
    subprocess.run([sys.executable, str(script), *args], cwd=REPO, check=True, timeout=120)
    text = out.read_text()
    assert "| egtea (40,000 frames) | blocky |" in text and "Batched path" in text
