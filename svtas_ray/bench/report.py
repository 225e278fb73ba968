"""The offline-vs-streaming benchmark's report: summary over splits and seeds, the text table,
the targets (naive-streaming collapse, RL vs supervised, trivial baselines, offline gap) with
their distances, and the plots (:mod:`svtas_ray.bench.jobs` runs the jobs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from svtas_ray.bench.plan import ALGOS, KEYS, OFFLINE_MODELS, RL_ALGOS, TRIVIAL
from svtas_ray.config import DataConfig
from svtas_ray.metrics import METRIC_NAMES

# --------------------------------------------------------------------------- tables


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std over splits and seeds of each (method, head, input), in row order.

    Columns: the keys, ``<metric>`` and ``<metric>_std`` for each metric (std NaN for one run),
    ``train_s``, ``latency_ms``, ``fps``, ``params`` (means) and ``runs``.
    """
    grouped = runs.groupby(list(KEYS), sort=False)
    out = grouped[list(METRIC_NAMES)].mean()
    std = grouped[list(METRIC_NAMES)].std(ddof=1).add_suffix("_std")
    costs = [c for c in ("train_s", "iterations", "latency_ms", "fps", "params") if c in runs]
    other = grouped[costs].mean()
    out = pd.concat([out, std, other], axis=1)
    out["runs"] = grouped.size()
    return out.reset_index()


def _pm(mean: float, std: float) -> str:
    return f"{mean:.1f}" if np.isnan(std) else f"{mean:.1f} ± {std:.1f}"


def _num(value: float, fmt: str) -> str:
    return "–" if np.isnan(value) else format(value, fmt)


