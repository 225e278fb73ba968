"""Bad input to ``svtas-ray tune`` and experiments/sweep.py: one sentence, before Ray starts.

Every case runs the real command line in this process with ``init_ray`` replaced by a function
that fails loudly, so a refusal that came too late shows up as "Ray started" instead of starting
a cluster. A refusal is exit code 2, one stderr line naming the file or flag, before
``init_ray``, with nothing written.
"""

from __future__ import annotations

import json
import re
import runpy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hostile_inputs import NOT_UTF8

from svtas_ray import cli
from svtas_ray import config as config_mod
from svtas_ray.config import TrainConfig
from svtas_ray.experiments import load_experiment
from svtas_ray.rl import ray_session
from svtas_ray.rl import tune as tune_mod

REPO = Path(__file__).resolve().parents[1]


class RayStarted(Exception):
    """Raised by the stand-in ``init_ray``: the input got as far as starting Ray."""


@pytest.fixture(autouse=True)
def no_ray(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def init_ray(*args: object, **kwargs: object) -> None:
        raise RayStarted("Ray started")

    monkeypatch.setattr(ray_session, "init_ray", init_ray)
    monkeypatch.setenv("SVTAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "base.json"
    config_mod.save(TrainConfig(), path)
    return path


def _tune(argv: Sequence[str]) -> int:
    return cli.main(["tune", *argv])


def _refused(
    argv: Sequence[str], capsys: pytest.CaptureFixture[str], entry: Callable[..., int] = _tune
) -> str:
    """The one line ``entry(argv)`` printed when it refused the input (exit code 2, no Ray)."""
    rc = entry(list(argv))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # and no RayStarted: refused before init_ray
    return lines[0]


def _write_sweep(folder: Path, settings: str | None = '{"report_every": 2}') -> Path:
    """A sweep folder as an interrupted sweep leaves it (tune/, base_config.json, sweep.json)."""
    (folder / "tune").mkdir(parents=True)
    config_mod.save(TrainConfig(), folder / "base_config.json")
    if settings is not None:
        (folder / "sweep.json").write_text(settings)
    return folder


# --------------------------------------------------------------------------- --space


def test_space_not_utf8_is_one_sentence(
    tmp_path: Path, base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "space.json"
    space.write_bytes(NOT_UTF8)
    line = _refused(["--config", str(base), "--space", str(space)], capsys)
    assert str(space) in line and "not a UTF-8 text file" in line


@pytest.mark.parametrize(
    ("space", "pattern"),
    [
        ({"algo.lr": 3}, "'algo.lr' must be {distribution: arguments}"),
        ([1, 2], "must be a JSON object"),
        ({"algo.lr": {"loguniform": [1]}}, r"loguniform needs \[low, high\]"),
        ({"algo.lr": {"loguniform": [-1, 1]}}, "loguniform needs low > 0"),
        ({"algo.lr": {"uniform": [2, 1]}}, "uniform needs low < high"),
        ({"clip.clip_len": {"randint": [1.5, 4]}}, r"randint needs \[low, high\] \(two integers"),
        ({"algo.nope": {"choice": [1]}}, "unknown config key 'algo.nope'"),
        ({"algo": {"choice": [1]}}, "'algo' is a section"),
        ({"algo.lr": {"choice": []}}, "choice needs a non-empty list"),
        ({"algo.lr": {"grid": "abc"}}, "grid needs a non-empty list"),
        ({"algo.lr": {"normal": [0, 1]}}, "one of choice, grid, loguniform, randint, uniform"),
        # each value of a choice or grid is one its field takes, not first found in a trial
        (
            {"algo.lr": {"choice": [1e-3, "fast"]}},
            "'algo.lr' choice value 'fast' is invalid: input should be a valid number",
        ),
        (
            {"data.modality": {"choice": ["features", 3]}},
            "'data.modality' choice value 3 is invalid: input should be 'features' or 'frames'",
        ),
        (
            {"model.hidden_dim": {"grid": [32, 1.5]}},
            "'model.hidden_dim' grid value 1.5 is invalid: input should be a valid integer",
        ),
        (
            {"split": {"grid": [1, "two"]}},
            r"'split' grid value 'two' \(as data.split\) is invalid: input should be a valid int",
        ),
        # a numeric distribution on a field that cannot take its draws
        (
            {"model.hidden_dim": {"uniform": [32, 64]}},
            r"'model.hidden_dim' uniform draw 42\.1\d* is invalid: input should be a valid int",
        ),
        (
            {"algo.kind": {"randint": [0, 3]}},
            "'algo.kind' randint value 0 is invalid: input should be 'supervised'",
        ),
        # a value its field's type takes but its range does not: a trial would fail on it
        (
            {"algo.lr": {"loguniform": [1e-4, 1e-3]}, "algo.gamma": {"choice": [0.9, 1.5]}},
            r"a trial drawing algo\.gamma=1\.5 would fail: algo\.gamma must be in \[0, 1\]",
        ),
        (
            {"algo.gae_lambda": {"uniform": [0.5, 1.5]}},
            r"drawing algo\.gae_lambda=1\.4999\d* would fail: algo\.gae_lambda must be in",
        ),
        # two values that do not go together: the refusal names the draw
        (
            {
                "algo.kind": {"choice": ["reinforce", "ppo"]},
                "algo.baseline": {"grid": ["none", "self_critical"]},
            },
            "algo.baseline='self_critical' would fail: algo.baseline='self_critical' applies "
            "to algo.kind='reinforce', not 'ppo'",
        ),
        (
            {"clip.clip_len": {"choice": [64, 32]}, "reward.parts": {"randint": [1, 49]}},
            r"drawing clip\.clip_len=32, reward\.parts=48 would fail: reward\.parts \(48\) must "
            r"be at most clip\.clip_len \(32\)",
        ),
    ],
)
def test_bad_space_is_refused_before_ray(
    tmp_path: Path,
    base: Path,
    capsys: pytest.CaptureFixture[str],
    space: object,
    pattern: str,
) -> None:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space))
    out = tmp_path / "sweep"
    line = _refused(["--config", str(base), "--space", str(path), "--out", str(out)], capsys)
    assert str(path) in line, line
    assert re.search(pattern, line), line
    assert not out.exists()


def test_default_and_split_spaces_pass_the_check() -> None:
    tune_mod.check_space(tune_mod.SEARCH_SPACE)
    tune_mod.check_space({"split": {"grid": [1, 2]}, "reward.f1_weights": {"choice": [[0, 0, 1]]}})
    tune_mod.check_space(
        {"model.hidden_dim": {"randint": [16, 64]}, "algo.gamma": {"uniform": [0.9, 0.99]}}
    )
    # values a trial converts as it builds its config are not refused
    tune_mod.check_space(
        {"algo.lr": {"choice": ["1e-3", 3e-4]}, "model.input": {"grid": ["frames"]}}
    )


def test_draws_valid_only_together_pass_the_check() -> None:
    """Every draw is checked as a whole: a value the base config refuses is fine when the space
    always draws what it needs with it."""
    reinforce_only = {
        "algo.kind": {"choice": ["reinforce"]},
        "algo.baseline": {"choice": ["none", "self_critical"]},
    }
    tune_mod.check_draws(TrainConfig(), reinforce_only)
    parts = {"clip.clip_len": {"choice": [32, 64]}, "reward.parts": {"randint": [1, 33]}}
    tune_mod.check_draws(TrainConfig(), parts)
    for name in ("gtea", "salads", "breakfast", "egtea"):
        tune_mod.check_draws(load_experiment(name).config, tune_mod.SEARCH_SPACE)


def test_good_input_reaches_ray(tmp_path: Path, base: Path) -> None:
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"algo.lr": {"loguniform": [1e-4, 1e-3]}}))
    (tmp_path / "empty").mkdir()
    argv = ["--config", str(base), "--space", str(space), "--out", str(tmp_path / "empty")]
    with pytest.raises(RayStarted):
        _tune([*argv, "--samples", "1", "--report-every", "1", "--grace", "1"])


