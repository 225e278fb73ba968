"""Typed, frozen settings for every part of svtas-ray.

Each section is a frozen dataclass validated in ``__post_init__``; a docstring under every field
says what it does. Configs round-trip through JSON (:func:`to_dict` / :func:`from_dict`, unknown
keys are errors; pydantic converts values to the annotated types) and take typed dotted overrides
(:func:`override`, ``override(cfg, {"algo.lr": 3e-4})``), validated once after all of them. Text
(``--set clip.clip_len=64``) is parsed only at the command line's edge. Nothing is ``eval``-ed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from svtas_ray.errors import ConfigError

T = TypeVar("T")


# --------------------------------------------------------------------------- named choices
# Every choice between implementations is one of these aliases; tuples of the names come from
# ``choices(Alias)``, so adding a choice is one edit here plus its ``match`` arm.

Preset = Literal["gtea", "salads", "breakfast", "egtea"]
Modality = Literal["features", "frames"]
Alignment = Literal["strict", "crop", "resample"]
RewardKind = Literal["segmental", "terminal", "dice", "dice_upstream", "accuracy"]
Head = Literal["causal_mstcn", "brt"]
Backbone = Literal["tsm_cnn", "pretrained"]
OfflineModel = Literal["mstcn", "asformer", "linear"]
AlgoKind = Literal["supervised", "ppo", "reinforce", "actor_critic", "paper_mc", "paper_td"]
RLlibOnlyKind = Literal["appo", "impala"]
"""Algorithm kinds only the RLlib engine runs (svtas_ray/rl/rllib.py): kept out of ``AlgoKind``,
whose names are the native objectives (benchmarks iterate over them)."""
AnyAlgoKind = Literal[AlgoKind, RLlibOnlyKind]
"""Every ``algo.kind`` (one flat Literal)."""
Engine = Literal["native", "rllib"]
Selection = Literal["last", "val"]
"""Which weights a run keeps (``TrainConfig.selection``)."""
RLLIB_ONLY_KINDS = ("appo", "impala")
RLLIB_KINDS = ("ppo", *RLLIB_ONLY_KINDS)
"""Algorithm kinds the RLlib engine runs."""
Baseline = Literal["value", "none", "self_critical", "mean_of_samples", "leave_one_out"]
SAMPLED_BASELINES = ("self_critical", "mean_of_samples", "leave_one_out")
"""Baselines scored from other decodes of the same clips (svtas_ray.rl.reward_baseline)."""
LrSchedule = Literal["constant", "cosine"]
Part = Literal["train", "test"]
Order = Literal["random", "sequential"]


def choices(alias: Any) -> tuple[str, ...]:
    """The names of a ``Literal`` alias, e.g. ``choices(AlgoKind)``."""
    return tuple(typing.get_args(alias))


_PYDANTIC = {"extra": "forbid"}
"""pydantic settings of every config dataclass (read by :func:`from_dict`): unknown keys fail."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True)
class DataConfig:
    """Where a dataset lives and how it is read."""

    __pydantic_config__ = _PYDANTIC

    root: str = "data/synthetic/gtea"
    """Dataset root in the MS-TCN layout (mapping.txt, groundTruth/, splits/, features/...)."""
    split: int = 1
    """Split number N: train/test lists are read from splits/{train,test}.splitN.bundle."""
    background: tuple[str, ...] = ("background",)
    """Class names whose segments the segmental metrics drop (EGTEA: ("None",); Breakfast: ())."""
    features_dir: str = "features"
    """Folder under the root holding <video>.npy (e.g. 'features/UpSkel' for HA4M)."""
    modality: Modality = "features"
    """Observations are pre-extracted features (features/<video>.npy) or RGB frames (videos/)."""
    frame_size: tuple[int, int] = (64, 64)
    """(height, width) that decoded frames are resized to in frames mode."""
    alignment: Alignment = "strict"
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

    __pydantic_config__ = _PYDANTIC

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

    __pydantic_config__ = _PYDANTIC

    kind: RewardKind = "segmental"
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
    parts: int = 1
    """Credit within a clip ('segmental' only): the env also pays the clip's reward as ``parts``
    consecutive pieces, each the change of Φ over its share of the clip's frames (they sum to the
    clip's reward), and a frame's advantage leaves out the pieces earned before its own
    (reward-to-go inside the clip; svtas_ray/rl/credit.py). 1: one reward for the whole clip."""

    def __post_init__(self) -> None:
        weights = (self.acc_weight, self.edit_weight, *self.f1_weights)
        _require(len(self.f1_weights) == 3, "reward.f1_weights needs 3 values (F1@10, @25, @50)")
        _require(min(weights) >= 0, f"reward weights must be >= 0, got {weights}")
        _require(
            self.kind not in ("segmental", "terminal") or sum(weights) > 0,
            "reward weights must not all be 0 for a segmental or terminal reward",
        )
        _require(self.dice_beta1 > 0, f"reward.dice_beta1 must be > 0, got {self.dice_beta1}")
        _require(self.parts >= 1, f"reward.parts must be >= 1, got {self.parts}")
        _require(
            self.parts == 1 or self.kind == "segmental",
            f"reward.parts > 1 splits the potential-based reward; set reward.kind=segmental "
            f"(got {self.kind!r}) or reward.parts=1",
        )


