"""Input encoders: pre-extracted features, or RGB frames through a small CNN with temporal shift.

- :class:`FeatureProjector`: features ``(B, L, D)`` -> ``(B, L, E)`` (a linear map; no state).
- :class:`FrameEncoder`: frames ``(B, L, H, W, 3)`` uint8 -> normalised -> a frame trunk ->
  ``(B, L, E)``. Trunks: :class:`TSMCNN`, a small 2-D CNN whose residual blocks shift part of their
  channels from the previous frame (TSM, Lin et al. ICCV 2019, in its online form: only from the
  past), trainable on a CPU at 64-112 px, optionally starting from a local state dict
  (:func:`load_pretrained_trunk`; nothing is downloaded, and a file whose loading can run code
  is refused); or any ``nn.Module`` built in Python, wrapped in :class:`ModuleTrunk`.

The TSM state is, per shift, the shifted channels of the last valid frame of the previous clip, so
the first frame of a clip is shifted exactly as in a pass over the whole video (zeros before the
first frame, as TSM's zero padding).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svtas_ray.errors import ConfigError
from svtas_ray.models.dropout import Dropout, FrameDropout
from svtas_ray.models.interface import InputEncoder, State, keep_last, module_dtype

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Frames are normalised with ImageNet statistics, what pretrained backbones expect."""