# --------------------------------------------------------------------------- numbers


def _sweep_script(argv: list[str]) -> int:
    """experiments/sweep.py as ``python experiments/sweep.py ARGV`` runs it."""
    sys.argv = [str(REPO / "experiments" / "sweep.py"), *argv]
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(sys.argv[0], run_name="__main__")
    return int(stop.value.code or 0)


@pytest.mark.parametrize("entry", [_tune, _sweep_script], ids=["tune", "sweep.py"])
@pytest.mark.parametrize(
    ("flag", "value"),
    [("--samples", "0"), ("--report-every", "0"), ("--grace", "0"), ("--max-concurrent", "-1")],
)
def test_numbers_out_of_range_are_refused_before_ray(
    base: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    entry: Callable[..., int],
    flag: str,
    value: str,
) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # _sweep_script sets it
    line = _refused(["--config", str(base), flag, value], capsys, entry)
    assert f"{flag} must be >=" in line and f"got {value}" in line, line


# --------------------------------------------------------------------------- --resume


@pytest.mark.parametrize(
    ("settings", "pattern"),
    [
        (None, "sweep settings file not found"),
        ('{"report_every": "x"}', "report_every as an integer >= 1, got 'x'"),
        ("{not json", "not valid JSON"),
    ],
)
def test_resume_with_bad_sweep_json_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: str | None, pattern: str
) -> None:
    folder = _write_sweep(tmp_path / "sweep", settings)
    line = _refused(["--resume", str(folder)], capsys)
    assert str(folder / "sweep.json") in line and pattern in line, line


