"""Offline baselines (MS-TCN, ASFormer, frame-wise linear) and their naive streaming use."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from svtas_ray.config import OfflineTrainConfig
from svtas_ray.models.asformer import ASFormer, sliding_attention
from svtas_ray.models.build import build_offline
from svtas_ray.models.offline import MSTCN, FramewiseLinear, dilated_taps, naive_stream

MODELS = ("mstcn", "asformer", "linear")


def small(model: str) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = OfflineTrainConfig(model=model, num_stages=3, num_layers=4, hidden_dim=16)
    return build_offline(cfg, num_classes=5, input_dim=6).eval()


@pytest.mark.parametrize("model", MODELS)
def test_shapes_and_stages(model):
    net = small(model)
    out = net(torch.randn(2, 23, 6))
    assert len(out) == (1 if model == "linear" else 3)
    assert all(o.shape == (2, 23, 5) for o in out)


def test_build_picks_the_class_and_paper_sizes():
    cfg = OfflineTrainConfig()
    net = build_offline(cfg, 11, 64)
    assert isinstance(net, MSTCN) and len(net.stages) == 4 and len(net.stages[0].layers) == 10
    assert net.stages[0].layers[9].dilation == 512
    assert isinstance(build_offline(OfflineTrainConfig(model="asformer"), 11, 64), ASFormer)
    assert isinstance(build_offline(OfflineTrainConfig(model="linear"), 11, 64), FramewiseLinear)


def test_dilated_taps_equal_a_symmetric_dilated_conv1d():
    torch.manual_seed(0)
    x = torch.randn(2, 17, 4)
    for d in (1, 2, 8, 32):
        conv = torch.nn.Conv1d(4, 3, 3, padding=d, dilation=d)
        weight = conv.weight.permute(0, 2, 1).reshape(3, 12)  # tap-major
        ours = F.linear(dilated_taps(x, d), weight, conv.bias)
        torch.testing.assert_close(ours, conv(x.transpose(1, 2)).transpose(1, 2))


@pytest.mark.parametrize("model", ["mstcn", "asformer"])
def test_offline_models_see_the_future(model):
    net = small(model)
    x = torch.randn(1, 40, 6)
    y = x.clone()
    y[:, 30:] += 3.0
    with torch.no_grad():
        a, b = net(x)[-1], net(y)[-1]
    assert not torch.allclose(a[:, :30], b[:, :30])  # bidirectional: earlier frames change


@pytest.mark.parametrize("model", MODELS)
def test_naive_stream_runs_each_clip_alone(model):
    net = small(model)
    x = torch.randn(1, 37, 6)
    with torch.no_grad():
        streamed = naive_stream(net, x, 16)
        pieces = [net(x[:, s : s + 16])[-1] for s in (0, 16, 32)]
    assert streamed[-1].shape == (1, 37, 5)
    torch.testing.assert_close(streamed[-1], torch.cat(pieces, dim=1))
    with torch.no_grad():
        y = x.clone()
        y[:, 16:] += 3.0
        assert torch.equal(naive_stream(net, y, 16)[-1][:, :16], streamed[-1][:, :16])


@pytest.mark.parametrize("model", ["mstcn", "asformer"])
def test_padded_frames_are_masked_out_as_upstream(model):
    net = small(model)
    padded = torch.cat([torch.randn(1, 20, 6), torch.randn(1, 7, 6) * 10], dim=1)
    mask = torch.tensor([[True] * 20 + [False] * 7])
    with torch.no_grad():
        out = net(padded, mask)
    for stage in out:
        assert torch.isfinite(stage).all()
        assert torch.all(stage[:, 20:] == 0)


@pytest.mark.parametrize("block", [1, 2, 4, 5, 16])
def test_sliding_attention_equals_dense_banded_attention(block):
    """Frame t attends to frames t - block//2 .. t - block//2 + block - 1 (valid ones only)."""
    g = torch.Generator().manual_seed(block)
    t, c = 13, 4
    q, k, v = (torch.randn(2, t, c, generator=g) for _ in range(3))
    mask = torch.ones(2, t)
    mask[1, 10:] = 0
    ours = sliding_attention(q, k, v, mask, block)
    half = block // 2
    pos = torch.arange(t)
    rel = pos[None, :] - (pos[:, None] - half)
    band = (rel >= 0) & (rel < block)
    allowed = band[None] & (mask[:, None, :] > 0)
    energy = q @ k.transpose(1, 2) / math.sqrt(c)
    weights = torch.softmax(energy.masked_fill(~allowed, -1e9), dim=-1) * allowed
    torch.testing.assert_close(ours, weights @ v, atol=1e-5, rtol=1e-4)
