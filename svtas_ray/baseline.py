"""``svtas-ray baseline``: offline TAS baselines trained on whole videos, and scored.

``svtas-ray baseline train --model mstcn|asformer|linear --data ROOT --split N`` trains with a
plain torch loop (one full video per step, Adam, CE + 0.15 truncated-MSE smoothing as MS-TCN),
writes ``DIR/checkpoint.pt`` and ``DIR/config.json``, then predicts every test video of the
split and scores it with the standard metrics:

    DIR/predictions/offline/<video>.txt            the model on the whole video
    DIR/predictions/naive_stream_<L>/<video>.txt   with --naive-stream: each clip of L alone
    DIR/eval/<variant>/per_video.{parquet,csv,md}  per-video scores
    DIR/scores.{parquet,csv,md}                    one row per variant (also printed)

``svtas-ray baseline eval --checkpoint DIR/checkpoint.pt`` redoes the second half. ``DIR``
defaults to ``runs/baseline/<model>/<timestamp>``. The same ``--seed`` gives the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from svtas_ray.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch import nn

    from svtas_ray.config import OfflineTrainConfig
    from svtas_ray.data.features import Alignment
    from svtas_ray.data.layout import Dataset

log = logging.getLogger(__name__)

MODELS = ("mstcn", "asformer", "linear")


# --------------------------------------------------------------------------- command line


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``baseline train`` and ``baseline eval`` on the CLI's sub-command parsers."""
    p = sub.add_parser(
        "baseline",
        help="train / score an offline baseline (MS-TCN, ASFormer, frame-wise linear)",
        description="Offline TAS baselines on whole videos, and their naive streaming use.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    t = actions.add_parser("train", help="train on a split's training videos, then score")
    t.add_argument("--model", default="mstcn", choices=MODELS, help="which baseline")
    t.add_argument("--data", required=True, metavar="ROOT", help="dataset root (MS-TCN layout)")
    t.add_argument("--split", type=int, default=1, help="split number N (default 1)")
    t.add_argument("--epochs", type=int, help="passes over the training videos (default 50)")
    t.add_argument("--lr", type=float, help="Adam learning rate (default 5e-4)")
    t.add_argument("--seed", type=int, help="seed of init, dropout and video order (default 0)")
    t.add_argument("--sample-rate", type=int, help="use every Nth frame (default 1)")
    t.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="OfflineTrainConfig field"
    )
    _add_common(t)
    t.set_defaults(func=cmd_baseline_train)

    e = actions.add_parser("eval", help="predict and score the test split with a checkpoint")
    e.add_argument("--checkpoint", required=True, help="checkpoint.pt written by baseline train")
    e.add_argument("--data", metavar="ROOT", help="dataset root (default: the training one)")
    e.add_argument("--split", type=int, help="split number (default: the training one)")
    _add_common(e)
    e.set_defaults(func=cmd_baseline_eval)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bg", nargs="*", help="background class names (default: background)")
    p.add_argument("--features-dir", help="feature folder under the root (default: features)")
    p.add_argument(
        "--naive-stream",
        action="store_true",
        help="also run the model on each clip alone (no future context, no memory)",
    )
    p.add_argument("--clip-len", type=int, help="sampled frames per clip for --naive-stream")
    p.add_argument("--out", help="run folder (train default: runs/baseline/MODEL/TIMESTAMP)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, help="torch CPU threads (default: the CPUs available)")


def cmd_baseline_train(args: argparse.Namespace) -> int:
    from svtas_ray.config import DataConfig, OfflineTrainConfig, apply_overrides, save

    data = DataConfig(**_data_fields(args))
    given = {
        "epochs": args.epochs,
        "lr": args.lr,
        "seed": args.seed,
        "sample_rate": args.sample_rate,
        "naive_clip_len": args.clip_len,
    }
    cfg = OfflineTrainConfig(
        data=data, model=args.model, **{k: v for k, v in given.items() if v is not None}
    )
    cfg = apply_overrides(cfg, args.set)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs/baseline") / cfg.model / stamp
    device = _setup_torch(args.device, args.threads)
    ds = _open(cfg)  # bad data fails here, before a run folder is made
    ds.split_videos(cfg.data.split, "train")
    ds.split_videos(cfg.data.split, "test")
    out.mkdir(parents=True, exist_ok=True)
    save(cfg, out / "config.json")
    model, seconds = train_offline(cfg, out, device, progress=sys.stderr.isatty())
    table = evaluate_offline(model, cfg, out, device, args.naive_stream, train_seconds=seconds)
    _print_table(table, out)
    return 0


def cmd_baseline_eval(args: argparse.Namespace) -> int:
    from svtas_ray.config import OfflineTrainConfig, from_dict
    from svtas_ray.models.checkpoint import Checkpoint

    device = _setup_torch(args.device, args.threads)
    ckpt = Checkpoint.read(args.checkpoint)
    cfg = from_dict(OfflineTrainConfig, ckpt.config, where=str(ckpt.path))
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **_data_fields(args)))
    if args.clip_len is not None:
        cfg = dataclasses.replace(cfg, naive_clip_len=args.clip_len)
    model = _load(ckpt.path, cfg, device)
    out = Path(args.out) if args.out else ckpt.path.parent
    table = evaluate_offline(model, cfg, out, device, args.naive_stream)
    _print_table(table, out)
    return 0


