"""Streaming equals the whole-video pass, for every head and input, and the state helpers work."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from svtas_ray.config import ModelConfig
from svtas_ray.models.build import build_segmenter
from svtas_ray.models.interface import (
    StreamingSegmenter,
    cat_states,
    detach_state,
    reset_state,
    select_state,
)

TINY = ModelConfig(
    embed_dim=12,
    hidden_dim=16,
    tcn_stages=2,
    tcn_layers=5,
    brt_blocks=2,
    brt_heads=2,
    state_len=4,
    refine_stages=1,
    refine_layers=4,
    backbone_width=8,
    shift_div=4,
    value_hidden=8,
)
HEADS = ("causal_mstcn", "brt", "lookahead")
"""Heads under test; 'lookahead' is causal_mstcn with model.clip_lookahead."""
CLASSES = 5
DIM = 7
FRAME = (20, 24)


def make(head: str, frames: bool = False, seed: int = 0) -> StreamingSegmenter:
    lookahead = head == "lookahead"
    cfg = dataclasses.replace(
        TINY,
        head="causal_mstcn" if lookahead else head,
        clip_lookahead=lookahead,
        input="frames" if frames else "features",
    )
    torch.manual_seed(seed)
    shape = (*FRAME, 3) if frames else (DIM,)
    return build_segmenter(cfg, CLASSES, shape).eval()


def video(t: int, frames: bool = False, batch: int = 1, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if frames:
        return torch.randint(0, 256, (batch, t, *FRAME, 3), generator=g, dtype=torch.uint8)
    return torch.randn(batch, t, DIM, generator=g)


def stream(model: StreamingSegmenter, x: torch.Tensor, clip_len: int, pad: bool = True):
    """Clip by clip; the last clip padded (repeating the last frame, masked) like ClipPlan."""
    b, t = x.shape[:2]
    state = model.initial_state(b)
    per_stage: list[list[torch.Tensor]] = []
    for start in range(0, t, clip_len):
        clip = x[:, start : start + clip_len]
        n = clip.shape[1]
        mask = None
        if pad and n < clip_len:
            filler = clip[:, -1:].expand(b, clip_len - n, *clip.shape[2:])
            clip = torch.cat([clip, filler], dim=1)
            mask = (torch.arange(clip_len) < n)[None].expand(b, -1)
        out = model(clip, state, mask)
        state = out.state
        per_stage.append([lg[:, :n] for lg in out.logits])
    return [torch.cat(s, dim=1) for s in zip(*per_stage, strict=True)], state


def assert_close_lists(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-4)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("clip_len", [1, 4, 16])
def test_features_stream_equals_whole_video(head, clip_len):
    model = make(head)
    x = video(37)  # not a multiple of 4 or 16
    with torch.no_grad():
        whole = model.forward_video(x, block_len=clip_len)
        streamed, _ = stream(model, x, clip_len)
    assert_close_lists(streamed, whole.logits)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("clip_len", [1, 3, 8])
def test_frames_stream_equals_whole_video(head, clip_len):
    model = make(head, frames=True)
    x = video(11, frames=True)
    with torch.no_grad():
        whole = model.forward_video(x, block_len=clip_len)
        streamed, _ = stream(model, x, clip_len)
    assert_close_lists(streamed, whole.logits)


def test_causal_mstcn_does_not_care_where_clips_begin():
    model = make("causal_mstcn")
    x = video(30)
    with torch.no_grad():
        a, _ = stream(model, x, 7)
        b = model.forward_video(x).logits  # no block_len: one block
    assert_close_lists(a, b)


@pytest.mark.parametrize("frames", [False, True])
@pytest.mark.parametrize("head", HEADS)
def test_a_padded_clip_leaves_the_state_of_the_cut_clip(head, frames):
    model = make(head, frames)
    x = video(9, frames)
    with torch.no_grad():
        _, padded = stream(model, x, 6, pad=True)  # second clip: 3 valid + 3 padded slots
        _, cut = stream(model, x, 6, pad=False)  # second clip: 3 slots
    for p, c in zip(padded, cut, strict=True):
        torch.testing.assert_close(p, c, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("head", HEADS)
def test_the_past_does_not_see_the_future(head):
    model = make(head)
    x = video(24)
    y = x.clone()
    y[:, 16:] += 5.0  # change only the third clip of 8
    with torch.no_grad():
        a = model.forward_video(x, block_len=8).final
        b = model.forward_video(y, block_len=8).final
    torch.testing.assert_close(a[:, :16], b[:, :16])
    assert not torch.allclose(a[:, 16:], b[:, 16:])


@pytest.mark.parametrize("head", ["causal_mstcn", "lookahead"])
def test_clip_lookahead_sees_the_rest_of_its_clip_only(head):
    """Frame 12 changed: with lookahead, frames 8-11 of its clip see it, frames 0-7 never do."""
    model = make(head)
    x = video(24)
    y = x.clone()
    y[:, 12] += 5.0
    with torch.no_grad():
        a = model.forward_video(x, block_len=8).final
        b = model.forward_video(y, block_len=8).final
    torch.testing.assert_close(a[:, :8], b[:, :8])
    assert torch.allclose(a[:, 8:12], b[:, 8:12]) == (head == "causal_mstcn")
    assert not torch.allclose(a[:, 12:16], b[:, 12:16])


def test_clip_lookahead_needs_an_odd_kernel_and_brt_ignores_it():
    from svtas_ray.errors import ConfigError

    assert ModelConfig().clip_lookahead  # the default: labels emitted once the clip arrived
    ModelConfig(head="brt", clip_lookahead=True, kernel_size=4)  # brt: not used, accepted
    with pytest.raises(ConfigError, match="clip_lookahead"):
        ModelConfig(kernel_size=4, clip_lookahead=True)
    ModelConfig(kernel_size=4, clip_lookahead=False)


@pytest.mark.parametrize("head", HEADS)
def test_the_memory_carries_information_across_clips(head):
    model = make(head)
    x = video(16)
    y = x.clone()
    y[:, :8] += 5.0  # change only the first clip
    with torch.no_grad():
        a = model.forward_video(x, block_len=8).final
        b = model.forward_video(y, block_len=8).final
    assert not torch.allclose(a[:, 8:], b[:, 8:])


@pytest.mark.parametrize("head", HEADS)
def test_batch_rows_are_independent_and_state_helpers(head):
    model = make(head)
    x = video(20, batch=3)
    with torch.no_grad():
        both, state = stream(model, x, 8)
        alone, state1 = stream(model, x[1:2], 8)
        torch.testing.assert_close(both[-1][1:2], alone[-1], atol=1e-5, rtol=1e-4)
        for s, s1 in zip(select_state(state, [1]), state1, strict=True):
            torch.testing.assert_close(s, s1, atol=1e-5, rtol=1e-4)
        joined = cat_states([select_state(state, [0]), select_state(state, [1, 2])])
        for s, j in zip(state, joined, strict=True):
            assert torch.equal(s, j)
        fresh = model.initial_state(3)
        reset = reset_state(state, torch.tensor([False, True, False]), fresh)
        for s, r, f in zip(state, reset, fresh, strict=True):
            assert torch.equal(r[0], s[0]) and torch.equal(r[1], f[1]) and torch.equal(r[2], s[2])
    assert all(s.shape[0] == 3 for s in state)


def test_detach_state_cuts_the_graph_and_forward_chunk_equals_a_loop():
    model = make("brt")
    x = video(24, batch=2)
    out = model(x[:, :8], model.initial_state(2))
    assert any(s.requires_grad for s in out.state)
    assert not any(s.requires_grad for s in detach_state(out.state))
    with torch.no_grad():
        clips = x.view(2, 3, 8, DIM)
        mask = torch.ones(2, 3, 8, dtype=torch.bool)
        mask[1, 2, 5:] = False
        logits, values, state = model.forward_chunk(clips, model.initial_state(2), mask)
        s = model.initial_state(2)
        for k in range(3):
            o = model(clips[:, k], s, mask[:, k])
            s = o.state
            torch.testing.assert_close(logits[-1][:, k], o.final)
            torch.testing.assert_close(values[:, k], o.value)
    assert logits[-1].shape == (2, 3, 8, CLASSES) and values.shape == (2, 3)
    for a, b in zip(state, s, strict=True):
        torch.testing.assert_close(a, b)


def test_mask_must_be_a_prefix():
    model = make("causal_mstcn")
    mask = torch.tensor([[True, False, True, True]])
    with pytest.raises(ValueError, match="valid slots first"):
        model(video(4), model.initial_state(1), mask)
