"""Writing evaluations and the run summary: eval/<split>/ and summary.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from svtas_ray.config import TrainConfig
from svtas_ray.data.layout import Dataset
from svtas_ray.data.predictions import write_prediction
from svtas_ray.metrics import METRIC_NAMES, VideoScore, per_video_table, summarize
from svtas_ray.results import markdown_table, write_table

SCORE_KEYS = METRIC_NAMES
COLOUR_BAR_VIDEOS = 8
"""Test evaluations draw colour bars (ground truth / prediction / errors) of this many videos."""


@torch.no_grad()
def greedy_videos(
    model: Any, cfg: TrainConfig, part: Literal["train", "test"], videos: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Stream each video clip by clip with the arg-max policy (memory carried, batch 1).

    Returns per video its name, raw-frame ``prediction`` (T,) and ``video_score``.
    """
    from envs.video_segmentation import VideoSegmentationEnv
    from svtas_ray.rl.policy import forward

    was_training = model.training
    model.eval()
    env = VideoSegmentationEnv(cfg.env(part, videos, "sequential"))
    rows = []
    for _ in videos:
        obs, info = env.reset()
        state = model.initial_state(1, "cpu")
        done = False
        while not done:
            mask = torch.from_numpy(np.asarray(info["mask"], bool))[None]
            out = forward(model, torch.from_numpy(obs)[None], state, mask)
            state = out.state
            obs, _, done, _, info = env.step(out.logits[-1][0].argmax(-1).numpy())
        episode = info["episode"]  # envs.video_segmentation.EpisodeResult
        rows.append(
            {
                "video": str(episode.video),
                "prediction": np.asarray(episode.prediction),
                "video_score": episode.score,
            }
        )
    env.close()
    model.train(was_training)
    return rows


def write_eval(cfg: TrainConfig, rows: list[dict[str, Any]], out: Path) -> dict[str, float]:
    """Pooled scores of evaluated videos; writes per_video.{parquet,csv,md} and predictions/
    (and, for test evaluations, colour_bars/<video>.png of the first videos by name).

    ``rows``: per video its ``video``, raw-frame ``prediction`` (T,) and ``video_score``.
    """
    ds = Dataset.open(cfg.data.root, cfg.data.background, cfg.data.features_dir)
    scores: list[VideoScore] = [r["video_score"] for r in sorted(rows, key=lambda r: r["video"])]
    out.mkdir(parents=True, exist_ok=True)
    write_table(per_video_table(scores), out / "per_video")
    pred_dir = out / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for r in rows:
        write_prediction(pred_dir / f"{r['video']}.txt", r["prediction"], ds.classes)
    if out.name.startswith("test"):
        from svtas_ray.viz import colour_bars

        for r in sorted(rows, key=lambda r: r["video"])[:COLOUR_BAR_VIDEOS]:
            colour_bars(
                out / "colour_bars" / f"{r['video']}.png",
                ds.labels(r["video"]),
                {cfg.algo.kind: r["prediction"]},
                ds.classes,
                ds.background_ids,
                title=f"{r['video']} ({out.name})",
            )
    return summarize(scores)


def write_summary(
    path: Path, cfg: TrainConfig, rows: list[dict[str, Any]], results: dict[str, dict[str, float]]
) -> Path:
    """summary.md: what ran, how fast, and the validation / test scores."""
    lines = [f"# {cfg.name}: {cfg.algo.kind} on {cfg.data.root} (split {cfg.data.split})", ""]
    if rows:
        last = rows[-1]
        speed = pd.DataFrame(rows)
        lines += [
            f"- iterations: {int(last['iteration'])}, env steps: {int(last['env_steps'])}",
            f"- mean iteration time: {speed['iteration_s'].mean():.2f} s (sampling "
            f"{speed['sample_s'].mean():.2f} s, learning {speed['learn_s'].mean():.2f} s)",
            f"- env steps/s: {speed['env_steps_per_s'].mean():.1f}, "
            f"frames/s: {speed['frames_per_s'].mean():.0f}",
            "",
        ]
        val_cols = [f"val_{k}" for k in METRIC_NAMES]
        if val_cols[0] in speed:
            best = speed.dropna(subset=[val_cols[0]])
            lines += ["## Validation (model selection)", ""]
            table = best[["iteration", *val_cols]].rename(columns=lambda c: c.removeprefix("val_"))
            lines += [markdown_table(table), ""]
    if results:
        lines += ["## Test split", ""]
        table = pd.DataFrame([{"weights": k, **v} for k, v in results.items()])
        lines += [markdown_table(table), ""]
    out = path / "summary.md"
    out.write_text("\n".join(lines))
    return out
