"""The env and a streaming segmenter in RLlib's terms (new API stack, Ray 2.60).

- :func:`register_rllib_env`: ``ENV_NAME`` registered with ``ray.tune.registry.register_env``; the
  env is :class:`envs.VideoSegmentationEnv` behind :class:`ClipAndMask`, whose observation is a
  dict ``{"clip": (L, D) | (L, H, W, 3), "mask": (L,) int8}``: the mask marks the valid frames of
  the last (padded) clip of a video, which the segmenter needs to ignore padding exactly as the
  native trainer and ``svtas-ray eval`` do. The labels stay in ``info`` (never observed).
- :class:`FrameCategorical`: the action distribution, one categorical per frame over logits
  ``(..., L, C)`` vectorised over frames (RLlib's ``MultiDiscrete`` default is a Python list of
  per-frame categoricals, ~30x slower: docs/rllib.md). ``logp`` is the joint log-probability of a
  clip (the sum over frames), what RLlib's own losses expect of one action.
- :class:`SegmenterRLModule`: any :class:`~svtas_ray.models.interface.StreamingSegmenter` as a
  ``TorchRLModule`` with ``ValueFunctionAPI``. Its memory (per-layer caches, memory tokens) is
  RLlib's state: :meth:`~SegmenterRLModule.get_initial_state` and ``Columns.STATE_IN`` /
  ``STATE_OUT``, one dict entry per state tensor; ``max_seq_len`` is the clips per chunk.
- :class:`AddLabelsToBatch`: a learner connector piece that copies the clip labels from the
  episodes' infos into the train batch (column :data:`LABELS`) for the auxiliary cross-entropy.

Nothing here starts Ray; RLlib is imported by whoever imports this module.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchDistribution
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis.target_network_api import (
    TARGET_NETWORK_ACTION_DIST_INPUTS,
    TargetNetworkAPI,
)
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

from svtas_ray.config import ModelConfig, from_dict
from svtas_ray.data.clips import IGNORE_INDEX
from svtas_ray.models.build import build_segmenter
from svtas_ray.models.interface import State, StreamingSegmenter

ENV_NAME = "svtas_video_segmentation"
"""The name the env is registered under with ``ray.tune.registry.register_env``."""
LABELS = "svtas_labels"
"""Train batch column: the clip's labels ``(L,)`` from info (``IGNORE_INDEX`` on padding)."""
STAGE_LOGITS = "svtas_stage_logits"
"""Forward-train output: every stage's logits ``(B, T, S, L, C)`` (the auxiliary loss's input)."""


# --------------------------------------------------------------------------- the env


class ClipAndMask(gym.Wrapper[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]):
    """Observation ``{"clip": the env's observation, "mask": info["mask"] as int8}``."""

    def __init__(self, env: gym.Env[np.ndarray, np.ndarray]) -> None:
        super().__init__(env)
        clip_len = int(env.action_space.shape[0])  # type: ignore[index]
        self.observation_space = spaces.Dict(
            {"clip": env.observation_space, "mask": spaces.Box(0, 1, (clip_len,), np.int8)}
        )

    def _obs(self, obs: np.ndarray, info: dict[str, Any]) -> dict[str, np.ndarray]:
        return {"clip": obs, "mask": np.asarray(info["mask"], np.int8)}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        return self._obs(obs, info), info

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._obs(obs, info), float(reward), terminated, truncated, info


def make_rllib_env(env_config: dict[str, Any]) -> ClipAndMask:
    """The env RLlib's env runners build: ``env_config`` is an :class:`EnvConfig` as a dict."""
    from envs.video_segmentation import VideoSegmentationEnv

    fields = {k: v for k, v in dict(env_config).items()}
    return ClipAndMask(VideoSegmentationEnv(fields))


def register_rllib_env() -> str:
    """Register the env with Ray Tune's registry (needs Ray initialised); returns its name."""
    from ray.tune.registry import register_env

    register_env(ENV_NAME, make_rllib_env)
    return ENV_NAME


