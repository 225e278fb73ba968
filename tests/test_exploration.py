"""How rollout workers explore: coherent in time (``algo.noise_frames``: frames of a group share
one Gumbel draw, each frame's marginal stays its categorical, samples move in runs) and with the
model's dropout on (``algo.act_dropout``: seeded, and the worker's model back in eval mode)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_helpers import tiny_config, tiny_gtea

from svtas_ray.config import AlgoConfig, ConfigError, TrainConfig
from svtas_ray.rl.policy import FrameCategorical

__all__ = ["tiny_gtea"]


@pytest.mark.parametrize("noise_frames", [1, 4, 0])
def test_every_frames_marginal_is_its_categorical(noise_frames: int) -> None:
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [1 / 3, 1 / 3, 1 / 3]]))
    draws = FrameCategorical(logits.expand(40_000, 3, 3)).sample(
        torch.Generator().manual_seed(0), noise_frames
    )  # (40000, 3): frames of a clip with different distributions
    freq = torch.nn.functional.one_hot(draws, 3).float().mean(0)
    assert torch.allclose(freq, logits.exp(), atol=0.01)  # ~4 standard errors


def test_frames_of_a_group_share_their_draw() -> None:
    logits = torch.zeros(64, 12, 5)  # every frame uniform: only the noise decides
    gen = torch.Generator().manual_seed(1)
    grouped = FrameCategorical(logits).sample(gen, 4)
    assert (grouped.view(64, 3, 4) == grouped.view(64, 3, 4)[..., :1]).all()
    assert (grouped[:, 0] != grouped[:, 4]).any()  # groups draw independently
    whole = FrameCategorical(logits).sample(gen, 0)
    assert (whole == whole[:, :1]).all()
    frames = FrameCategorical(logits).sample(gen, 1)
    assert (frames != frames[:, :1]).any()
    # the last group may be shorter than the others
    short = FrameCategorical(torch.zeros(64, 10, 5)).sample(gen, 4)
    assert short.shape == (64, 10) and (short[:, 8:] == short[:, 8:9]).all()


def test_a_workers_coherent_samples_switch_less(tiny_gtea: Path, tmp_path: Path) -> None:
    """The worker samples with ``algo.noise_frames``; the stored log-probabilities are the
    per-frame ones of the taken labels."""
    from svtas_ray.rl.policy import weights_to_numpy
    from svtas_ray.rl.rollout import RolloutWorker
    from svtas_ray.rl.trainer import split_videos

    switches = {}
    for noise_frames in (1, 0):
        cfg = tiny_config(tiny_gtea, tmp_path, "ppo", noise_frames=noise_frames)
        fit, _, _ = split_videos(cfg)
        worker = RolloutWorker(cfg, tuple(fit), 0)
        torch.manual_seed(0)
        for p in worker.model.parameters():  # a near-uniform policy: frames disagree often
            torch.nn.init.normal_(p, std=0.01)
        weights = weights_to_numpy(worker.model)
        chunk, _ = worker.sample(weights, 4)
        valid = chunk.masks[..., 1:] & chunk.masks[..., :-1]
        switches[noise_frames] = int(
            ((chunk.actions[..., 1:] != chunk.actions[..., :-1]) & valid).sum()
        )
        assert chunk.obs is not None  # the worker holds the weights it sampled with
        with torch.no_grad():
            out = worker.model(
                torch.from_numpy(chunk.obs[:, 0]),
                worker.model.initial_state(chunk.obs.shape[0], "cpu"),
                torch.from_numpy(chunk.masks[:, 0]),
            )
        logp = FrameCategorical(out.final).log_prob(torch.from_numpy(chunk.actions[:, 0]))
        np.testing.assert_allclose(chunk.logp[:, 0], logp.numpy(), atol=1e-5)
    assert switches[0] < switches[1] / 4


def test_config_refuses_what_cannot_sample_coherently(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="noise_frames must be >= 0"):
        AlgoConfig(noise_frames=-1)
    cfg = tiny_config(tmp_path, tmp_path, "ppo")
    with pytest.raises(ConfigError, match="hold_gate samples its own"):
        dataclasses.replace(
            cfg,
            algo=dataclasses.replace(cfg.algo, noise_frames=0),
            model=dataclasses.replace(cfg.model, hold_gate=True),
        )
    with pytest.raises(ConfigError, match=r"rllib.*noise_frames"):
        dataclasses.replace(cfg, engine="rllib", algo=dataclasses.replace(cfg.algo, noise_frames=0))
    with pytest.raises(ConfigError, match=r"rllib.*act_dropout"):
        dataclasses.replace(
            cfg, engine="rllib", algo=dataclasses.replace(cfg.algo, act_dropout=True)
        )


def _chunk(cfg: TrainConfig, dropout: float) -> tuple[np.ndarray, bool]:
    """The log-probabilities of one sampled chunk (weights fixed by seed) and whether the
    worker's model was left in eval mode."""
    from svtas_ray.rl.policy import weights_to_numpy
    from svtas_ray.rl.rollout import RolloutWorker
    from svtas_ray.rl.trainer import split_videos

    cfg = dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, dropout=dropout, input_dropout=dropout)
    )
    fit, _, _ = split_videos(cfg)
    worker = RolloutWorker(cfg, tuple(fit), 0)
    torch.manual_seed(0)
    for p in worker.model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    chunk, _ = worker.sample(weights_to_numpy(worker.model), 3)
    return chunk.logp, not any(m.training for m in worker.model.modules())


def test_acting_with_dropout_is_seeded_and_leaves_eval_mode(
    tiny_gtea: Path, tmp_path: Path
) -> None:
    plain = tiny_config(tiny_gtea, tmp_path, "ppo")
    noisy = tiny_config(tiny_gtea, tmp_path, "ppo", act_dropout=True)
    a, a_eval = _chunk(noisy, 0.5)
    b, b_eval = _chunk(noisy, 0.5)
    c, c_eval = _chunk(plain, 0.5)
    np.testing.assert_array_equal(a, b)  # the masks come from the run's seed
    assert not np.allclose(a, c)  # dropout was on while acting
    assert a_eval and b_eval and c_eval
    # without dropout layers to switch on, acting is the deterministic policy's
    np.testing.assert_array_equal(_chunk(noisy, 0.0)[0], _chunk(plain, 0.0)[0])
