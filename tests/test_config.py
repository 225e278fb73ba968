"""Typed configs: validation, JSON round trip, typed dotted overrides, --set text at the edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from svtas_ray.cli.overrides import parse_overrides
from svtas_ray.config import (
    AlgoConfig,
    AlgoKind,
    ClipConfig,
    DataConfig,
    ModelConfig,
    RewardConfig,
    SynthConfig,
    TrainConfig,
    choices,
    from_dict,
    load,
    override,
    save,
    to_dict,
)
from svtas_ray.errors import ConfigError


def apply_overrides(cfg, items):
    """What ``--set`` does: text parsed at the CLI edge, then one typed override."""
    return override(cfg, parse_overrides(type(cfg), items))


@pytest.mark.parametrize("cls", [DataConfig, ClipConfig, RewardConfig, SynthConfig])
def test_json_round_trip_is_identity(cls: type, tmp_path: Path) -> None:
    cfg = cls()
    save(cfg, tmp_path / "c.json")
    assert load(cls, tmp_path / "c.json") == cfg
    assert from_dict(cls, to_dict(cfg)) == cfg


def test_overrides_convert_to_annotated_types() -> None:
    cfg = apply_overrides(
        DataConfig(),
        ["split=3", "background=None,SIL", "frame_size=112,96", "modality=frames"],
    )
    assert cfg.split == 3
    assert cfg.background == ("None", "SIL")
    assert cfg.frame_size == (112, 96)
    assert cfg.modality == "frames"
    reward = apply_overrides(RewardConfig(), ["f1_weights=[0.1, 0.2, 0.3]", "edit_weight=1"])
    assert reward.f1_weights == (0.1, 0.2, 0.3)
    assert reward.edit_weight == 1.0
    synth = apply_overrides(SynthConfig(), ["num_videos=none", "videos=true"])
    assert synth.num_videos is None and synth.videos is True
    assert apply_overrides(DataConfig(), ["background="]).background == ()


def test_unknown_key_names_the_key() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'clip_length'"):
        apply_overrides(ClipConfig(), ["clip_length=3"])
    with pytest.raises(ConfigError, match="unknown config key 'bogus'"):
        from_dict(DataConfig, {"bogus": 1})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("clip_len=abc", "'clip_len' expects a valid integer"),
        ("clip_len=0", "clip_len must be >= 1"),
        ("sample_rate=-2", "sample_rate must be >= 1"),
        ("clip_len", "must look like key.sub=value"),
    ],
)
def test_bad_values_are_one_clear_error(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(ClipConfig(), [override])


def test_literal_fields_reject_other_values() -> None:
    with pytest.raises(ConfigError, match="'features' or 'frames', got 'pixels'"):
        apply_overrides(DataConfig(), ["modality=pixels"])


def test_load_reports_file_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load(DataConfig, bad)
    with pytest.raises(ConfigError, match="not found"):
        load(DataConfig, tmp_path / "missing.json")


def test_dotted_overrides_reach_nested_sections() -> None:
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class Outer:
        clip: ClipConfig = field(default_factory=ClipConfig)
        data: DataConfig = field(default_factory=DataConfig)

    cfg = apply_overrides(Outer(), ["clip.clip_len=128", "data.split=2"])
    assert cfg.clip.clip_len == 128 and cfg.data.split == 2
    assert from_dict(Outer, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match=r"unknown config key 'clip\.len'"):
        apply_overrides(Outer(), ["clip.len=3"])
    with pytest.raises(ConfigError, match="is a section"):
        apply_overrides(Outer(), ["clip=3"])


def test_dependent_fields_change_together_in_either_order() -> None:
    for values in (
        {"data.modality": "frames", "model.input": "frames"},
        {"model.input": "frames", "data.modality": "frames"},
    ):
        cfg = override(TrainConfig(), values)
        assert cfg.data.modality == cfg.model.input == "frames"
    with pytest.raises(ConfigError, match=r"must match data\.modality"):
        override(TrainConfig(), {"model.input": "frames"})


def test_typed_override_takes_python_values() -> None:
    cfg = override(TrainConfig(), {"algo.lr": 3e-4, "reward.f1_weights": (0.1, 0.2, 0.3)})
    assert cfg.algo.lr == 3e-4 and cfg.reward.f1_weights == (0.1, 0.2, 0.3)
    assert override(cfg, {}) is cfg
    with pytest.raises(ConfigError, match=r"'algo\.lr' expects a valid number"):
        override(TrainConfig(), {"algo.lr": [1]})


def test_choices_are_derived_from_the_literal_aliases() -> None:
    assert choices(AlgoKind)[:2] == ("supervised", "ppo")
    with pytest.raises(ConfigError, match=r"'algo\.kind' must be 'supervised'"):
        override(TrainConfig(), {"algo.kind": "dqn"})


def test_the_default_validation_videos_grow_with_the_training_split() -> None:
    from svtas_ray.rl.trainer import val_count

    assert TrainConfig().val_videos is None
    assert [val_count(None, n) for n in (5, 21, 40, 85, 1300)] == [2, 2, 4, 8, 8]
    assert val_count(0, 1300) == 0 and val_count(3, 21) == 3


@pytest.mark.parametrize("name", ["input_dropout", "input_frame_dropout", "dropout"])
def test_dropout_probabilities_must_lie_in_zero_to_one(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"model\.{name} must be in \[0, 1\), got 1\.0"):
        apply_overrides(ModelConfig(), [f"{name}=1"])


@pytest.mark.parametrize("value", ["-0.1", "1"])
def test_label_smoothing_must_lie_in_zero_to_one(value: str) -> None:
    with pytest.raises(ConfigError, match=r"algo\.label_smoothing must be in \[0, 1\)"):
        apply_overrides(AlgoConfig(), [f"label_smoothing={value}"])
