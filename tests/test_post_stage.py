"""The post-processing stage a run tuned, applied after training: read from the run's meta.json,
and clip by clip (``stream``) equal to the whole-video decode (``eval``, the run's rows)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svtas_ray.errors import ConfigError
from svtas_ray.models.hold_gate import HoldGate
from svtas_ray.models.post_stage import PostStage, StreamPost
from svtas_ray.models.postprocess import HoldSettings

HOLD_META = {"theta": 0.7, "sigma": 0.02, "min_len": 9, "window": 4, "val_score": 61.0}


def learned_gate() -> HoldGate:
    """A gate that holds longer runs more, as trained gates do (run-length weight > 0)."""
    gate = HoldGate()
    with torch.no_grad():
        gate.linear.weight.zero_()
        gate.linear.weight[0, 2] = 2.0
        gate.linear.bias.fill_(-1.0)
    return gate


def noisy_logits(frames: int = 203, classes: int = 5, seed: int = 0) -> torch.Tensor:
    """Logits ``(T, C)`` of blocky true classes whose arg-max flickers."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.integers(0, classes, frames // 20 + 1), 20)[:frames]
    logits = rng.normal(0.0, 1.0, (frames, classes))
    logits[np.arange(frames), truth] += 1.5
    return torch.from_numpy(logits.astype(np.float32))


@pytest.mark.parametrize(
    ("stage", "with_gate"),
    [
        (PostStage(), False),
        (PostStage(), True),
        (PostStage("hold", hold=HoldSettings(0.7, 0.02, 9, 4)), True),
        (PostStage("gate", offset=1.0), True),
        (PostStage("gate", offset=-1.0), True),
    ],
)
def test_the_stage_clip_by_clip_equals_its_decode_of_the_whole_video(
    stage: PostStage, with_gate: bool
) -> None:
    gate = learned_gate() if with_gate else None
    logits = noisy_logits()
    post, slots = StreamPost(stage, gate), []
    clip_len = 32
    for start in range(0, len(logits), clip_len):  # the last clip is padded, as streams are
        clip = torch.zeros(1, clip_len, logits.shape[1])
        part = logits[start : start + clip_len]
        clip[0, : len(part)] = part
        mask = torch.arange(clip_len)[None] < len(part)
        slots.append(post(clip, mask)[: len(part)])
    streamed = np.concatenate(slots)
    whole = stage.decode(torch.softmax(logits, -1).numpy(), gate)
    assert np.array_equal(streamed, whole)
    changes = int((np.diff(streamed) != 0).sum())
    flicker = int((np.diff(logits.argmax(-1).numpy()) != 0).sum())
    assert changes <= flicker  # every stage switches at most as often as the arg-max


def test_the_stage_is_read_from_the_runs_meta() -> None:
    assert PostStage.of_run(None, {}, "m.json") == PostStage()  # nothing tuned: raw
    hold = PostStage.of_run(None, {"hold_rule": HOLD_META}, "m.json")  # the default: the rule
    assert hold == PostStage("hold", hold=HoldSettings(0.7, 0.02, 9, 4))
    assert "theta 0.7" in hold.describe() and "minimum run 9 slots" in hold.describe()
    gate = PostStage.of_run("gate", {"hold_gate": {"offset": "1.25"}}, "m.json")
    assert gate == PostStage("gate", offset=1.25)
    assert PostStage.of_run("raw", {"hold_rule": HOLD_META}, "m.json") == PostStage()
    both = {"hold_rule": HOLD_META, "hold_gate": {"offset": "0.5"}}
    assert PostStage.of_run(None, both, "m.json") == PostStage("gate", offset=0.5)


def test_a_stage_the_run_did_not_tune_is_one_sentence_naming_the_file() -> None:
    missing = r"^run/meta.json: the run tuned no hold gate .*another --post stage$"
    with pytest.raises(ConfigError, match=missing):
        PostStage.of_run("gate", {"hold_rule": HOLD_META}, "run/meta.json")
    with pytest.raises(
        ConfigError, match=r"^run/meta.json: the 'hold_rule' entry has no 'min_len'"
    ):
        PostStage.of_run("hold", {"hold_rule": {"theta": 0.5}}, "run/meta.json")
    with pytest.raises(ConfigError, match="has no hold gate"):
        StreamPost(PostStage("gate", offset=0.5), None)


@pytest.mark.parametrize(
    ("kind", "entry", "problem"),
    [
        ("hold", [0.5, 3], "a JSON object is expected"),
        ("hold", {**HOLD_META, "theta": True}, "theta must be a number"),
        ("hold", {**HOLD_META, "theta": 5.0}, "theta must be a probability"),
        ("hold", {**HOLD_META, "theta": "nan"}, "theta must be a probability"),
        ("hold", {**HOLD_META, "min_len": 2.7}, "min_len must be a whole number"),
        ("hold", {**HOLD_META, "min_len": -3}, "min_len must be a whole number >= 0"),
        ("hold", {**HOLD_META, "min_len": float("inf")}, "min_len must be a whole number"),
        ("hold", {**HOLD_META, "window": 0}, "window must be a whole number in 1"),
        ("hold", {**HOLD_META, "window": 10**12}, "window must be a whole number in 1"),
        ("gate", {"offset": "nan"}, "offset is NaN"),
        ("gate", {"offset": True}, "offset must be a number"),
        ("gate", 0.5, "a JSON object is expected"),
    ],
)
def test_tuned_settings_out_of_range_are_refused_not_used(
    kind: str, entry: object, problem: str
) -> None:
    key = {"hold": "hold_rule", "gate": "hold_gate"}[kind]
    with pytest.raises(ConfigError, match=rf"^run/meta.json: the '{key}' entry is malformed: "):
        PostStage.of_run(kind, {key: entry}, "run/meta.json")
    with pytest.raises(ConfigError, match=problem):
        PostStage.of_run(kind, {key: entry}, "run/meta.json")


def test_offsets_the_tuning_writes_are_accepted() -> None:
    for offset in ("-inf", "1.5", -2, 0.75):
        assert PostStage.of_run("gate", {"hold_gate": {"offset": offset}}, "m.json").offset == (
            float(offset)
        )
