"""Config -> module: the one place where a model's ``Literal`` choices become classes."""

from __future__ import annotations

from torch import nn

from svtas_ray.config import ModelConfig, OfflineTrainConfig
from svtas_ray.errors import ConfigError
from svtas_ray.models.asformer import ASFormer
from svtas_ray.models.brt import BRTHead
from svtas_ray.models.causal_tcn import CausalMSTCN
from svtas_ray.models.hold_gate import HoldGate
from svtas_ray.models.inputs import (
    TSMCNN,
    FeatureProjector,
    FrameEncoder,
    load_pretrained_trunk,
)
from svtas_ray.models.interface import InputEncoder, StreamingSegmenter, TemporalHead
from svtas_ray.models.offline import MSTCN, FramewiseLinear


def build_segmenter(
    cfg: ModelConfig, num_classes: int, input_shape: tuple[int, ...]
) -> StreamingSegmenter:
    """A streaming segmenter for clips whose slots have ``input_shape``.

    ``input_shape`` is one slot of the observation: ``(D,)`` for features, ``(H, W, 3)`` for
    frames (the environment's observation shape without the clip axis).
    """
    if num_classes < 1:
        raise ConfigError(f"a segmenter needs at least one class, got {num_classes}")
    encoder = build_encoder(cfg, input_shape)
    head = build_head(cfg, encoder.out_dim, num_classes)
    gate = HoldGate() if cfg.hold_gate else None
    return StreamingSegmenter(encoder, head, cfg.value_hidden, gate)


def build_encoder(cfg: ModelConfig, input_shape: tuple[int, ...]) -> InputEncoder:
    shape = tuple(int(n) for n in input_shape)
    match cfg.input:
        case "features":
            if len(shape) != 1:
                raise ConfigError(
                    f"model.input='features' needs slots of shape (D,), got {shape} "
                    "(frames? set model.input=frames)"
                )
            return FeatureProjector(
                shape[0], cfg.embed_dim, cfg.input_dropout, cfg.input_frame_dropout
            )
        case "frames":
            if len(shape) != 3 or shape[2] != 3:
                raise ConfigError(
                    f"model.input='frames' needs slots of shape (H, W, 3), got {shape} "
                    "(features? set model.input=features)"
                )
            size = (shape[0], shape[1])
            if cfg.backbone == "pretrained":
                assert cfg.pretrained_path is not None  # ModelConfig checks it
                trunk = load_pretrained_trunk(cfg.pretrained_path, size, cfg.shift_div)
            else:
                trunk = TSMCNN(cfg.backbone_width, cfg.shift_div)
            return FrameEncoder(
                trunk,
                size,
                cfg.embed_dim,
                cfg.input_dropout,
                freeze=cfg.freeze_backbone,
                frame_dropout=cfg.input_frame_dropout,
            )


def build_head(cfg: ModelConfig, in_dim: int, num_classes: int) -> TemporalHead:
    match cfg.head:
        case "causal_mstcn":
            return CausalMSTCN(
                in_dim,
                num_classes,
                cfg.hidden_dim,
                cfg.tcn_stages,
                cfg.tcn_layers,
                cfg.kernel_size,
                cfg.dropout,
                cfg.clip_lookahead,
            )
        case "brt":
            return BRTHead(
                in_dim,
                num_classes,
                cfg.hidden_dim,
                cfg.brt_blocks,
                cfg.brt_heads,
                cfg.state_len,
                cfg.attn_dropout,
                cfg.refine_stages,
                cfg.refine_layers,
                cfg.kernel_size,
                cfg.dropout,
            )


def build_offline(cfg: OfflineTrainConfig, num_classes: int, input_dim: int) -> nn.Module:
    """An offline model mapping ``(B, T, input_dim)`` to per-stage logits ``(B, T, C)``."""
    match cfg.model:
        case "mstcn":
            return MSTCN(
                input_dim, num_classes, cfg.num_stages, cfg.num_layers, cfg.hidden_dim, cfg.dropout
            )
        case "asformer":
            return ASFormer(
                input_dim,
                num_classes,
                cfg.num_stages,
                cfg.num_layers,
                cfg.hidden_dim,
                cfg.dropout,
                cfg.input_dropout,
            )
        case "linear":
            return FramewiseLinear(input_dim, num_classes, cfg.input_dropout)
