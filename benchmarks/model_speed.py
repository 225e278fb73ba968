"""Speed of the streaming segmenters: causal_mstcn streamed vs offline, and frames/s of each part.

What it measures, in one run, on random inputs of the default model sizes (``ModelConfig()``:
64-d features, 11 classes, 4 stages x 10 layers x 64 channels; brt: 2 blocks, 16 memory tokens,
2 refinement stages; tsm_cnn of width 16):

(a) per-frame cost of ``causal_mstcn`` streamed clip by clip (clip lengths 16, 32, 64, 128) vs the
    same model over the whole video in one call (``forward_video``), for one video and for a batch
    of 8 (a rollout worker's envs), side by side; target: streaming ≤ 1.5x offline. The logits of
    both are compared too (they must agree to float tolerance);
(b) frames/s of each head streamed at clip length 64 (inference), and trained (forward + backward)
    on a 512-frame chunk;
(c) frames/s of the frame backbone (TSM CNN + projection) at 64 and 112 px, inference and training.

How to run::

    .venv/bin/python benchmarks/model_speed.py [--out results.md] [--threads 1] [--device cpu]

To debug, shorten it (``--frames 512 --repeats 1``); everything is single-process and seeded.
Timings are the best of ``--repeats`` (other processes on a shared machine only add noise).

Expected results (2 CPU cores, torch 2.13, 1 thread, alone on the machine; timings move ±30 %
with the machine's load): offline causal_mstcn ~8 µs/frame. Streamed, one video at a time costs
~8x that at clip 16, ~4.4x at 32, ~2.5x at 64 and ~1.6x at 128: every clip pays a fixed ~0.8 ms
(40 layers of eager PyTorch, ~8 small kernel calls each, and short matrix products at lower BLAS
efficiency than long ones), which short clips cannot amortise. With a batch of 8 videos (a
rollout worker's envs) it is ~1.5x, 1.0x, 0.83x and 0.71x. torch.compile was tried (149 -> 104
µs/frame at clip 16, 40 s to compile) and not adopted. The logits agree exactly (Δ = 0).
Throughput at clip 64: causal_mstcn ~50k frames/s inference, ~23k training; brt ~33k and ~12k;
the TSM backbone ~3,500 frames/s at 64 px and ~1,250 at 112 px (training ~1,100 / ~370).
On an H200 (``--device cuda``) everything is launch-bound: offline 2.2 µs/frame, streamed
~40-235 µs/frame at batch 1. The whole run takes about 40 s on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from svtas_ray.config import ModelConfig
from svtas_ray.models.build import build_segmenter
from svtas_ray.models.interface import StreamingSegmenter

CLASSES = 11
DIM = 64
CLIP_LENS = (16, 32, 64, 128)


def best_time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Seconds of the fastest of ``repeats`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def stream(model: StreamingSegmenter, x: torch.Tensor, clip_len: int) -> torch.Tensor:
    """Final logits of ``x (B, T, ...)`` run clip by clip (T a multiple of clip_len here)."""
    state = model.initial_state(x.shape[0], x.device)
    outs = []
    for start in range(0, x.shape[1], clip_len):
        out = model(x[:, start : start + clip_len], state)
        state = out.state
        outs.append(out.final)
    return torch.cat(outs, dim=1)


def streaming_vs_offline(
    frames: int, repeats: int, device: torch.device
) -> tuple[list[str], dict[int, list[int]]]:
    """Table rows, and for each batch size the clip lengths that meet the 1.5x target."""
    torch.manual_seed(0)
    model = build_segmenter(ModelConfig(), CLASSES, (DIM,)).to(device).eval()
    rows: list[str] = []
    meets: dict[int, list[int]] = {}
    for batch in (1, 8):
        x = torch.randn(batch, frames, DIM, device=device)
        with torch.no_grad():
            # timed: one offline pass; checked against: the same pass cut into the stream's
            # clips (with clip_lookahead, taps stop at each clip's end)
            offline = best_time(partial(model.forward_video, x), repeats, device)
            for clip_len in CLIP_LENS:
                whole = model.forward_video(x, block_len=clip_len).final
                streamed = stream(model, x, clip_len)
                diff = float((streamed - whole).abs().max())
                seconds = best_time(partial(stream, model, x, clip_len), repeats, device)
                ratio = seconds / offline
                if ratio <= 1.5:
                    meets.setdefault(batch, []).append(clip_len)
                per_frame = 1e6 / (batch * frames)
                rows.append(
                    f"| {batch} | {clip_len} | {offline * per_frame:.1f} | "
                    f"{seconds * per_frame:.1f} | {ratio:.2f}x | {diff:.1e} |"
                )
    return rows, meets


def head_rates(repeats: int, device: torch.device) -> list[str]:
    rows = []
    for head in ("causal_mstcn", "brt"):
        torch.manual_seed(0)
        model = build_segmenter(dataclasses.replace(ModelConfig(), head=head), CLASSES, (DIM,))
        model = model.to(device)
        x = torch.randn(1, 1024, DIM, device=device)
        model.eval()
        with torch.no_grad():
            infer = best_time(partial(stream, model, x, 64), repeats, device)
        model.train()
        chunk = torch.randn(1, 512, DIM, device=device)
        train = best_time(partial(_train_step, model, chunk, 64), repeats, device)
        rows.append(f"| {head} (features, clip 64) | {1024 / infer:,.0f} | {512 / train:,.0f} |")
    return rows


def _train_step(model: StreamingSegmenter, x: torch.Tensor, clip_len: int) -> None:
    out = model.forward_video(x, block_len=clip_len)
    loss = sum(lg.logsumexp(-1).mean() for lg in out.logits) + out.value.sum()
    loss.backward()  # type: ignore[union-attr]
    model.zero_grad(set_to_none=True)


def backbone_rates(repeats: int, device: torch.device) -> list[str]:
    rows = []
    for size in (64, 112):
        torch.manual_seed(0)
        cfg = dataclasses.replace(ModelConfig(), input="frames")
        model = build_segmenter(cfg, CLASSES, (size, size, 3)).to(device)
        encoder = model.encoder
        clip = torch.randint(0, 256, (1, 32, size, size, 3), dtype=torch.uint8, device=device)
        state = encoder.initial_state(1, device)
        encoder.eval()
        with torch.no_grad():
            infer = best_time(partial(encoder, clip, state, None), repeats, device)
        encoder.train()

        def train_step(e=encoder, c=clip, s=state) -> None:
            feats, _ = e(c, s, None)
            feats.square().mean().backward()
            e.zero_grad(set_to_none=True)

        train = best_time(train_step, repeats, device)
        rows.append(
            f"| tsm_cnn backbone, {size}x{size} px | {32 / infer:,.0f} | {32 / train:,.0f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2048, help="video length for (a)")
    parser.add_argument("--repeats", type=int, default=5, help="timings keep the best of these")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: as one rollout worker runs)"
    )
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    stream_rows, meets = streaming_vs_offline(args.frames, args.repeats, device)
    rate_rows = head_rates(args.repeats, device) + backbone_rates(args.repeats, device)
    where = f"{args.device}, {args.threads} threads" if args.device == "cpu" else args.device
    lines = [
        f"### causal_mstcn: streamed clip by clip vs whole video ({args.frames} frames, {where})",
        "",
        "| batch | clip | offline µs/frame | streamed µs/frame | ratio | max abs Δ logit |",
        "|---:|---:|---:|---:|---:|---:|",
        *stream_rows,
        "",
        "### Throughput (frames/s, batch of one video)",
        "",
        "| what | inference | training (fwd + bwd) |",
        "|---|---:|---:|",
        *rate_rows,
        "",
        *(
            f"- streaming ≤ 1.5x offline with a batch of {b}: at clip lengths "
            f"{meets.get(b) or 'none'} of {list(CLIP_LENS)}"
            for b in (1, 8)
        ),
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
