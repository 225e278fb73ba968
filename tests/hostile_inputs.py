"""Broken and hostile input files for tests/test_bad_input.py and tests/test_security.py.

Builders write tiny inputs into a test's tmp_path; :func:`run_cli` runs the real command line in a
subprocess (this worktree's code first on ``PYTHONPATH``); :func:`assert_one_sentence` checks
what every refusal must look like: exit code 2, one line on stderr naming the file, no traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_UTF8 = b"\xff\xfe\x00\x81 binary \xc3\x28\n"
"""Bytes that are not UTF-8 (a UTF-16 byte-order mark, a lone continuation byte, ...)."""


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m svtas_ray ARGS`` with this repository first on ``PYTHONPATH``."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "svtas_ray", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=env,
        timeout=120,
    )


def assert_one_sentence(
    proc: subprocess.CompletedProcess[str], names: Path | str, pattern: str = ""
) -> None:
    """Exit code 2 and one stderr line that names ``names`` (and matches ``pattern``)."""
    err = proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}\n{err}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(names) in lines[0], f"{names} not named in: {lines[0]}"
    if pattern:
        assert re.search(pattern, lines[0]), f"{pattern!r} not in: {lines[0]}"


VIDEO = "P01-R01-PastaSalad"
OTHER_VIDEO = "P02-R01-PastaSalad"


def write_rulstm(folder: Path) -> Path:
    """A RULSTM EGTEA annotation folder: 2 verbs, 2 videos, the same 3 folds.

    Each ``training{k}.csv`` holds two segments of :data:`VIDEO` (lines 1-2) and each
    ``validation{k}.csv`` one segment of :data:`OTHER_VIDEO` (line 1), so a test can put a hostile
    value on a known line and the converted dataset has a train and a test video per split.
    """
    folder.mkdir(parents=True)
    (folder / "actions.csv").write_text("0,0_0,Take_cup\n1,1_0,Open_cup\n")
    for k in (1, 2, 3):
        (folder / f"training{k}.csv").write_text(f"0,{VIDEO},1,10,0,0,0\n1,{VIDEO},12,20,1,0,1\n")
        (folder / f"validation{k}.csv").write_text(f"2,{OTHER_VIDEO},2,30,0,0,0\n")
    return folder


def files_under(root: Path) -> set[Path]:
    """Every file and link under ``root`` (to show that nothing new appeared outside a folder)."""
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}