@dataclass(frozen=True)
class SynthConfig:
    """A synthetic dataset in the MS-TCN layout (see svtas_ray/data/synthetic.py).

    The structure (classes, video lengths, segment counts, background share, splits) comes from the
    preset; the fields below scale it and set how hard the features are.
    """

    __pydantic_config__ = _PYDANTIC

    preset: Preset = "gtea"
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

    __pydantic_config__ = _PYDANTIC

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    """Which dataset, split and modality the episodes come from."""
    clip: ClipConfig = dataclasses.field(default_factory=ClipConfig)
    """How each video is cut into clips (one clip = one step)."""
    reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
    """What each step pays."""
    part: Part = "train"
    """Which part of the split supplies episodes."""
    videos: tuple[str, ...] = ()
    """An explicit subset of the part's videos (e.g. a validation subset); empty: all of them."""
    order: Order = "random"
    """'random': reset picks a video uniformly with the env's RNG; 'sequential': an ordered pass
    over the videos (evaluation), wrapping around."""
    context: int = 0
    """Frames of the previous clip(s) stacked before each clip, for stateless policies (0: off)."""

    def __post_init__(self) -> None:
        _require(self.context >= 0, f"env.context must be >= 0, got {self.context}")


@dataclass(frozen=True)
class ModelConfig:
    """A streaming segmenter: input encoder, temporal head, value head (svtas_ray/models/)."""

    __pydantic_config__ = _PYDANTIC

    head: Head = "causal_mstcn"
    """'causal_mstcn': MS-TCN's multi-stage dilated TCN made causal (state: per-layer caches);
    'brt': the SVTAS-RL block-recurrent transformer (attention inside the clip, memory tokens
    across clips) with optional causal TCN refinement stages."""
    input: Modality = "features"
    """Clips of pre-extracted features (B, L, D) or of RGB frames (B, L, H, W, 3) uint8; must match
    data.modality."""
    backbone: Backbone = "tsm_cnn"
    """Frame backbone in frames mode: a small 2-D CNN with causal temporal shift trained from
    scratch, or a larger one loaded from ``pretrained_path``."""
    pretrained_path: str | None = None
    """Local file: a state dict of a tsm_cnn, read with ``torch.load(weights_only=True)``;
    torch.export .pt2 and TorchScript files are refused because loading them can run code.
    Nothing is ever downloaded."""
    freeze_backbone: bool = False
    """Keep the frame backbone's weights fixed (no gradient, eval mode)."""
    backbone_width: int = 16
    """Channels of the tsm_cnn stem; each of its three stages doubles them."""
    shift_div: int = 8
    """tsm_cnn shifts 1/shift_div of the channels from the previous frame (TSM's 1/8)."""
    embed_dim: int = 64
    """Width of the per-frame embedding the input encoder hands to the head."""
    input_dropout: float = 0.3
    """Dropout on the standardised input features (features mode) or the backbone's features
    (frames mode) before the projection (0 = off; ASFormer masks 0.3 of its input channels).
    In features mode 0.3 cut the raw model's flicker on each of the six datasets it was compared
    on: raw test Edit +2.6 to +8.8 and F1@50 +2.5 to +9.1, with the hold rule +0.1 to +4.9 Edit
    and +0.1 to +2.4 F1@50, Acc -1.1 to +0.3 (docs/learning.md, "Input dropout against
    flicker"). Frames mode was not measured with it."""
    input_frame_dropout: float = 0.0
    """Probability of dropping a whole input frame in training: all of its standardised features
    (features mode: 0 is the training split's mean) or its backbone features (frames mode) set
    to 0, before ``input_dropout``; kept frames are not rescaled (svtas_ray/models/dropout.py,
    FrameDropout). The head then has to label the dropped frames from their neighbours. 0 = off.
    0.3 cut the raw output's flicker on data with easy frames (two foreign-generator draws: raw
    Edit +6.6 to +10.9) but lost 1.9-7.3 Edit with the hold rule on the four presets
    (docs/learning.md, "Whole-frame input dropout"), so it is off by default and searched by the
    Tune sweep."""
    normalize_input: bool = True
    """Features mode: standardise every feature dimension with the mean and std of the training
    split (computed once, stored in the model and its checkpoint), so data with another offset
    or scale needs no tuning."""
    hidden_dim: int = 64
    """Channels of the TCN stages and d_model of the transformer (MS-TCN: 64)."""
    tcn_stages: int = 2
    """causal_mstcn: stages; stages 2+ refine the softmax of the previous one. MS-TCN uses 4;
    2 learn more within minutes of training (more optimiser steps per second; on the breakfast
    preset at 120 s, test Acc 85 vs 45: docs/learning.md)."""
    tcn_layers: int = 10
    """Dilated residual layers per TCN stage, dilations 1, 2, 4, ... (MS-TCN: 10)."""
    kernel_size: int = 3
    """Temporal kernel of the dilated convolutions; a layer caches (kernel-1)*dilation frames."""
    dropout: float = 0.5
    """Dropout inside the TCN layers (MS-TCN's 0.5); only active in train mode."""
    clip_lookahead: bool = True
    """causal_mstcn: centred convolutions that also see the rest of the frame's own clip (its
    labels are emitted when the clip has arrived, so no latency is added); memory of the past
    across clips as before. Needs an odd kernel_size; brt ignores it (its attention already spans
    the clip). Off: every frame sees only frames before it (lower latency, lower quality)."""
    hold_gate: bool = False
    """A learned hold/switch decision per frame (svtas_ray/models/hold_gate.py): the policy may
    repeat its previous label instead of drawing a new one, and the Edit/F1 reward trains when
    (the learned counterpart of the causal hold rule applied after training). Off here because
    engine='rllib' cannot run it; the experiments' protocols and ``make run`` turn it on
    (docs/learning.md, "The gate by default")."""
    brt_blocks: int = 2
    """brt: transformer blocks, each with its own memory tokens."""
    brt_heads: int = 4
    """brt: attention heads (hidden_dim must be divisible by it)."""
    state_len: int = 16
    """brt: memory tokens per block (the paper's state_len), each hidden_dim wide."""
    attn_dropout: float = 0.1
    """brt: dropout on attention weights and the feed-forward output."""
    refine_stages: int = 2
    """brt: causal dilated TCN stages refining the transformer's output (0 = none)."""
    refine_layers: int = 8
    """brt: dilated residual layers per refinement stage."""
    value_hidden: int = 64
    """Hidden units of the value head (mean-pooled clip features -> scalar)."""

    def __post_init__(self) -> None:
        for name in (
            "backbone_width",
            "embed_dim",
            "hidden_dim",
            "tcn_stages",
            "tcn_layers",
            "brt_blocks",
            "brt_heads",
            "state_len",
            "value_hidden",
        ):
            value = getattr(self, name)
            _require(value >= 1, f"model.{name} must be >= 1, got {value}")
        _require(self.kernel_size >= 2, f"model.kernel_size must be >= 2, got {self.kernel_size}")
        _require(
            not self.clip_lookahead or self.head != "causal_mstcn" or self.kernel_size % 2 == 1,
            "model.clip_lookahead needs an odd model.kernel_size (centred taps), got "
            f"{self.kernel_size}; or set model.clip_lookahead=false",
        )
        _require(self.shift_div >= 2, f"model.shift_div must be >= 2, got {self.shift_div}")
        _require(
            self.refine_stages >= 0, f"model.refine_stages must be >= 0, got {self.refine_stages}"
        )
        _require(
            self.refine_layers >= 1, f"model.refine_layers must be >= 1, got {self.refine_layers}"
        )
        for name in ("input_dropout", "input_frame_dropout", "dropout", "attn_dropout"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"model.{name} must be in [0, 1), got {value}")
        _require(
            self.hidden_dim % self.brt_heads == 0,
            f"model.hidden_dim ({self.hidden_dim}) must be divisible by model.brt_heads "
            f"({self.brt_heads})",
        )
        _require(
            self.input != "frames" or self.backbone != "pretrained" or bool(self.pretrained_path),
            "model.backbone='pretrained' needs model.pretrained_path (a local file)",
        )


