"""The self-critical baseline of ``reinforce``: what the greedy segmentation earns.

Self-critical sequence training (Rennie et al., 2017) uses as the baseline of a sampled episode
the return of the arg-max decoding under the same weights. Here an episode is a video: the rollout
worker scores the arg-max labels of every clip with a second :class:`~svtas_ray.rewards.Reward`
per environment (the environment's own reward, fed the same raw frames and labels as the
environment feeds its reward), so each clip gets a greedy reward beside the sampled one and the
learner forms per-clip greedy returns-to-go (:func:`svtas_ray.rl.losses.self_critical_advantages`).

The greedy pass needs no second forward: a segmenter's memory depends on the clips only, never on
the actions (``forward(clip, state, mask)``), so the greedy policy over the same clips sees the
same logits, and its actions are their arg-max.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from svtas_ray.config import RewardConfig
from svtas_ray.rewards import Reward
from svtas_ray.rl.frames import VideoPlans


class GreedyRewards:
    """One greedy reward tracker per environment row, in step with the environments' episodes.

    Args:
        cfg: the environment's reward settings.
        num_classes, background: as for :class:`~svtas_ray.rewards.Reward`.
        plans: labels and clip plans of the videos.
        num_envs: N rows.
    """

    def __init__(
        self,
        cfg: RewardConfig,
        num_classes: int,
        background: Sequence[int],
        plans: VideoPlans,
        num_envs: int,
    ) -> None:
        self.plans = plans
        self.rewards = [Reward(cfg, num_classes, background) for _ in range(num_envs)]

    def __call__(self, actions: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        """Rewards ``(N,)`` of the greedy ``actions`` ``(N, L)`` on the clips ``infos`` describe.

        A row whose info starts a video (``clip_index == 0``) starts a new greedy episode.
        """
        out = np.zeros(len(self.rewards), np.float32)
        for i, (reward, info) in enumerate(zip(self.rewards, infos, strict=True)):
            video, k = str(info["video"]), int(info["clip_index"])
            plan = self.plans.plan(video)
            if k == 0:
                reward.reset()
            start, stop = plan.raw_range(k)
            pred = plan.expand_clip(np.asarray(actions[i], np.int64), k)
            labels = self.plans.labels(video)[start:stop]
            out[i] = reward(pred, labels, last=k == plan.num_clips - 1)
        return out
