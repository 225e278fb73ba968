"""The learned hold/switch gate: its mixture policy (sampling agrees with its log-probabilities
and entropy), greedy decoding, streaming across clips, and training it on Ray."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from trainer_helpers import ray_cluster, tiny_config, tiny_gtea

from svtas_ray.config import override
from svtas_ray.errors import ConfigError
from svtas_ray.models.hold_gate import (
    OFFSETS,
    GateState,
    HoldGate,
    gate_decode,
    gate_of,
    greedy_labels,
    robust_offset,
    tune_gate_offset,
)

__all__ = ["ray_cluster", "tiny_gtea"]


def open_gate(bias: float, run_weight: float = 0.0) -> HoldGate:
    gate = HoldGate()
    with torch.no_grad():
        gate.linear.bias.fill_(bias)
        gate.linear.weight.zero_()
        gate.linear.weight[0, 2] = run_weight
    return gate


def test_sampling_follows_the_log_probabilities_of_the_mixture() -> None:
    """Empirical frequencies of 2-frame label pairs match exp(sum of log π')."""
    gate = open_gate(0.3, run_weight=-1.0)
    logits = torch.log(torch.tensor([[[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]]]))  # (1, L=2, C=3)
    start = GateState(torch.tensor([2]), torch.tensor([3.0]))
    mask = torch.ones(1, 2, dtype=torch.bool)
    n = 20_000
    generator = torch.Generator().manual_seed(0)
    actions, _ = gate.act(
        logits.expand(n, 2, 3), start_rows(start, n), mask.expand(n, 2), False, generator
    )
    pairs = list(itertools.product(range(3), repeat=2))
    every = torch.tensor(pairs)  # (9, 2)
    logp, entropy = gate.log_prob_entropy(
        logits.expand(9, 2, 3), every, start_rows(start, 9), mask.expand(9, 2)
    )
    expected = logp.detach().sum(-1).exp()
    assert float(expected.sum()) == pytest.approx(1.0, abs=1e-5)
    counts = np.array([int(((actions == torch.tensor(p)).all(-1)).sum()) for p in pairs]) / n
    np.testing.assert_allclose(counts, expected.numpy(), atol=0.012)
    # frame 0's entropy is that of its explicit mixture h·onehot(2) + (1 - h)·p
    h = float(torch.sigmoid(gate.hold_logit(logits[:, 0].softmax(-1), start)).detach())
    mixed = (1 - h) * torch.tensor([0.2, 0.5, 0.3]) + h * torch.tensor([0.0, 0.0, 1.0])
    assert float(entropy[0, 0].detach()) == pytest.approx(
        float(-(mixed * mixed.log()).sum()), rel=1e-5
    )


def start_rows(state: GateState, n: int) -> GateState:
    return GateState(state.prev.expand(n).clone(), state.run.expand(n).clone())


def test_a_closed_gate_is_the_per_frame_policy_and_nothing_is_held_before_a_first_label() -> None:
    logits = torch.randn(3, 5, 4)
    mask = torch.ones(3, 5, dtype=torch.bool)
    closed = open_gate(-60.0)
    actions = torch.randint(0, 4, (3, 5))
    logp, _ = closed.log_prob_entropy(logits, actions, GateState.initial((3,)), mask)
    plain = torch.log_softmax(logits, -1).gather(-1, actions[..., None])[..., 0]
    torch.testing.assert_close(logp, plain)
    always = open_gate(60.0)  # holds whenever it can: from the first label on
    labels, state = greedy_labels(always, logits, GateState.initial((3,)), mask)
    assert (labels == logits[:, :1].argmax(-1)).all()
    assert state.run.tolist() == [5.0, 5.0, 5.0]
    assert greedy_labels(None, logits, state, mask)[0].equal(logits.argmax(-1))


def test_streaming_clip_by_clip_equals_one_pass_and_padding_changes_nothing() -> None:
    torch.manual_seed(0)
    gate = open_gate(0.0, run_weight=2.0)
    logits = torch.randn(2, 8, 5)
    mask = torch.ones(2, 8, dtype=torch.bool)
    whole, end = greedy_labels(gate, logits, GateState.initial((2,)), mask)
    first, mid = greedy_labels(gate, logits[:, :4], GateState.initial((2,)), mask[:, :4])
    second, end2 = greedy_labels(gate, logits[:, 4:], mid, mask[:, 4:])
    assert torch.cat([first, second], 1).equal(whole)
    assert end.prev.equal(end2.prev) and end.run.equal(end2.run)
    padded = torch.cat([logits[:, 4:6], torch.randn(2, 2, 5)], 1)
    pad_mask = torch.tensor([[True, True, False, False]] * 2)
    _, after_pad = greedy_labels(gate, padded, mid, pad_mask)
    _, after_two = greedy_labels(gate, logits[:, 4:6], mid, mask[:, :2])
    assert after_pad.prev.equal(after_two.prev) and after_pad.run.equal(after_two.run)


def test_states_along_a_clip_equal_stepping_slot_by_slot() -> None:
    """The learner's vectorised replay of the gate's memory equals the acting loop's, with
    padding anywhere and runs carried in from the previous clip."""
    generator = torch.Generator().manual_seed(3)
    actions = torch.randint(0, 3, (64, 9), generator=generator)
    mask = torch.rand(64, 9, generator=generator) < 0.8
    start = GateState(
        torch.randint(-1, 3, (64,), generator=generator),
        torch.randint(0, 5, (64,), generator=generator).float(),
    )
    start = GateState(start.prev, torch.where(start.prev >= 0, start.run, 0.0))
    before, end = start.along(actions, mask)
    state = start
    for t in range(9):
        assert before.prev[:, t].equal(state.prev) and before.run[:, t].equal(state.run)
        state = state.step(actions[:, t], mask[:, t])
    assert end.prev.equal(state.prev) and end.run.equal(state.run)


def test_greedy_decoding_takes_the_most_likely_label_of_the_mixture_at_every_frame() -> None:
    """Given the greedy prefix, no other label at a frame has a higher π' (the acting loop and
    the learner's log-probabilities evaluate the same gate)."""
    generator = torch.Generator().manual_seed(1)
    gate = open_gate(0.5, run_weight=1.5)
    with torch.no_grad():
        gate.linear.weight[0, 1] = 2.0
    logits = torch.randn(1, 12, 4, generator=generator)
    mask = torch.ones(1, 12, dtype=torch.bool)
    start = GateState(torch.tensor([1]), torch.tensor([2.0]))
    labels, _ = greedy_labels(gate, logits, start, mask)
    assert (labels != logits.argmax(-1)).any()  # the gate held somewhere
    for t in range(12):
        candidates = labels.repeat(4, 1)
        candidates[:, t] = torch.arange(4)
        logp, _ = gate.log_prob_entropy(
            logits.expand(4, -1, -1), candidates, start_rows(start, 4), mask.expand(4, -1)
        )
        assert int(logp[:, t].argmax()) == int(labels[0, t])


def test_the_gates_cross_entropy_calibrates_holding_where_the_choice_matters() -> None:
    """The arg-max (class 1) disagrees with the held label (class 0) everywhere; the true label
    is the held one 3 times out of 4, so h goes to 0.75. Frames where the arg-max and the held
    label agree teach nothing, and only the gate learns."""
    gate = HoldGate()
    logits = torch.zeros(2, 16, 3)
    logits[..., 1] = 1.0
    logits.requires_grad_(True)
    actions = torch.zeros(2, 16, dtype=torch.long)
    labels = torch.zeros(2, 16, dtype=torch.long)
    labels[:, 3::4] = 1  # every 4th true label is the arg-max, the others the held label
    mask = torch.ones(2, 16, dtype=torch.bool)
    start = GateState(torch.zeros(2, dtype=torch.long), torch.ones(2))
    optimizer = torch.optim.Adam(gate.parameters(), lr=0.1)
    for _ in range(300):
        optimizer.zero_grad()
        gate.hold_ce(logits, actions, start, mask, labels).backward()
        optimizer.step()
    before, _ = start.along(actions, mask)
    h = torch.sigmoid(gate.hold_logit(torch.softmax(logits, -1), before)).detach()
    assert float(h.mean()) == pytest.approx(0.75, abs=0.03)
    assert logits.grad is None or not logits.grad.any()
    agreeing = torch.zeros(2, 16, 3)
    agreeing[..., 0] = 1.0  # arg-max = the held label: no frame is decisive
    assert float(gate.hold_ce(agreeing, actions, start, mask, labels)) == 0.0


def noisy_stream(frames: int = 240, classes: int = 5, seed: int = 0) -> np.ndarray:
    """Probabilities ``(T, C)`` of blocky true classes whose arg-max flickers now and then."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(rng.integers(0, classes, frames // 20), 20)
    logits = rng.normal(0.0, 1.0, (frames, classes))
    logits[np.arange(frames), truth] += 1.5
    probs = np.exp(logits)
    return (probs / probs.sum(-1, keepdims=True)).astype(np.float32)


def test_decoding_a_whole_stream_equals_the_greedy_gate_clip_by_clip() -> None:
    gate = open_gate(-1.0, run_weight=2.0)
    probs = noisy_stream()
    logits = torch.log(torch.from_numpy(probs))
    state, clips = GateState.initial((1,)), []
    for start in range(0, len(probs), 64):  # the last clip is shorter
        clip = logits[None, start : start + 64]
        labels, state = greedy_labels(gate, clip, state, torch.ones(clip.shape[:2], dtype=bool))
        clips.append(labels[0].numpy())
    assert np.array_equal(gate_decode(gate, probs), np.concatenate(clips))
    assert np.array_equal(gate_decode(gate, probs, -math.inf), probs.argmax(-1))


def test_a_larger_offset_holds_more() -> None:
    gate, probs = open_gate(-2.0, run_weight=1.0), noisy_stream(seed=1)
    switches = [
        int(np.count_nonzero(np.diff(gate_decode(gate, probs, offset))))
        for offset in (-math.inf, -2.0, 0.0, 2.0, 6.0)
    ]
    assert switches == sorted(switches, reverse=True) and switches[0] > switches[-1]


def test_the_offset_is_tuned_by_the_validation_score_with_ties_to_the_gate_as_trained() -> None:
    gate, videos = open_gate(-2.0, run_weight=1.0), [noisy_stream(seed=s) for s in (2, 3)]

    def fewest_switches(slots: list[np.ndarray]) -> float:
        return -float(sum(np.count_nonzero(np.diff(s)) for s in slots))

    offset, grid = tune_gate_offset(gate, fewest_switches, videos)
    best = max(grid.values())
    assert set(grid) == set(OFFSETS) and offset > 0.0 and grid[offset] == best > grid[0.0]
    assert offset == min(o for o in OFFSETS if grid[o] == best)  # the tied one nearest 0
    offset, _ = tune_gate_offset(gate, lambda slots: 1.0, videos)
    assert offset == 0.0  # a tie keeps the gate as it was trained


def test_the_chosen_offset_keeps_off_the_edge_where_the_gate_holds_everything() -> None:
    # the best validation score sits one step below a collapse: take the step below it
    assert robust_offset({0.0: 80.0, 1.0: 85.0, 1.5: 90.0, 2.0: 10.0}) == 1.0
    assert robust_offset({0.0: 80.0, 1.0: 85.0, 1.5: 90.0, 2.0: 89.0}) == 1.5
    assert robust_offset({-math.inf: 70.0, 0.0: 60.0, 1.0: 50.0}) == -math.inf
    assert robust_offset({-1.0: 80.0, 0.0: 70.0, 1.0: 80.0, 2.0: 80.0}) == 1.0


def test_the_gate_is_found_in_a_segmenters_weights() -> None:
    gate = open_gate(0.7, run_weight=-0.4)
    weights = {f"hold_gate.{k}": v.numpy() for k, v in gate.state_dict().items()}
    found = gate_of({**weights, "head.conv.weight": np.zeros(3, np.float32)})
    assert found is not None and torch.equal(found.linear.weight, gate.linear.weight)
    assert float(found.linear.bias) == pytest.approx(0.7)
    assert gate_of({"head.conv.weight": np.zeros(3, np.float32)}) is None


def test_gate_with_a_sampled_baseline_is_refused(tiny_gtea: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_gtea, tmp_path, "reinforce")
    with pytest.raises(ConfigError, match="hold_gate does not combine"):
        override(cfg, {"model.hold_gate": True, "algo.baseline": "self_critical"})


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_ppo_trains_the_gate_and_evaluation_decodes_with_it(
    tiny_gtea: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from svtas_ray.models.checkpoint import load_segmenter
    from svtas_ray.rl.trainer import Trainer

    cfg = override(tiny_config(tiny_gtea, tmp_path / "runs", "ppo"), {"model.hold_gate": True})
    with Trainer(cfg) as trainer:
        row = trainer.step()
        trainer.save(best=True)
        results = trainer.finish()
    assert math.isfinite(row["loss_policy"]) and math.isfinite(row["loss_entropy"])
    assert math.isfinite(row["loss_gate_ce"])
    model, saved, _ = load_segmenter(trainer.path / "checkpoints" / "last.pt")
    assert saved.model.hold_gate and model.hold_gate is not None
    fresh = HoldGate()
    assert not torch.equal(model.hold_gate.linear.weight, fresh.linear.weight)  # it learned
    assert 0.0 <= results["test_best"]["edit"] <= 100.0
    # the gate's offset tuned on the validation videos, applied to the test videos
    assert set(results) == {"test_best", "test_best_hold", "test_best_gate"}
    gated = pd.read_parquet(trainer.path / "eval" / "test_best_gate" / "per_video.parquet")
    assert len(gated) == len(trainer.test_videos)
    tuned = json.loads((trainer.path / "meta.json").read_text())["hold_gate"]
    assert float(tuned["offset"]) in OFFSETS and len(tuned["val_scores"]) == len(OFFSETS)
    grid = {float(k): v for k, v in tuned["val_scores"].items()}
    assert float(tuned["offset"]) == robust_offset(grid)
    # `svtas-ray eval --post gate` re-applies the stored offset: the same predictions
    from svtas_ray.cli import main as cli_main

    out = tmp_path / "eval-gate"
    argv = ["eval", "--checkpoint", str(trainer.path / "checkpoints" / "best.pt")]
    assert cli_main([*argv, "--post", "gate", "--out", str(out)]) == 0
    stored = trainer.path / "eval" / "test_best_gate" / "predictions"
    names = sorted(p.name for p in stored.iterdir())
    assert names and names == sorted(p.name for p in (out / "predictions").iterdir())
    assert all((out / "predictions" / n).read_text() == (stored / n).read_text() for n in names)
    # the offset comes from meta.json, and the gate is the default stage of a gated run
    meta = json.loads((trainer.path / "meta.json").read_text())
    meta["hold_gate"]["offset"] = "2.5"
    (trainer.path / "meta.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert cli_main([*argv, "--out", str(tmp_path / "eval-edited")]) == 0
    assert "the offset tuned on the run's validation videos (2.5)" in capsys.readouterr().out


@pytest.mark.parametrize("trains", ["policy", "gate"])
def test_reward_trains_the_gate_alone_when_asked(
    trains: str, tiny_gtea: Path, tmp_path: Path
) -> None:
    """``algo.reward_trains='gate'``: the policy terms' gradient reaches the hold gate and
    nothing else; with 'policy' it reaches the class logits too."""
    from svtas_ray.rl import algorithms
    from svtas_ray.rl.batch import TorchChunk
    from svtas_ray.rl.rollout import RolloutWorker
    from svtas_ray.rl.trainer import split_videos

    cfg = override(
        tiny_config(tiny_gtea, tmp_path, "ppo"),
        {
            "model.hold_gate": True,
            "algo.reward_trains": trains,
            # the policy terms alone
            **{f"algo.{k}": 0.0 for k in ("ce_coef", "smooth_coef", "gate_ce_coef", "vf_coef")},
        },
    )
    worker = RolloutWorker(cfg, tuple(split_videos(cfg)[0]), 0)
    weights = {k: v.detach().numpy() for k, v in worker.model.state_dict().items()}
    chunk = TorchChunk.of(worker.sample(weights, 4)[0], "cpu")
    model = worker.model.train()
    fresh = model.initial_state(chunk.actions.shape[0], "cpu")
    rep = algorithms.replay(model, chunk, range(4), chunk.start_state, fresh)
    total, _ = algorithms.loss(
        rep, chunk, range(4), algorithms.targets(chunk, cfg.algo), cfg.algo, cfg.reward
    )
    model.zero_grad()
    total.backward()
    moved = {
        name.split(".")[0]
        for name, p in model.named_parameters()
        if p.grad is not None and p.grad.abs().sum() > 0
    }
    assert "hold_gate" in moved
    assert (moved == {"hold_gate"}) == (trains == "gate"), moved


def test_reward_training_the_gate_needs_one(tiny_gtea: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"trains the hold gate alone; set model\.hold_gate=true"):
        override(tiny_config(tiny_gtea, tmp_path), {"algo.reward_trains": "gate"})
