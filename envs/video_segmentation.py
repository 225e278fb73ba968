"""One video = one episode of clips: the Gymnasium environment of streaming segmentation.

``reset()`` picks a video of the configured split part (uniformly with the env's RNG, in an ordered
pass, or ``options={"video": id}``) and returns its first clip; ``step(action)`` takes one class id
per sampled frame of the current clip, pays the configured reward (:mod:`svtas_ray.rewards`) and
returns the next clip; the episode terminates after the last clip (DESIGN §5).

Scoring works on raw frames: the action's per-slot ids are expanded to every raw frame the clip
covers (:meth:`ClipPlan.expand_clip`) and scored against the raw labels, so the end-of-episode
scores equal ``svtas-ray score`` on the full-length prediction. Padded slots of the last clip
(mask False) cover no raw frame and never count.

Observations are ``(context + clip_len, D)`` float32 features or ``(context + clip_len, H, W, 3)``
uint8 frames: the ``context`` sampled frames before the clip (zeros before the start of the video,
like a causal convolution's padding), then the clip's ``clip_len`` sampled frames (padded slots
repeat the last frame, as the clip plan does). The terminal step returns an all-zero observation:
no clip is left.

``info`` describes the clip of the observation it comes with: ``video``, ``clip_index``,
``num_clips``, ``labels`` ``(clip_len,)`` int64 (:data:`IGNORE_INDEX` on padded slots) and
``mask`` ``(clip_len,)`` bool, for auxiliary supervised losses (never part of the observation).
Every step's info also has ``reward_parts`` ``(reward.parts,)``: the step's reward paid in
consecutive pieces of the clip (:meth:`Reward.in_parts`; one piece, the reward, by default).
The terminal step's info has ``clip_index == num_clips``, all-ignored labels and an all-False
mask, plus the video's scores as floats (keys :data:`~svtas_ray.metrics.METRIC_NAMES`), the
``episode_return``, and ``episode``: an :class:`EpisodeResult` with the full-length
``prediction`` ``(T,)`` and the ``score`` (:class:`~svtas_ray.metrics.VideoScore`, the counts that
pool over videos). The prediction travels inside that object because gymnasium's vector envs
stack same-named info arrays and videos differ in length.

Feature files and videos are opened at reset and closed at episode end, in the process that
steps the env (decord readers never cross processes); memory does not grow with video length.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from svtas_ray.config import EnvConfig, from_dict, to_dict
from svtas_ray.data.alignment import aligned_index
from svtas_ray.data.clips import IGNORE_INDEX, ClipPlan
from svtas_ray.data.features import FeatureSource
from svtas_ray.data.layout import Dataset
from svtas_ray.data.video import VideoSource
from svtas_ray.errors import ConfigError, DataError
from svtas_ray.metrics import VideoScore
from svtas_ray.rewards import Reward, part_of_slots

ENV_ID = "svtas/VideoSegmentation-v0"
"""The id this env is registered under with Gymnasium (on ``import envs``)."""

Observation = npt.NDArray[Any]
Action = npt.NDArray[np.integer[Any]]


def make_env_config(
    config: EnvConfig | Mapping[str, Any] | None = None, **fields: Any
) -> EnvConfig:
    """An :class:`EnvConfig` from a typed config, a plain (nested) dict, or keyword fields.

    Keyword fields are merged into ``config`` section by section, so
    ``make_env_config(cfg, clip={"clip_len": 8})`` keeps ``cfg.clip.sample_rate``. Values may be
    dicts or config dataclasses (RLlib's ``env_config`` and ``gymnasium.make`` kwargs are dicts).
    """
    if isinstance(config, EnvConfig) and not fields:
        return config
    merged = _plain(config) if config is not None else {}
    if not isinstance(merged, dict):
        raise ConfigError(f"env config must be an EnvConfig or a mapping, got {type(config)}")
    return from_dict(EnvConfig, _merge(merged, _plain(fields)), where="env config")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True, eq=False)
class EpisodeResult:
    """What a finished episode produced (the terminal info's ``"episode"``)."""

    video: str
    """The video id."""
    prediction: npt.NDArray[np.int64]
    """Predicted class of every raw frame ``(T,)``: the actions expanded to the frames."""
    score: VideoScore
    """Its Acc/Edit/F1 statistics (``score.metrics()``; pool videos with ``metrics.summarize``)."""


@dataclass
class _Episode:
    """The state of the video being played."""

    video: str
    labels: npt.NDArray[np.int64]
    """Raw frame labels ``(T,)``."""
    plan: ClipPlan
    read: Callable[[npt.NDArray[np.int64]], Observation]
    """Frames ``(n,)`` -> observations ``(n, ...)`` of the open feature file or video."""
    close: Callable[[], None]
    prediction: npt.NDArray[np.int64]
    """Raw frame predictions ``(T,)`` filled clip by clip."""
    clip: int = 0
    """Index of the clip in the last observation (== num_clips once terminated)."""
    window: Observation | None = None
    """The last observation (its tail is the next one's context)."""
    episode_return: float = 0.0


class VideoSegmentationEnv(gym.Env[Observation, Action]):
    """Streaming temporal action segmentation of one video per episode (see the module doc).

    Args:
        config: an :class:`EnvConfig`, or a plain dict of its fields (nested sections as dicts).
        **fields: EnvConfig fields merged into ``config`` (``data={"root": ...}``, ``part="test"``).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012  (gymnasium's class attribute)

    def __init__(self, config: EnvConfig | Mapping[str, Any] | None = None, **fields: Any) -> None:
        self.config = cfg = make_env_config(config, **fields)
        self.dataset = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
        self.videos: tuple[str, ...] = _select_videos(self.dataset, cfg)
        self.num_classes = self.dataset.num_classes
        self.clip_len = cfg.clip.clip_len
        self.sample_rate = cfg.clip.sample_rate
        self.context = cfg.context
        window = cfg.context + cfg.clip.clip_len
        if cfg.data.modality == "features":
            self.feature_dim = self._first_feature_dim()
            shape: tuple[int, ...] = (window, self.feature_dim)
            self.observation_space: spaces.Box = spaces.Box(-np.inf, np.inf, shape, np.float32)
        else:
            for video in self.videos:
                self.dataset.require_video_path(video)
            height, width = cfg.data.frame_size
            self.observation_space = spaces.Box(0, 255, (window, height, width, 3), np.uint8)
        self.action_space: spaces.MultiDiscrete = spaces.MultiDiscrete(
            np.full(self.clip_len, self.num_classes, dtype=np.int64)
        )
        self.reward_fn = Reward(cfg.reward, self.num_classes, self.dataset.background_ids)
        self._episode: _Episode | None = None
        self._next = 0  # position in the ordered pass ('sequential')
        # raw frame offset within a clip -> its slot, for expanding actions to raw frames
        self._slot_of = np.arange(self.clip_len * self.sample_rate) // self.sample_rate
        # raw frame offset within a clip -> its part of the clip's reward (reward.parts)
        self.parts = cfg.reward.parts
        self._part_of = part_of_slots(self.clip_len, self.parts)[self._slot_of]
        self._ignored = np.full(self.clip_len, IGNORE_INDEX, dtype=np.int64)
        self._ignored.flags.writeable = False

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode on a video: ``options={"video": id}``, else by ``config.order``.

        Seeding resets the RNG of the random order and restarts the sequential pass.
        """
        super().reset(seed=seed)
        if seed is not None:
            self._next = 0
        video = self._choose_video(options)
        self._close_episode()
        self._episode = ep = self._open_episode(video)
        self.reward_fn.reset()
        return self._observe(ep)

    def step(self, action: npt.ArrayLike) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Score ``action`` (``(clip_len,)`` class ids) on the current clip; move to the next."""
        ep = self._episode
        if ep is None or ep.clip >= ep.plan.num_clips:
            state = "before reset()" if ep is None else "after the episode terminated"
            raise RuntimeError(f"step() called {state}; call reset() to start an episode")
        pred_slots = self._check_action(action)
        start, stop = ep.plan.raw_range(ep.clip)
        pred = pred_slots[self._slot_of[: stop - start]]
        ep.prediction[start:stop] = pred
        last = ep.clip == ep.plan.num_clips - 1
        pieces = self.reward_fn.in_parts(
            pred, ep.labels[start:stop], self._part_of[: stop - start], self.parts, last
        )
        reward = float(pieces.sum())
        ep.episode_return += reward
        ep.clip += 1
        if last:
            obs = np.zeros(self.observation_space.shape, self.observation_space.dtype)
            info = self._final_info(ep)
            ep.close()
        else:
            obs, info = self._observe(ep)
        info["reward_parts"] = pieces
        return obs, reward, last, False, info

    def close(self) -> None:
        self._close_episode()
        super().close()

    # ------------------------------------------------------------------ episodes

    @property
    def video(self) -> str | None:
        """The video of the current (or last) episode."""
        return None if self._episode is None else self._episode.video

    def _choose_video(self, options: Mapping[str, Any] | None) -> str:
        options = dict(options or {})
        video = options.pop("video", None)
        if options:
            raise ConfigError(f"unknown reset option(s) {sorted(options)} (known: 'video')")
        if video is not None:
            if video not in self.videos:
                where = f"the {self.config.part} part of split {self.config.data.split}"
                if self.config.videos:
                    where += " (env.videos subset)"
                raise ConfigError(
                    f"reset option video={video!r} is not one of this env's {len(self.videos)} "
                    f"videos from {where}"
                )
            return str(video)
        if self.config.order == "sequential":
            video, self._next = self.videos[self._next % len(self.videos)], self._next + 1
            return video
        return self.videos[int(self.np_random.integers(len(self.videos)))]

    def _open_episode(self, video: str) -> _Episode:
        labels = _labels(self.dataset, video)
        plan = ClipPlan(len(labels), self.clip_len, self.sample_rate)
        read, close = self._open_source(video, len(labels))
        return _Episode(video, labels, plan, read, close, np.zeros(len(labels), np.int64))

    def _open_source(
        self, video: str, num_frames: int
    ) -> tuple[Callable[[npt.NDArray[np.int64]], Observation], Callable[[], None]]:
        data = self.config.data
        if data.modality == "features":
            features = FeatureSource(self.dataset.feature_path(video), num_frames, data.alignment)
            if features.dim != self.feature_dim:
                features.close()
                raise DataError(
                    f"{features.path}: features have D={features.dim} but this env's videos have "
                    f"D={self.feature_dim} (from {self.dataset.feature_path(self.videos[0])})"
                )
            return features.read, features.close
        source = VideoSource(self.dataset.require_video_path(video), data.frame_size)
        index = aligned_index(
            source.path, "video frames", source.num_frames, num_frames, data.alignment
        )
        return (lambda frames: source.read(index(frames))), source.close

    def _close_episode(self) -> None:
        if self._episode is not None and self._episode.clip < self._episode.plan.num_clips:
            self._episode.close()  # a finished episode closed its source already
        self._episode = None

    def _observe(self, ep: _Episode) -> tuple[Observation, dict[str, Any]]:
        """The observation of clip ``ep.clip`` (context slots, then the clip's) and its info."""
        frames, mask = ep.plan.frames(ep.clip)
        clip = ep.read(frames)
        if not self.context:
            window = clip
        else:
            window = np.empty(self.observation_space.shape, self.observation_space.dtype)
            if ep.window is None:  # first clip: nothing before the start of the video
                window[: self.context] = 0
            else:  # the previous window's last `context` slots precede this clip's first slot
                window[: self.context] = ep.window[self.clip_len :]
            window[self.context :] = clip
        ep.window = window
        info = {
            "video": ep.video,
            "clip_index": ep.clip,
            "num_clips": ep.plan.num_clips,
            # = ep.plan.sample(ep.labels, ep.clip), without computing the frames again
            "labels": np.where(mask, ep.labels[frames], IGNORE_INDEX),
            "mask": mask,
        }
        return window, info

    def _final_info(self, ep: _Episode) -> dict[str, Any]:
        score: VideoScore = self.reward_fn.scorer.video_score(ep.video)
        return {
            "video": ep.video,
            "clip_index": ep.clip,
            "num_clips": ep.plan.num_clips,
            "labels": self._ignored.copy(),
            "mask": np.zeros(self.clip_len, dtype=bool),
            **score.metrics(),
            "episode_return": ep.episode_return,
            "episode": EpisodeResult(ep.video, ep.prediction, score),
        }

    def _check_action(self, action: npt.ArrayLike) -> npt.NDArray[np.int64]:
        a = np.asarray(action)
        if a.shape != (self.clip_len,):
            raise ValueError(
                f"action must have shape ({self.clip_len},), one class id per sampled frame of "
                f"the clip, got shape {a.shape}"
            )
        if a.dtype.kind not in "iu":
            raise ValueError(f"action must hold integer class ids, got dtype {a.dtype}")
        low, high = int(a.min()), int(a.max())
        if low < 0 or high >= self.num_classes:
            bad = low if low < 0 else high
            raise ValueError(f"action holds class id {bad}, outside [0, {self.num_classes})")
        return a.astype(np.int64, copy=False)

    def _first_feature_dim(self) -> int:
        """D of the first video's features (the others are checked when opened)."""
        for video in self.videos:  # fail now, not hours into training, on a missing file
            if not self.dataset.feature_path(video).is_file():
                raise DataError(f"{self.dataset.feature_path(video)}: feature file not found")
        first = self.videos[0]
        labels = _labels(self.dataset, first)
        source = FeatureSource(
            self.dataset.feature_path(first), len(labels), self.config.data.alignment
        )
        dim = source.dim
        source.close()
        return dim


def _labels(ds: Dataset, video: str) -> npt.NDArray[np.int64]:
    """Frame labels ``(T,)`` of ``video``, read-only, cached for the envs of a process.

    Parsing a label file costs ~2 ms per 1,000 frames, a tenth of a millisecond per step of a
    GTEA episode. The cache holds at most 256 videos and is keyed on the file's modification
    time and size, so an edited file is read again.
    """
    try:
        stat = ds.label_path(video).stat()
    except FileNotFoundError:
        return ds.labels(video)  # raises the DataError naming the file
    return _cached_labels(ds, video, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _cached_labels(ds: Dataset, video: str, mtime_ns: int, size: int) -> npt.NDArray[np.int64]:
    labels = ds.labels(video)
    labels.flags.writeable = False
    return labels


def _select_videos(ds: Dataset, cfg: EnvConfig) -> tuple[str, ...]:
    """The videos episodes come from: the split part's, or the ``cfg.videos`` subset of them."""
    part = ds.split_videos(cfg.data.split, cfg.part)
    if not cfg.videos:
        return tuple(part)
    known = set(part)
    for video in cfg.videos:
        if video not in known:
            raise ConfigError(
                f"env.videos: {video!r} is not in the {cfg.part} part of split {cfg.data.split} "
                f"of {ds.root}"
            )
    return tuple(cfg.videos)


__all__ = ["ENV_ID", "EpisodeResult", "VideoSegmentationEnv", "make_env_config"]
