"""Causal post-processing: hand-computed moving average and hold rule, streaming equals one pass,
no frame looks ahead, and tuning on validation."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from svtas_ray.models.postprocess import (
    WINDOWS,
    CausalMovingAverage,
    HoldRule,
    causal_moving_average,
    expand,
    hold_rule,
    min_len_of,
    post_process,
    selection_score,
    tune_hold_rule,
)


def random_probs(t: int, c: int, seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(t, c)) * 2
    e = np.exp(logits)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def cuts(t: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(set(rng.integers(0, t, size=6).tolist()) | {0, t})


def test_moving_average_by_hand() -> None:
    x = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 6.0], [7.0, 0.0]])
    out = causal_moving_average(x, 2)
    np.testing.assert_allclose(out, [[1, 0], [2, 0], [4, 3], [6, 3]])
    np.testing.assert_array_equal(causal_moving_average(x, 1), x.astype(np.float32))
    with pytest.raises(ValueError):
        CausalMovingAverage(0)


@pytest.mark.parametrize("window", [1, 2, 7, 64])
def test_moving_average_streaming_is_bit_identical(window: int) -> None:
    p = random_probs(200, 5)
    whole = causal_moving_average(p, window)
    stream = CausalMovingAverage(window)
    bounds = cuts(200, window)
    parts = [stream(p[a:b]) for a, b in itertools.pairwise(bounds)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_hold_rule_by_hand() -> None:
    # top class:        0    1     1    1    0    0
    # confident (0.6):  y    n     n    y    n    n
    p = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8], [0.55, 0.45], [0.51, 0.49]])
    # min_len 2 and theta 0.6: frame 1 switches (0.6 >= theta), frame 2 stays 1, frame 4 holds 1
    # (unsure, run 3 >= 2 -> no: run of 1 is 3 frames, so it switches to 0).
    np.testing.assert_array_equal(hold_rule(p, 0.6, 2), [0, 1, 1, 1, 0, 0])
    # theta 0.7: frame 1 unsure and the run of 0 is 1 < 3: held; frame 2 held (run 2 < 3);
    # frame 3 confident -> 1; frames 4, 5 unsure with run of 1 < 3: held.
    np.testing.assert_array_equal(hold_rule(p, 0.7, 3), [0, 0, 0, 1, 1, 1])
    # theta 0 or min_len 0: the arg-max.
    np.testing.assert_array_equal(hold_rule(p, 0.0, 3), p.argmax(1))
    np.testing.assert_array_equal(hold_rule(p, 0.9, 0), p.argmax(1))


@pytest.mark.parametrize(("theta", "min_len"), [(0.0, 5), (0.5, 1), (0.6, 4), (0.9, 30)])
def test_hold_rule_streaming_equals_one_pass(theta: float, min_len: int) -> None:
    p = random_probs(300, 4, seed=3)
    whole = hold_rule(p, theta, min_len)
    for seed in range(3):
        rule = HoldRule(theta, min_len)
        bounds = cuts(300, seed)
        parts = [rule(p[a:b]) for a, b in itertools.pairwise(bounds)]
        np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_hold_rule_switching_modes_mid_stream_keeps_the_run() -> None:
    # The theta-0 fast path must leave the same state as the loop: a rule whose first part is
    # all one class continues the run into the next part.
    p = np.array([[0.9, 0.1]] * 3 + [[0.45, 0.55]] * 3)
    rule = HoldRule(0.6, 4)
    np.testing.assert_array_equal(np.concatenate([rule(p[:3]), rule(p[3:])]), [0, 0, 0, 0, 1, 1])


def test_nothing_looks_ahead() -> None:
    p = random_probs(120, 6, seed=5)
    changed = p.copy()
    changed[60:] = random_probs(60, 6, seed=9)
    for out, again in [
        (causal_moving_average(p, 16), causal_moving_average(changed, 16)),
        (hold_rule(p, 0.5, 10), hold_rule(changed, 0.5, 10)),
    ]:
        np.testing.assert_array_equal(out[:60], again[:60])


def test_helpers() -> None:
    assert min_len_of(0.01, 10000, 8) == 12
    np.testing.assert_array_equal(expand(np.array([3, 4]), 5, 3), [3, 3, 3, 4, 4])
    assert selection_score({"acc": 1, "edit": 2, "f1@10": 3, "f1@25": 4, "f1@50": 5}) == 3.0


def test_tuning_picks_the_rule_on_flickering_predictions() -> None:
    # Truth: long segments; probabilities right on average but flickering with low confidence.
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4) % 2, 100)
    probs = []
    for _ in range(3):
        noisy = np.where(rng.random(400) < 0.3, 1 - labels, labels)
        conf = np.where(noisy == labels, 0.8, 0.55)
        p = np.zeros((400, 2), dtype=np.float32)
        p[np.arange(400), noisy] = conf
        p[np.arange(400), 1 - noisy] = 1 - conf
        probs.append(p)
    rule: dict[str, Any] = {"thetas": (0.0, 0.7), "sigmas": (0.05,), "windows": (1,)}  # rule alone
    choice = tune_hold_rule(probs, [labels] * 3, longest=400, **rule)
    assert choice.settings.theta == 0.7 and choice.settings.min_len == 20
    assert choice.settings.window == 1
    assert choice.score > choice.grid[(1, 0.0, 0.05)] + 10
    # Clean predictions: the rule is not needed and the tie goes to theta 0 (off).
    clean = [np.eye(2, dtype=np.float32)[labels] * 0.5 + 0.25] * 3
    off = tune_hold_rule(clean, [labels] * 3, 400, thetas=(0.0, 0.7), windows=WINDOWS)
    assert (off.settings.theta, off.settings.window) == (0.0, 1)
    # ... unless another model's probabilities on the same videos break the tie: they flicker,
    # so the rule goes on; a model that does not tie is never overruled by them.
    tied = tune_hold_rule(clean, [labels] * 3, 400, tie_probs=probs, **rule)
    assert tied.settings.theta == 0.7 and tied.score == tied.grid[(1, 0.0, 0.05)]
    untied = tune_hold_rule(probs, [labels] * 3, 400, tie_probs=clean, **rule)
    assert untied.settings == choice.settings
    with pytest.raises(ValueError, match="same videos"):
        tune_hold_rule(clean, [labels] * 3, 400, tie_probs=probs[:1])


def test_the_stage_smooths_confident_flicker_the_rule_cannot_hold() -> None:
    # Every wrong frame is as confident (0.95) as the right ones: no theta holds them back, so
    # the rule alone stays off; a moving average over a few frames removes them.
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(6) % 3, 120)
    probs = []
    for _ in range(3):
        shown = np.where(rng.random(len(labels)) < 0.1, (labels + 1) % 3, labels)
        p = np.full((len(labels), 3), 0.025, dtype=np.float32)
        p[np.arange(len(labels)), shown] = 0.95
        probs.append(p)
    alone = tune_hold_rule(probs, [labels] * 3, longest=720)  # the default grid: the rule alone
    assert (alone.settings.theta, alone.settings.window) == (0.0, 1)  # nothing it can hold
    stage = tune_hold_rule(probs, [labels] * 3, longest=720, windows=WINDOWS)
    assert stage.settings.window > 1 and stage.score > alone.score + 20
    # the stage is causal and streams: clip by clip it equals one pass over the video
    whole = post_process(probs[0], stage.settings)
    average = CausalMovingAverage(stage.settings.window)
    rule = HoldRule(stage.settings.theta, stage.settings.min_len)
    parts = [rule(average(probs[0][i : i + 64])) for i in range(0, len(labels), 64)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    with pytest.raises(ValueError, match="windows"):
        tune_hold_rule(probs, [labels] * 3, 720, windows=(0,))