# --------------------------------------------------------------------------- the distribution


class FrameCategorical(TorchDistribution):
    """Independent categoricals per frame over ``logits (..., L, C)``; one action is ``(..., L)``.

    ``logp`` / ``entropy`` / ``kl`` are of the whole clip (sums over its L frames).
    """

    def _get_torch_distribution(self, logits: torch.Tensor) -> torch.distributions.Distribution:
        return torch.distributions.Independent(
            torch.distributions.Categorical(logits=logits.float()), 1
        )

    @staticmethod
    def required_input_dim(space: gym.Space[Any], **kwargs: Any) -> int:
        nvec = np.asarray(space.nvec)  # type: ignore[attr-defined]
        return int(nvec.sum())

    def to_deterministic(self) -> Any:
        from ray.rllib.core.distribution.torch.torch_distribution import TorchDeterministic

        dist: Any = self._dist
        logits = dist.base_dist.logits
        return TorchDeterministic(loc=logits.argmax(-1))


# --------------------------------------------------------------------------- the module


def state_keys(n: int) -> list[str]:
    """Names of the state entries (zero-padded: RLlib flattens dicts in sorted key order)."""
    return [f"s{i:03d}" for i in range(n)]


class SegmenterRLModule(TorchRLModule, ValueFunctionAPI):
    """A streaming segmenter as an RLlib module.

    ``model_config``: ``{"model": ModelConfig as a dict, "normalization": {"mean", "std"} or
    None, "max_seq_len": clips per chunk}``. The number of classes comes from the action space
    (``MultiDiscrete([C] * L)``) and the slot shape from the observation space's ``"clip"``.

    Batches: ``obs["clip"] (B, T, L, ...)``, ``obs["mask"] (B, T, L)`` and ``STATE_IN`` (one
    ``(B, ...)`` tensor per entry) at the start of each sequence; RLlib adds ``T = 1`` on the env
    runners and ``T = max_seq_len`` (zero-padded) on the learners.
    """

    segmenter: StreamingSegmenter

    def setup(self) -> None:
        mc: dict[str, Any] = dict(self.model_config or {})  # type: ignore[arg-type]
        model_cfg = from_dict(ModelConfig, mc.get("model", {}), where="rllib model_config")
        obs_space: Any = self.observation_space
        clip_shape = tuple(int(n) for n in obs_space["clip"].shape)
        num_classes = int(np.asarray(self.action_space.nvec).reshape(-1)[0])  # type: ignore[union-attr]
        self.segmenter = build_segmenter(model_cfg, num_classes, clip_shape[1:])
        norm = mc.get("normalization")
        if norm is not None:
            encoder: Any = self.segmenter.encoder  # a FeatureProjector in features mode
            encoder.set_normalization(np.asarray(norm["mean"]), np.asarray(norm["std"]))
        self._num_states = len(self.segmenter.initial_state(1, "cpu"))
        self._keys = state_keys(self._num_states)

    def get_initial_state(self) -> dict[str, torch.Tensor]:
        state = self.segmenter.initial_state(1, "cpu")
        return {k: s[0] for k, s in zip(self._keys, state, strict=True)}

    def get_inference_action_dist_cls(self) -> type[FrameCategorical]:
        return FrameCategorical

    def get_exploration_action_dist_cls(self) -> type[FrameCategorical]:
        return FrameCategorical

    def get_train_action_dist_cls(self) -> type[FrameCategorical]:
        return FrameCategorical

    # ------------------------------------------------------------------ forward passes

    def run_sequence(
        self, batch: dict[str, Any]
    ) -> tuple[list[torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]:
        """The segmenter over the ``T`` clips of each row, carrying its memory from
        ``batch[STATE_IN]``: per-stage logits ``(B, T, L, C)``, values ``(B, T)``, state out."""
        obs = batch[Columns.OBS]
        clips, mask = obs["clip"], obs["mask"].bool()
        state_in = batch.get(Columns.STATE_IN) or {}
        state: State = tuple(state_in[k] for k in self._keys)
        if not state:
            state = self.segmenter.initial_state(clips.shape[0], clips.device)
        logits, values, state = self.segmenter.forward_chunk(clips, state, mask)
        return logits, values, dict(zip(self._keys, state, strict=True))

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        logits, values, state = self.run_sequence(batch)
        return {
            Columns.ACTION_DIST_INPUTS: logits[-1],
            Columns.STATE_OUT: state,
            Columns.EMBEDDINGS: values,
        }

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        logits, values, state = self.run_sequence(batch)
        return {
            Columns.ACTION_DIST_INPUTS: logits[-1],
            Columns.STATE_OUT: state,
            # The segmenter computes its value inside its forward pass (pooled head features):
            # the "embeddings" handed to compute_values are those values, not features.
            Columns.EMBEDDINGS: values,
            Columns.VF_PREDS: values,
            STAGE_LOGITS: torch.stack(logits, dim=2),
        }

    def compute_values(self, batch: dict[str, Any], embeddings: Any | None = None) -> torch.Tensor:
        """Values ``(B, T)`` (from ``embeddings`` when a forward pass computed them)."""
        if embeddings is not None:
            return torch.as_tensor(embeddings)
        return self.run_sequence(batch)[1]


class SegmenterAPPOModule(SegmenterRLModule, TargetNetworkAPI):
    """:class:`SegmenterRLModule` with the target network APPO's loss asks for (a copy of the
    segmenter, run over the batch from the same ``STATE_IN``)."""

    def make_target_networks(self) -> None:
        self._target_segmenter = make_target_network(self.segmenter)

    def get_target_network_pairs(self) -> list[tuple[Any, Any]]:
        return [(self.segmenter, self._target_segmenter)]

    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        state_in = batch.get(Columns.STATE_IN) or {}
        state: State = tuple(state_in[k] for k in self._keys)
        target: Any = self._target_segmenter
        logits, _, _ = target.forward_chunk(obs["clip"], state, obs["mask"].bool())
        return {TARGET_NETWORK_ACTION_DIST_INPUTS: logits[-1]}


# --------------------------------------------------------------------------- labels from infos


class AddLabelsToBatch(ConnectorV2):
    """Learner connector piece: column :data:`LABELS` ``(L,)`` per timestep from the episodes'
    infos (infos describe the observation they come with), ``IGNORE_INDEX`` where an info has
    none. It runs before RLlib's time-dimension padding, which pads it like every column."""

    def __call__(
        self,
        *,
        rl_module: Any,
        batch: dict[str, Any],
        episodes: list[Any],
        explore: bool | None = None,
        shared_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        for episode in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            n = len(episode)
            infos = episode.get_infos(slice(0, n))
            labels = [_labels(info, episode) for info in infos]
            self.add_n_batch_items(batch, LABELS, labels, n, episode)
        return batch


def _labels(info: Any, episode: Any) -> np.ndarray:
    if isinstance(info, dict) and "labels" in info:
        return np.asarray(info["labels"], np.int64)
    width = int(np.asarray(episode.get_actions(0)).shape[-1])
    return np.full(width, IGNORE_INDEX, np.int64)


def segmenter_weights(module_state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The wrapped segmenter's state dict from the RLModule's (keys without ``segmenter.``)."""
    prefix = "segmenter."
    return {
        k[len(prefix) :]: torch.as_tensor(np.asarray(v))
        for k, v in module_state.items()
        if k.startswith(prefix)
    }


__all__ = [
    "ENV_NAME",
    "LABELS",
    "STAGE_LOGITS",
    "AddLabelsToBatch",
    "ClipAndMask",
    "FrameCategorical",
    "SegmenterAPPOModule",
    "SegmenterRLModule",
    "make_rllib_env",
    "register_rllib_env",
    "segmenter_weights",
]
