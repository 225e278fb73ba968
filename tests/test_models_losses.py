"""Per-stage cross-entropy with an ignore mask and MS-TCN's truncated-MSE smoothing loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from svtas_ray.models.losses import ce_loss, segmentation_loss, smoothing_loss


def test_ce_by_hand_sums_stages_and_skips_ignored_frames():
    # Two classes; logits (0, log 3) give p(class 1) = 3/4.
    logits = torch.tensor([[[0.0, math.log(3.0)]] * 3])
    labels = torch.tensor([[1, 0, -100]])
    expected = (-math.log(0.75) - math.log(0.25)) / 2  # the ignored frame does not count
    torch.testing.assert_close(ce_loss([logits], labels), torch.tensor(expected))
    torch.testing.assert_close(ce_loss([logits, logits], labels), torch.tensor(2 * expected))


def test_label_smoothing_by_hand_and_skips_ignored_frames():
    # Two classes, p = (1/4, 3/4); eps = 0.2 targets 0.9 on the label and 0.1 on the other class.
    logits = torch.tensor([[[0.0, math.log(3.0)]] * 3])
    labels = torch.tensor([[1, 0, -100]])
    eps = 0.2
    lp = (math.log(0.25), math.log(0.75))
    frame1 = -((1 - eps / 2) * lp[1] + eps / 2 * lp[0])
    frame0 = -((1 - eps / 2) * lp[0] + eps / 2 * lp[1])
    expected = torch.tensor((frame1 + frame0) / 2)
    torch.testing.assert_close(ce_loss([logits], labels, label_smoothing=eps), expected)
    # the smoothed loss is minimal at the smoothed target, not at a one-hot one
    sure = torch.tensor([[[0.0, 20.0]]], requires_grad=True)
    ce_loss([sure], torch.tensor([[1]]), label_smoothing=eps).backward()
    assert sure.grad is not None and sure.grad[0, 0, 1] > 0  # pushes the label's logit down


def test_ce_with_every_frame_ignored_is_zero_not_nan():
    logits = torch.randn(1, 4, 3, requires_grad=True)
    loss = ce_loss([logits], torch.full((1, 4), -100))
    assert loss.item() == 0.0
    loss.backward()  # still differentiable


def test_smoothing_by_hand_and_truncation():
    # log-softmax of (0, 0) is (-log 2, -log 2); of (a, 0) moves both entries by known amounts.
    a = 2.0
    logits = torch.tensor([[[0.0, 0.0], [a, 0.0]]])
    lp0 = F.log_softmax(logits[0, 0], -1)
    lp1 = F.log_softmax(logits[0, 1], -1)
    expected = ((lp1 - lp0) ** 2).mean()
    mask = torch.ones(1, 2, dtype=torch.bool)
    torch.testing.assert_close(smoothing_loss([logits], mask), expected)
    # log-probs go from (-log 2, -log 2) to (~0, ~-40): squared jumps log(2)^2 and 39.3^2 -> 16
    big = torch.tensor([[[0.0, 0.0], [40.0, 0.0]]])
    expected_big = torch.tensor((math.log(2.0) ** 2 + 16.0) / 2)
    torch.testing.assert_close(smoothing_loss([big], mask, tau=4.0), expected_big)


def test_smoothing_pulls_only_the_later_frame():
    logits = torch.randn(1, 5, 3, requires_grad=True)
    smoothing_loss([logits], torch.ones(1, 5, dtype=torch.bool)).backward()
    assert logits.grad is not None
    assert torch.all(logits.grad[0, 0] == 0)  # frame 0 is only ever the detached predecessor
    assert torch.any(logits.grad[0, 1:] != 0)


def test_smoothing_skips_pairs_that_touch_padding():
    logits = torch.randn(1, 6, 4)
    full = smoothing_loss([logits[:, :4]], torch.ones(1, 4, dtype=torch.bool))
    padded_logits = logits.clone()
    padded_logits[:, 4:] = 100.0
    mask = torch.tensor([[True] * 4 + [False] * 2])
    torch.testing.assert_close(smoothing_loss([padded_logits], mask), full)


def upstream_mstcn_loss(logits_bct: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """yabufarha/ms-tcn Trainer.train, one stage, batch of one unpadded video."""
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    mse = torch.nn.MSELoss(reduction="none")
    c = logits_bct.shape[1]
    loss = ce(logits_bct.transpose(2, 1).contiguous().view(-1, c), labels.view(-1))
    mask = torch.ones_like(logits_bct)
    loss += 0.15 * torch.mean(
        torch.clamp(
            mse(
                F.log_softmax(logits_bct[:, :, 1:], dim=1),
                F.log_softmax(logits_bct.detach()[:, :, :-1], dim=1),
            ),
            min=0,
            max=16,
        )
        * mask[:, :, 1:]
    )
    return loss


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_upstream_mstcn_loss_for_one_video(seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, 30, 5, generator=g) * 3
    labels = torch.randint(0, 5, (1, 30), generator=g)
    ours = segmentation_loss([logits], labels, smooth_weight=0.15, tau=4.0)
    torch.testing.assert_close(ours, upstream_mstcn_loss(logits.transpose(1, 2), labels))
