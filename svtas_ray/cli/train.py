"""The ``train``, ``eval`` and ``stream`` sub-commands of ``svtas-ray``.

Heavy modules (torch, Ray) are imported inside the command functions so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any, cast

from svtas_ray.cli.overrides import parse_overrides
from svtas_ray.errors import ConfigError, DataError

log = logging.getLogger("svtas_ray")


def cmd_train(args: argparse.Namespace) -> int:
    from svtas_ray import config as config_mod
    from svtas_ray.config import TrainConfig
    from svtas_ray.metrics import METRIC_NAMES
    from svtas_ray.rl.trainer import Trainer

    overrides = parse_overrides(TrainConfig, args.set)
    # the budget flags are config fields too: validated before Ray starts or a folder is made
    if args.iterations is not None:
        overrides["iterations"] = args.iterations
    if args.time_budget is not None:
        overrides["time_budget_s"] = args.time_budget
    trainer: Any
    if args.resume:
        if args.config:
            raise ConfigError("--resume uses the run's saved config.json; drop --config")
        from svtas_ray.rl.run_dir import resume_config

        if resume_config(args.resume).engine == "rllib":
            raise ConfigError(f"{args.resume}: runs of engine=rllib cannot be resumed yet")
        trainer = Trainer.resume(args.resume, overrides)
    else:
        cfg = config_mod.load(TrainConfig, args.config) if args.config else TrainConfig()
        cfg = config_mod.override(cfg, overrides)
        if not (Path(cfg.data.root) / "mapping.txt").is_file():
            raise DataError(
                f"{cfg.data.root}: no dataset here (make one with: svtas-ray synth --out "
                f"{cfg.data.root}, or set data.root=...)"
            )
        if cfg.engine == "rllib":
            from svtas_ray.rl.rllib import RLlibTrainer

            trainer = RLlibTrainer(cfg)
        else:
            trainer = Trainer(cfg)
    with trainer:
        print(f"run directory: {trainer.path}")
        trainer.train(progress=not args.quiet)
        results = trainer.finish()
    print(f"{'weights':<16}" + "".join(f"{m:>8}" for m in METRIC_NAMES))
    for name, scores in results.items():
        print(f"{name:<16}" + "".join(f"{scores[m]:8.2f}" for m in METRIC_NAMES))
    print(f"summary: {trainer.path / 'summary.md'}")
    return 0


def _load_model(checkpoint: str, overrides: list[str]) -> tuple[Any, Any, Path | None, Any]:
    """(run config, model with the checkpoint's weights, run directory (None when the checkpoint
    lies outside one), dataset) of a checkpoint, checked against the dataset it will see.

    ``overrides`` (``--set``) change the run's config, e.g. ``data.root`` to evaluate on another
    dataset; its classes must then be the checkpoint's (same names, same ids).
    """
    import numpy as np

    from svtas_ray.config import TrainConfig, override
    from svtas_ray.data.layout import Dataset
    from svtas_ray.models.checkpoint import load_segmenter

    model, trained, ckpt = load_segmenter(checkpoint)
    cfg = override(trained, parse_overrides(TrainConfig, overrides))
    if cfg.model != trained.model:
        raise ConfigError("--set cannot change model.*: the checkpoint's weights fix the model")
    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    if cfg.data.modality == "frames":
        shape: tuple[int, ...] = (*cfg.data.frame_size, 3)
    else:  # the feature dimension of the dataset's first video (its reader checks the rest)
        try:
            shape = (int(np.load(ds.feature_path(ds.videos()[0]), mmap_mode="r").shape[0]),)
        except (OSError, ValueError, IndexError):
            shape = ()
    ckpt.check(input_shape=shape or None, classes=ds.classes.names)
    model.eval()
    return cfg, model, _run_of(ckpt.path), ds


def _run_of(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint was saved in (``RUN/checkpoints/NAME.pt``), else None."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None


def _output(out: str | None, run: Path | None, default: str, checkpoint: str, folder: bool) -> Path:
    """Where ``eval``/``stream`` write: ``--out`` or ``RUN/default``, checked before any work."""
    from svtas_ray.data.files import check_output

    if out is None and run is None:
        raise ConfigError(
            f"{checkpoint} is not inside a run folder (RUN/checkpoints/NAME.pt), so there "
            "is no default output folder; give --out"
        )
    path = Path(out) if out is not None else cast(Path, run) / default
    return check_output(path, "folder" if folder else "file")


def _post_stage(kind: str | None, run: Path | None, gate: Any, checkpoint: str) -> Any:
    """The :class:`~svtas_ray.models.post_stage.PostStage` ``kind`` (``--post``; None: the
    run's best) with the settings in the run's ``meta.json``, checked against the model.

    A run folder without its ``meta.json`` is refused unless ``kind`` is ``raw``: the stage the
    run tuned and its settings are unknown, and raw decoding must be asked for, not fallen
    back to.
    """
    import json

    from svtas_ray.models.post_stage import PostStage

    meta: Any = {}
    where: str | Path = f"{checkpoint} (not inside a run folder, so without tuned settings)"
    if run is not None:
        path = where = run / "meta.json"
        if not path.exists() and kind != "raw":
            raise DataError(
                f"{path}: no such file, so the post-processing the run tuned is unknown "
                "(--post raw decodes without post-processing)"
            )
        if path.exists() and not path.is_file():
            raise DataError(f"{path}: the run meta file is not a file")
        if path.is_file():
            try:
                meta = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: not a readable run meta file ({exc})") from None
            if not isinstance(meta, dict):
                raise DataError(
                    f"{path}: a run meta file holds a JSON object, not a {type(meta).__name__}"
                )
    stage = PostStage.of_run(kind, meta, str(where))
    stage.check_model(gate, checkpoint)
    return stage


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from svtas_ray.evaluate import relabel, stream_videos, write_eval
    from svtas_ray.metrics import METRIC_NAMES
    from svtas_ray.rl.trainer import split_videos

    cfg, model, run, ds = _load_model(args.checkpoint, args.set)
    _, val, test = split_videos(cfg)
    videos, part = (test, "test") if args.split == "test" else (val, "train")
    if args.videos:
        unknown = sorted(set(args.videos) - set(videos))
        if unknown:
            raise ConfigError(f"--videos {unknown} are not among the run's {args.split} videos")
        videos = [v for v in videos if v in args.videos]
    if not videos:
        raise ConfigError(f"the run has no {args.split} videos")
    stage = _post_stage(args.post, run, model.hold_gate, args.checkpoint)
    out = _output(args.out, run, f"eval/{args.split}_cli", args.checkpoint, folder=True)
    rows = stream_videos(model, cfg, part, videos)  # type: ignore[arg-type]
    label = cfg.algo.kind
    if stage.kind != "raw":  # the same streams, post-processed as the run's +hold/+gate rows
        rows = relabel(ds, rows, lambda p: stage.decode(p, model.hold_gate), cfg.clip.sample_rate)
        label += f"+{stage.kind}"
    scores = write_eval(ds, rows, out, label, colour_bars=args.split == "test")
    if args.json:
        print(json.dumps({"videos": len(rows), "post": stage.kind, **scores}, indent=2))
    else:
        print(f"{len(rows)} {args.split} videos -> {out}")
        print(stage.describe())
        for name in METRIC_NAMES:
            print(f"{name:>6} {scores[name]:7.2f}")
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from svtas_ray.data.clips import ClipPlan
    from svtas_ray.data.predictions import write_prediction
    from svtas_ray.models.post_stage import StreamPost

    cfg, model, run, ds = _load_model(args.checkpoint, args.set)
    post = StreamPost(
        _post_stage(args.post, run, model.hold_gate, args.checkpoint), model.hold_gate
    )
    read, num_frames, close = _open_stream(args, cfg, model)
    source = Path(args.features or args.video)
    target = _output(args.out, run, f"stream/{source.stem}.txt", args.checkpoint, folder=False)
    plan = ClipPlan(num_frames, cfg.clip.clip_len, cfg.clip.sample_rate)
    state = model.initial_state(1, "cpu")
    slots = []
    for k in range(plan.num_clips):
        frames, mask = plan.frames(k)
        start = time.perf_counter()
        with torch.no_grad():
            clip = torch.from_numpy(np.ascontiguousarray(read(frames)))[None]
            valid = torch.from_numpy(mask)[None]
            out = model(clip, state, valid)
            labels = post(out.final, valid)
        state = out.state
        latency = (time.perf_counter() - start) * 1000
        names = [ds.classes.names[int(i)] for i in labels[mask]]
        print(f"clip {k + 1}/{plan.num_clips} ({latency:.1f} ms): {' '.join(names)}")
        slots.append(labels)
    close()
    pred = plan.expand(np.concatenate(slots))
    target.parent.mkdir(parents=True, exist_ok=True)
    write_prediction(target, pred, ds.classes)
    print(f"wrote {len(pred)} frame labels to {target} ({post.stage.describe()})")
    bar = _stream_colour_bar(target.with_suffix(".png"), source.stem, pred, ds)
    print(f"colour bar: {bar}")
    return 0


def _stream_colour_bar(path: Path, name: str, pred: Any, ds: Any) -> Path:
    """The prediction's colour bar, under the ground truth when the dataset labels this video."""
    from svtas_ray.viz import colour_bars

    gt = ds.labels(name) if ds.label_path(name).is_file() else None
    if gt is not None and len(gt) == len(pred):
        return colour_bars(
            path, gt, {"prediction": pred}, ds.classes, ds.background_ids, f"{name} (stream)"
        )
    return colour_bars(
        path, None, {"prediction": pred}, ds.classes, ds.background_ids, f"{name} (no labels)"
    )


def _open_stream(args: argparse.Namespace, cfg: Any, model: Any) -> tuple[Any, int, Any]:
    """(read frames -> clip (L, ...), number of raw frames, close) of --features or --video."""
    if args.features:
        from svtas_ray.data.features import open_feature_file

        if cfg.data.modality != "features":
            raise ConfigError("--features needs a checkpoint trained on features (data.modality)")
        features = open_feature_file(args.features, expected_dim=model.input_shape[0])
        return features.read, features.num_frames, features.close
    from svtas_ray.data.video import VideoSource

    if cfg.data.modality != "frames":
        raise ConfigError("--video needs a checkpoint trained in frames mode (data.modality)")
    source = VideoSource(Path(args.video), cfg.data.frame_size)
    return source.read, source.num_frames, source.close


def add_parsers(sub: Any) -> None:
    """Register ``train``, ``eval`` and ``stream`` on the ``svtas-ray`` sub-parsers."""
    from svtas_ray.models.postprocess import POST_STAGES

    post_help = (
        "causal post-processing with the settings the run tuned on its validation videos: gate "
        "(the learned hold gate of model.hold_gate; the default when the run has one), hold (the "
        "hold rule; the default otherwise) or raw (the policy's greedy labels; the default when "
        "the run tuned neither)"
    )
    p = sub.add_parser("train", help="train a streaming segmenter with RL on Ray")
    p.add_argument("--config", help="TrainConfig JSON file (default: the built-in defaults)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="e.g. algo.kind=ppo"
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint")
    p.add_argument("--iterations", type=int, help="total iterations (default: the config's)")
    p.add_argument("--time-budget", type=float, help="stop after this many seconds of training")
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar (shown on a terminal only); warnings and errors only",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="streaming evaluation of a checkpoint (greedy, then --post)")
    p.add_argument("--checkpoint", required=True, help="checkpoints/{best,last}.pt of a run")
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--out", help="output folder (default: RUN/eval/<split>_cli)")
    p.add_argument("--json", action="store_true", help="print the pooled scores as JSON")
    p.add_argument("--videos", nargs="+", metavar="VIDEO", help="only these videos of the split")
    p.add_argument("--post", choices=POST_STAGES, help=post_help)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the run's config, e.g. data.root=OTHER_DATASET (same classes)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("stream", help="segment one video or feature file clip by clip")
    p.add_argument("--checkpoint", required=True, help="checkpoints/{best,last}.pt of a run")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="a video file (frames-mode checkpoints)")
    src.add_argument("--features", help="a (D, T) .npy feature file (features-mode checkpoints)")
    p.add_argument(
        "--out", help="per-frame prediction file (default: RUN/stream/<name>.txt; PNG beside it)"
    )
    p.add_argument("--post", choices=POST_STAGES, help=post_help)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the run's config, e.g. data.root=DATASET (for its class names and labels)",
    )
    p.set_defaults(func=cmd_stream)
