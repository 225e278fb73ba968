"""On a CUDA device: streaming equals the whole video, bf16 autocast trains, checkpoints move."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from svtas_ray.config import ModelConfig, TrainConfig
from svtas_ray.models.build import build_segmenter
from svtas_ray.models.checkpoint import load_segmenter, save_checkpoint
from svtas_ray.models.losses import segmentation_loss

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CUDA = torch.device("cuda")
SMALL = ModelConfig(
    embed_dim=32, hidden_dim=32, tcn_stages=2, tcn_layers=6, brt_heads=2, state_len=4,
    refine_stages=1, refine_layers=4, backbone_width=8, value_hidden=8,
)  # fmt: skip


def stream(model, x, clip_len):
    b, t = x.shape[:2]
    state = model.initial_state(b, x.device)
    outs = []
    for start in range(0, t, clip_len):
        clip = x[:, start : start + clip_len]
        n = clip.shape[1]
        mask = None
        if n < clip_len:
            clip = torch.cat([clip, clip[:, -1:].expand(b, clip_len - n, *clip.shape[2:])], 1)
            mask = (torch.arange(clip_len, device=x.device) < n)[None].expand(b, -1)
        out = model(clip, state, mask)
        state = out.state
        outs.append(out.final[:, :n])
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("head", ["causal_mstcn", "brt"])
@pytest.mark.parametrize("frames", [False, True])
def test_stream_equals_whole_video_on_cuda(head, frames):
    cfg = dataclasses.replace(SMALL, head=head, input="frames" if frames else "features")
    shape = (32, 32, 3) if frames else (16,)
    torch.manual_seed(0)
    model = build_segmenter(cfg, 7, shape).to(CUDA).eval()
    if frames:
        x = torch.randint(0, 256, (2, 45, *shape), dtype=torch.uint8, device=CUDA)
    else:
        x = torch.randn(2, 45, *shape, device=CUDA)
    assert all(s.device.type == "cuda" for s in model.initial_state(2))
    with torch.no_grad():
        whole = model.forward_video(x, block_len=16).final
        streamed = stream(model, x, 16)
    torch.testing.assert_close(streamed, whole, atol=2e-3, rtol=1e-3)  # TF32 convolutions


@pytest.mark.parametrize("head", ["causal_mstcn", "brt"])
def test_bf16_autocast_trains_and_streams(head):
    torch.manual_seed(0)
    model = build_segmenter(dataclasses.replace(SMALL, head=head), 7, (16,)).to(CUDA)
    y = ((torch.arange(64, device=CUDA) // 8) % 7)[None]  # segments of 8 frames
    prototypes = torch.randn(7, 16, device=CUDA)
    x = prototypes[y] + 0.5 * torch.randn(1, 64, 16, device=CUDA)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model.forward_video(x, block_len=16)
            loss = segmentation_loss(out.logits, y) + out.value.float().square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        whole = model.forward_video(x, block_len=16).final.float()
        streamed = stream(model, x, 16).float()
    assert (streamed.argmax(-1) == whole.argmax(-1)).float().mean() > 0.95


def test_bf16_weights_keep_a_bf16_state():
    model = build_segmenter(SMALL, 7, (16,)).to(CUDA, torch.bfloat16).eval()
    state = model.initial_state(3)
    assert all(s.dtype == torch.bfloat16 for s in state)
    with torch.no_grad():
        out = model(torch.randn(3, 8, 16, device=CUDA), state)
    assert out.final.shape == (3, 8, 7) and torch.isfinite(out.final.float()).all()


def test_a_cuda_checkpoint_loads_on_cpu(tmp_path):
    torch.manual_seed(0)
    model = build_segmenter(SMALL, 7, (16,)).to(CUDA).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, TrainConfig(model=SMALL), 7, (16,))
    loaded, _, _ = load_segmenter(path, 7, (16,), device="cpu")
    x = torch.randn(1, 20, 16)
    with torch.no_grad():
        a = model(x.to(CUDA), model.initial_state(1)).final.cpu()
        b = loaded.eval()(x, loaded.initial_state(1)).final
    torch.testing.assert_close(a, b, atol=2e-3, rtol=1e-3)
