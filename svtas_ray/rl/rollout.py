"""Rollout workers: E environments, one policy copy, batched inference, trajectory chunks.

A worker keeps its environments and their memory states across iterations, so a video may span
several chunks; each chunk stores the memory at its start so a learner can replay it. Sampling is
per frame from the last stage's logits. Evaluation runs the greedy policy over given videos.

In frames mode a chunk holds references to its clips' frames, not the frames (:mod:`.frames`);
with a sampled ``algo.baseline`` it also holds the rewards other decodes of the same clips
earned (:mod:`.reward_baseline`), and with 'leave_one_out' those decodes, which are trained too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from svtas_ray.config import SAMPLED_BASELINES, TrainConfig
from svtas_ray.metrics import METRIC_NAMES
from svtas_ray.models.hold_gate import GateState
from svtas_ray.models.interface import reset_state
from svtas_ray.rewards import part_of_slots
from svtas_ray.rl.batch import Chunk
from svtas_ray.rl.credit import reward_before
from svtas_ray.rl.frames import VideoPlans, clip_refs
from svtas_ray.rl.policy import (
    FrameCategorical,
    build_policy,
    load_numpy_weights,
    sample_actions,
    state_to_numpy,
)
from svtas_ray.rl.reward_baseline import BaselineRewards

log = logging.getLogger(__name__)


@dataclass
class RolloutStats:
    """What the driver needs from a rollout (small; the chunk itself goes to the learners)."""

    worker: int
    node_id: str
    steps: int
    """Env steps (clips) taken."""
    frames: int
    """Valid frames labelled."""
    reward_sum: float
    sample_s: float
    episodes: list[dict[str, Any]] = field(default_factory=list)
    """Finished episodes: video, return and the scores of ``METRIC_NAMES``."""
    baseline_reward_sum: float | None = None
    """Reward the baseline's decodes earned on the same clips (sampled baselines only)."""


