"""FlatParameters: one flat tensor of weights and one of gradients, trained as per tensor."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from svtas_ray.rl.flat_params import FlatParameters


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), nn.Linear(3, 2))
    model[2].requires_grad_(False)  # a frozen tensor in the middle stays out of the flat view
    return model


def weight(model: nn.Sequential, index: int) -> torch.Tensor:
    layer = model[index]
    assert isinstance(layer, nn.Linear)
    return layer.weight


def train(model: nn.Sequential, flat: FlatParameters | None, steps: int) -> torch.optim.Adam:
    trainable = [p for p in model.parameters() if p.requires_grad]
    params = [flat.flat] if flat is not None else trainable
    opt = torch.optim.Adam(params, lr=0.05, weight_decay=0.01, fused=True)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(4, 6, generator=gen)
        if flat is not None:
            flat.zero_grad()
        else:
            opt.zero_grad()
        model(x).pow(2).sum().backward()
        if flat is not None:
            flat.check()
        torch.nn.utils.clip_grad_norm_(params, 0.5)
        opt.step()
    return opt


def test_flat_training_equals_training_per_tensor() -> None:
    plain, flat_model = small_model(), small_model()
    flat = FlatParameters([p for p in flat_model.parameters() if p.requires_grad])
    assert flat.flat.numel() == 6 * 5 + 5 + 3 * 2 + 2
    for p, q in zip(plain.parameters(), flat_model.parameters(), strict=True):
        assert torch.equal(p, q)  # flattening keeps the values
    train(plain, None, 5)
    train(flat_model, flat, 5)
    for (name, p), q in zip(plain.named_parameters(), flat_model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert torch.equal(weight(flat_model, 2), weight(small_model(), 2))  # frozen: untouched
    # the parameters still are views of the flat tensor after the steps
    assert torch.equal(flat.flat[:30].view(5, 6), weight(flat_model, 0))


def test_checkpointed_optimiser_state_is_per_tensor_and_round_trips() -> None:
    plain, flat_model = small_model(), small_model()
    flat = FlatParameters([p for p in flat_model.parameters() if p.requires_grad])
    plain_opt, flat_opt = train(plain, None, 3), train(flat_model, flat, 3)
    reference = plain_opt.state_dict()
    per = flat.per_tensor_state(flat_opt.state_dict(), list(flat_model.parameters()))
    # frozen tensors (indices 2, 3) have no state; the others match Adam over the tensors
    plain_ids = {0: 0, 1: 1, 4: 2, 5: 3}  # model index -> index in plain Adam's (trainable) list
    assert set(per["state"]) == set(plain_ids)
    for i, j in plain_ids.items():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(per["state"][i][key], reference["state"][j][key])
    assert per["param_groups"][0]["params"] == list(range(6))
    # back to the flat layout, into a fresh optimiser: the same state as the original
    again = flat.flat_state(per, list(flat_model.parameters()))
    fresh = torch.optim.Adam([flat.flat], lr=0.05, weight_decay=0.01, fused=True)
    fresh.load_state_dict(again)
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(
            fresh.state_dict()["state"][0][key], flat_opt.state_dict()["state"][0][key]
        )


def test_replacing_a_gradient_is_caught() -> None:
    model = small_model()
    flat = FlatParameters([p for p in model.parameters() if p.requires_grad])
    flat.check()
    model.zero_grad()  # sets every .grad to None: autograd would then allocate fresh ones
    with pytest.raises(RuntimeError, match=r"FlatParameters\.zero_grad"):
        flat.check()


def test_a_deep_copy_of_the_model_is_independent_of_the_flat_tensor() -> None:
    model = small_model()
    flat = FlatParameters([p for p in model.parameters() if p.requires_grad])
    twin = copy.deepcopy(model)  # what the weight average keeps
    flat.flat.add_(1.0)
    assert not torch.equal(weight(twin, 0), weight(model, 0))
