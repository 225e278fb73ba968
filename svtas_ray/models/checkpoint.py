"""The one checkpoint format: a self-describing model, plus the training state beside it.

A checkpoint is one ``torch.save`` file holding only plain containers and tensors, read back with
``torch.load(weights_only=True)`` (loading never runs code)::

    {"format": "svtas-ray/model/2",
     "kind": "segmenter" | "offline",
     "config": {...},            # the whole run config: TrainConfig / OfflineTrainConfig
     "num_classes": C, "classes": [names] or None,
     "input_shape": [D] or [H, W, 3],   # one frame's observation
     "normalization": {...} or None,    # feature statistics of the training split, if used
     "extra": {...},                    # free-form facts (iteration, train seconds, ...)
     "state_dict": {...},               # the weights
     "train_state": {...} or None}      # optimiser, scheduler, RNG, counters: for --resume

The trainer and the offline baselines write it (:func:`save_checkpoint`); ``eval``, ``stream`` and
the benchmarks read it back with :func:`load_segmenter` / :func:`load_offline`, which check the
data the model is about to see (input shape, class count and names) and say in one sentence what
differs.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from svtas_ray.config import OfflineTrainConfig, TrainConfig, from_dict, to_dict
from svtas_ray.errors import ConfigError, DataError
from svtas_ray.models.build import build_offline, build_segmenter
from svtas_ray.models.interface import StreamingSegmenter

FORMAT = "svtas-ray/model/2"
Kind = Literal["segmenter", "offline"]


@dataclass(frozen=True)
class Checkpoint:
    """The contents of a checkpoint file (see the module docstring)."""

    path: Path
    kind: Kind
    config: dict[str, Any]
    num_classes: int
    input_shape: tuple[int, ...]
    classes: tuple[str, ...] | None
    normalization: dict[str, Any] | None
    extra: dict[str, Any]
    state_dict: dict[str, Tensor]
    train_state: dict[str, Any] | None

    @classmethod
    def read(cls, path: str | Path) -> Checkpoint:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(
                f"{path}: is a folder, not a checkpoint file (a run keeps its checkpoints in "
                "RUN/checkpoints/best.pt and last.pt)"
            )
        if not path.is_file():
            raise ConfigError(f"{path}: checkpoint file not found")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for corrupt or foreign files
            # Never repeat torch's advice (load with weights_only=False): that would run the code.
            if isinstance(exc, pickle.UnpicklingError) and "GLOBAL" in str(exc):
                raise ConfigError(
                    f"{path}: not a plain checkpoint (it holds Python objects besides tensors "
                    "and plain containers); refused without running anything in it"
                ) from None
            raise ConfigError(
                f"{path}: not a readable checkpoint (corrupt or not a torch file)"
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{path}: not an svtas-ray model checkpoint (format {FORMAT!r})")
        try:
            classes = data.get("classes")
            ckpt = cls(
                path,
                data["kind"],
                dict(data["config"]),
                int(data["num_classes"]),
                tuple(int(n) for n in data["input_shape"]),
                tuple(str(c) for c in classes) if classes is not None else None,
                data.get("normalization"),
                dict(data.get("extra") or {}),
                dict(data["state_dict"]),
                data.get("train_state"),
            )
        except KeyError as exc:
            raise ConfigError(f"{path}: a damaged checkpoint (no {exc} field)") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{path}: a damaged checkpoint (a field of the wrong type: {exc})"
            ) from None
        if ckpt.classes is not None and len(ckpt.classes) != ckpt.num_classes:
            raise ConfigError(
                f"{path}: a damaged checkpoint ({len(ckpt.classes)} class names for "
                f"{ckpt.num_classes} classes)"
            )
        return ckpt

    def check(
        self,
        num_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        """Raise DataError when the data the model is about to see does not fit it."""
        if input_shape is not None and tuple(input_shape) != self.input_shape:
            raise DataError(
                f"{self.path}: {_describe_shapes(self.input_shape, tuple(input_shape))}"
            )
        if classes is not None and num_classes is None:
            num_classes = len(classes)
        if num_classes is not None and num_classes != self.num_classes:
            raise DataError(
                f"{self.path}: the model was trained for {self.num_classes} classes but the "
                f"dataset has {num_classes} (its mapping.txt)"
            )
        if classes is not None and self.classes is not None and tuple(classes) != self.classes:
            i = next(
                i for i, (a, b) in enumerate(zip(self.classes, classes, strict=True)) if a != b
            )
            raise DataError(
                f"{self.path}: class {i} is {self.classes[i]!r} in the model but "
                f"{classes[i]!r} in the dataset's mapping.txt"
            )

    def load_weights(self, model: nn.Module) -> None:
        try:
            result = model.load_state_dict(self.state_dict, strict=False)
        except RuntimeError as exc:  # a shape differs
            detail = str(exc).strip().splitlines()[-1].strip()[:200]
            raise ConfigError(f"{self.path}: weights do not fit the model: {detail}") from None
        if result.missing_keys or result.unexpected_keys:
            raise ConfigError(
                f"{self.path}: weights do not fit the model its config builds (missing "
                f"{result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})"
            )


def _describe_shapes(trained: tuple[int, ...], data: tuple[int, ...]) -> str:
    if len(trained) == 1 and len(data) == 1:
        return (
            f"the model was trained on input dimension {trained[0]} but the data has dimension "
            f"{data[0]} (features (D, T) with D = {data[0]})"
        )
    if len(trained) == 3 and len(data) == 3:
        return (
            f"the model was trained on {trained[0]}x{trained[1]} frames but the data gives "
            f"{data[0]}x{data[1]} (set data.frame_size)"
        )
    kind = {1: "features", 3: "frames"}
    return (
        f"the model was trained on {kind.get(len(trained), str(trained))} "
        f"{trained} but the data gives {kind.get(len(data), str(data))} {data}"
    )


def save_checkpoint(
    path: str | Path,
    weights: nn.Module | Mapping[str, Tensor],
    config: TrainConfig | OfflineTrainConfig,
    num_classes: int,
    input_shape: Sequence[int],
    classes: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
    normalization: Mapping[str, Any] | None = None,
    train_state: Mapping[str, Any] | None = None,
) -> Path:
    """Write the weights and how to rebuild and check the model; atomic (temp file + rename),
    so a crash never leaves half a checkpoint. ``train_state`` holds what ``--resume`` needs."""
    state = weights.state_dict() if isinstance(weights, nn.Module) else weights
    payload = {
        "format": FORMAT,
        "kind": "segmenter" if isinstance(config, TrainConfig) else "offline",
        "config": to_dict(config),
        "num_classes": int(num_classes),
        "input_shape": [int(n) for n in input_shape],
        "classes": list(classes) if classes is not None else None,
        "normalization": dict(normalization) if normalization is not None else None,
        "extra": dict(extra or {}),
        "state_dict": {k: v.detach().cpu() for k, v in state.items()},
        "train_state": dict(train_state) if train_state is not None else None,
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the checkpoint ({exc.strerror or exc})") from None
    return path


def save_checkpoint_copy(source: Path, path: Path) -> Path:
    """Copy a checkpoint file (e.g. last.pt to best.pt) atomically."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the checkpoint ({exc.strerror or exc})") from None
    return path


