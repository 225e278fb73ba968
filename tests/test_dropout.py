"""The models' CPU dropout: nn.Dropout's distribution, drawn from uniforms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from svtas_ray.models.dropout import Dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keeps_each_element_with_one_minus_p_and_rescales(p):
    torch.manual_seed(0)
    drop = Dropout(p).train()
    x = torch.ones(400_000)
    out = drop(x)
    kept = out != 0
    assert abs(float(kept.float().mean()) - (1 - p)) < 0.005
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
    assert abs(float(out.mean()) - 1.0) < 0.02  # unbiased, as inverted dropout is


def test_dropout_gradient_follows_the_mask_and_eval_is_the_identity():
    torch.manual_seed(1)
    drop = Dropout(0.5)
    x = torch.randn(4, 64, 8, requires_grad=True)
    out = drop(x)
    out.sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad != 0, out != 0)
    assert torch.allclose(x.grad[out != 0], torch.tensor(2.0))
    drop.eval()
    assert torch.equal(drop(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


def test_dropout_has_nn_dropouts_state_and_repr():
    assert isinstance(Dropout(0.3), nn.Dropout)
    assert Dropout(0.3).state_dict() == {}
    assert repr(Dropout(0.3)) == "Dropout(p=0.3, inplace=False)"
