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
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svtas_ray.config import OfflineModel, choices
from svtas_ray.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd
    import torch

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- command line


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``baseline train`` and ``baseline eval`` on the CLI's sub-command parsers."""
    p = sub.add_parser(
        "baseline",
        help="train / score an offline baseline (MS-TCN, ASFormer, frame-wise linear)",
        description="Offline TAS baselines on whole videos, and their naive streaming use.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    t = actions.add_parser("train", help="train on a split's training videos, then score")
    t.add_argument("--model", default="mstcn", choices=choices(OfflineModel), help="which baseline")
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
    from svtas_ray.cli.overrides import parse_overrides
    from svtas_ray.config import DataConfig, OfflineTrainConfig, override, save
    from svtas_ray.data.check import check_inputs
    from svtas_ray.data.files import check_output
    from svtas_ray.evaluate import evaluate_offline
    from svtas_ray.models.offline_training import open_dataset, train_offline

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
    cfg = override(cfg, parse_overrides(OfflineTrainConfig, args.set))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs/baseline") / cfg.model / stamp
    device = _setup_torch(args.device, args.threads)
    ds = open_dataset(cfg)  # bad data fails here (from the file headers), before a run folder
    videos = [*ds.split_videos(cfg.data.split, "train"), *ds.split_videos(cfg.data.split, "test")]
    check_inputs(ds, videos, "features", cfg.data.alignment)
    check_output(out, "new folder")
    out.mkdir(parents=True)
    try:
        save(cfg, out / "config.json")
        model, seconds = train_offline(cfg, out, device, progress=sys.stderr.isatty())
    except DataError:  # a frame found bad while loading: leave no half-made run behind
        shutil.rmtree(out)
        raise
    table = evaluate_offline(model, cfg, out, device, args.naive_stream, train_seconds=seconds)
    _print_table(table, out)
    return 0


def cmd_baseline_eval(args: argparse.Namespace) -> int:
    from svtas_ray.config import OfflineTrainConfig, from_dict
    from svtas_ray.data.files import check_output
    from svtas_ray.evaluate import evaluate_offline
    from svtas_ray.models.checkpoint import Checkpoint
    from svtas_ray.models.offline_training import load_trained

    device = _setup_torch(args.device, args.threads)
    ckpt = Checkpoint.read(args.checkpoint)
    cfg = from_dict(OfflineTrainConfig, ckpt.config, where=str(ckpt.path))
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **_data_fields(args)))
    if args.clip_len is not None:
        cfg = dataclasses.replace(cfg, naive_clip_len=args.clip_len)
    model = load_trained(ckpt.path, cfg, device)
    out = Path(args.out) if args.out else ckpt.path.parent
    check_output(out, "folder")
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