class RolloutWorker:
    """One rollout worker; made a Ray actor by the trainer (``ray.remote(RolloutWorker)``)."""

    def __init__(
        self, cfg: TrainConfig, videos: tuple[str, ...], index: int = 0, stream: int = 0
    ) -> None:
        """``index``: the worker's slot; ``stream``: which random stream of that slot (0 for a
        run's first workers; the trainer gives a recreated or resumed worker another one)."""
        from envs.batched import VideoSegmentationBatch

        torch.set_num_threads(cfg.resources.torch_threads)
        self.cfg, self.index = cfg, index
        n = cfg.resources.envs_per_worker
        self.envs = VideoSegmentationBatch(cfg.env("train", videos, "random"), n)
        self.num_classes = int(self.envs.single_action_space.nvec[0])
        self.obs_shape = tuple(int(d) for d in self.envs.single_observation_space.shape)
        self.model = build_policy(cfg, self.num_classes, self.obs_shape)
        self.model.eval()
        self.generator = torch.Generator().manual_seed(cfg.seed * 7919 + index + stream * 104_729)
        if cfg.algo.act_dropout:  # dropout draws its masks from the process's global generator
            torch.manual_seed(cfg.seed * 7919 + index + stream * 104_729 + 1)
        self.obs, self.infos = self.envs.reset(
            seed=cfg.seed * 10_000 + index * 100 + stream * 1_000_003
        )
        self.state = self.model.initial_state(n, "cpu")
        self.gate_state = GateState.initial((n,))  # the hold gate's memory (unused without one)
        self._node_id = ""
        dataset = self.envs.envs[0].dataset
        self.plans = VideoPlans(dataset, cfg.clip)
        self.frames_mode = cfg.data.modality == "frames"
        self.part_of = part_of_slots(cfg.clip.clip_len, cfg.reward.parts)
        self.baseline: BaselineRewards | None = None
        if cfg.algo.kind == "reinforce" and cfg.algo.baseline in SAMPLED_BASELINES:
            decodes = 1 if cfg.algo.baseline == "self_critical" else cfg.algo.baseline_samples
            self.baseline = BaselineRewards(
                cfg.reward, self.num_classes, dataset.background_ids, self.plans, n, decodes
            )

    def spec(self) -> tuple[int, tuple[int, ...]]:
        """(num_classes, observation shape)."""
        return self.num_classes, self.obs_shape

    def node_id(self) -> str:
        """The Ray node this worker runs on ('' in a plain process: asking would start Ray)."""
        import ray

        if not self._node_id and ray.is_initialized():
            self._node_id = str(ray.get_runtime_context().get_node_id())
        return self._node_id

    def _labels_mask(self) -> tuple[np.ndarray, np.ndarray]:
        mask = np.stack([np.asarray(i["mask"], bool) for i in self.infos])
        labels = np.stack([np.asarray(i["labels"], np.int64) for i in self.infos])
        return labels, mask

    def sample(self, weights: dict[str, np.ndarray], clips: int) -> tuple[Chunk, RolloutStats]:
        """``clips`` consecutive clips of every env with the given weights; with
        ``algo.act_dropout`` the model's dropout layers stay on while it acts."""
        start = time.perf_counter()
        load_numpy_weights(self.model, weights)
        if self.cfg.algo.act_dropout:
            from svtas_ray.evaluate import enable_dropout

            enable_dropout(self.model)
        try:
            return self._sample(clips, start)
        finally:
            self.model.eval()

    @torch.inference_mode()  # everything it keeps leaves as numpy
    def _sample(self, clips: int, start: float) -> tuple[Chunk, RolloutStats]:
        n, length = self.envs.num_envs, self.cfg.clip.clip_len
        start_state = tuple(state_to_numpy(self.state))
        obs_buf = (
            None if self.frames_mode else np.zeros((n, clips, *self.obs_shape), self.obs.dtype)
        )
        videos = np.zeros((n, clips), dtype=object) if self.frames_mode else None
        frame_index = np.zeros((n, clips, length), np.int32) if self.frames_mode else None
        baseline = np.zeros((n, clips), np.float32) if self.baseline is not None else None
        gate = self.model.hold_gate
        gate_prev = np.zeros((n, clips), np.int64) if gate is not None else None
        gate_run = np.zeros((n, clips), np.float32) if gate is not None else None
        act = np.zeros((n, clips, length), np.int64)
        logp = np.zeros((n, clips, length), np.float32)
        rew = np.zeros((n, clips), np.float32)
        val = np.zeros((n, clips), np.float32)
        lab = np.zeros((n, clips, length), np.int64)
        msk = np.zeros((n, clips, length), bool)
        done = np.zeros((n, clips), bool)
        parts = self.cfg.reward.parts
        before = np.zeros((n, clips, length), np.float32) if parts > 1 else None
        trained = self.cfg.algo.baseline == "leave_one_out"  # the extra decodes are trained too
        samples = self.cfg.algo.baseline_samples
        extra_act = np.zeros((n, clips, samples, length), np.int64) if trained else None
        extra_rew = np.zeros((n, clips, samples), np.float32) if trained else None
        stats = RolloutStats(self.index, self.node_id(), 0, 0, 0.0, 0.0)
        fresh = self.model.initial_state(n, "cpu")
        for k in range(clips):
            lab[:, k], msk[:, k] = self._labels_mask()
            if obs_buf is not None:
                obs_buf[:, k] = self.obs
            if videos is not None and frame_index is not None:
                videos[:, k], frame_index[:, k] = clip_refs(self.plans, self.infos)
            mask = torch.from_numpy(msk[:, k])
            out = self.model(torch.from_numpy(self.obs), self.state, mask)
            if gate_prev is not None and gate_run is not None:
                gate_prev[:, k], gate_run[:, k] = self.gate_state.prev, self.gate_state.run
            actions, logp_k, self.gate_state = sample_actions(
                gate, out.final, self.gate_state, mask, self.generator, self.cfg.algo.noise_frames
            )
            act[:, k] = actions.numpy()
            logp[:, k] = logp_k.numpy()
            val[:, k] = out.value.float().numpy()
            if baseline is not None and self.baseline is not None:
                decodes = self._decodes(out.final)  # (S, N, L)
                each = self.baseline.each(decodes, self.infos)  # (S, N)
                baseline[:, k] = each.mean(0)
                if extra_act is not None and extra_rew is not None:
                    extra_act[:, k] = decodes.transpose(1, 0, 2)
                    extra_rew[:, k] = each.T
            self.obs, rew[:, k], done[:, k], _, self.infos = self.envs.step(act[:, k])
            if before is not None:
                pieces = [i.get("final_info", i)["reward_parts"] for i in self.infos]
                before[:, k] = reward_before(np.stack(pieces), self.part_of)
            for info in self.infos:
                if "final_info" in info:
                    stats.episodes.append(episode_row(info["final_info"]))
            self.state = reset_state(out.state, torch.from_numpy(done[:, k]), fresh)
            self.gate_state = self.gate_state.reset(torch.from_numpy(done[:, k]))
            stats.steps += n
            stats.frames += int(msk[:, k].sum())
        _, mask_np = self._labels_mask()
        mask = torch.from_numpy(mask_np)
        last_value = self.model(torch.from_numpy(self.obs), self.state, mask).value
        stats.reward_sum = float(rew.sum())
        stats.baseline_reward_sum = None if baseline is None else float(baseline.sum())
        stats.sample_s = time.perf_counter() - start
        chunk = Chunk(
            obs_buf,
            act,
            logp,
            rew,
            val,
            lab,
            msk,
            done,
            last_value.float().numpy(),
            start_state,
            baseline_rewards=baseline,
            gate_prev=gate_prev,
            gate_run=gate_run,
            video=None if videos is None else videos.astype(str),  # fixed-width: zero-copy
            frame_index=frame_index,
            reward_before=before,
            extra_actions=extra_act,
            extra_rewards=extra_rew,
        )
        return chunk, stats

    def _decodes(self, logits: torch.Tensor) -> np.ndarray:
        """The baseline's decodes ``(S, N, L)`` of a clip's logits ``(N, L, C)``."""
        policy = FrameCategorical(logits)
        if self.cfg.algo.baseline == "self_critical":
            return policy.greedy().numpy()[None]
        algo = self.cfg.algo
        draws = [
            policy.sample(self.generator, algo.noise_frames) for _ in range(algo.baseline_samples)
        ]
        return torch.stack(draws).numpy()

    def evaluate(
        self,
        weights: dict[str, np.ndarray],
        part: Literal["train", "test"],
        videos: tuple[str, ...],
        dropout_seed: int | None = None,
    ) -> list[dict[str, Any]]:
        """Greedy streaming over ``videos`` (see :func:`svtas_ray.evaluate.stream_videos`)."""
        from svtas_ray.evaluate import stream_videos

        load_numpy_weights(self.model, weights)
        return stream_videos(self.model, self.cfg, part, videos, dropout_seed)


def episode_row(final: dict[str, Any]) -> dict[str, Any]:
    """The driver's record of a finished episode from its terminal info."""
    row = {"video": str(final["video"]), "return": float(final["episode_return"])}
    row.update({k: float(final[k]) for k in METRIC_NAMES})
    return row
