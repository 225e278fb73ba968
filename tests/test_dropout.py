"""The models' dropout: nn.Dropout's distribution drawn from uniforms, and whole-frame dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from svtas_ray.models.dropout import Dropout, FrameDropout
from svtas_ray.models.inputs import FeatureProjector


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


@pytest.mark.parametrize("p", [0.1, 0.3, 0.6])
def test_frame_dropout_drops_whole_frames_with_probability_p_and_keeps_the_rest_unscaled(p):
    torch.manual_seed(2)
    x = torch.randn(50, 400, 6)
    out = FrameDropout(p).train()(x)
    dropped = (out == 0).all(-1)  # (B, L): a frame goes whole or not at all
    assert torch.equal((out == 0).any(-1), dropped)
    assert abs(float(dropped.float().mean()) - p) < 0.01
    assert torch.equal(out[~dropped], x[~dropped])
    assert torch.equal(FrameDropout(p).eval()(x), x)
    assert torch.equal(FrameDropout(0.0).train()(x), x)
    with pytest.raises(ValueError, match="frame dropout"):
        FrameDropout(1.0)


def test_feature_projector_shows_a_dropped_frame_as_the_training_mean():
    torch.manual_seed(3)
    enc = FeatureProjector(5, 4, dropout=0.0, frame_dropout=0.5).train()
    enc.set_normalization(torch.full((5,), 2.0), torch.full((5,), 3.0))
    clip = torch.randn(2, 64, 5) * 3 + 2
    out, _ = enc(clip, (), None)
    mean_frame, _ = enc.eval()(torch.full((1, 1, 5), 2.0), (), None)
    whole, _ = enc(clip, (), None)
    dropped = torch.isclose(out, mean_frame.expand_as(out)).all(-1)
    assert 0 < int(dropped.sum()) < dropped.numel()
    assert torch.allclose(out[~dropped], whole[~dropped])
