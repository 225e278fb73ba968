"""Output shapes of every head and input, the value head, predict_stream and config checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from svtas_ray.config import ModelConfig, override
from svtas_ray.errors import ConfigError
from svtas_ray.models.brt import BRTHead
from svtas_ray.models.build import build_segmenter
from svtas_ray.models.causal_tcn import CausalMSTCN
from svtas_ray.models.inputs import FeatureProjector, FrameEncoder
from svtas_ray.models.interface import SegmenterOutput

SMALL = ModelConfig(
    embed_dim=8, hidden_dim=8, tcn_stages=3, tcn_layers=4, brt_heads=2, state_len=3,
    refine_stages=2, refine_layers=3, backbone_width=4, value_hidden=4,
)  # fmt: skip


@pytest.mark.parametrize("head", ["causal_mstcn", "brt"])
@pytest.mark.parametrize("frames", [False, True])
def test_output_shapes(head, frames):
    cfg = dataclasses.replace(SMALL, head=head, input="frames" if frames else "features")
    shape = (16, 20, 3) if frames else (10,)
    model = build_segmenter(cfg, 6, shape)
    assert model.num_classes == 6 and model.input_shape == shape
    if frames:
        clip = torch.randint(0, 256, (2, 5, *shape), dtype=torch.uint8)
    else:
        clip = torch.randn(2, 5, *shape)
    state = model.initial_state(2)
    assert isinstance(state, tuple) and all(s.shape[0] == 2 for s in state)
    out = model(clip, state)
    assert isinstance(out, SegmenterOutput)
    assert len(out.logits) == 3  # causal_mstcn: 3 stages; brt: transformer + 2 refinements
    assert all(lg.shape == (2, 5, 6) for lg in out.logits)
    assert out.final is out.logits[-1]
    assert out.value.shape == (2,)
    assert [s.shape for s in out.state] == [s.shape for s in state]
    assert isinstance(model.encoder, FrameEncoder if frames else FeatureProjector)
    assert isinstance(model.head, CausalMSTCN if head == "causal_mstcn" else BRTHead)


def test_state_sizes_follow_the_design():
    model = build_segmenter(ModelConfig(tcn_stages=4, clip_lookahead=False), 11, (64,))
    # 4 stages x 10 layers, each caching (3-1) * 2**i frames of 64 channels
    assert len(model.initial_state(1)) == 40
    assert model.initial_state(1)[9].shape == (1, 1024, 64)
    assert len(build_segmenter(ModelConfig(), 11, (64,)).initial_state(1)) == 20  # 2 stages
    brt = build_segmenter(dataclasses.replace(ModelConfig(), head="brt"), 11, (64,))
    state = brt.initial_state(1)
    assert state[0].shape == (1, 16, 64) and len(state) == 2 + 2 * 8


def test_value_ignores_padded_slots():
    torch.manual_seed(0)
    model = build_segmenter(SMALL, 4, (3,)).eval()
    clip = torch.randn(1, 6, 3)
    padded = torch.cat([clip[:, :4], torch.full((1, 2, 3), 50.0)], dim=1)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    with torch.no_grad():
        a = model(clip[:, :4], model.initial_state(1)).value
        b = model(padded, model.initial_state(1), mask).value
    torch.testing.assert_close(a, b)


def test_predict_stream_yields_labels_per_clip_and_leaves_grad_mode_alone():
    torch.manual_seed(0)
    model = build_segmenter(SMALL, 4, (3,)).eval()
    video = np.random.default_rng(0).normal(size=(23, 3)).astype(np.float32)
    clips = [video[s : s + 8] for s in range(0, 23, 8)]
    stream = model.predict_stream(clips)
    first = next(stream)
    assert torch.is_grad_enabled()  # a suspended generator must not keep no_grad on
    labels = [first, *stream]
    assert [lab.shape for lab in labels] == [(8,), (8,), (7,)]
    assert all(lab.dtype == np.int64 for lab in labels)
    with torch.no_grad():
        whole = model.forward_video(torch.from_numpy(video)[None]).final[0].argmax(-1).numpy()
    np.testing.assert_array_equal(np.concatenate(labels), whole)


def test_clip_of_the_wrong_shape_is_a_clear_error():
    model = build_segmenter(SMALL, 4, (3,))
    with pytest.raises(ValueError, match=r"built for \(3,\)"):
        model(torch.randn(1, 5, 4), model.initial_state(1))


def test_config_is_validated_and_overridable():
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(hidden_dim=10, brt_heads=4)
    with pytest.raises(ConfigError, match="pretrained_path"):
        ModelConfig(input="frames", backbone="pretrained")
    with pytest.raises(ConfigError, match=r"model\.dropout"):
        ModelConfig(dropout=1.0)
    cfg = override(ModelConfig(), {"head": "brt", "state_len": 8})
    assert cfg.head == "brt" and cfg.state_len == 8
    with pytest.raises(ConfigError):
        override(ModelConfig(), {"head": "lstm"})


def test_build_refuses_the_wrong_kind_of_input():
    with pytest.raises(ConfigError, match="needs slots of shape"):
        build_segmenter(ModelConfig(), 4, (32, 32, 3))
    with pytest.raises(ConfigError, match="needs slots of shape"):
        build_segmenter(ModelConfig(input="frames"), 4, (64,))
