"""Training an offline TAS baseline (MS-TCN, ASFormer, frame-wise linear) on whole videos.

A plain torch loop, as the papers train them: one full video per step, Adam, cross-entropy plus
MS-TCN's 0.15 truncated-MSE smoothing. ``svtas-ray baseline`` and the benchmarks call it; the
model is written in the one checkpoint format (:mod:`svtas_ray.models.checkpoint`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from svtas_ray.config import OfflineTrainConfig
from svtas_ray.data.features import read_video_features
from svtas_ray.data.layout import Dataset
from svtas_ray.errors import DataError

log = logging.getLogger(__name__)


def open_dataset(cfg: OfflineTrainConfig) -> Dataset:
    return Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)


def train_offline(
    cfg: OfflineTrainConfig, out: Path, device: torch.device, progress: bool = False
) -> tuple[nn.Module, float]:
    """Train ``cfg.model`` on the split's training videos; returns the model and seconds taken.

    One video per step in an order drawn from ``cfg.seed``; weights and dropout are seeded with
    ``cfg.seed`` without touching the caller's global torch RNG. Writes ``out/checkpoint.pt``.
    """
    from tqdm import tqdm

    from svtas_ray.models.build import build_offline
    from svtas_ray.models.checkpoint import save_checkpoint
    from svtas_ray.models.losses import segmentation_loss

    ds = open_dataset(cfg)
    videos = ds.split_videos(cfg.data.split, "train")
    first, _ = read_video_features(ds, videos[0], cfg.sample_rate, cfg.data.alignment)
    dim = first.shape[1]
    rng = np.random.default_rng(cfg.seed)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        model = build_offline(cfg, ds.num_classes, dim).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        bar = tqdm(range(cfg.epochs), desc=f"train {cfg.model}", unit="epoch", disable=not progress)
        for epoch in bar:
            model.train()
            total, correct, frames = 0.0, 0, 0
            for i in rng.permutation(len(videos)):
                features, labels = read_video_features(
                    ds, videos[i], cfg.sample_rate, cfg.data.alignment
                )
                if features.shape[1] != dim:
                    raise DataError(
                        f"{ds.feature_path(videos[i])}: features have dimension "
                        f"{features.shape[1]} but {videos[0]}'s have {dim}"
                    )
                x = torch.from_numpy(features)[None].to(device)
                y = torch.from_numpy(labels[:: cfg.sample_rate])[None].to(device)
                logits = model(x)
                loss = segmentation_loss(logits, y, cfg.smooth_weight, cfg.smooth_tau)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
                correct += int((logits[-1].argmax(-1) == y).sum())
                frames += y.numel()
            stats = {"loss": total / len(videos), "acc": 100.0 * correct / frames}
            bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['acc']:.1f}")
            if not progress and (epoch + 1) % max(1, cfg.epochs // 10) == 0:
                log.info(
                    "epoch %d/%d loss %.4f train acc %.1f",
                    epoch + 1,
                    cfg.epochs,
                    stats["loss"],
                    stats["acc"],
                )
    seconds = time.perf_counter() - start
    save_checkpoint(
        out / "checkpoint.pt",
        model,
        cfg,
        ds.num_classes,
        (dim,),
        ds.classes.names,
        {"epochs": cfg.epochs, "train_seconds": seconds},
    )
    return model, seconds


def load_trained(path: Path, cfg: OfflineTrainConfig, device: torch.device) -> nn.Module:
    """The baseline in ``path``, checked against ``cfg``'s dataset (dimension and classes)."""
    from svtas_ray.models.checkpoint import load_offline

    ds = open_dataset(cfg)
    video = ds.split_videos(cfg.data.split, "test")[0]
    features, _ = read_video_features(ds, video, cfg.sample_rate, cfg.data.alignment)
    model, _, _ = load_offline(path, ds.num_classes, features.shape[1], ds.classes.names, device)
    return model
