"""Credit within a clip (``reward.parts`` > 1): reward-to-go over the pieces of a clip's reward.

The environment pays a clip's potential-based reward as ``P`` consecutive pieces, each the change
of Φ over one share of the clip's frames (:meth:`svtas_ray.rewards.Reward.in_parts`). A frame's
sampled label cannot change the pieces earned before its own share: those depend only on earlier
frames, whose labels were drawn before it. So its advantage may leave them out,

    A_frame = A_clip − Σ_{pieces p' before the frame's piece} r_p',

and stays an unbiased estimate of the policy gradient (what is left out is a function of the
history before the frame, whose expected product with ∇ log π of the frame's label is 0), with
less variance: the later frames of a clip no longer carry the noise of the earlier frames'
draws. This is the reward-to-go of REINFORCE, applied inside the clip that the environment
otherwise scores as one step.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch


def reward_before(pieces: npt.ArrayLike, part_of: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The reward each frame's clip earned before the frame's piece.

    pieces: ``(..., P)`` a clip's reward in pieces; part_of: ``(L,)`` the piece of each of the
    clip's L slots. Returns ``(..., L)``: the sum of the pieces before each slot's own.
    """
    r = np.asarray(pieces, dtype=np.float64)
    earlier = np.cumsum(r, axis=-1) - r  # exclusive prefix sums, (..., P)
    return earlier[..., np.asarray(part_of)].astype(np.float32)


def frame_advantages(clip_adv: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    """Per-frame advantages ``(N, K, L)`` from clip advantages ``(N, K)`` and
    :func:`reward_before` ``(N, K, L)``."""
    return clip_adv.unsqueeze(-1) - before