@dataclass(frozen=True)
class OfflineTrainConfig:
    """An offline TAS baseline trained on whole videos (``svtas-ray baseline train``)."""

    __pydantic_config__ = _PYDANTIC

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    """Dataset, split and background classes (features only)."""
    model: OfflineModel = "mstcn"
    """'mstcn': bidirectional multi-stage TCN (Farha & Gall 2019); 'asformer': encoder + decoders
    with dilated local attention (Yi et al. 2021); 'linear': a frame-wise linear classifier."""
    num_stages: int = 4
    """mstcn: stages (4); asformer: 1 encoder + num_stages - 1 decoders (paper: 1 + 3)."""
    num_layers: int = 10
    """Dilated layers per stage / encoder / decoder (both papers: 10)."""
    hidden_dim: int = 64
    """Channels of every stage (both papers: 64)."""
    dropout: float = 0.5
    """Dropout inside the layers (MS-TCN: 0.5; ASFormer uses the same value)."""
    input_dropout: float = 0.0
    """Channel dropout on the input features (ASFormer's channel masking: 0.3; MS-TCN: none)."""
    epochs: int = 50
    """Passes over the training videos, one full video per step (MS-TCN on GTEA: 50)."""
    lr: float = 5e-4
    """Adam learning rate (MS-TCN and ASFormer: 5e-4)."""
    weight_decay: float = 0.0
    """Adam weight decay."""
    smooth_weight: float = 0.15
    """Weight of the truncated-MSE smoothing loss (MS-TCN: 0.15; 0 = cross-entropy only)."""
    smooth_tau: float = 4.0
    """Truncation of the smoothing loss: squared log-probability jumps are clamped to tau**2."""
    sample_rate: int = 1
    """Train and predict on every sample_rate-th frame (MS-TCN uses 2 on 50Salads), predictions
    expanded back to every frame."""
    naive_clip_len: int = 64
    """Sampled frames per clip when the offline model is run clip by clip (naive streaming)."""
    seed: int = 0
    """Seed of weight init, dropout and the video order: the same seed gives the same run."""

    def __post_init__(self) -> None:
        positive = ("num_stages", "num_layers", "hidden_dim", "epochs", "sample_rate")
        for name in (*positive, "naive_clip_len"):
            value = getattr(self, name)
            _require(value >= 1, f"train.{name} must be >= 1, got {value}")
        for name in ("dropout", "input_dropout"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"train.{name} must be in [0, 1), got {value}")
        _require(self.lr > 0, f"train.lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "smooth_weight"):
            value = getattr(self, name)
            _require(value >= 0, f"train.{name} must be >= 0, got {value}")
        _require(self.smooth_tau > 0, f"train.smooth_tau must be > 0, got {self.smooth_tau}")


@dataclass(frozen=True)
class AlgoConfig:
    """Which training objective and its hyperparameters (see svtas_ray/rl/algorithms.py)."""

    __pydantic_config__ = _PYDANTIC

    kind: AnyAlgoKind = "ppo"
    """'supervised': CE + smoothing only; 'ppo': per-frame clipped ratio with GAE over clips;
    'reinforce': Monte-Carlo returns with a baseline (`baseline`); 'actor_critic': one-step TD;
    'paper_mc' / 'paper_td': the SVTAS-RL code's dice-weighted CE, one optimiser step per chunk
    (a video when chunk_clips covers it) / per clip; 'appo' / 'impala': RLlib's (engine=rllib)."""
    lr: float = 3e-3
    """Adam's peak learning rate (after the warm-up; see ``lr_schedule``)."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): every step multiplies the
    weights by ``1 - lr * weight_decay``, apart from Adam's gradient normalisation. As an L2 term
    inside Adam's gradient instead, 0.05 stopped the recipe learning (docs/learning.md)."""
    lr_decay: float = 1.0
    """Multiplies the learning rate after every update (1: off)."""
    rl_lr_scale: float = 1.0
    """Multiplies the learning rate of the RL kinds' updates after the supervised pre-training
    (RL fine-tuning of a pre-trained policy usually steps far smaller than its pre-training;
    docs/learning.md, "What the segmental reward tells a frame")."""
    gamma: float = 0.99
    """Discount over clips."""
    gae_lambda: float = 0.95
    """GAE lambda (ppo)."""
    clip: float = 0.2
    """PPO epsilon of the per-frame ratio."""
    epochs: int = 2
    """Passes over each iteration's batch for 'ppo' (its clipped ratio keeps later passes
    honest) and 'supervised' (labels do not go stale); the other kinds are on-policy: 1 pass."""
    minibatches: int = 2
    """Minibatches per pass, each a subset of the chunks and one optimiser step (every kind):
    several small steps per collected batch learn far more per second than one large step."""
    window_clips: int = 1
    """Clips of a replayed chunk per optimiser step (0: the whole chunk): the chunk is replayed
    window by window from its stored start state, the memory carried (detached) from one window
    to the next, so a chunk of K clips gives K / window_clips small steps instead of one."""
    lr_schedule: LrSchedule = "cosine"
    """After the warm-up: constant, or cosine decay to 0 over the run (its progress is the largest
    of iterations done / ``iterations``, seconds spent / ``time_budget_s`` and epochs done /
    ``max_epochs``)."""
    pretrain_iterations: int = 30
    """Supervised pre-training: the first this many updates optimise CE + smoothing only, then
    ``kind``'s objective takes over with CE kept as its auxiliary term (cross-entropy first, then
    the metric reward, as in self-critical sequence training, Rennie et al. 2017). An RL
    objective started from a random policy spends minutes finding what CE finds in seconds."""
    warmup_steps: int = 20
    """Optimiser steps over which the learning rate rises linearly from lr/warmup_steps to lr
    (0: off); Adam's first steps on a fresh model are otherwise its least reliable."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    ce_coef: float = 1.0
    """Weight of the cross-entropy on the labels from info: of ``supervised``'s objective, and of
    the auxiliary CE term the RL kinds keep after their pre-training (which runs at weight 1)."""
    smooth_coef: float = 0.15
    """Weight of the truncated-MSE smoothing loss (MS-TCN's 0.15)."""
    policy_dropout: bool = True
    """RL kinds: whether the policy terms (log-probabilities, entropy, values) see the model's
    dropout, as the CE and smoothing terms do. The rollout workers act without dropout, so with
    dropout the ratio of 'ppo' compares two different networks (its first pass's ratio is not 1).
    False computes the policy terms on a second replay with dropout off, the network that acted
    (the supervised terms keep dropout); it costs that replay (docs/learning.md). Native engine
    only: RLlib's learner runs its updates in train mode (docs/rllib.md)."""
    label_smoothing: float = 0.0
    """Label smoothing ε of the cross-entropy term (every kind): targets ``1 - ε`` on the label
    and ``ε / C`` on each class (0: off; docs/learning.md)."""
    gate_ce_coef: float = 1.0
    """With ``model.hold_gate``: weight of the gate's own cross-entropy at the frames where exactly
    one of holding the previous label and switching to the arg-max is right (the reward then
    refines the decision; svtas_ray/models/hold_gate.py). 0: the gate learns from the reward
    alone."""
    ema_decay: float = 0.0
    """Exponential moving average of the weights, per optimiser step (0: off): validation, model
    selection, checkpoints and evaluation use the average, rollouts the live weights. Its decay
    warms up as ``min(ema_decay, (1 + n) / (10 + n))`` after n steps, so early averages follow the
    weights closely. ~0.997 averages over the last few hundred steps (Polyak averaging)."""
    baseline: Baseline = "value"
    """Baseline of 'reinforce': the value head, none, 'self_critical': the return the greedy
    (arg-max) segmentation of the same clips earns under the same weights (Rennie et al. 2017), or
    'mean_of_samples': the mean return of ``baseline_samples`` further sampled segmentations of
    the same clips (Kool et al. 2019), or 'leave_one_out': ``baseline_samples`` further samples
    that are trained too, each decode against the mean return of the others (RLOO, Kool et al.
    2019), so a rollout yields 1 + baseline_samples sampled segmentations of every clip for one
    forward pass. The sampled baselines' returns are not bootstrapped where a chunk cuts a video,
    so let chunk_clips cover one."""
    baseline_samples: int = 4
    """Extra sampled segmentations per clip for ``baseline='mean_of_samples'`` or
    ``'leave_one_out'``."""
    act_dropout: bool = False
    """Rollout workers act with the model's dropout layers on (input dropout and each
    TCN layer's, with masks from a seeded generator per worker), as the learner trains, instead
    of the deterministic network. Once the training videos are fit, the deterministic policy's
    rollouts on them score near 100 and the segmental reward stops telling decodes apart; with
    dropout they flicker the way unseen videos do, and the reward trains the policy to stay
    steady under that noise (docs/learning.md). Validation and evaluation stay deterministic.
    With ``model.hold_gate`` the gate's cross-entropy follows these rollouts' labels, so it also
    changes what ``supervised`` learns. On in the experiments' protocols and ``make run``."""
    noise_frames: int = 1
    """Exploration coherent in time: how many consecutive frames of a clip share one Gumbel draw
    when a rollout worker samples (0: the whole clip). Each frame's label is the arg-max of its
    log-probabilities plus the noise of its group, so every frame's marginal is still its own
    categorical (the stored log-probabilities and PPO's ratio are unchanged), but the frames of
    a group move together: a sample relabels whole ambiguous stretches instead of flickering
    frame by frame, as exploration with temporally correlated noise does in continuous control
    (gSDE, Raffin et al. 2022; coloured noise, Eberhard et al. 2023). 1: independent frames."""
    normalize_advantages: bool = True
    """Standardise advantages over the batch (ppo, reinforce, actor_critic)."""
    reward_trains: Literal["policy", "gate"] = "policy"
    """RL kinds: what the policy-gradient terms (ratio or log-probability, and entropy) train.
    'policy': the whole policy, class logits and hold gate; 'gate' (needs ``model.hold_gate``):
    the hold gate alone, so the class logits learn from the cross-entropy only and the reward
    decides hold or switch, a few parameters whose gradient pools every frame of the batch
    (docs/learning.md, "What the segmental reward tells a frame")."""
    grad_clip: float = 1.0
    """Global gradient-norm clip (0: off)."""
    chunk_clips: int = 8
    """K consecutive clips per trajectory chunk a rollout worker returns per env."""
    bptt: int = 0
    """Truncated BPTT: detach the memory every this many clips when replaying a chunk (0: never)."""
    staleness: int = 0
    """Asynchronous sampling: rollouts kept in flight while the learners update, so each update
    learns from chunks sampled with weights up to this many updates old (0: the synchronous loop,
    sample then learn). PPO corrects for the lag with its clipped ratio against the stored
    behaviour log-probabilities; the other kinds use the stale chunks as they are."""

    def __post_init__(self) -> None:
        _require(self.lr > 0, f"algo.lr must be > 0, got {self.lr}")
        _require(0 < self.lr_decay <= 1, f"algo.lr_decay must be in (0, 1], got {self.lr_decay}")
        _require(0 <= self.gamma <= 1, f"algo.gamma must be in [0, 1], got {self.gamma}")
        _require(
            0 <= self.gae_lambda <= 1, f"algo.gae_lambda must be in [0, 1], got {self.gae_lambda}"
        )
        _require(self.clip > 0, f"algo.clip must be > 0, got {self.clip}")
        _require(self.epochs >= 1, f"algo.epochs must be >= 1, got {self.epochs}")
        _require(self.minibatches >= 1, f"algo.minibatches must be >= 1, got {self.minibatches}")
        _require(self.warmup_steps >= 0, f"algo.warmup_steps must be >= 0, got {self.warmup_steps}")
        for name in ("weight_decay", "vf_coef", "ent_coef", "ce_coef", "smooth_coef", "grad_clip"):
            value = getattr(self, name)
            _require(value >= 0, f"algo.{name} must be >= 0, got {value}")
        _require(
            0 <= self.label_smoothing < 1,
            f"algo.label_smoothing must be in [0, 1), got {self.label_smoothing}",
        )
        _require(self.chunk_clips >= 1, f"algo.chunk_clips must be >= 1, got {self.chunk_clips}")
        _require(self.bptt >= 0, f"algo.bptt must be >= 0, got {self.bptt}")
        _require(self.staleness >= 0, f"algo.staleness must be >= 0, got {self.staleness}")
        _require(0 <= self.ema_decay < 1, f"algo.ema_decay must be in [0, 1), got {self.ema_decay}")
        _require(
            self.baseline not in SAMPLED_BASELINES or self.kind == "reinforce",
            f"algo.baseline={self.baseline!r} applies to algo.kind='reinforce', not {self.kind!r}",
        )
        _require(self.rl_lr_scale > 0, f"algo.rl_lr_scale must be > 0, got {self.rl_lr_scale}")
        _require(
            self.baseline_samples >= 1,
            f"algo.baseline_samples must be >= 1, got {self.baseline_samples}",
        )
        _require(self.noise_frames >= 0, f"algo.noise_frames must be >= 0, got {self.noise_frames}")


@dataclass(frozen=True)
class ResourceConfig:
    """How many Ray actors of each kind and what each reserves."""

    __pydantic_config__ = _PYDANTIC

    num_workers: int = 1
    """W rollout worker actors."""
    envs_per_worker: int = 8
    """E environments stepped together (batched inference) inside each rollout worker. Each
    optimiser step trains on E / ``algo.minibatches`` rows, so E also sets the step's size. 8
    against 4, test Edit with the hold rule: +0.5 to +3.5 on the foreign generator and the
    breakfast preset, -1.3 to +1.7 on gtea, salads and egtea (docs/learning.md)."""
    num_learners: int = 1
    """L learner actors; L > 1 averages gradients over a torch.distributed group (gloo/nccl)."""
    gpus_per_learner: float = 0.0
    """GPUs each learner reserves (0: CPU); with a GPU the learner uses bf16 autocast."""
    gpus_per_worker: float = 0.0
    """GPUs each rollout worker reserves (for heavy frame backbones)."""
    cpus_per_worker: float = 1.0
    """CPUs each rollout worker reserves."""
    cpus_per_learner: float = 1.0
    """CPUs each learner reserves."""
    rollout_resource: str = ""
    """A custom node resource rollout workers require 0.01 of (e.g. 'rollout_node'); '': none."""
    torch_threads: int = 1
    """torch intra-op threads in each actor (1 avoids oversubscribing small machines)."""
    num_cpus: int | None = None
    """CPUs of the embedded cluster started when RAY_ADDRESS is unset (None: all)."""

    def __post_init__(self) -> None:
        for name in ("num_workers", "envs_per_worker", "num_learners", "torch_threads"):
            value = getattr(self, name)
            _require(value >= 1, f"resources.{name} must be >= 1, got {value}")
        for name in ("gpus_per_learner", "gpus_per_worker", "cpus_per_worker", "cpus_per_learner"):
            value = getattr(self, name)
            _require(value >= 0, f"resources.{name} must be >= 0, got {value}")
        _require(
            self.num_cpus is None or self.num_cpus >= 1,
            f"resources.num_cpus must be >= 1, got {self.num_cpus}",
        )


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; saved as config.json in its run directory."""

    __pydantic_config__ = _PYDANTIC

    name: str = "gtea"
    """Run name: the run directory is <runs_dir>/<name>/<timestamp>/."""
    runs_dir: str = "runs"
    """Where run directories are created."""
    seed: int = 0
    """Seed of the model initialisation, the environments and the validation subset."""
    engine: Engine = "native"
    """'native': the Ray Core trainer (svtas_ray/rl/trainer.py); 'rllib': the same env and
    segmenter on RLlib's PPO/APPO/IMPALA (svtas_ray/rl/rllib.py, docs/rllib.md)."""
    iterations: int = 20
    """Training iterations (one rollout + one update each)."""
    time_budget_s: float = 0.0
    """Stop after this many seconds of training even before `iterations` (0: no budget)."""
    max_epochs: float = 15.0
    """Stop after this many passes over the fitting videos' clips (env steps / their clips), even
    before `iterations` or the time budget (0: no cap); the cosine schedule decays over whichever
    limit comes first (svtas_ray/rl/budget.py). Without it a time budget buys ever more passes
    over a small dataset on a faster machine: on two GTEA-sized datasets 15 passes scored 3-13
    Edit and F1@50 above the ~45 that 120 s bought here, and on two Breakfast-structured ones it
    was within the seeds' spread (docs/learning.md). Never before `min_iterations`."""
    min_iterations: int = 60
    """`max_epochs` stops a run no earlier than this iteration (`iterations` and the time budget
    still do): on a tiny dataset the passes come fast, e.g. 15 passes over one 2,500-frame video
    at clips of 64 x 2 are 10 iterations, too few updates to learn from (docs/learning.md)."""
    eval_every: int = 5
    """Evaluate on the validation subset every this many iterations (and after the last)."""
    val_videos: int | None = None
    """Training videos carved out as the validation subset (model selection and the hold rule's
    tuning; never the test split). None: a tenth of the training videos, at least 2 and at most
    8 (on 2 videos the best of many validation rounds is often a lucky spike; docs/learning.md).
    0: no validation, the best checkpoint is the last."""
    selection: Selection = "last"
    """Which weights the run keeps as ``checkpoints/best.pt`` (tested, tuned with the hold rule,
    loaded by ``eval`` and ``stream``): 'last': the final weights (the cosine schedule has
    decayed the learning rate to ~1 % by then; validation still tunes the hold rule and is
    logged); 'val': the weights of the best validation score. Over 81 finished recipe runs on
    four datasets, the last weights with their own hold rule scored +2.3 Edit / +2.7 F1@50 above
    the validation-selected ones: selection on a few videos often picks an earlier, less trained
    checkpoint (docs/learning.md). Prefer 'val' with a constant learning rate."""
    hold_tuning_draws: int = 3
    """How the validation videos are streamed to tune the causal hold rule at the end of a run:
    K > 0, K times with the model's dropout layers on (each a seeded random draw), the rule
    tuned on all K streams together; 0, once, deterministically. Validation videos come from
    the training split (same subjects and scenes as the fitted ones), so their deterministic
    streams are cleaner than unseen videos' (sometimes perfect, tying every setting) and
    the rule tuned there holds too little on the test videos. Re-scoring 39 runs on six
    datasets, 3 perturbed streams moved test Acc / Edit / F1@50 with the rule by -0.7 / +1.2 /
    +0.2 on average (Edit 0.0 to +2.4 per dataset and algorithm; docs/learning.md)."""
    test_at_end: bool = True
    """Evaluate the final and best models on the test split after training."""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    """Dataset, split and modality."""
    clip: ClipConfig = dataclasses.field(default_factory=ClipConfig)
    """How videos are cut into clips."""
    reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
    """The environment's reward."""
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    """The streaming segmenter."""
    algo: AlgoConfig = dataclasses.field(default_factory=AlgoConfig)
    """The objective and its hyperparameters."""
    resources: ResourceConfig = dataclasses.field(default_factory=ResourceConfig)
    """Actors and what they reserve."""

    def __post_init__(self) -> None:
        _require(bool(self.name.strip()), "name must not be empty")
        _require(self.iterations >= 0, f"iterations must be >= 0, got {self.iterations}")
        _require(self.time_budget_s >= 0, f"time_budget_s must be >= 0, got {self.time_budget_s}")
        _require(self.max_epochs >= 0, f"max_epochs must be >= 0, got {self.max_epochs}")
        _require(
            self.min_iterations >= 0, f"min_iterations must be >= 0, got {self.min_iterations}"
        )
        _require(self.eval_every >= 1, f"eval_every must be >= 1, got {self.eval_every}")
        _require(
            self.val_videos is None or self.val_videos >= 0,
            f"val_videos must be >= 0, got {self.val_videos}",
        )
        _require(
            self.hold_tuning_draws >= 0,
            f"hold_tuning_draws must be >= 0, got {self.hold_tuning_draws}",
        )
        _require(
            self.engine == "rllib" or self.algo.kind not in RLLIB_ONLY_KINDS,
            f"algo.kind={self.algo.kind!r} runs on RLlib only; set engine=rllib",
        )
        _require(
            self.engine == "native" or self.algo.kind in RLLIB_KINDS,
            f"engine='rllib' runs algo.kind ppo, appo or impala, not {self.algo.kind!r}",
        )
        native_only = {
            "model.hold_gate=false": self.model.hold_gate,
            "algo.noise_frames=1": self.algo.noise_frames != 1,
            "algo.act_dropout=false": self.algo.act_dropout,
            "algo.ema_decay=0": self.algo.ema_decay != 0,
            "reward.parts=1": self.reward.parts != 1,
        }
        fixes = [fix for fix, on in native_only.items() if on]
        _require(
            self.engine == "native" or not fixes,
            "engine='rllib' runs neither the hold gate, coherent or dropout exploration, a "
            "weight average nor credit within a clip (its policy samples every frame on its own, "
            "in inference mode, and its advantages are per clip); set " + ", ".join(fixes),
        )
        _require(
            not (self.model.hold_gate and self.algo.noise_frames != 1),
            "model.hold_gate samples its own hold/switch decisions; set algo.noise_frames to 1",
        )
        _require(
            self.model.input == self.data.modality,
            f"model.input ({self.model.input!r}) must match data.modality ({self.data.modality!r})",
        )
        _require(
            not (self.model.hold_gate and self.algo.baseline in SAMPLED_BASELINES),
            f"model.hold_gate does not combine with algo.baseline={self.algo.baseline!r} (the "
            "gate's decisions depend on each decode's own past labels); use baseline=value",
        )
        _require(
            self.algo.reward_trains == "policy" or self.model.hold_gate,
            "algo.reward_trains='gate' trains the hold gate alone; set model.hold_gate=true",
        )
        _require(
            self.reward.parts <= self.clip.clip_len,
            f"reward.parts ({self.reward.parts}) must be at most clip.clip_len "
            f"({self.clip.clip_len}): each part needs a frame",
        )
        _require(
            self.reward.parts == 1 or self.algo.baseline not in SAMPLED_BASELINES,
            f"reward.parts > 1 does not combine with algo.baseline={self.algo.baseline!r} (its "
            "decodes are scored per clip); use baseline=value",
        )

    def env(
        self,
        part: Part = "train",
        videos: tuple[str, ...] = (),
        order: Order = "random",
    ) -> EnvConfig:
        """The environment settings of this run for one part / video subset."""
        return EnvConfig(
            data=self.data,
            clip=self.clip,
            reward=self.reward,
            part=part,
            videos=videos,
            order=order,
        )


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
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a JSON config file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file (a JSON config was expected)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a JSON object")
    return from_dict(cls, data, where=str(path))


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build ``cls`` from a (nested) mapping.

    pydantic validates and converts every value to its annotated type (lists to tuples, numeric
    strings to numbers, literals checked), then each ``__post_init__`` check runs once. Any
    problem is one :class:`ConfigError` sentence naming ``where`` and the dotted key.
    """
    from pydantic import ValidationError

    try:
        return _adapter(cls).validate_python(dict(data))  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(cls, exc)}") from None


@functools.cache
def _adapter(cls: type) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def _describe(cls: type, exc: Any) -> str:
    """The first pydantic error as one sentence naming the dotted key."""
    err = exc.errors(include_url=False)[0]
    key = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"])
    if err["type"] == "value_error":  # raised by a __post_init__ check: already a sentence
        return msg.removeprefix("Value error, ")
    if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"unknown config key {key!r} (known: {', '.join(_field_names(cls, key))})"
    if err["type"] == "literal_error":
        return f"{key!r} must be {msg.removeprefix('Input should be ')}, got {err['input']!r}"
    return f"{key!r} expects {msg.removeprefix('Input should be ')}, got {err['input']!r}"


def _field_names(cls: type, dotted: str) -> list[str]:
    """Field names of the section that holds ``dotted``."""
    for part in dotted.split(".")[:-1]:
        hints = typing.get_type_hints(cls)
        if part not in hints or not dataclasses.is_dataclass(hints[part]):
            break
        cls = hints[part]
    return [f.name for f in dataclasses.fields(cls)]


# --------------------------------------------------------------------------- overrides


def override(cfg: T, values: Mapping[str, Any]) -> T:
    """``cfg`` with dotted keys replaced by typed values, e.g.
    ``override(cfg, {"algo.lr": 3e-4, "data.modality": "frames", "model.input": "frames"})``.

    Every value is set first and the result validated once, so fields that depend on each other
    change together. Command-line text is parsed before it gets here (``svtas_ray.cli.overrides``).
    """
    if not values:
        return cfg
    data = to_dict(cfg)
    for key, value in values.items():
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                known = ", ".join(node) if isinstance(node, dict) else ""
                raise ConfigError(f"unknown config key {key!r} (known here: {known})")
            if depth < len(parts) - 1:
                node = node[part]
            elif isinstance(node[part], dict) and not isinstance(value, Mapping):
                raise ConfigError(f"{key!r} is a section; set one of its fields, e.g. {key}.x=1")
            else:
                node[part] = value
    return from_dict(type(cfg), data, where="override")


def field_type(cls: type, dotted: str) -> Any:
    """The annotated type of the dotted field ``dotted`` of config class ``cls``."""
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
        if part not in hints:
            raise ConfigError(f"unknown config key {dotted!r} (known here: {', '.join(hints)})")
        if depth == len(parts) - 1:
            return hints[part]
        cls = hints[part]
    raise ConfigError(f"empty config key {dotted!r}")


__all__ = [
    "AlgoConfig",
    "ClipConfig",
    "DataConfig",
    "EnvConfig",
    "ModelConfig",
    "OfflineTrainConfig",
    "ResourceConfig",
    "RewardConfig",
    "SynthConfig",
    "TrainConfig",
    "choices",
    "field_type",
    "from_dict",
    "load",
    "override",
    "save",
    "to_dict",
    "to_json",
]