def format_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as text cells: "mean ± std" scores, rounded costs, '–' if not applicable."""
    rows = []
    for rec in summary.to_dict("records"):
        row = {"method": rec["method"], "head": rec["head"], "input": rec["input"]}
        names = {"acc": "Acc", "edit": "Edit", "f1@10": "F1@10", "f1@25": "F1@25", "f1@50": "F1@50"}
        for key, title in names.items():
            row[title] = _pm(rec[key], rec[f"{key}_std"])
        row["train s"] = _num(rec["train_s"], ".0f")
        row["iters"] = _num(rec.get("iterations", float("nan")), ".0f")
        row["latency ms/clip"] = _num(rec["latency_ms"], ".1f")
        row["frames/s"] = _num(rec["fps"], ",.0f")
        row["params"] = f"{int(rec['params']):,}" if rec["params"] else "–"
        row["runs"] = str(int(rec["runs"]))
        rows.append(row)
    return pd.DataFrame(rows)


def targets(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """The benchmark's targets, measured on ``summary``: what, value, goal, holds.

    Skips a target whose rows are missing (e.g. a run without offline models).
    """
    by = {(r["method"], r["head"]): r for r in summary.to_dict("records")}
    found = []
    for model in OFFLINE_MODELS:
        off, naive = by.get(("offline", model)), by.get(("naive_stream", model))
        if off and naive:
            for key in ("acc", "f1@50"):
                drop = off[key] - naive[key]
                found.append(
                    _target(
                        f"naive streaming {model} collapses ({key} offline - naive)",
                        f"{off[key]:.1f} -> {naive[key]:.1f} (drop {drop:.1f})",
                        "a large drop (GTEA in the literature: Acc 79 -> 44)",
                        drop,
                        bool(drop >= 10),
                    )
                )
    stream = summary[summary["method"].isin(ALGOS)]
    rl = stream[stream["method"].isin(RL_ALGOS)]
    sup = stream[stream["method"] == "supervised"]
    if len(rl) and len(sup):
        best_rl = rl.loc[(rl["edit"] + rl["f1@50"]).idxmax()]
        ref = sup.loc[(sup["edit"] + sup["f1@50"]).idxmax()]
        for key in ("edit", "f1@50"):
            gain = best_rl[key] - ref[key]
            found.append(
                _target(
                    f"best RL row beats supervised on {key}",
                    f"{best_rl['method']}/{best_rl['head']} {best_rl[key]:.1f} vs "
                    f"supervised/{ref['head']} {ref[key]:.1f} ({gain:+.1f})",
                    ">= +3",
                    gain - 3,
                    bool(gain >= 3),
                )
            )
    trivial = summary[summary["method"].isin(TRIVIAL)]
    if len(trivial) and len(stream):
        best = stream.loc[(stream["edit"] + stream["f1@50"]).idxmax()]
        for key, margin in (("acc", 0.0), ("edit", 0.0), ("f1@50", 10.0)):
            base = trivial.loc[trivial[key].idxmax()]
            gain = best[key] - base[key]
            found.append(
                _target(
                    f"best streaming row beats the best trivial baseline on {key}",
                    f"{best['method']}/{best['head']} {best[key]:.1f} vs "
                    f"{base['method']}/{base['head']} {base[key]:.1f} ({gain:+.1f})",
                    f"> +{margin:.0f}",
                    gain - margin,
                    bool(gain > margin),
                )
            )
    for (method, head), gated in by.items():  # the learned hold against the hand rule
        rule = by.get((method, head.removesuffix("+gate") + "+hold"))
        if method not in ALGOS or not head.endswith("+gate") or rule is None:
            continue
        for key in ("edit", "f1@50"):
            gain = gated[key] - rule[key]
            found.append(
                _target(
                    f"{method}/{head} (learned hold) beats the hand rule on {key}",
                    f"{gated[key]:.1f} vs {method}/{rule['head']} {rule[key]:.1f} ({gain:+.1f})",
                    "> 0",
                    gain,
                    bool(gain > 0),
                )
            )
    off = by.get(("offline", "mstcn"))
    if off is not None and len(stream):
        for key in ("edit", "f1@50"):
            best = stream.loc[stream[key].idxmax()]
            gap = off[key] - best[key]
            found.append(
                _target(
                    f"best streaming row within 5 of offline MS-TCN on {key}",
                    f"{best['method']}/{best['head']} {best[key]:.1f} vs "
                    f"offline MS-TCN {off[key]:.1f} (gap {gap:.1f})",
                    "gap <= 5",
                    gap - 5,
                    bool(gap <= 5),
                )
            )
    return found


def _target(target: str, measured: str, goal: str, distance: float, holds: bool) -> dict[str, Any]:
    """One row of ``targets.md``: what, the measured values, the goal, how far, whether it holds."""
    return {
        "target": target,
        "measured": measured,
        "goal": goal,
        "distance": distance,
        "holds": bool(holds),
    }


def targets_markdown(found: Sequence[dict[str, Any]]) -> str:
    lines = ["| target | measured | goal | holds |", "|---|---|---|---|"]
    lines += [
        f"| {t['target']} | {t['measured']} | {t['goal']} | {'yes' if t['holds'] else 'no'} |"
        for t in found
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots


def label(rec: Mapping[Any, Any]) -> str:
    return f"{rec['method']}/{rec['head']}"


def plot_metrics(summary: pd.DataFrame, path: Path) -> Path:
    """Grouped bars: the five metrics (mean, std as error bars) of every row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = summary.to_dict("records")
    x = np.arange(len(recs))
    width = 0.8 / len(METRIC_NAMES)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.75 * len(recs)), 4.2))
    for i, key in enumerate(METRIC_NAMES):
        means = [r[key] for r in recs]
        stds = [0.0 if np.isnan(r[f"{key}_std"]) else r[f"{key}_std"] for r in recs]
        ax.bar(x + (i - 2) * width, means, width, yerr=stds, capsize=2, label=key)
    ax.set_xticks(x, [label(r) for r in recs], rotation=40, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("score (test split)")
    ax.legend(ncol=5, fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_colour_bars(runs: pd.DataFrame, data: DataConfig, folder: Path, videos: int) -> list[Path]:
    """Colour bars of the first ``videos`` test videos of the first split and seed: ground truth
    and every row's prediction of the same video."""
    from svtas_ray.data.layout import Dataset
    from svtas_ray.data.predictions import read_prediction
    from svtas_ray.viz import colour_bars

    split, seed = int(runs["split"].iloc[0]), int(runs["seed"].iloc[0])
    first = runs[(runs["split"] == split) & (runs["seed"].isin([seed, 0]))]
    first = first.drop_duplicates(list(KEYS))
    ds = Dataset.open(data.root, data.background, data.features_dir)
    paths = []
    for video in ds.split_videos(split, "test")[:videos]:
        preds = {
            label(r): read_prediction(Path(r["predictions"]) / f"{video}.txt", ds.classes)
            for r in first.to_dict("records")
        }
        paths.append(
            colour_bars(
                folder / f"colour_bars_{video}.png",
                ds.labels(video),
                preds,
                ds.classes,
                ds.background_ids,
                title=f"{video} (split {split}, seed {seed})",
            )
        )
    return paths


def plot_learning_curves(runs: pd.DataFrame, path: Path, title: str = "") -> Path | None:
    """Validation Edit and F1@50 against wall-clock seconds of every streaming run (one line per
    run, one colour per method/head), with the test scores of the best trivial baseline and of
    offline MS-TCN as dashed references. None when no run logged a curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stream = runs[runs["method"].isin(ALGOS) & ~runs["head"].str.contains("+", regex=False)]
    if "metrics" not in stream:
        return None
    curves = []
    for rec in stream.to_dict("records"):
        source = Path(str(rec["metrics"]))
        if not source.is_file():
            continue
        log = pd.read_parquet(source)
        if not {"wall_s", "val_edit", "val_f1@50"} <= set(log.columns):
            continue
        curves.append((label(rec), log.dropna(subset=["val_edit"])))
    if not curves:
        return None
    names = sorted({name for name, _ in curves})
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(names)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for ax, key, shown in zip(axes, ("edit", "f1@50"), ("Edit", "F1@50"), strict=True):
        seen: set[str] = set()
        for name, log in curves:
            ax.plot(
                log["wall_s"],
                log[f"val_{key}"],
                color=colours[name],
                alpha=0.8,
                label=None if name in seen else name,
            )
            seen.add(name)
        refs = [("best trivial (test)", runs[runs["method"].isin(TRIVIAL)], "grey")]
        refs.append(("offline MS-TCN (test)", runs[runs["method"] == "offline"], "black"))
        for ref_name, rows, colour in refs:
            if ref_name.startswith("offline"):
                rows = rows[rows["head"] == "mstcn"]
            if len(rows):
                best = rows.groupby(list(KEYS))[key].mean().max()
                ax.axhline(best, ls="--", color=colour, lw=1, label=ref_name)
        ax.set_xlabel("wall-clock seconds of training")
        ax.set_ylabel(f"validation {shown}")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
