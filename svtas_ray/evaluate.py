"""Evaluation, in one place: stream a model over videos, score predictions, write the results.

- :func:`stream_videos`: greedy streaming of a segmenter over videos, clip by clip with memory
  (what the trainer's validation, ``svtas-ray eval`` and the benchmarks run);
- :func:`predict_offline`: an offline baseline on whole videos, or on each clip alone;
- :func:`score_predictions`: prediction files against a dataset's ground truth (``score``);
- :func:`write_eval`: ``per_video.{parquet,csv,md}``, ``predictions/`` and colour bars of one
  evaluation; :func:`evaluate_offline`: the same for an offline baseline's variants.

torch and the environment are imported inside the functions that need them, so scoring files
stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from svtas_ray.config import Part, TrainConfig
from svtas_ray.data.layout import Dataset
from svtas_ray.data.predictions import prediction_path, read_prediction, write_video_prediction
from svtas_ray.errors import DataError
from svtas_ray.metrics import VideoScore, per_video_table, score_videos, summarize
from svtas_ray.results import write_table

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch import nn

    from svtas_ray.config import OfflineTrainConfig
    from svtas_ray.models.postprocess import HoldChoice

COLOUR_BAR_VIDEOS = 8
"""Evaluations that draw colour bars (ground truth / prediction / errors) draw this many videos."""


# --------------------------------------------------------------------------- streaming models


def stream_videos(
    model: Any,
    cfg: TrainConfig,
    part: Part,
    videos: Sequence[str],
    dropout_seed: int | None = None,
) -> list[dict[str, Any]]:
    """Stream each video clip by clip with the greedy policy (memory carried, batch 1): the
    arg-max per frame, or the hold gate's most likely label when the model has one.

    ``dropout_seed``: keep the model's dropout layers on (everything else in eval mode), their
    masks drawn from a generator seeded with it: one perturbed stream of each video, what
    ``TrainConfig.hold_tuning_draws`` tunes the hold rule on. None: the deterministic stream.

    Returns per video its name, raw-frame ``prediction`` (T,), ``video_score`` and the class
    probabilities of its sampled frames ``probs`` (T_s, C) float16 (for post-processing).
    """
    import contextlib

    import torch

    from envs.video_segmentation import VideoSegmentationEnv
    from svtas_ray.models.hold_gate import GateState, greedy_labels

    was_training = model.training
    model.eval()
    rng: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if dropout_seed is not None:
        enable_dropout(model)
        rng = torch.random.fork_rng(devices=[])  # the caller's global RNG stays untouched
    env = VideoSegmentationEnv(cfg.env(part, tuple(videos), "sequential"))
    rows = []
    with rng, torch.inference_mode():  # ~10 % faster per clip than no_grad at batch 1
        if dropout_seed is not None:
            torch.manual_seed(dropout_seed)
        for _ in videos:
            obs, info = env.reset()
            state = model.initial_state(1, "cpu")
            gate = GateState.initial((1,))
            done = False
            probs = []
            while not done:
                valid = np.asarray(info["mask"], bool)
                mask = torch.from_numpy(valid)[None]
                out = model(torch.from_numpy(obs)[None], state, mask)
                state = out.state
                probs.append(torch.softmax(out.final[0].float(), -1).numpy()[valid])
                labels, gate = greedy_labels(model.hold_gate, out.final, gate, mask)
                obs, _, done, _, info = env.step(labels[0].numpy())
            episode = info["episode"]  # envs.video_segmentation.EpisodeResult
            rows.append(
                {
                    "video": str(episode.video),
                    "prediction": np.asarray(episode.prediction),
                    "video_score": episode.score,
                    "probs": np.concatenate(probs).astype(np.float16),
                }
            )
    env.close()
    model.train(was_training)
    return rows


def dropout_seeds(seed: int, draws: int) -> list[int]:
    """Seeds of ``draws`` perturbed streams (:func:`stream_videos`' ``dropout_seed``), derived
    from a run's ``seed`` as independent streams (``numpy.random.SeedSequence.spawn``)."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(draws)]


def tuning_rows(
    stream: Callable[[int | None], list[dict[str, Any]]], cfg: TrainConfig
) -> list[dict[str, Any]]:
    """The validation rows the hold rule is tuned on: ``stream(seed)`` streams the validation
    videos (:func:`stream_videos`' ``dropout_seed``); once deterministically when
    ``cfg.hold_tuning_draws`` is 0, else once per seed of :func:`dropout_seeds`, concatenated."""
    seeds = dropout_seeds(cfg.seed, cfg.hold_tuning_draws)
    if not seeds:
        return stream(None)
    return [row for seed in seeds for row in stream(seed)]


def enable_dropout(model: nn.Module) -> None:
    """Put the dropout layers of ``model`` (element and whole-frame) in training mode, leaving
    every other layer (normalisation statistics, the backbone) as it is."""
    from torch import nn

    from svtas_ray.models.dropout import FrameDropout

    for module in model.modules():
        if isinstance(module, nn.Dropout | nn.Dropout1d | nn.Dropout2d | FrameDropout):
            module.train()


def write_eval(
    ds: Dataset, rows: list[dict[str, Any]], out: Path, label: str, colour_bars: bool = False
) -> dict[str, float]:
    """Pooled scores of evaluated videos; writes ``out/per_video.{parquet,csv,md}``,
    ``out/predictions/<video>.txt`` and, with ``colour_bars``, ``out/colour_bars/<video>.png``
    of the first :data:`COLOUR_BAR_VIDEOS` videos by name (``label`` names the prediction row).

    ``rows``: per video its ``video``, raw-frame ``prediction`` (T,) and ``video_score``.
    """
    rows = sorted(rows, key=lambda r: r["video"])
    scores: list[VideoScore] = [r["video_score"] for r in rows]
    out.mkdir(parents=True, exist_ok=True)
    write_table(per_video_table(scores), out / "per_video")
    pred_dir = out / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for r in rows:
        write_video_prediction(pred_dir, r["video"], r["prediction"], ds.classes)
    if colour_bars:
        from svtas_ray.viz import colour_bars as draw

        for r in rows[:COLOUR_BAR_VIDEOS]:
            draw(
                out / "colour_bars" / f"{r['video']}.png",
                ds.labels(r["video"]),
                {label: r["prediction"]},
                ds.classes,
                ds.background_ids,
                title=f"{r['video']} ({out.name})",
            )
    return summarize(scores)


def hold_stage(
    ds: Dataset,
    val_rows: list[dict[str, Any]],
    test_rows: list[dict[str, Any]],
    longest: int,
    sample_rate: int,
    out: Path,
    label: str,
    tie_rows: list[dict[str, Any]] | None = None,
    windows: Sequence[int] = (1,),
) -> tuple[HoldChoice, dict[str, float]]:
    """The causal hold rule as a post-processing stage: its ``theta`` and ``sigma`` tuned on the
    validation videos' streamed probabilities (:func:`~svtas_ray.models.postprocess.
    tune_hold_rule`), then applied to the test videos; writes ``out`` like :func:`write_eval`.

    ``rows``: :func:`stream_videos` rows; ``longest``: raw frames of the longest training video;
    ``tie_rows``: the validation videos streamed by another model (the run's last weights), which
    break ties between settings (a checkpoint perfect on validation ties every harmless one);
    ``windows``: moving-average windows tuned before the rule (default ``(1,)``: the rule alone;
    :data:`~svtas_ray.models.postprocess.WINDOWS` is what ``benchmarks/smoothing_stage.py`` tries).
    """
    from svtas_ray.models.postprocess import post_process, tune_hold_rule

    val_labels = [ds.labels(r["video"]) for r in val_rows]
    val_probs = [np.asarray(r["probs"], np.float32) for r in val_rows]
    tie_probs = None
    if tie_rows is not None:
        by_video = {r["video"]: np.asarray(r["probs"], np.float32) for r in tie_rows}
        tie_probs = [by_video[r["video"]] for r in val_rows]
    choice = tune_hold_rule(
        val_probs,
        val_labels,
        longest,
        ds.background_ids,
        sample_rate,
        tie_probs=tie_probs,
        windows=windows,
    )
    held = relabel(ds, test_rows, lambda p: post_process(p, choice.settings), sample_rate)
    return choice, write_eval(ds, held, out, label, colour_bars=True)


def gate_stage(
    ds: Dataset,
    gate: Any,
    val_rows: list[dict[str, Any]],
    test_rows: list[dict[str, Any]],
    sample_rate: int,
    out: Path,
    label: str,
) -> tuple[float, dict[float, float], dict[str, float]]:
    """The learned hold gate with its hold-logit offset tuned on the validation videos'
    streamed probabilities (:func:`~svtas_ray.models.hold_gate.tune_gate_offset`, by the
    selection score the hand rule is tuned by), then applied to the test videos; writes ``out``
    like :func:`write_eval`. Returns the offset, every offset's validation score and the test
    scores. ``gate``: the model's :class:`~svtas_ray.models.hold_gate.HoldGate`; ``rows``:
    :func:`stream_videos` rows."""
    from svtas_ray.metrics import score_video
    from svtas_ray.models.hold_gate import gate_decode, tune_gate_offset
    from svtas_ray.models.postprocess import expand, selection_score

    def scored(rows: list[dict[str, Any]], slots: list[np.ndarray]) -> list[VideoScore]:
        scores = []
        for r, labels in zip(rows, slots, strict=True):
            gt = ds.labels(r["video"])
            scores.append(score_video(expand(labels, len(gt), sample_rate), gt, ds.background_ids))
        return scores

    offset, grid = tune_gate_offset(
        gate,
        lambda slots: selection_score(summarize(scored(val_rows, slots))),
        [r["probs"] for r in val_rows],
    )
    held = relabel(ds, test_rows, lambda p: gate_decode(gate, p, offset), sample_rate)
    return offset, grid, write_eval(ds, held, out, label, colour_bars=True)


def relabel(
    ds: Dataset,
    rows: list[dict[str, Any]],
    decode: Callable[[np.ndarray], np.ndarray],
    sample_rate: int,
) -> list[dict[str, Any]]:
    """:func:`stream_videos` rows with each video's prediction replaced by ``decode`` of its
    streamed probabilities (``(T_s, C)`` -> labels ``(T_s,)``, a causal post-processing stage),
    expanded to raw frames and scored again."""
    from svtas_ray.metrics import score_video
    from svtas_ray.models.postprocess import expand

    held = []
    for r in rows:
        gt = ds.labels(r["video"])
        pred = expand(decode(np.asarray(r["probs"], np.float32)), len(gt), sample_rate)
        held.append(
            {**r, "prediction": pred, "video_score": score_video(pred, gt, ds.background_ids)}
        )
    return held


# --------------------------------------------------------------------------- prediction files


def prediction_videos(ds: Dataset, pred_dir: Path, split: int | None) -> list[str]:
    """Videos to score: the test split's, or (no split) every prediction file in ``pred_dir``."""
    if split is not None:
        return ds.split_videos(split, "test")
    if not pred_dir.is_dir():
        raise DataError(f"{pred_dir}: prediction folder not found")
    videos = sorted(p.stem for p in pred_dir.glob("*.txt"))
    if not videos:
        raise DataError(f"{pred_dir}: no prediction files (*.txt) found")
    for v in videos:
        if not ds.label_path(v).is_file():
            raise DataError(f"{pred_dir / (v + '.txt')}: no ground truth {ds.label_path(v)}")
    return videos


def score_predictions(
    ds: Dataset, pred_dir: str | Path, videos: Sequence[str]
) -> tuple[dict[str, float], list[VideoScore]]:
    """Pooled scores and per-video scores of the prediction files of ``videos`` in ``pred_dir``."""
    pred_dir = Path(pred_dir)
    preds: dict[str, np.ndarray] = {}
    gts: dict[str, np.ndarray] = {}
    for video in videos:
        gt = ds.labels(video)
        path = prediction_path(pred_dir, video)
        pred = read_prediction(path, ds.classes)
        if len(pred) != len(gt):
            raise DataError(
                f"{path}: prediction has {len(pred)} frames but its ground truth "
                f"{ds.label_path(video)} has {len(gt)}"
            )
        preds[video], gts[video] = pred, gt
    return score_videos(preds, gts, ds.background_ids)


# --------------------------------------------------------------------------- offline baselines


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

    from svtas_ray.data.features import read_video_features
    from svtas_ray.models.offline import naive_stream

    model.eval()
    preds = {}
    for video in videos:
        features, labels = read_video_features(ds, video, cfg.sample_rate, cfg.data.alignment)
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
    """Predict the test split (offline and, with ``naive``, naive streaming), write, score:
    ``out/predictions/<variant>/``, ``out/eval/<variant>/per_video.*`` and ``out/scores.*``."""
    import pandas as pd

    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
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
            write_video_prediction(folder, video, labels, ds.classes)
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
