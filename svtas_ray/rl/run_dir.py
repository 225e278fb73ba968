"""The run directory (DESIGN §8): config, per-iteration metrics, TensorBoard, evaluations.

```
runs/<name>/<timestamp>/
  config.json  meta.json  metrics.parquet  summary.md  events.out.tfevents.*
  checkpoints/{best,last}.pt   eval/<split>/per_video.{parquet,csv,md}
```
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from svtas_ray import config as config_mod
from svtas_ray.config import TrainConfig
from svtas_ray.errors import ConfigError, DataError
from svtas_ray.metrics import METRIC_NAMES
from svtas_ray.results import markdown_table

log = logging.getLogger(__name__)

# Metric columns and their TensorBoard names (namespaced as in cleanrl).
TB_PREFIX = {
    "loss_": "losses/",
    "reward_": "charts/",
    "episode_": "charts/",
    "val_": "eval/",
}


def new_run_dir(cfg: TrainConfig) -> Path:
    """A fresh ``<runs_dir>/<name>/<timestamp>/`` (suffixed when two runs start in one second)."""
    base = Path(cfg.runs_dir) / cfg.name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = base / stamp
    i = 1
    while path.exists():
        path = base / f"{stamp}-{i}"
        i += 1
    path.mkdir(parents=True)
    return path


def resume_config(run_dir: str | Path) -> TrainConfig:
    """The config saved in ``run_dir`` (a run to resume)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.json)")
    return config_mod.load(TrainConfig, path)


def read_metrics(path: str | Path) -> pd.DataFrame:
    """A run's ``metrics.parquet`` as one consistent version, also while the run writes it.

    The file is read into memory in one go: a path-based parquet read opens the file more
    than once (footer, then pages), so a new version renamed over it in between mixes two
    versions ("Couldn't deserialize thrift").
    """
    return pd.read_parquet(io.BytesIO(Path(path).read_bytes()))


class RunLog:
    """Appends one metrics row per iteration to metrics.parquet and TensorBoard."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        table = path / "metrics.parquet"
        if table.is_file():  # resuming: keep earlier iterations
            try:
                records = read_metrics(table).to_dict("records")
            except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
                raise DataError(
                    f"{table}: not a readable metrics table ({str(exc).splitlines()[0][:120]}); "
                    "move it away to resume without the earlier rows"
                ) from None
            self.rows = [{str(k): v for k, v in r.items()} for r in records]
        self.writer: Any = None
        try:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(str(path))
        except ImportError:  # optional: the parquet table is the record
            log.warning("tensorboardX is not installed; no TensorBoard events")

    def write_meta(self, meta: dict[str, Any]) -> None:
        path = self.path / "meta.json"
        try:
            path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise DataError(f"{path}: cannot write the run folder ({exc.strerror})") from None

    def truncate(self, iteration: int) -> None:
        """Drop rows after ``iteration`` (written after the checkpoint a run resumes from)."""
        if any(int(r["iteration"]) > iteration for r in self.rows):
            self.rows = [r for r in self.rows if int(r["iteration"]) <= iteration]
            self._write()

    def log(self, row: dict[str, Any]) -> None:
        """Add (or replace) the row of ``row["iteration"]``, dropping any later ones."""
        it = int(row["iteration"])
        self.rows = [r for r in self.rows if int(r["iteration"]) < it] + [row]
        self._write()
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "iteration":
                    self.writer.add_scalar(tb_key(key), value, it)
            self.writer.flush()

    def _write(self) -> None:
        """metrics.parquet, atomically (a temp file renamed over it)."""
        table = self.path / "metrics.parquet"
        tmp = table.with_name(table.name + ".tmp")
        try:
            pd.DataFrame(self.rows).to_parquet(tmp, index=False)
            tmp.replace(table)
        except OSError as exc:
            raise DataError(
                f"{table}: cannot write the metrics table ({exc.strerror or exc})"
            ) from None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def tb_key(column: str) -> str:
    """``loss_policy`` -> ``losses/policy``, ``val_edit`` -> ``eval/edit``, others -> charts/."""
    name = column.replace("@", "_")  # TensorBoard tag names allow no '@' (f1@50 -> f1_50)
    for prefix, namespace in TB_PREFIX.items():
        if name.startswith(prefix):
            return namespace + name[len(prefix) :]
    return "charts/" + name


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
