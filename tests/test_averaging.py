"""Polyak averaging of the weights: the closed form, the warm-up, the live model untouched."""

from __future__ import annotations

import torch
from torch import nn

from svtas_ray.rl.averaging import WeightAverage, ema_decay_at


def test_decay_warms_up_then_holds() -> None:
    assert ema_decay_at(0.997, 0) == 0.1
    assert ema_decay_at(0.997, 10) == 11 / 20
    assert ema_decay_at(0.997, 10_000) == 0.997


def test_the_average_follows_the_exponential_moving_average() -> None:
    torch.manual_seed(0)
    live = nn.Linear(3, 2)
    avg = WeightAverage(live, decay=0.5)
    expected = [p.detach().clone() for p in live.parameters()]
    for step in range(6):
        with torch.no_grad():
            for p in live.parameters():
                p.add_(torch.randn_like(p))
        avg.update()
        d = ema_decay_at(0.5, step)
        for e, p in zip(expected, live.parameters(), strict=True):
            e.copy_(p.detach() if step == 0 else d * e + (1 - d) * p.detach())
    assert avg.steps == 6
    for e, a, p in zip(expected, avg.module.parameters(), live.parameters(), strict=True):
        torch.testing.assert_close(a, e)
        assert not torch.equal(a, p)  # an average, not a copy
        assert not a.requires_grad and p.requires_grad
