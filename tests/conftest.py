"""Shared fixtures: the real data folder (skipped with a reason when absent) and temp datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$SVTAS_SHARED_DATA``, else ``../shared/data`` next to the repository."""
    env = os.environ.get("SVTAS_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.skip(f"real shared data not found at {path} (set SVTAS_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def gtea_root(shared_data: Path) -> Path:
    root = shared_data / "gtea"
    if not (root / "mapping.txt").is_file():
        pytest.skip(f"real GTEA labels not found at {root}")
    return root


def write_tiny_dataset(root: Path, lengths: tuple[int, ...] = (40, 57, 33), dim: int = 5) -> Path:
    """A hand-made dataset: classes a, b, background; one split; features (dim, T)."""
    import numpy as np

    (root / "groundTruth").mkdir(parents=True)
    (root / "splits").mkdir()
    (root / "features").mkdir()
    (root / "mapping.txt").write_text("0 a\n1 b\n2 background\n")
    names = ("a", "b", "background")
    rng = np.random.default_rng(0)
    videos = []
    for i, n in enumerate(lengths):
        video = f"v{i}"
        labels = (np.arange(n) // 7 + i) % 3
        (root / "groundTruth" / f"{video}.txt").write_text("".join(names[c] + "\n" for c in labels))
        np.save(root / "features" / f"{video}.npy", rng.normal(size=(dim, n)).astype(np.float32))
        videos.append(video)
    (root / "splits" / "train.split1.bundle").write_text("".join(v + ".txt\n" for v in videos[1:]))
    (root / "splits" / "test.split1.bundle").write_text(videos[0] + ".txt\n")
    return root


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return write_tiny_dataset(tmp_path / "tiny")
