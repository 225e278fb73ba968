"""benchmarks/recipe_probe.py end to end with a tiny budget, in a subprocess (no Ray)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from svtas_ray.config import SynthConfig
from svtas_ray.data.synthetic import generate
from svtas_ray.metrics import METRIC_NAMES

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "recipe_probe.py"


def test_probe_trains_scores_and_tabulates(tmp_path: Path) -> None:
    root = generate(SynthConfig(preset="gtea", num_videos=8, scale=0.3), tmp_path / "gtea")
    out = tmp_path / "probe.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, str(SCRIPT), "--data", str(root), "--preset", "gtea", "--trivial"]
    cmd += ["--budget-s", "3", "--windows", "4,8", "--out", str(out), "--tag", "smoke"]
    cmd += ["--set", "batch=2", "--set", "chunk_clips=2", "--set", "warmup_steps=2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["method"] for r in rows] == ["ncm", "linear", "causal_mstcn"]
    model = rows[-1]
    assert model["steps"] >= 1 and model["recipe"]["batch"] == 2 and model["tag"] == "smoke"
    for row in rows:
        for variant in ("raw", "hold"):
            assert set(row[variant]) == set(METRIC_NAMES)
    table = subprocess.run(
        [sys.executable, str(SCRIPT), "--table", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=REPO,
    ).stdout
    assert table.count("| gtea |") == 2 * 4 + 2  # trivial: 4 variants each; model: raw, hold


def test_unknown_recipe_field_is_one_sentence(tmp_path: Path) -> None:
    root = generate(SynthConfig(preset="gtea", num_videos=4, scale=0.2), tmp_path / "gtea")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, str(SCRIPT), "--data", str(root), "--preset", "gtea"]
    cmd += ["--set", "nope=1", "--out", str(tmp_path / "x.jsonl")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert proc.returncode == 2 and "nope" in proc.stderr and "Traceback" not in proc.stderr
