"""Typed, frozen settings for every part of svtas-ray.

Each section is a frozen dataclass validated in ``__post_init__``; a docstring under every field
says what it does. Configs round-trip through JSON (:func:`to_dict` / :func:`from_dict`, unknown
keys are errors) and accept dotted overrides from the command line (:func:`apply_overrides`,
``--set clip.clip_len=64``), converted to the field's annotated type. Nothing is ``eval``-ed.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from svtas_ray.errors import ConfigError

T = TypeVar("T")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True)
class DataConfig:
    """Where a dataset lives and how it is read."""

    root: str = "data/synthetic/gtea"
    """Dataset root in the MS-TCN layout (mapping.txt, groundTruth/, splits/, features/...)."""
    split: int = 1
    """Split number N: train/test lists are read from splits/{train,test}.splitN.bundle."""
    background: tuple[str, ...] = ("background",)
    """Class names whose segments the segmental metrics drop (EGTEA: ("None",); Breakfast: ())."""
    features_dir: str = "features"
    """Folder under the root holding <video>.npy (e.g. 'features/UpSkel' for HA4M)."""
    modality: Literal["features", "frames"] = "features"
    """Observations are pre-extracted features (features/<video>.npy) or RGB frames (videos/)."""
    frame_size: tuple[int, int] = (64, 64)
    """(height, width) that decoded frames are resized to in frames mode."""
    alignment: Literal["strict", "crop", "resample"] = "strict"
    """What to do when a feature file's length differs from its labels: 'strict' refuses;
    'crop' drops trailing feature frames beyond the label length (never pads); 'resample' maps
    label frames to feature frames by nearest index (features at another frame rate)."""

    def __post_init__(self) -> None:
        _require(self.split >= 1, f"data.split must be >= 1, got {self.split}")
        _require(
            len(self.frame_size) == 2 and min(self.frame_size) >= 8,
            f"data.frame_size must be (height, width) with both >= 8, got {self.frame_size}",
        )


@dataclass(frozen=True)
class ClipConfig:
    """How a video is cut into clips (upstream SVTAS defaults: GTEA 64x2, others 128x8)."""

    clip_len: int = 64
    """Sampled frames per clip: the length of one observation and of one action."""
    sample_rate: int = 2
    """Raw frames between two sampled frames; a clip covers clip_len * sample_rate raw frames."""

    def __post_init__(self) -> None:
        _require(self.clip_len >= 1, f"clip.clip_len must be >= 1, got {self.clip_len}")
        _require(self.sample_rate >= 1, f"clip.sample_rate must be >= 1, got {self.sample_rate}")


@dataclass(frozen=True)
class RewardConfig:
    """The reward the environment pays per clip (see svtas_ray/rewards.py)."""

    kind: Literal["segmental", "terminal", "dice", "dice_upstream", "accuracy"] = "segmental"
    """'segmental': potential-based Phi(prefix_t) - Phi(prefix_t-1) so the return is Phi(video);
    'terminal': Phi(video) at the last clip; 'dice' / 'dice_upstream': the SVTAS-RL code's
    beta1**dice + beta2 (over present classes / over all classes as upstream); 'accuracy'."""
    acc_weight: float = 0.0
    """Weight of frame accuracy (in [0, 1]) in Phi."""
    edit_weight: float = 0.5
    """Weight of the Edit score (in [0, 1]) in Phi."""
    f1_weights: tuple[float, float, float] = (0.0, 0.0, 0.5)
    """Weights of F1@{10, 25, 50} (each in [0, 1]) in Phi."""
    dice_beta1: float = 4.0
    """Base of the dice reward beta1**dice + beta2 (SVTAS-RL code)."""
    dice_beta2: float = 1.0
    """Offset of the dice reward beta1**dice + beta2 (SVTAS-RL code)."""

    def __post_init__(self) -> None:
        weights = (self.acc_weight, self.edit_weight, *self.f1_weights)
        _require(len(self.f1_weights) == 3, "reward.f1_weights needs 3 values (F1@10, @25, @50)")
        _require(min(weights) >= 0, f"reward weights must be >= 0, got {weights}")
        _require(
            self.kind not in ("segmental", "terminal") or sum(weights) > 0,
            "reward weights must not all be 0 for a segmental or terminal reward",
        )
        _require(self.dice_beta1 > 0, f"reward.dice_beta1 must be > 0, got {self.dice_beta1}")


@dataclass(frozen=True)
class SynthConfig:
    """A synthetic dataset in the MS-TCN layout (see svtas_ray/data/synthetic.py).

    The structure (classes, video lengths, segment counts, background share, splits) comes from the
    preset; the fields below scale it and set how hard the features are.
    """

    preset: Literal["gtea", "salads", "breakfast", "egtea"] = "gtea"
    """Which real dataset's label structure to reproduce."""
    num_videos: int | None = None
    """Number of videos (None: the preset's real count, e.g. 28 for GTEA)."""
    scale: float = 1.0
    """Multiplies video lengths (and so segment lengths); < 1 shrinks datasets for tests."""
    seed: int = 0
    """Seed of everything random: the same config writes byte-identical files."""
    feature_dim: int = 64
    """D of the (D, T) feature files."""
    videos: bool = False
    """Also render videos/<video>.mp4 (one visual pattern per class plus noise) for frames mode."""
    video_size: tuple[int, int] = (64, 64)
    """(height, width) of rendered videos."""
    # Difficulty of the features (prototype entries are N(0, 1); noise and offsets below are per
    # dimension at D=64 and scale with sqrt(D/64)). The defaults were calibrated so that on the gtea
    # preset a frame-wise linear classifier gets ~60 % accuracy and Edit ~10 (over-segmentation),
    # while temporal context recovers much more: the data must not be solvable frame by frame.
    confusion: float = 0.35
    """Distance within a confusable group of classes, as a fraction of that between classes."""
    order_only: bool = True
    """The preset's order-only classes share one prototype (only their context tells them apart)."""
    noise: float = 2.8
    """Standard deviation of the per-frame feature noise."""
    noise_corr: float = 0.6
    """AR(1) coefficient of the noise from frame to frame (0: white; near 1: slow drifts)."""
    segment_offset: float = 0.4
    """Standard deviation of each segment's random offset (no two instances look alike)."""
    video_offset: float = 0.5
    """Standard deviation of each video's random offset (a domain shift per video)."""
    video_gain: float = 0.15
    """Log-standard deviation of each video's random feature gain."""
    boundary_blur: int = 5
    """Frames over which features cross-fade at each segment boundary (1: sharp)."""

    def __post_init__(self) -> None:
        _require(
            self.num_videos is None or self.num_videos >= 2,
            f"synth.num_videos must be >= 2, got {self.num_videos}",
        )
        _require(self.scale > 0, f"synth.scale must be > 0, got {self.scale}")
        _require(self.feature_dim >= 2, f"synth.feature_dim must be >= 2, got {self.feature_dim}")
        _require(
            len(self.video_size) == 2 and min(self.video_size) >= 16,
            f"synth.video_size must be (height, width) with both >= 16, got {self.video_size}",
        )
        _require(
            self.video_size[0] % 2 == 0 and self.video_size[1] % 2 == 0,
            f"synth.video_size must be even (yuv420p), got {self.video_size}",
        )
        for name in ("confusion", "noise", "segment_offset", "video_offset", "video_gain"):
            value = getattr(self, name)
            _require(value >= 0, f"synth.{name} must be >= 0, got {value}")
        _require(
            0 <= self.noise_corr < 1, f"synth.noise_corr must be in [0, 1), got {self.noise_corr}"
        )
        _require(
            self.boundary_blur >= 1, f"synth.boundary_blur must be >= 1, got {self.boundary_blur}"
        )


