"""benchmarks/decode_ceiling.py: the search that bounds what a trained hold gate could reach."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from svtas_ray.models.hold_gate import HoldGate

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "decode_ceiling.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("decode_ceiling", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["decode_ceiling"] = module
    spec.loader.exec_module(module)
    return module


def test_gate_search_climbs_from_the_offset_gate_and_never_loses_it() -> None:
    script = _script()
    goal = np.array([2.0, -1.0, 3.0, 0.5, 1.0])
    seen: list[np.ndarray] = []

    def scores(gate: HoldGate) -> dict[str, float]:
        params = np.concatenate(
            [gate.linear.weight.detach().numpy()[0], gate.linear.bias.detach().numpy()]
        )
        seen.append(params)
        far = float(np.sum((params - goal) ** 2))
        return {"acc": 0.0, "edit": -far, "f1@50": -far}

    def target(s: dict[str, float]) -> float:
        return (s["edit"] + s["f1@50"]) / 2

    gate = HoldGate()  # weights 0, bias -4
    best, params = script._search_gate(gate, 1.5, scores, target, 300, seed=0)
    start = seen[0]
    np.testing.assert_allclose(start, [0, 0, 0, 0, -2.5])  # the trained gate, offset added
    assert len(seen) == 301  # the start, then one decode per step
    assert target(best) == max(-float(np.sum((x - goal) ** 2)) for x in seen)  # the best seen
    assert -target(best) < 0.05 * float(np.sum((start - goal) ** 2))
    np.testing.assert_allclose(params, goal, atol=0.3)
    # a closed gate (offset -inf) starts from bias -10, still a number the search can move
    _, closed = script._search_gate(gate, -math.inf, scores, target, 0, seed=0)
    assert closed[4] == -14.0
