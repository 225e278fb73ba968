"""Many segmentation envs stepped together in one process (the rollout workers' path).

:class:`VideoSegmentationBatch` holds N :class:`VideoSegmentationEnv` and steps them with one call
on an ``(N, clip_len)`` action array, returning stacked observations, rewards and dones and a list
of N info dicts. An env whose episode ends is reset in the same call (same-step auto-reset): its
row of the returned observation is the first clip of its next video and its info is that clip's,
with the finished episode's terminal info (scores, return, ``episode``) under ``"final_info"``.
Episodes end only by termination (never truncation), so no final observation is needed: the value
after the last clip is 0.

Compared with ``gymnasium.vector.SyncVectorEnv`` this skips the per-key merging of infos into
arrays (the trainer wants per-env labels and masks as they are) and the extra autoreset step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from envs.video_segmentation import VideoSegmentationEnv, make_env_config
from svtas_ray.config import EnvConfig

StepResult = tuple[
    npt.NDArray[Any],
    npt.NDArray[np.float64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.bool_],
    list[dict[str, Any]],
]


class VideoSegmentationBatch:
    """N segmentation envs in one process, stepped together with same-step auto-reset.

    Args:
        config: the :class:`EnvConfig` (or a plain dict) every env is built from.
        num_envs: N.
        **fields: EnvConfig fields merged into ``config``, as for the env.
    """

    def __init__(
        self, config: EnvConfig | Mapping[str, Any] | None, num_envs: int, **fields: Any
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        cfg = make_env_config(config, **fields)
        self.config = cfg
        self.envs = [VideoSegmentationEnv(cfg) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.single_observation_space: spaces.Box = self.envs[0].observation_space
        self.single_action_space: spaces.MultiDiscrete = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.clip_len = self.envs[0].clip_len
        self._started = False

    def reset(
        self, seed: int | None = None, videos: Sequence[str | None] | None = None
    ) -> tuple[npt.NDArray[Any], list[dict[str, Any]]]:
        """Reset every env: observations ``(N, *obs_shape)`` and N infos.

        seed: env i is seeded with ``seed + i`` (None: fresh entropy).
        videos: per env, a video id to start on (None: the env's order).
        """
        if videos is not None and len(videos) != self.num_envs:
            raise ValueError(f"videos must name one video (or None) per env, got {len(videos)}")
        obs = self._empty_obs()
        infos = []
        for i, env in enumerate(self.envs):
            video = None if videos is None else videos[i]
            obs[i], info = env.reset(
                seed=None if seed is None else seed + i,
                options=None if video is None else {"video": video},
            )
            infos.append(info)
        self._started = True
        return obs, infos

    def step(self, actions: npt.ArrayLike) -> StepResult:
        """Step env i with ``actions[i]``; ``actions``: ``(N, clip_len)`` class ids.

        Returns observations ``(N, *obs_shape)``, rewards ``(N,)``, terminated ``(N,)``,
        truncated ``(N,)`` (always False) and N infos (see the module docstring).
        """
        if not self._started:
            raise RuntimeError("step() called before reset(); call reset() first")
        acts = np.asarray(actions)
        if acts.shape != (self.num_envs, self.clip_len):
            raise ValueError(
                f"actions must have shape ({self.num_envs}, {self.clip_len}), one row of class "
                f"ids per env, got shape {acts.shape}"
            )
        obs = self._empty_obs()
        rewards = np.empty(self.num_envs, np.float64)
        terminated = np.zeros(self.num_envs, bool)
        infos = []
        for i, env in enumerate(self.envs):
            ob, rewards[i], terminated[i], _, info = env.step(acts[i])
            if terminated[i]:
                ob, next_info = env.reset()
                info = {**next_info, "final_info": info}
            obs[i] = ob
            infos.append(info)
        return obs, rewards, terminated, np.zeros(self.num_envs, bool), infos

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def _empty_obs(self) -> npt.NDArray[Any]:
        space = self.single_observation_space
        return np.empty((self.num_envs, *space.shape), space.dtype)


__all__ = ["VideoSegmentationBatch"]
