"""Sampled-reward baselines of ``reinforce``: what other decodes of the same clips earn.

Two baselines score other segmentations of the clips the sampled one was drawn for, under the
same weights, and subtract their return from the sampled return
(:func:`svtas_ray.rl.losses.sample_baseline_advantages`):

- ``self_critical``: the arg-max decode (self-critical sequence training, Rennie et al. 2017);
- ``mean_of_samples``: the mean return of ``algo.baseline_samples`` further samples of the same
  policy (the leave-one-out baseline of Kool et al. 2019, "Buy 4 REINFORCE samples, get a
  baseline for free"). The extra samples are independent of the trained one, so the estimator
  stays unbiased; they only serve as the baseline (their own gradients are not used).

Here an episode is a video: the rollout worker scores each extra decode of every clip with its
own :class:`~svtas_ray.rewards.Reward` per environment (the environment's reward, fed the same
raw frames and labels as the environment feeds its reward), so each clip gets a baseline reward
beside the sampled one. No second forward is needed: a segmenter's memory depends on the clips
only, never on the actions (``forward(clip, state, mask)``), so every decode of the same clips
sees the same logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from svtas_ray.config import RewardConfig
from svtas_ray.rewards import Reward
from svtas_ray.rl.frames import VideoPlans


class BaselineRewards:
    """``decodes`` reward trackers per environment row, in step with the environments' episodes.

    Args:
        cfg: the environment's reward settings.
        num_classes, background: as for :class:`~svtas_ray.rewards.Reward`.
        plans: labels and clip plans of the videos.
        num_envs: N rows.
        decodes: S segmentations scored per clip (1 for the greedy one).
    """

    def __init__(
        self,
        cfg: RewardConfig,
        num_classes: int,
        background: Sequence[int],
        plans: VideoPlans,
        num_envs: int,
        decodes: int = 1,
    ) -> None:
        self.plans = plans
        self.rewards = [
            [Reward(cfg, num_classes, background) for _ in range(num_envs)] for _ in range(decodes)
        ]

    def __call__(self, actions: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        """Mean reward ``(N,)`` of the decodes ``actions`` ``(S, N, L)`` on the clips ``infos``
        describe (:meth:`each`, averaged)."""
        return self.each(actions, infos).mean(0)

    def each(self, actions: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        """Reward ``(S, N)`` of each decode of ``actions`` ``(S, N, L)`` on the clips ``infos``
        describe. A row whose info starts a video (``clip_index == 0``) starts new episodes."""
        if actions.shape[0] != len(self.rewards):
            raise ValueError(f"expected {len(self.rewards)} decodes, got {actions.shape[0]}")
        out = np.zeros((len(self.rewards), len(infos)), np.float32)
        for i, info in enumerate(infos):
            video, k = str(info["video"]), int(info["clip_index"])
            plan = self.plans.plan(video)
            start, stop = plan.raw_range(k)
            labels = self.plans.labels(video)[start:stop]
            for s, rewards in enumerate(self.rewards):
                if k == 0:
                    rewards[i].reset()
                pred = plan.expand_clip(np.asarray(actions[s, i], np.int64), k)
                out[s, i] = rewards[i](pred, labels, last=k == plan.num_clips - 1)
        return out
