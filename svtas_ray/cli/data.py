"""The data commands of ``svtas-ray``: synth, check-data, time-major, convert-egtea, score, viz."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from svtas_ray.config import Alignment, Preset, choices

log = logging.getLogger("svtas_ray")


def cmd_synth(args: argparse.Namespace) -> int:
    from svtas_ray.cli.overrides import parse_overrides
    from svtas_ray.config import SynthConfig, override
    from svtas_ray.data.cache import ensure_synthetic
    from svtas_ray.data.check import check_dataset
    from svtas_ray.data.layout import Dataset
    from svtas_ray.data.synthetic import PRESET_BACKGROUND
    from svtas_ray.errors import ConfigError

    if args.bg is not None and args.from_labels is None:
        raise ConfigError(
            "--bg applies to --from-labels (the background classes of the source dataset); "
            f"a preset's are fixed ({args.preset}: {', '.join(PRESET_BACKGROUND[args.preset])})"
        )
    cfg = SynthConfig(
        preset=args.preset,
        num_videos=args.num_videos,
        scale=args.scale,
        seed=args.seed,
        feature_dim=args.feature_dim,
        videos=args.videos,
    )
    cfg = override(cfg, parse_overrides(SynthConfig, args.set))
    out = Path(args.out or f"data/synthetic/{cfg.preset}")
    background = tuple(args.bg) if args.bg is not None else ("background",)
    root = ensure_synthetic(
        cfg, out, args.from_labels, background, overwrite=args.overwrite, progress=True
    )
    if args.from_labels is None:
        background = PRESET_BACKGROUND[cfg.preset]
    require: Literal["features", "frames"] = "frames" if cfg.videos else "features"
    summary = check_dataset(Dataset.open(root, background), require=require)
    print(summary.as_text())
    return 0


def cmd_check_data(args: argparse.Namespace) -> int:
    from svtas_ray.data.check import check_dataset
    from svtas_ray.data.layout import Dataset
    from svtas_ray.errors import DataError

    given = args.features_dir
    ds = Dataset.open(args.root, _background(args.bg), "features" if given is None else given)
    features = ds.root / ds.features_dir
    if given is not None and not features.is_dir():
        # only the default folder may be absent: a labels-only dataset has none
        problem = "is not a folder" if features.exists() else "does not exist"
        raise DataError(f"--features-dir {given}: {features} {problem}")
    summary = check_dataset(
        ds,
        args.split,
        args.alignment,
        require=args.require,
        deep_video=args.deep,
        progress=sys.stderr.isatty(),
    )
    print(summary.as_text())
    print("ok: dataset is valid")
    return 0


def cmd_time_major(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from svtas_ray.data.features import write_time_major
    from svtas_ray.data.layout import Dataset
    from svtas_ray.errors import DataError

    ds = Dataset.open(args.root, (), args.features_dir)
    paths = [p for p in map(ds.feature_path, ds.videos()) if p.is_file()]
    if not paths:
        raise DataError(f"{ds.root / ds.features_dir}: no feature files of the dataset's videos")
    rewritten = sum(
        write_time_major(p)
        for p in tqdm(paths, desc="time-major", unit="file", disable=not sys.stderr.isatty())
    )
    print(
        f"{ds.root / ds.features_dir}: {rewritten} feature files rewritten time-major, "
        f"{len(paths) - rewritten} already were"
    )
    return 0


def cmd_convert_egtea(args: argparse.Namespace) -> int:
    from svtas_ray.data.egtea import convert_egtea

    root = convert_egtea(args.rulstm, args.out, args.videos)
    print(f"wrote {root} (check it with: svtas-ray check-data {root} --bg None)")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from svtas_ray.data.layout import Dataset
    from svtas_ray.errors import ConfigError
    from svtas_ray.evaluate import prediction_videos, score_predictions
    from svtas_ray.metrics import METRIC_NAMES, per_video_table
    from svtas_ray.results import TABLE_SUFFIXES, write_table

    if args.out and Path(args.out).is_dir():  # write_table would put the tables beside it
        raise ConfigError(
            f"{args.out}: is a folder; name the table file (e.g. {Path(args.out) / 'table.csv'}, "
            f"or {Path(args.out) / 'table'} for all of {', '.join(TABLE_SUFFIXES)})"
        )
    ds = Dataset.open(args.gt, _background(args.bg))
    pred_dir = Path(args.pred)
    videos = prediction_videos(ds, pred_dir, args.split)
    pooled, per_video = score_predictions(ds, pred_dir, videos)
    if args.out:
        for path in write_table(per_video_table(per_video), args.out):
            log.info("wrote %s", path)
    if args.json:
        print(json.dumps({"videos": len(per_video), **pooled}, indent=2))
    else:
        print(f"{len(per_video)} videos")
        for name in METRIC_NAMES:
            print(f"{name:>6} {pooled[name]:7.2f}")
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    from svtas_ray.data.layout import Dataset
    from svtas_ray.data.predictions import prediction_path, read_prediction
    from svtas_ray.errors import ConfigError
    from svtas_ray.viz import colour_bars, image_path

    out = image_path(args.out)
    folders = _prediction_folders(args.pred)
    ds = Dataset.open(args.gt, _background(args.bg))
    preds = {
        name: read_prediction(prediction_path(folder, args.video), ds.classes)
        for name, folder in folders.items()
    }
    gt = ds.labels(args.video)
    for name, pred in preds.items():
        if len(pred) != len(gt):
            raise ConfigError(f"--pred {name}: {len(pred)} frames, ground truth has {len(gt)}")
    out = colour_bars(out, gt, preds, ds.classes, ds.background_ids, title=args.video)
    print(f"wrote {out}")
    return 0


def _prediction_folders(items: Sequence[str]) -> dict[str, Path]:
    """``--pred [NAME=]DIR`` arguments as {name: folder}, in order.

    An argument that is an existing folder, or whose part before the first ``=`` holds a ``/``,
    is a folder path (which may hold ``=``), named after the folder; otherwise NAME is what
    precedes the first ``=``. A name given twice is refused: its bars would be drawn once.
    """
    from svtas_ray.errors import ConfigError

    folders: dict[str, Path] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or "/" in name or Path(item).is_dir():
            name, folder = "", item
        path = Path(folder)
        name = name or path.name or path.resolve().name or str(path)
        if name in folders:
            raise ConfigError(
                f"--pred {item}: the name {name!r} is already given to {folders[name]}; "
                "name each prediction folder once (--pred NAME=DIR)"
            )
        folders[name] = path
    return folders


def _background(names: Sequence[str] | None) -> tuple[str, ...]:
    return ("background",) if names is None else tuple(names)


def add_parsers(sub: Any) -> None:
    """Register the data commands on the ``svtas-ray`` sub-parsers."""
    p = sub.add_parser("synth", help="write a synthetic dataset in the MS-TCN layout")
    p.add_argument("--preset", default="gtea", choices=choices(Preset))
    p.add_argument("--out", help="dataset root to write (default: data/synthetic/PRESET)")
    p.add_argument("--num-videos", type=int, help="number of videos (default: the preset's)")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies video lengths")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--feature-dim", type=int, default=64, help="D of the (D, T) features")
    p.add_argument("--videos", action="store_true", help="also render videos/<video>.mp4")
    p.add_argument(
        "--from-labels",
        metavar="ROOT",
        help="keep the label sequences, mapping and splits of this dataset; synthesise the rest",
    )
    p.add_argument(
        "--bg",
        nargs="*",
        help="background classes of --from-labels (default: background; only with --from-labels)",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="SynthConfig field"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a different dataset at --out")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("check-data", help="validate a dataset and print a summary")
    p.add_argument("root", help="dataset root in the MS-TCN layout")
    p.add_argument("--split", type=int, help="check only this split's videos")
    p.add_argument("--bg", nargs="*", help="background class names (default: background)")
    p.add_argument(
        "--features-dir",
        help="feature folder under the root, which must exist (default: features, if there)",
    )
    p.add_argument(
        "--alignment",
        default="strict",
        choices=choices(Alignment),
        help="policy when feature and label lengths differ",
    )
    p.add_argument(
        "--require",
        choices=("features", "frames"),
        help="every video must have features (or a video file, for frames)",
    )
    p.add_argument("--deep", action="store_true", help="decode every frame of every video")
    p.set_defaults(func=cmd_check_data)

    p = sub.add_parser(
        "time-major",
        help="rewrite a dataset's (D, T) feature files with frames contiguous on disk",
        description="Rewrite every features/<video>.npy of a dataset in Fortran order: np.load "
        "returns the same (D, T) arrays, but a clip of frames becomes one contiguous read (the "
        "environment's feature reads get 2-3x faster at D = 2048). Files already time-major "
        "are left alone; each file is replaced only once its copy is complete.",
    )
    p.add_argument("root", help="dataset root in the MS-TCN layout")
    p.add_argument("--features-dir", default="features", help="feature folder under the root")
    p.set_defaults(func=cmd_time_major)

    p = sub.add_parser("convert-egtea", help="EGTEA Gaze+ RULSTM annotations to frame-wise labels")
    p.add_argument("rulstm", help="folder with actions.csv, training{1,2,3}.csv, validation*.csv")
    p.add_argument("out", help="dataset root to write (a new or empty folder)")
    p.add_argument(
        "--videos", help="existing folder of <video>.mp4 (frame counts are read from them)"
    )
    p.set_defaults(func=cmd_convert_egtea)

    p = sub.add_parser("score", help="score prediction files with Acc, Edit, F1@{10,25,50}")
    p.add_argument("--gt", required=True, help="dataset root (mapping.txt, groundTruth/, splits/)")
    p.add_argument("--pred", required=True, help="folder of <video>.txt predictions")
    p.add_argument("--split", type=int, help="score the test videos of this split")
    p.add_argument("--bg", nargs="*", help="background class names (default: background)")
    p.add_argument("--out", help="per-video table: .parquet, .csv or .md (no suffix: all three)")
    p.add_argument("--json", action="store_true", help="print the pooled scores as JSON")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("viz", help="colour bars of ground truth and predictions of one video")
    p.add_argument("--gt", required=True, help="dataset root")
    p.add_argument("--video", required=True, help="video name")
    p.add_argument(
        "--pred",
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="prediction folder, named NAME or after the folder (repeatable; names must differ)",
    )
    p.add_argument("--bg", nargs="*", help="background class names (default: background)")
    p.add_argument(
        "--out",
        required=True,
        help="image file to write (.png when it has no suffix; or .pdf, .svg, ...)",
    )
    p.set_defaults(func=cmd_viz)