@dataclass(frozen=True)
class EnvConfig:
    """One video = one episode of clips (envs.VideoSegmentationEnv)."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    """Which dataset, split and modality the episodes come from."""
    clip: ClipConfig = dataclasses.field(default_factory=ClipConfig)
    """How each video is cut into clips (one clip = one step)."""
    reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
    """What each step pays."""
    part: Literal["train", "test"] = "train"
    """Which part of the split supplies episodes."""
    videos: tuple[str, ...] = ()
    """An explicit subset of the part's videos (e.g. a validation subset); empty: all of them."""
    order: Literal["random", "sequential"] = "random"
    """'random': reset picks a video uniformly with the env's RNG; 'sequential': an ordered pass
    over the videos (evaluation), wrapping around."""
    context: int = 0
    """Frames of the previous clip(s) stacked before each clip, for stateless policies (0: off)."""

    def __post_init__(self) -> None:
        _require(self.context >= 0, f"env.context must be >= 0, got {self.context}")


# --------------------------------------------------------------------------- JSON round trip


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def to_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)


def save(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(to_json(cfg) + "\n")


def load(cls: type[T], path: str | Path) -> T:
    """Read a config of type ``cls`` from a JSON file; unknown keys are errors."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a JSON object")
    return from_dict(cls, data, where=str(path))


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config", prefix: str = "") -> T:
    """Build ``cls`` from a (nested) mapping, converting values to the annotated field types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = prefix + key
        if key not in names:
            raise ConfigError(f"{where}: unknown config key {dotted!r} (known: {sorted(names)})")
        kind = hints[key]
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {dotted!r} must be an object")
            kwargs[key] = from_dict(kind, value, where, dotted + ".")
        else:
            kwargs[key] = _coerce(value, kind, dotted, where)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- dotted overrides


def apply_overrides(cfg: T, overrides: Iterable[str]) -> T:
    """Return ``cfg`` with ``key.sub=value`` overrides applied (types follow the annotations).

    Values are parsed by type: ints, floats, bools (true/false/1/0/yes/no), strings, ``none`` for
    optional fields, and tuples as comma-separated items or a JSON list (``a,b`` or ``[1, 2]``).
    """
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        cfg = _set_path(cfg, key.split("."), raw.strip(), key)
    return cfg


def _set_path(obj: Any, path: list[str], raw: str, key: str) -> Any:
    if not dataclasses.is_dataclass(obj):
        raise ConfigError(f"unknown config key {key!r}: {path[0]!r} is not a section")
    names = [f.name for f in dataclasses.fields(obj)]
    name = path[0]
    if name not in names:
        raise ConfigError(f"unknown config key {key!r} (known here: {', '.join(names)})")
    if len(path) == 1:
        value = _coerce(_parse_raw(raw), typing.get_type_hints(type(obj))[name], key, "--set")
    else:
        value = _set_path(getattr(obj, name), path[1:], raw, key)
    return dataclasses.replace(obj, **{name: value})  # type: ignore[type-var]


def _parse_raw(raw: str) -> Any:
    """Command-line text to a JSON-like value: JSON lists/numbers/bools, else the string."""
    if raw[:1] == "[":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"cannot parse {raw!r} as a JSON list") from None
    return raw


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _coerce(value: Any, kind: Any, key: str, where: str) -> Any:
    """Convert a JSON or command-line value to the annotated type ``kind`` or raise ConfigError."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key!r} expects {expected}, got {value!r}")

    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
            raise bad("a value, not none")
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, where)
            except ConfigError:
                continue
        raise bad(" or ".join(getattr(a, "__name__", str(a)) for a in args))
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise bad("one of " + ", ".join(repr(c) for c in args))
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(value, str) and value.strip() == "":
            items = []
        if not isinstance(items, (list, tuple)):
            raise bad("a list")
        items = [i.strip() if isinstance(i, str) else i for i in items]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(i, args[0], key, where) for i in items)
        if len(items) != len(args):
            raise bad(f"{len(args)} comma-separated values")
        return tuple(_coerce(i, a, key, where) for i, a in zip(items, args, strict=True))
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise bad("true or false")
    if kind is int:
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        try:
            return int(str(value))
        except ValueError:
            raise bad("an integer") from None
    if kind is float:
        if isinstance(value, bool):
            raise bad("a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
    if kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad("a string")
    if dataclasses.is_dataclass(kind):
        raise ConfigError(f"{where}: {key!r} is a section; set one of its fields, e.g. {key}.x=1")
    raise ConfigError(f"{where}: {key!r} has a type ({kind}) that cannot be set from text")


__all__ = [
    "ClipConfig",
    "DataConfig",
    "EnvConfig",
    "RewardConfig",
    "SynthConfig",
    "apply_overrides",
    "from_dict",
    "load",
    "save",
    "to_dict",
    "to_json",
]