def _data_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The DataConfig fields given on the command line."""
    fields: dict[str, Any] = {}
    if args.data:
        fields["root"] = args.data
    if args.split is not None:
        fields["split"] = args.split
    if args.bg is not None:
        fields["background"] = tuple(args.bg)
    if args.features_dir:
        fields["features_dir"] = args.features_dir
    return fields


def _setup_torch(device: str, threads: int | None) -> torch.device:
    import torch

    from svtas_ray.models.interface import default_device

    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads or max(1, len(os.sched_getaffinity(0))))
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is visible")
    return default_device() if device == "auto" else torch.device(device)


def _print_table(table: pd.DataFrame, out: Path) -> None:
    from svtas_ray.results import markdown_table

    print(markdown_table(table))
    print(f"wrote {out}")


# --------------------------------------------------------------------------- training


def load_video(
    ds: Dataset, video: str, sample_rate: int, alignment: Alignment = "strict"
) -> tuple[np.ndarray, np.ndarray]:
    """Features of every ``sample_rate``-th frame ``(T_s, D)`` float32 and all labels ``(T,)``."""
    from svtas_ray.data.features import FeatureSource

    labels = ds.labels(video)
    source = FeatureSource(ds.feature_path(video), len(labels), alignment)
    try:
        features = source.read(np.arange(0, len(labels), sample_rate))
    finally:
        source.close()
    return features, labels


def train_offline(
    cfg: OfflineTrainConfig, out: Path, device: torch.device, progress: bool = False
) -> tuple[nn.Module, float]:
    """Train ``cfg.model`` on the split's training videos; returns the model and seconds taken.

    One video per step in an order drawn from ``cfg.seed``; weights and dropout are seeded with
    ``cfg.seed`` without touching the caller's global torch RNG. Writes ``out/checkpoint.pt``.
    """
    import torch
    from tqdm import tqdm

    from svtas_ray.models.build import build_offline
    from svtas_ray.models.checkpoint import save_checkpoint
    from svtas_ray.models.losses import segmentation_loss

    ds = _open(cfg)
    videos = ds.split_videos(cfg.data.split, "train")
    first, _ = load_video(ds, videos[0], cfg.sample_rate, cfg.data.alignment)
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
                features, labels = load_video(ds, videos[i], cfg.sample_rate, cfg.data.alignment)
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


def _open(cfg: OfflineTrainConfig) -> Dataset:
    from svtas_ray.data.layout import Dataset

    return Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)


def _load(path: Path, cfg: OfflineTrainConfig, device: torch.device) -> nn.Module:
    from svtas_ray.models.checkpoint import load_offline

    ds = _open(cfg)
    video = ds.split_videos(cfg.data.split, "test")[0]
    features, _ = load_video(ds, video, cfg.sample_rate, cfg.data.alignment)
    model, _, _ = load_offline(path, ds.num_classes, features.shape[1], ds.classes.names, device)
    return model


# --------------------------------------------------------------------------- evaluation


def predict_offline(
    model: nn.Module,
    cfg: OfflineTrainConfig,
    ds: Dataset,
    videos: Sequence[str],
    device: torch.device,
    clip_len: int | None = None,
) -> dict[str, np.ndarray]:
    """Frame-wise class ids ``(T,)`` of each video: the whole video, or each clip alone."""
    import torch

    from svtas_ray.models.offline import naive_stream

    model.eval()
    preds = {}
    for video in videos:
        features, labels = load_video(ds, video, cfg.sample_rate, cfg.data.alignment)
        with torch.no_grad():
            x = torch.from_numpy(features)[None].to(device)
            logits = model(x) if clip_len is None else naive_stream(model, x, clip_len)
        slots = logits[-1][0].argmax(-1).cpu().numpy()
        preds[video] = slots[np.arange(len(labels)) // cfg.sample_rate]
    return preds


def evaluate_offline(
    model: nn.Module,
    cfg: OfflineTrainConfig,
    out: Path,
    device: torch.device,
    naive: bool = False,
    train_seconds: float | None = None,
) -> pd.DataFrame:
    """Predict the test split (offline and, with ``naive``, naive streaming), write, score."""
    import pandas as pd

    from svtas_ray.data.predictions import write_prediction
    from svtas_ray.metrics import per_video_table, score_videos
    from svtas_ray.results import write_table

    ds = _open(cfg)
    videos = ds.split_videos(cfg.data.split, "test")
    gts = {v: ds.labels(v) for v in videos}
    variants: list[tuple[str, int | None]] = [("offline", None)]
    if naive:
        variants.append((f"naive_stream_{cfg.naive_clip_len}", cfg.naive_clip_len))
    rows = []
    for name, clip_len in variants:
        preds = predict_offline(model, cfg, ds, videos, device, clip_len)
        folder = out / "predictions" / name
        folder.mkdir(parents=True, exist_ok=True)
        for video, labels in preds.items():
            write_prediction(folder / f"{video}.txt", labels, ds.classes)
        pooled, per_video = score_videos(preds, gts, ds.background_ids)
        write_table(per_video_table(per_video), out / "eval" / name / "per_video")
        row: dict[str, Any] = {"model": cfg.model, "variant": name, "videos": len(videos)}
        row.update(pooled)
        if train_seconds is not None:
            row["train_s"] = round(train_seconds, 1)
        rows.append(row)
    table = pd.DataFrame(rows)
    write_table(table, out / "scores")
    return table
