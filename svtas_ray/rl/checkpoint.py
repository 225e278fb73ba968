"""Training checkpoints: model, optimiser, scheduler, iteration, RNG and best score.

Files hold only tensors and plain containers so they load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

FORMAT = 1
"""Bumped when the layout below changes."""


def save_checkpoint(
    path: str | Path,
    learner_state: dict[str, Any],
    iteration: int,
    best_score: float,
    env_steps: int,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        **learner_state,
        "iteration": int(iteration),
        "best_score": float(best_score),
        "env_steps": int(env_steps),
        "extra": extra or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (weights only, no code executed)."""
    from svtas_ray.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise DataError(f"{path}: not a readable svtas-ray checkpoint ({exc})") from None
    if not isinstance(data, dict) or "model" not in data:
        raise DataError(f"{path}: not an svtas-ray checkpoint (no 'model' entry)")
    return data