def load_segmenter(
    path: str | Path,
    num_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
) -> tuple[StreamingSegmenter, TrainConfig, Checkpoint]:
    """Rebuild a streaming segmenter and its run config, checked against the data (a None
    argument is not checked)."""
    ckpt = _read(path, "segmenter")
    ckpt.check(num_classes, input_shape, classes)
    cfg = from_dict(TrainConfig, ckpt.config, where=str(ckpt.path))
    model = build_segmenter(cfg.model, ckpt.num_classes, ckpt.input_shape)
    ckpt.load_weights(model)
    return model.to(device), cfg, ckpt


def load_offline(
    path: str | Path,
    num_classes: int | None = None,
    input_dim: int | None = None,
    classes: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, OfflineTrainConfig, Checkpoint]:
    """Rebuild an offline baseline and check it against the data (any None is not checked)."""
    ckpt = _read(path, "offline")
    ckpt.check(num_classes, None if input_dim is None else (input_dim,), classes)
    cfg = from_dict(OfflineTrainConfig, ckpt.config, where=str(ckpt.path))
    model = build_offline(cfg, ckpt.num_classes, ckpt.input_shape[0])
    ckpt.load_weights(model)
    return model.to(device), cfg, ckpt


def _read(path: str | Path, kind: Kind) -> Checkpoint:
    ckpt = Checkpoint.read(path)
    if ckpt.kind != kind:
        raise ConfigError(
            f"{ckpt.path}: checkpoint of kind {ckpt.kind!r} where {kind!r} was expected "
            "('segmenter': streaming model; 'offline': svtas-ray baseline)"
        )
    return ckpt
