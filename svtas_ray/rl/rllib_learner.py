"""RLlib learners with this project's objective: per-frame PPO and the auxiliary CE on labels.

RLlib's PPO loss takes one log-probability per action, which for a clip is the joint
log-probability of its L frames; that ratio leaves any clip range almost always (docs/ray.md,
docs/rllib.md). :class:`FramePPOLearner` computes the loss of the native ``ppo`` kind instead:
a per-frame ratio with the clip's advantage (RLlib's GAE over clips), the value loss, the
per-frame entropy, plus ``ce_coef`` x cross-entropy and ``smooth_coef`` x MS-TCN smoothing on
the labels the env puts in ``info`` (column ``LABELS`` of the train batch), with the same
supervised-only phase for the first ``pretrain_iterations`` updates.

:class:`AuxAPPOLearner` and :class:`AuxIMPALALearner` keep RLlib's V-trace losses (joint ratio
per clip; their off-policy correction needs one log-probability per action) and add the same
auxiliary terms.

The labels reach the batch through the learner connector piece
:class:`~svtas_ray.rl.rllib_module.AddLabelsToBatch` (``config.learners(learner_connector=...)``).
The settings come from ``AlgorithmConfig.learner_config_dict`` (key ``"svtas_algo"``: an
:class:`~svtas_ray.config.AlgoConfig` as a dict).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.appo.torch.appo_torch_learner import APPOTorchLearner
from ray.rllib.algorithms.impala.torch.impala_torch_learner import IMPALATorchLearner
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing

from svtas_ray.config import AlgoConfig, from_dict
from svtas_ray.data.clips import IGNORE_INDEX
from svtas_ray.models.losses import ce_loss, smoothing_loss
from svtas_ray.rl import losses
from svtas_ray.rl.rllib_module import LABELS, STAGE_LOGITS

ALGO_KEY = "svtas_algo"
"""Key of the AlgoConfig dict in ``AlgorithmConfig.learner_config_dict``."""


class _Objective:
    """What the three learners share: settings, the update count, the auxiliary loss."""

    config: Any
    metrics: Any
    updates: int = 0

    def _algo(self) -> AlgoConfig:
        cached: AlgoConfig | None = getattr(self, "_svtas_algo", None)
        if cached is None:
            cached = from_dict(AlgoConfig, self.config.learner_config_dict[ALGO_KEY])
            self._svtas_algo = cached
        return cached

    def _frame_mask(self, batch: dict[str, Any]) -> torch.Tensor:
        """Valid frames ``(B, T, L)``: the clip's mask and RLlib's loss mask (padding, the
        bootstrap step)."""
        mask = batch[Columns.OBS]["mask"].bool()
        if Columns.LOSS_MASK in batch:
            mask = mask & batch[Columns.LOSS_MASK].bool()[..., None]
        return mask

    def _aux_loss(
        self, module_id: str, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        """``ce_coef`` x CE + ``smooth_coef`` x smoothing over the valid frames of the batch."""
        algo = self._algo()
        stages = fwd_out[STAGE_LOGITS]  # (B, T, S, L, C)
        mask = self._frame_mask(batch)
        labels = batch[LABELS].long().masked_fill(~mask, IGNORE_INDEX)
        per_stage = [stages[:, :, s].flatten(0, 1) for s in range(stages.shape[2])]
        flat_mask = mask.flatten(0, 1)
        ce = ce_loss(per_stage, labels.flatten(0, 1), label_smoothing=algo.label_smoothing)
        smooth = smoothing_loss(per_stage, flat_mask) if algo.smooth_coef > 0 else ce * 0
        self.metrics.log_dict(
            {"ce_loss": ce.detach(), "smooth_loss": smooth.detach()}, key=module_id, window=1
        )
        # one call per optimiser step: the engine reports the steps of each iteration
        self.metrics.log_value((module_id, "opt_steps"), 1, reduce="sum")
        return algo.ce_coef * ce + algo.smooth_coef * smooth

    def _pretraining(self) -> bool:
        return self.updates < self._algo().pretrain_iterations


class FramePPOLearner(_Objective, PPOTorchLearner):
    """PPO with a per-frame ratio and the clip's advantage, plus the auxiliary terms."""

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        self.updates += 1

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        algo = self._algo()
        aux = self._aux_loss(module_id, batch, fwd_out)
        if self._pretraining():
            return aux
        mask = self._frame_mask(batch)
        actions = batch[Columns.ACTIONS].long()
        new = torch.log_softmax(fwd_out[Columns.ACTION_DIST_INPUTS].float(), -1)
        old = torch.log_softmax(batch[Columns.ACTION_DIST_INPUTS].float(), -1)
        logp = new.gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # (B, T, L)
        logp_old = old.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        advantages = batch[Postprocessing.ADVANTAGES].float()  # (B, T), normalised by RLlib
        policy, stats = losses.ppo_policy_loss(logp, logp_old, advantages, mask, algo.clip)
        clip_mask = batch.get(Columns.LOSS_MASK, torch.ones_like(advantages)).bool()
        values = fwd_out[Columns.VF_PREDS]
        value = losses.masked_mean((values - batch[Postprocessing.VALUE_TARGETS]) ** 2, clip_mask)
        entropy = losses.masked_mean(-(new.exp() * new).sum(-1), mask)
        self.metrics.log_dict(
            {
                "policy_loss": policy.detach(),
                "vf_loss": value.detach(),
                "entropy": entropy.detach(),
                "clip_fraction": stats.clip_fraction,
                "approx_kl": stats.approx_kl,
            },
            key=module_id,
            window=1,
        )
        return policy + algo.vf_coef * value - algo.ent_coef * entropy + aux


class _VTracePlusAux(_Objective):
    """RLlib's own loss of the learner it is mixed into, plus the auxiliary terms."""

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        base = super().compute_loss_for_module(  # type: ignore[misc]
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        return torch.as_tensor(base) + self._aux_loss(module_id, batch, fwd_out)


class AuxAPPOLearner(_VTracePlusAux, APPOTorchLearner):  # type: ignore[misc]
    """RLlib's APPO loss (joint ratio per clip, V-trace) plus the auxiliary terms."""


class AuxIMPALALearner(_VTracePlusAux, IMPALATorchLearner):  # type: ignore[misc]
    """RLlib's IMPALA loss (joint log-probability per clip, V-trace) plus the auxiliary terms."""
