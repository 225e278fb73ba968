"""Learner actors: replay chunks, compute the objective, step the optimiser.

With ``L > 1`` learners the gradients are averaged over a ``torch.distributed`` group (gloo on
CPU, NCCL on GPU) after every backward pass, which is what DDP does; parameters are broadcast
from rank 0 at set-up, so the learners' weights stay identical. Every learner makes the same
number of optimiser steps per update (empty minibatches still join the all-reduce), otherwise the
collective calls would not pair up.

In frames mode the chunks hold frame references and the learner decodes the frames itself
(:class:`~svtas_ray.rl.frames.FrameDecoder`, decord opened lazily in this process).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import socket
import time
from collections import defaultdict
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from svtas_ray.config import AlgoConfig, TrainConfig
from svtas_ray.models.interface import detach_state
from svtas_ray.rl import algorithms
from svtas_ray.rl.averaging import WeightAverage
from svtas_ray.rl.batch import Chunk, TorchChunk, concat
from svtas_ray.rl.flat_params import FlatParameters
from svtas_ray.rl.frames import FrameDecoder
from svtas_ray.rl.policy import build_policy, weights_to_numpy

log = logging.getLogger(__name__)

RowSpec = tuple[int, int] | None
"""Rows a learner takes from a chunk: ``(start, step)`` (rows ``start::step``) or all."""


class Learner:
    """One learner; made a Ray actor by the trainer (``ray.remote(Learner).options(...)``)."""

    def __init__(
        self,
        cfg: TrainConfig,
        num_classes: int,
        obs_shape: tuple[int, ...],
        rank: int = 0,
        world_size: int = 1,
        normalization: dict[str, Any] | None = None,
    ) -> None:
        """``normalization``: feature statistics of the training split (``FeatureStats.to_dict``)
        the model standardises its inputs with."""
        torch.set_num_threads(cfg.resources.torch_threads)
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.rank, self.world_size = rank, world_size
        use_cuda = cfg.resources.gpus_per_learner > 0 and torch.cuda.is_available()
        self.device = torch.device("cuda" if use_cuda else "cpu")
        self.model = build_policy(cfg, num_classes, obs_shape)
        if normalization is not None:
            encoder: Any = self.model.encoder  # a FeatureProjector in features mode
            encoder.set_normalization(normalization["mean"], normalization["std"])
        self.model.to(self.device)
        # one flat tensor of trainable weights (and one of gradients): zeroing, clipping and the
        # fused Adam step are one kernel each, not one per tensor (svtas_ray/rl/flat_params.py)
        self.flat = FlatParameters([p for p in self.model.parameters() if p.requires_grad])
        algo = cfg.algo
        self.optimizer = torch.optim.Adam(
            [self.flat.flat],
            lr=algo.lr,
            weight_decay=algo.weight_decay,
            decoupled_weight_decay=True,  # AdamW: decay is not an L2 term in the gradient
            fused=True,
        )
        self.steps = 0  # optimiser steps so far (the warm-up's clock)
        self.optimizer_steps = 0  # optimiser steps of the update in progress
        self.updates = 0  # updates so far (lr_decay's clock)
        self.progress = 0.0  # of the run, for the cosine schedule
        self.generator = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
        # evaluated, selected and saved instead of the live weights (None: off)
        self.ema = WeightAverage(self.model, algo.ema_decay) if algo.ema_decay > 0 else None
        self.grouped = False
        self.decoder: FrameDecoder | None = None

    # ------------------------------------------------------------------ distributed set-up

    def address(self) -> tuple[str, int]:
        """An address and free port on this learner's node for the process group rendezvous."""
        import ray

        with socket.socket() as s:
            s.bind(("", 0))
            port = int(s.getsockname()[1])
        return ray.util.get_node_ip_address(), port

    def join_group(self, host: str, port: int) -> None:
        """Join the learners' process group and take rank 0's parameters."""
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend, init_method=f"tcp://{host}:{port}", rank=self.rank, world_size=self.world_size
        )
        for p in self.model.parameters():
            dist.broadcast(p.data, src=0)
        self.grouped = True

    # ------------------------------------------------------------------ weights and state

    def weights(self) -> dict[str, np.ndarray]:
        """The live weights (what rollouts sample with)."""
        return weights_to_numpy(self.model)

    def eval_weights(self) -> dict[str, np.ndarray]:
        """The weights validation, selection and checkpoints use: the moving average when
        ``algo.ema_decay`` > 0, else the live weights."""
        return weights_to_numpy(self.ema.module if self.ema is not None else self.model)

    def state(self) -> dict[str, Any]:
        """Model (the evaluated weights), optimiser, scheduler and RNG state, and with averaging
        the live weights and the average's step count (tensors and plain containers only)."""
        out: dict[str, Any] = {
            "model": {k: torch.from_numpy(v) for k, v in self.eval_weights().items()},
            "optimizer": self.flat.per_tensor_state(
                self.optimizer.state_dict(), list(self.model.parameters())
            ),
            "scheduler": {"steps": self.steps, "updates": self.updates},
            "rng": {"torch": torch.get_rng_state(), "learner": self.generator.get_state()},
        }
        if self.ema is not None:
            out["live"] = {k: torch.from_numpy(v) for k, v in self.weights().items()}
            out["ema_steps"] = self.ema.steps
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        if self.ema is not None:
            self.ema.module.load_state_dict(state["model"])
            self.ema.steps = int(state.get("ema_steps", 1))
        self.model.load_state_dict(state.get("live", state["model"]))
        self.optimizer.load_state_dict(
            self.flat.flat_state(state["optimizer"], list(self.model.parameters()))
        )
        for group in self.optimizer.param_groups:  # the config's decay, not the checkpoint's
            group.update(weight_decay=self.cfg.algo.weight_decay, decoupled_weight_decay=True)
        self.steps = int(state["scheduler"]["steps"])
        self.updates = int(state["scheduler"]["updates"])
        torch.set_rng_state(state["rng"]["torch"])
        self.generator.set_state(state["rng"]["learner"])

    # ------------------------------------------------------------------ update

    def update(
        self, rows: list[RowSpec], *chunks: Chunk, progress: float = 0.0
    ) -> dict[str, float]:
        """One training update on the given chunks (Ray resolves their refs); mean stats.

        ``progress`` in [0, 1]: how far the run is (for the cosine learning-rate schedule).
        """
        start = time.perf_counter()
        self.progress = min(max(progress, 0.0), 1.0)
        parts = [
            c if r is None else c.select(np.arange(r[0], c.rows, r[1]))
            for c, r in zip(chunks, rows, strict=True)
        ]
        batch = self.tensors(concat(parts))
        algo = self.phase()
        tgt = algorithms.targets(batch, algo)
        n = int(batch.actions.shape[0])
        sums: dict[str, float] = defaultdict(float)
        steps = 0
        epochs = algo.epochs if algo.kind in ("ppo", "supervised") else 1
        for _ in range(epochs):
            order = torch.randperm(n, generator=self.generator)
            for idx in torch.tensor_split(order, algo.minibatches):
                for key, value in self._minibatch(batch, tgt, idx.to(self.device), algo).items():
                    sums[key] += value
                steps += 1
        self.updates += 1
        stats = {k: v / max(steps, 1) for k, v in sums.items()}
        stats.update(
            rows=float(n),
            learn_s=time.perf_counter() - start,
            lr=self.lr(),
            opt_steps=float(self.optimizer_steps),
            frames_learned=float(batch.masks.sum()) * epochs,
            pretrain=float(algo.kind != self.cfg.algo.kind),
        )
        self.optimizer_steps = 0
        return stats

    def update_and_weights(
        self, rows: list[RowSpec], *chunks: Chunk, progress: float = 0.0
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """:meth:`update`, then the new live weights: the next sampling's weights come back in
        the update's own reply (called with ``num_returns=2``), not in a second round trip."""
        return self.update(rows, *chunks, progress=progress), self.weights()

    def tensors(self, chunk: Chunk) -> TorchChunk:
        """``chunk`` on this learner's device, its frames decoded here in frames mode."""
        if chunk.obs is not None:
            return TorchChunk.of(chunk, self.device)
        if chunk.video is None or chunk.frame_index is None:
            raise ValueError("a chunk without observations must carry frame references")
        if self.decoder is None:
            self.decoder = FrameDecoder(self.cfg.data)
        return TorchChunk.of(
            chunk, self.device, self.decoder.decode(chunk.video, chunk.frame_index)
        )

    def _minibatch(
        self, batch: TorchChunk, tgt: algorithms.Targets, idx: torch.Tensor, algo: AlgoConfig
    ) -> dict[str, float]:
        """Replay the rows ``idx`` window by window, one optimiser step per window."""
        sums: dict[str, float] = defaultdict(float)
        wins = algorithms.windows(algo, int(batch.actions.shape[1]))
        if idx.numel() == 0:  # still join every all-reduce so the learners stay in step
            for _ in wins:
                self.flat.zero_grad()
                self._step()
            return sums
        sub = batch.rows(idx)
        sub_tgt = algorithms.Targets(tgt.advantages[idx], tgt.returns[idx])
        state = acting_state = sub.start_state
        fresh = self.model.initial_state(int(idx.numel()), self.device)
        two_replays = algo.kind in algorithms.RL_KINDS and not algo.policy_dropout
        acting = None
        for clips in wins:
            with torch.autocast("cuda", torch.bfloat16, enabled=self.device.type == "cuda"):
                rep = algorithms.replay(self.model, sub, clips, state, fresh, algo.bptt)
                if two_replays:  # the network the workers act with: dropout off
                    self.model.eval()
                    try:
                        acting = algorithms.replay(
                            self.model, sub, clips, acting_state, fresh, algo.bptt
                        )
                    finally:
                        self.model.train()
                total, stats = algorithms.loss(
                    rep, sub, clips, sub_tgt, algo, self.cfg.reward, acting
                )
            self.flat.zero_grad()
            total.backward()
            stats["grad_norm"] = self._step()
            state = detach_state(rep.state)
            if acting is not None:
                acting_state = detach_state(acting.state)
            for key, value in stats.items():
                sums[key] += value / len(wins)
        return sums

    def phase(self) -> AlgoConfig:
        """The objective of the next update: supervised during ``algo.pretrain_iterations``,
        with the cross-entropy at full weight (``ce_coef`` weighs the CE kept beside the RL
        objective afterwards; at 0 the pre-training would learn nothing from the labels)."""
        algo = self.cfg.algo
        if self.updates < algo.pretrain_iterations and algo.kind != "supervised":
            return dataclasses.replace(algo, kind="supervised", baseline="value", ce_coef=1.0)
        return algo

    def lr(self) -> float:
        """The learning rate of the next step: linear warm-up, then the schedule (cosine over the
        run's progress, or constant) times ``lr_decay`` per update, times ``rl_lr_scale`` once
        the RL objective has taken over from the pre-training."""
        algo = self.cfg.algo
        warm = min(1.0, (self.steps + 1) / algo.warmup_steps) if algo.warmup_steps else 1.0
        cosine = 0.5 * (1 + math.cos(math.pi * self.progress))
        shape = cosine if algo.lr_schedule == "cosine" else 1.0
        scale = algo.rl_lr_scale if self.phase().kind != "supervised" else 1.0
        return algo.lr * warm * max(shape, 0.01) * algo.lr_decay**self.updates * scale

    def _step(self) -> float:
        """Average gradients over the group, clip them, step; returns the gradient norm."""
        self.flat.check()
        if self.grouped and self.world_size > 1:
            dist.all_reduce(self.flat.grad)
            self.flat.grad /= self.world_size
        clip = self.cfg.algo.grad_clip
        norm = torch.nn.utils.clip_grad_norm_([self.flat.flat], clip if clip > 0 else float("inf"))
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update()
        self.steps += 1
        self.optimizer_steps += 1
        return float(norm)

    def close(self) -> None:
        if self.decoder is not None:
            self.decoder.close()
        if self.grouped:
            dist.destroy_process_group()
            self.grouped = False