class FeatureProjector(InputEncoder):
    """Features ``(B, L, D)`` -> standardise -> frame dropout -> dropout -> linear ->
    ``(B, L, out_dim)``; stateless.

    Standardising uses the per-dimension mean and std of the training split
    (:meth:`set_normalization`, kept as buffers: they travel with the weights to every rollout
    worker and into every checkpoint, so features with another offset or scale need no tuning).
    Until set they are 0 and 1 (no change).
    """

    kind = "features"

    def __init__(
        self, input_dim: int, out_dim: int, dropout: float = 0.0, frame_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.input_shape = (input_dim,)
        self.out_dim = out_dim
        self.frame_dropout = FrameDropout(frame_dropout)
        self.dropout = Dropout(dropout)
        self.proj = nn.Linear(input_dim, out_dim)
        self.in_mean: Tensor
        self.in_std: Tensor
        self.register_buffer("in_mean", torch.zeros(input_dim))
        self.register_buffer("in_std", torch.ones(input_dim))

    def set_normalization(self, mean: np.ndarray | Tensor, std: np.ndarray | Tensor) -> None:
        """Standardise inputs with ``mean`` and ``std`` ``(D,)`` from now on."""
        self.in_mean.copy_(torch.as_tensor(mean, dtype=self.in_mean.dtype))
        self.in_std.copy_(torch.as_tensor(std, dtype=self.in_std.dtype))

    def initial_state(self, batch_size: int, device: torch.device) -> State:
        return ()

    def forward(self, clip: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        dtype = module_dtype(self)
        x = (clip.to(dtype) - self.in_mean.to(dtype)) / self.in_std.to(dtype)
        return self.proj(self.dropout(self.frame_dropout(x))), ()


# --------------------------------------------------------------------------- TSM trunk


def _conv_out(size: int) -> int:
    """Output size of a 3x3 convolution with stride 2 and padding 1."""
    return (size - 1) // 2 + 1


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (as many as divide ``channels``)."""
    return nn.GroupNorm(math.gcd(8, channels), channels)


class ShiftBlock(nn.Module):
    """Residual block: causal temporal shift -> conv3x3 (stride) -> GN -> ReLU -> conv3x3 -> GN.

    The shift is on the residual branch only ("residual shift", TSM §3.3). GroupNorm instead of
    BatchNorm: a frame's output must not depend on which other frames share its batch (streaming
    must equal a whole-video pass in train mode too).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, shift_div: int) -> None:
        super().__init__()
        self.shift = max(1, in_ch // shift_div)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.norm1 = group_norm(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.norm2 = group_norm(out_ch)
        self.skip = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), group_norm(out_ch)
        )

    def forward(
        self, x: Tensor, batch: int, cache: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """``x (B*L, C, h, w)``, ``cache (B, shift, h, w)`` -> output and next cache."""
        _, channels, height, width = x.shape
        frames = x.view(batch, -1, channels, height, width)
        moved = torch.cat([cache[:, None], frames[:, :, : self.shift]], dim=1)  # (B, L+1, s, h, w)
        shifted = torch.cat([moved[:, :-1], frames[:, :, self.shift :]], dim=2).flatten(0, 1)
        out = F.relu(self.norm1(self.conv1(shifted)))
        out = F.relu(self.norm2(self.conv2(out)) + self.skip(x))
        return out, keep_last(moved, 1, lengths, dim=1)[:, 0]


class TSMCNN(nn.Module):
    """Stem (conv3x3 stride 2) and three shift blocks (stride 2), widths w, 2w, 4w, 8w.

    Frames ``(B, L, 3, H, W)`` normalised -> per-frame features ``(B, L, 8w)`` (global average).
    State: one ``(B, channels // shift_div, h, w)`` cache per block.
    """

    def __init__(self, width: int = 16, shift_div: int = 8) -> None:
        super().__init__()
        self.width = width
        self.out_dim = 8 * width
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False), group_norm(width), nn.ReLU()
        )
        self.blocks = nn.ModuleList(
            ShiftBlock(width * 2**i, width * 2 ** (i + 1), 2, shift_div) for i in range(3)
        )
        self.shifts = [max(1, width * 2**i // shift_div) for i in range(3)]

    def initial_state(
        self, batch_size: int, device: torch.device, frame_size: tuple[int, int]
    ) -> State:
        height, width = _conv_out(frame_size[0]), _conv_out(frame_size[1])
        out = []
        for shift in self.shifts:
            out.append(torch.zeros(batch_size, shift, height, width, device=device))
            height, width = _conv_out(height), _conv_out(width)
        return tuple(s.to(module_dtype(self)) for s in out)

    def forward(self, frames: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        batch, length = frames.shape[:2]
        x = self.stem(frames.flatten(0, 1))
        caches = []
        for block, cache in zip(self.blocks, state, strict=True):
            x, cache = block(x, batch, cache, lengths)
            caches.append(cache)
        return x.mean(dim=(2, 3)).view(batch, length, -1), tuple(caches)


class ModuleTrunk(nn.Module):
    """A loaded module ``(N, 3, H, W) -> (N, F)`` applied to each frame; stateless."""

    def __init__(self, module: nn.Module, out_dim: int) -> None:
        super().__init__()
        self.module = module
        self.out_dim = out_dim

    def initial_state(
        self, batch_size: int, device: torch.device, frame_size: tuple[int, int]
    ) -> State:
        return ()

    def forward(self, frames: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        batch, length = frames.shape[:2]
        out = self.module(frames.flatten(0, 1))
        return out.reshape(batch, length, -1), ()


class FrameEncoder(InputEncoder):
    """RGB frames ``(B, L, H, W, 3)`` uint8 -> trunk -> linear -> ``(B, L, out_dim)``.

    ``freeze``: the trunk gets no gradient and stays in eval mode.
    """

    kind = "frames"

    def __init__(
        self,
        trunk: TSMCNN | ModuleTrunk,
        frame_size: tuple[int, int],
        out_dim: int,
        dropout: float = 0.0,
        freeze: bool = False,
        frame_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.trunk = trunk
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.input_shape = (*self.frame_size, 3)
        self.out_dim = out_dim
        self.freeze = freeze
        self.frame_dropout = FrameDropout(frame_dropout)
        self.dropout = Dropout(dropout)
        self.proj = nn.Linear(trunk.out_dim, out_dim)
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(3, 1, 1), persistent=False)
        if freeze:
            trunk.requires_grad_(False)
            trunk.eval()

    def train(self, mode: bool = True) -> FrameEncoder:
        super().train(mode)
        if self.freeze:
            self.trunk.eval()
        return self

    def initial_state(self, batch_size: int, device: torch.device) -> State:
        return self.trunk.initial_state(batch_size, device, self.frame_size)

    def forward(self, clip: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        """``clip (B, L, H, W, 3)`` uint8 (or float in [0, 255])."""
        dtype = self.proj.weight.dtype
        # contiguous: a channels-last view into conv2d crashed its single-thread CPU backward
        # (heap corruption) in torch 2.13.
        frames = clip.permute(0, 1, 4, 2, 3).contiguous().to(dtype) / 255.0
        frames = (frames - self.mean.to(dtype)) / self.std.to(dtype)
        feats, state = self.trunk(frames, state, lengths)
        return self.proj(self.dropout(self.frame_dropout(feats))), state


# --------------------------------------------------------------------------- pretrained


def load_pretrained_trunk(
    path: str | Path, frame_size: tuple[int, int], shift_div: int = 8
) -> TSMCNN:
    """A :class:`TSMCNN` trunk with weights from a local state dict; nothing is downloaded.

    The file must be a state dict of a TSMCNN (``torch.save(trunk.state_dict(), path)``), read
    with ``torch.load(weights_only=True)``; its width is read from the stem. ``torch.export``
    programs (``.pt2``) and TorchScript archives are refused: loading either can run code from
    the file (``torch.export.load`` unpickles without ``weights_only``, and a TorchScript
    ``__setstate__`` runs inside ``torch.jit.load``; tests/test_security.py pins one that would
    write a file). ``frame_size`` is unused: a TSMCNN takes frames of any size.

    Raises ConfigError naming the file when it is missing, refused or does not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pretrained backbone file not found (model.pretrained_path)")
    kind = _archive_kind(path)
    if kind != "state_dict":
        raise ConfigError(
            f"{path}: refused, because loading a {_KIND_NAMES[kind]} can run code from the file; "
            "save the trunk's weights with torch.save(trunk.state_dict(), 'trunk.pt') "
            "(a tsm_cnn state dict) and point model.pretrained_path at that file"
        )
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(
            f"{path}: not a torch state dict that loads with weights_only=True ({_first_line(exc)})"
        ) from None
    if isinstance(weights, dict) and "state_dict" in weights:
        weights = weights["state_dict"]
    if not isinstance(weights, dict) or not all(isinstance(v, Tensor) for v in weights.values()):
        raise ConfigError(f"{path}: expected a state dict of tensors (names -> tensors)")
    stem = weights.get("stem.0.weight")
    if stem is None or stem.dim() != 4:
        raise ConfigError(
            f"{path}: not a tsm_cnn state dict (no 'stem.0.weight'); save one with "
            "torch.save(trunk.state_dict())"
        )
    trunk = TSMCNN(int(stem.shape[0]), shift_div)
    own = trunk.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    wrong = [k for k in own if k in weights and weights[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        if missing:
            detail = f"missing {missing[:3]}"
        elif unexpected:
            detail = f"unexpected {unexpected[:3]}"
        else:
            key = wrong[0]
            detail = (
                f"{key} has shape {tuple(weights[key].shape)}, expected {tuple(own[key].shape)}"
            )
        raise ConfigError(
            f"{path}: state dict does not fit a tsm_cnn of width {stem.shape[0]}: {detail}"
        )
    trunk.load_state_dict(weights)
    return trunk


_KIND_NAMES = {"export": "torch.export program (.pt2)", "torchscript": "TorchScript archive"}


def _archive_kind(path: Path) -> Literal["export", "torchscript", "state_dict"]:
    """``.pt2`` or a torch.export zip: export; a zip with TorchScript code: TorchScript."""
    if path.suffix == ".pt2":
        return "export"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "state_dict"  # torch.load(weights_only=True) then refuses it, safely
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("/archive_format") or "serialized_exported_program" in n for n in names):
            return "export"
    return "state_dict"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1][:120]}" if lines else type(exc).__name__
