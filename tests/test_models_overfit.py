"""Each head, and the frame backbone, can learn one short synthetic video (>= 95 % accuracy)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from svtas_ray.config import ModelConfig, SynthConfig
from svtas_ray.data.layout import Dataset
from svtas_ray.data.synthetic import generate
from svtas_ray.data.video import VideoSource
from svtas_ray.models.build import build_segmenter
from svtas_ray.models.interface import StreamingSegmenter
from svtas_ray.models.losses import segmentation_loss

CLIP = 16
SMALL = ModelConfig(
    embed_dim=32, hidden_dim=32, tcn_stages=2, tcn_layers=5, dropout=0.0, brt_blocks=1,
    brt_heads=2, state_len=4, attn_dropout=0.0, refine_stages=1, refine_layers=4,
    backbone_width=8, value_hidden=8,
)  # fmt: skip


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (T, D), frames (T, 32, 32, 3) and labels (T,) of one short rendered video."""
    cfg = SynthConfig(
        preset="gtea", num_videos=2, scale=0.07, feature_dim=16, videos=True, video_size=(32, 32)
    )
    root = generate(cfg, tmp_path_factory.mktemp("overfit") / "gtea")
    ds = Dataset.open(root)
    name = ds.videos()[0]
    labels = ds.labels(name)
    features = np.load(ds.feature_path(name)).T.astype(np.float32)
    frames = VideoSource(Path(ds.require_video_path(name)), (32, 32)).read(np.arange(len(labels)))
    assert 40 <= len(labels) <= 160 and len(np.unique(labels)) >= 3
    return features, frames, labels


def fit(model: StreamingSegmenter, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        out = model.forward_video(x[None], block_len=CLIP)  # the same function as streaming
        loss = segmentation_loss(out.logits, y[None])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def streamed_accuracy(model: StreamingSegmenter, x: np.ndarray, labels: np.ndarray) -> float:
    clips = [x[s : s + CLIP] for s in range(0, len(x), CLIP)]
    pred = np.concatenate(list(model.predict_stream(clips)))
    return float((pred == labels).mean())


@pytest.mark.parametrize("head", ["causal_mstcn", "brt"])
def test_head_learns_one_video(video, head):
    features, _, labels = video
    torch.manual_seed(0)
    model = build_segmenter(dataclasses.replace(SMALL, head=head), 11, (features.shape[1],))
    fit(model, torch.from_numpy(features), torch.from_numpy(labels), steps=120, lr=3e-3)
    assert streamed_accuracy(model, features, labels) >= 0.95


def test_frame_backbone_learns_one_rendered_video(video):
    _, frames, labels = video
    torch.manual_seed(0)
    cfg = dataclasses.replace(SMALL, input="frames", tcn_layers=4)
    model = build_segmenter(cfg, 11, frames.shape[1:])
    fit(model, torch.from_numpy(frames), torch.from_numpy(labels), steps=80, lr=3e-3)
    assert streamed_accuracy(model, frames, labels) >= 0.95
