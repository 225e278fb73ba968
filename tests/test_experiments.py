"""The experiment scripts: protocols, flags, the per-split table, and one tiny end-to-end run."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from trainer_helpers import ray_cluster

from svtas_ray import config as config_mod
from svtas_ray.cli import experiment as experiment_cli
from svtas_ray.config import SynthConfig, TrainConfig
from svtas_ray.data.presets import PRESETS
from svtas_ray.errors import ConfigError
from svtas_ray.experiments import NAMES, load_experiment, protocol
from svtas_ray.metrics import METRIC_NAMES
from svtas_ray.rl import tune as tune_mod

__all__ = ["ray_cluster"]

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("gtea", "salads", "breakfast", "egtea")
TINY = [
    "--synth=num_videos=6",
    "--synth=scale=0.3",
    "--synth=feature_dim=32",
    "--set=iterations=2",
    "--set=eval_every=2",
    "--set=val_videos=1",
    "--set=clip.clip_len=16",
    "--set=model.hidden_dim=16",
    "--set=model.tcn_stages=2",
    "--set=model.tcn_layers=4",
    "--set=algo.chunk_clips=4",
    "--set=resources.envs_per_worker=2",
    "--set=resources.cpus_per_worker=0.5",
    "--set=resources.cpus_per_learner=0.5",
]


def test_protocols_are_the_presets_and_score_names_the_metrics() -> None:
    assert NAMES == DATASETS
    assert protocol.SCORE_NAMES == METRIC_NAMES


def test_protocols_resolve_from_the_installed_package(tmp_path: Path) -> None:
    """A non-editable install has no experiments/ folder: the protocols come from the package."""
    code = (
        "from svtas_ray.experiments import load_experiment\nprint(load_experiment('egtea').name)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "egtea", proc.stderr
    with pytest.raises(ConfigError, match="no experiment 'nope'"):
        load_experiment("nope")


@pytest.mark.parametrize("name", DATASETS)
def test_protocol_matches_the_dataset(name: str) -> None:
    exp = load_experiment(name)
    preset = PRESETS[exp.synthetic.preset]
    assert exp.num_classes == len(preset.classes)
    assert exp.splits == tuple(range(1, preset.num_splits + 1))
    assert exp.config.data.background == preset.background
    clip = (exp.config.clip.clip_len, exp.config.clip.sample_rate)
    assert clip == ((64, 2) if name == "gtea" else (128, 8))  # SVTAS-RL's clips


@pytest.mark.parametrize("name", DATASETS)
def test_protocol_on_rllib_names_every_setting_to_change(name: str) -> None:
    """The protocols turn on native-only options; RLlib refuses them in one sentence that lists
    each of them, so a user fixes them in one go."""
    from svtas_ray.config import override
    from svtas_ray.errors import ConfigError

    exp = load_experiment(name)
    assert exp.config.model.hold_gate and exp.config.algo.act_dropout
    with pytest.raises(ConfigError, match=r"set model\.hold_gate=false, algo\.act_dropout=false$"):
        override(exp.config, {"engine": "rllib"})
    fixed = {"engine": "rllib", "model.hold_gate": False, "algo.act_dropout": False}
    assert override(exp.config, fixed).engine == "rllib"


def test_help_needs_neither_data_nor_ray_nor_torch() -> None:
    code = (
        "import sys, runpy\n"
        "for name in ('gtea', 'salads', 'breakfast', 'egtea', 'sweep'):\n"
        "    sys.argv = [name, '--help']\n"
        "    try:\n"
        "        runpy.run_path(f'experiments/{name}.py', run_name='__main__')\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (name, exc.code)\n"
        "assert 'ray' not in sys.modules and 'torch' not in sys.modules, 'heavy import'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for flag in ("--data-root", "--split", "--set", "--resume", "--num-workers", "--samples"):
        assert flag in proc.stdout


def test_split_table_has_mean_and_std() -> None:
    rows = [
        {"split": 1, "acc": 60.0, "edit": 50.0, "f1@10": 1, "f1@25": 1, "f1@50": 1, "run_dir": "a"},
        {"split": 2, "acc": 80.0, "edit": 50.0, "f1@10": 3, "f1@25": 3, "f1@50": 3, "run_dir": "b"},
    ]
    table = protocol.split_table(rows)
    assert list(table["split"]) == ["1", "2", "mean", "std"]
    mean, std = table.iloc[2], table.iloc[3]
    assert (mean["acc"], std["acc"]) == (70.0, 10.0)  # population std of {60, 80}
    assert (mean["edit"], std["edit"]) == (50.0, 0.0)
    assert protocol.format_mean_std(table).startswith("acc 70.0 ± 10.0, edit 50.0 ± 0.0")


def test_synthetic_cache_folder_depends_on_the_settings(tmp_path: Path) -> None:
    a = protocol.synthetic_root(SynthConfig(preset="gtea"), tmp_path)
    b = protocol.synthetic_root(SynthConfig(preset="gtea", scale=0.5), tmp_path)
    assert a != b and a.parent == tmp_path / "synthetic" and a.name.startswith("gtea-")
    assert a == protocol.synthetic_root(SynthConfig(preset="gtea"), tmp_path)


def test_split_flag() -> None:
    assert experiment_cli.parse_split("all") == "all"
    assert experiment_cli.parse_split("3") == 3
    for bad in ("0", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            experiment_cli.parse_split(bad)


def test_trial_values_become_overrides() -> None:
    base = TrainConfig(name="gtea")
    cfg = tune_mod.trial_config(
        base, {"algo.lr": 3e-4, "reward.f1_weights": [0.0, 0.0, 1.0], "split": 2}
    )
    assert cfg.algo.lr == 3e-4 and cfg.reward.f1_weights == (0.0, 0.0, 1.0)
    assert cfg.data.split == 2 and cfg.name == "gtea-split2"
    with pytest.raises(ConfigError, match="with one of choice, grid, loguniform"):
        tune_mod.to_tune_space({"algo.lr": {"normal": [0, 1]}})


def test_a_trial_reserves_its_whole_placement_group() -> None:
    cfg = load_experiment("gtea").config
    cfg = tune_mod.trial_config(cfg, {})
    from svtas_ray.config import override

    cfg = override(
        cfg,
        {
            "resources.num_workers": 2,
            "resources.num_learners": 2,
            "resources.gpus_per_learner": 1,
            "resources.rollout_resource": "rollout_node",
        },
    )
    pgf = tune_mod.trial_resources(cfg)
    assert pgf.head_bundle_is_empty  # the trial's driver only waits on its actors
    assert pgf.bundles == [
        {"CPU": 1.0, "rollout_node": 0.01},
        {"CPU": 1.0, "rollout_node": 0.01},
        {"CPU": 1.0, "GPU": 1.0},
        {"CPU": 1.0, "GPU": 1.0},
    ]


def test_tune_subcommand_registers() -> None:
    from svtas_ray.cli.tune import add_parsers

    parser = argparse.ArgumentParser(prog="svtas-ray")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tune", "--samples", "4", "--set", "iterations=2"])
    assert args.samples == 4 and args.set == ["iterations=2"] and callable(args.func)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_gtea_script_trains_then_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = load_experiment("gtea")
    runs = f"--set=runs_dir={tmp_path / 'runs'}"
    assert experiment_cli.main(exp, [*TINY, f"--cache-dir={tmp_path / 'cache'}", runs]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run_dir = Path(out["run_dir"])
    assert run_dir.parent.name == "gtea-split1" and "edit" in out["scores"]["test_best"]
    assert (run_dir / "summary.md").is_file()

    for flag in ("--data-root=/elsewhere", "--split=3", "--synth=num_videos=8"):
        assert experiment_cli.main(exp, [f"--resume={run_dir}", flag]) == 2
        assert "cannot apply (--set and the resource flags can)" in capsys.readouterr().err
    assert experiment_cli.main(exp, [f"--resume={run_dir}", "--set=iterations=3"]) == 0
    import pandas as pd

    assert list(pd.read_parquet(run_dir / "metrics.parquet")["iteration"]) == [1, 2, 3]


def test_a_wrong_dataset_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = load_experiment("salads")
    assert experiment_cli.main(exp, [f"--data-root={tmp_path}"]) == 2
    assert "no dataset here" in capsys.readouterr().err


def test_all_splits_are_checked_before_any_trial_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from svtas_ray.data.cache import ensure_synthetic

    root = ensure_synthetic(
        SynthConfig(preset="gtea", num_videos=6, scale=0.3, feature_dim=32), tmp_path / "gtea"
    )
    for part in ("train", "test"):
        (root / "splits" / f"{part}.split3.bundle").unlink()
    exp = load_experiment("gtea")
    argv = ["--split=all", f"--data-root={root}", f"--set=runs_dir={tmp_path / 'runs'}"]
    assert experiment_cli.main(exp, argv) == 2
    out, err = capsys.readouterr()
    assert "split3.bundle: split file not found" in err
    assert "all splits:" not in out and not (tmp_path / "runs").exists()  # no trial started
    assert experiment_cli.main(exp, ["--split=all", f"--resume={tmp_path}"]) == 2
    assert "no tune/ folder in it" in capsys.readouterr().err


def _interrupted_splits_run(tmp_path: Path) -> tuple[Path, TrainConfig]:
    """The folder an interrupted ``--split all`` run leaves (tune/, config.json) on real data."""
    from svtas_ray.data.cache import ensure_synthetic

    root = ensure_synthetic(
        SynthConfig(preset="gtea", num_videos=6, scale=0.3, feature_dim=32), tmp_path / "gtea"
    )
    exp = load_experiment("gtea")
    cfg = protocol.resolve_config(exp, str(root), overrides={"runs_dir": str(tmp_path / "runs")})
    out = tmp_path / "runs" / "gtea" / "splits-1"
    (out / "tune").mkdir(parents=True)
    config_mod.save(cfg, out / "config.json")
    return out, cfg


def test_resuming_all_splits_refuses_data_flags_like_one_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _interrupted_splits_run(tmp_path)
    exp = load_experiment("gtea")
    data = [f"--data-root={tmp_path / 'gtea'}", f"--cache-dir={tmp_path}", "--synth=scale=0.5"]
    # --set too: a split that had started resumes from its own checkpoint and settings
    argv = ["--split=all", f"--resume={out}", *data, "--set=iterations=7"]
    assert experiment_cli.main(exp, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        f"--resume continues {out} on its own data and splits, so --data-root, --cache-dir, "
        "--synth, --set cannot apply (the resource flags can)"
    ), err
    assert len(err.splitlines()) == 1


def test_resuming_all_splits_reads_the_saved_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the first run recorded (its data above all), with the new resource flags: not the
    experiment's defaults (the synthetic preset)."""
    out, saved = _interrupted_splits_run(tmp_path)
    seen: list[TrainConfig] = []

    def run_splits(cfg: TrainConfig, splits: object, resume: str | None) -> None:
        seen.append(cfg)
        raise KeyboardInterrupt  # stop here, as Ray would start next

    monkeypatch.setattr(tune_mod, "run_splits", run_splits)
    monkeypatch.setenv("SVTAS_CACHE", str(tmp_path / "cache"))  # never made: no preset
    argv = ["--split=all", f"--resume={out}", "--num-workers=3"]
    assert experiment_cli.main(load_experiment("gtea"), argv) == 130
    expected = config_mod.override(saved, {"resources.num_workers": 3})
    assert seen == [expected] and seen[0].data.root == str(tmp_path / "gtea")
    assert not (tmp_path / "cache").exists()
