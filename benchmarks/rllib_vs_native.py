"""The native Ray Core trainer against RLlib's PPO on the same env, model, batch and wall-clock.

What it measures: both engines train the same TrainConfig (algo.kind=ppo, the same segmenter,
W rollout workers / env runners x E envs, chunk_clips clips per env per iteration, the same
epochs, minibatches, lr, CE auxiliary loss and supervised pre-training iterations) for the same
training wall-clock, one after the other (never concurrently), on one embedded Ray cluster.
Reported per engine: env steps/s and learner (optimiser) updates/s (means over iterations after
the first), the training seconds until the validation F1@50 first reaches ``--threshold``, the
best validation F1@50, and the test Acc / Edit / F1@50 of the validation-selected weights. The
RLlib side is :mod:`svtas_ray.rl.rllib` (RLModule + per-frame PPO learner, docs/rllib.md).

How to run::

    .venv/bin/python benchmarks/rllib_vs_native.py --budget 150

To debug, run with ``--budget 20 --data <a small synthetic dataset>`` (about two minutes; the
RLlib algorithm alone takes ~20 s to build). Writes ``<out>.md``, ``<out>.csv`` and
``<out>.png`` (validation F1@50 against training seconds).

Expected results (2 CPU cores): the native trainer samples and updates faster per second and
reaches the threshold sooner; both learn (see the README's table for measured figures).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pandas as pd

from svtas_ray.cli.runner import run, script_parser
from svtas_ray.config import TrainConfig, override
from svtas_ray.errors import DataError
from svtas_ray.results import markdown_table, write_table


def train(cfg: TrainConfig) -> tuple[pd.DataFrame, dict[str, dict[str, float]], Path]:
    """One run of ``cfg`` with its engine: (metrics rows, test results, run dir)."""
    trainer: Any
    if cfg.engine == "rllib":
        from svtas_ray.rl.rllib import RLlibTrainer

        trainer = RLlibTrainer(cfg)
    else:
        from svtas_ray.rl.trainer import Trainer

        trainer = Trainer(cfg)
    with trainer:
        trainer.train()
        results = trainer.finish()
        path = trainer.path
    return pd.read_parquet(path / "metrics.parquet"), results, path


def summarize(engine: str, rows: pd.DataFrame, results: dict[str, Any], threshold: float) -> dict:
    steady = rows[rows["iteration"] > 1] if len(rows) > 1 else rows
    val = rows.dropna(subset=["val_f1@50"]) if "val_f1@50" in rows else rows.iloc[0:0]
    reached = val[val["val_f1@50"] >= threshold]
    test = results.get("test_best", {})
    return {
        "engine": engine,
        "iterations": int(rows["iteration"].max()),
        "env_steps": int(rows["env_steps"].max()),
        "env_steps_per_s": float(steady["env_steps_per_s"].mean()),
        "updates_per_s": float(steady["opt_steps_per_s"].mean()),
        f"s_to_val_f1@50>={threshold:g}": float(reached["wall_s"].iloc[0])
        if len(reached)
        else float("nan"),
        "best_val_f1@50": float(val["val_f1@50"].max()) if len(val) else float("nan"),
        "test_acc": test.get("acc", float("nan")),
        "test_edit": test.get("edit", float("nan")),
        "test_f1@50": test.get("f1@50", float("nan")),
    }


def plot(curves: dict[str, pd.DataFrame], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for engine, rows in curves.items():
        val = rows.dropna(subset=["val_f1@50"])
        ax.plot(val["wall_s"], val["val_f1@50"], marker="o", label=engine)
    ax.set_xlabel("training seconds")
    ax.set_ylabel("validation F1@50")
    ax.set_title("PPO on the gtea preset: native vs RLlib")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if not (Path(args.data) / "mapping.txt").is_file():
        raise DataError(
            f"{args.data}: no dataset (svtas-ray synth --preset gtea --out {args.data})"
        )
    base = TrainConfig(
        name="rllib_vs_native",
        runs_dir=args.runs,
        seed=args.seed,
        iterations=100_000,
        time_budget_s=args.budget,
        eval_every=args.eval_every,
    )
    base = override(base, {"data.root": args.data, "algo.kind": "ppo"})
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows, curves = [], {}
    try:
        for engine in ("native", "rllib"):
            metrics, results, path = train(override(base, {"engine": engine}))
            curves[engine] = metrics
            rows.append({**summarize(engine, metrics, results, args.threshold), "run": str(path)})
    finally:
        ray.shutdown()
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table(table, out.with_suffix(".csv"))
    native, rllib = rows
    ratio = native["env_steps_per_s"] / max(rllib["env_steps_per_s"], 1e-9)
    f1 = rllib["test_f1@50"] / max(native["test_f1@50"], 1e-9)
    text = markdown_table(table.drop(columns=["run"]), digits=1)
    text += (
        f"\n\nnative / RLlib env steps/s: {ratio:.2f} (target >= 2); "
        f"RLlib / native test F1@50: {f1:.2f} (target >= 0.8); budget {args.budget:g} s each\n"
    )
    out.with_suffix(".md").write_text(text)
    plot(curves, out.with_suffix(".png"))
    print(text)
    return 0


def parser() -> argparse.ArgumentParser:
    p = script_parser("rllib_vs_native.py", __doc__)
    p.add_argument("--data", default="data/synthetic/gtea", help="dataset root (features)")
    p.add_argument("--budget", type=float, default=150.0, help="training seconds per engine")
    p.add_argument("--threshold", type=float, default=30.0, help="validation F1@50 to reach")
    p.add_argument("--eval-every", type=int, default=5, help="iterations between validations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs/bench", help="where the two run directories go")
    p.add_argument("--out", default="docs/results/rllib_vs_native/rllib_vs_native")
    return p


if __name__ == "__main__":
    raise SystemExit(run(parser(), command=main))