def test_resume_refuses_flags_it_cannot_honour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _write_sweep(tmp_path / "sweep")
    argv = ["--resume", str(folder), "--set", "iterations=1", "--data-root", "d", "--samples", "99"]
    line = _refused(argv, capsys)
    assert "cannot honour --data-root, --set, --samples" in line, line
    with pytest.raises(RayStarted):  # --resume alone goes ahead
        _tune(["--resume", str(folder)])


# --------------------------------------------------------------------------- --out


def test_out_holding_a_sweep_is_not_overwritten(
    tmp_path: Path, base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "trials.md").write_text("finished\n")
    line = _refused(["--config", str(base), "--out", str(out)], capsys)
    assert str(out) in line and "use --resume to continue it or choose another --out" in line
    assert sorted(p.name for p in out.iterdir()) == ["trials.md"]
    assert (out / "trials.md").read_text() == "finished\n"


@pytest.mark.parametrize(
    ("under", "pattern"),
    [("", "--out names a folder to write into, and this is a file"), ("sub", "is a file, not a")],
)
def test_out_that_is_a_file_is_refused(
    tmp_path: Path, base: Path, capsys: pytest.CaptureFixture[str], under: str, pattern: str
) -> None:
    file = tmp_path / "taken"
    file.write_text("mine\n")
    out = file / under if under else file
    line = _refused(["--config", str(base), "--out", str(out)], capsys)
    assert str(out) in line and pattern in line, line
    assert file.read_text() == "mine\n"


# --------------------------------------------------------------------------- --experiment


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
        ("EXPERIMENT = (\n", "SyntaxError"),
        (
            "import no_such_module_xyz\n",
            "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        ),
    ],
)
def test_experiment_script_failing_on_import_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, kind: str
) -> None:
    script = tmp_path / "boom.py"
    script.write_text(source)
    line = _refused(["--experiment", str(script)], capsys)
    assert str(script) in line and "failed on import" in line and kind in line, line
