"""The MS-TCN dataset layout, read and validated.

A dataset root holds::

    mapping.txt                      "<id> <name>" per line, ids 0..C-1
    groundTruth/<video>.txt          one class name per line, one line per frame
    splits/{train,test}.splitN.bundle  one "<video>.txt" per line
    features/<video>.npy             float array (D, T)            (optional)
    videos/<video>.<ext>             anything decord reads         (optional)

Every problem is a :class:`~svtas_ray.errors.DataError` whose message names the file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from svtas_ray.data.files import check_plain_name, read_text
from svtas_ray.errors import DataError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")
_BUNDLE = re.compile(r"^(train|test)\.split([1-9]\d*|0)\.bundle$")


@dataclass(frozen=True)
class ClassMap:
    """Class names indexed by class id (``names[i]`` is class ``i``)."""

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", {n: i for i, n in enumerate(self.names)})

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def id_of(self, name: str) -> int:
        return self._ids[name]  # type: ignore[attr-defined]

    def __contains__(self, name: object) -> bool:
        return name in self._ids  # type: ignore[attr-defined]

    def ids_of(self, names: Sequence[str], where: str = "background") -> tuple[int, ...]:
        """Ids of ``names``; a name not in the mapping is an error naming ``where``."""
        missing = [n for n in names if n not in self]
        if missing:
            raise DataError(
                f"{where}: class {missing[0]!r} is not in the mapping "
                f"(classes: {', '.join(self.names[:12])}{', ...' if len(self.names) > 12 else ''})"
            )
        return tuple(self.id_of(n) for n in names)

    @classmethod
    def read(cls, path: Path) -> ClassMap:
        """Parse ``mapping.txt``; ids must be unique integers covering 0..C-1."""
        if not path.is_file():
            raise DataError(f"{path}: mapping file not found (expected '<id> <name>' per line)")
        by_id: dict[int, str] = {}
        for lineno, line in enumerate(read_text(path, "mapping file").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise DataError(f"{path}:{lineno}: expected '<id> <name>', got {line!r}")
            try:
                idx = int(parts[0])
            except ValueError:
                raise DataError(
                    f"{path}:{lineno}: class id {parts[0]!r} is not an integer"
                ) from None
            name = parts[1].strip()
            if idx in by_id:
                raise DataError(f"{path}:{lineno}: duplicate class id {idx}")
            if name in by_id.values():
                raise DataError(f"{path}:{lineno}: duplicate class name {name!r}")
            by_id[idx] = name
        if not by_id:
            raise DataError(f"{path}: mapping file is empty")
        if sorted(by_id) != list(range(len(by_id))):
            raise DataError(f"{path}: class ids must be 0..{len(by_id) - 1} without gaps")
        return cls(tuple(by_id[i] for i in range(len(by_id))))

    def write(self, path: Path) -> None:
        path.write_text("".join(f"{i} {n}\n" for i, n in enumerate(self.names)), encoding="utf-8")


def read_labels(path: Path, classes: ClassMap) -> np.ndarray:
    """Frame-wise class ids ``(T,)`` int64 from a one-name-per-line label file."""
    if not path.is_file():
        raise DataError(f"{path}: label file not found")
    names = [line.strip() for line in read_text(path, "label file").splitlines()]
    while names and not names[-1]:
        names.pop()  # a trailing newline is not a frame
    if not names:
        raise DataError(f"{path}: label file is empty")
    ids = np.empty(len(names), dtype=np.int64)
    for t, name in enumerate(names):
        try:
            ids[t] = classes.id_of(name)
        except KeyError:
            raise DataError(
                f"{path}:{t + 1}: label {name!r} is not in the dataset's mapping.txt"
            ) from None
    return ids


def write_labels(path: Path, labels: np.ndarray, classes: ClassMap) -> None:
    path.write_text("".join(classes.names[int(i)] + "\n" for i in labels), encoding="utf-8")


def read_bundle(path: Path) -> list[str]:
    """Video names (without ``.txt``) listed in a split bundle.

    Each must be a plain file name: a bundle line such as ``../../elsewhere/x.txt`` would
    otherwise make later commands read, and write predictions, outside the dataset.
    """
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(read_text(path, "split file").splitlines(), 1):
        name = line.strip()
        if name:
            video = check_plain_name(
                name[:-4] if name.endswith(".txt") else name, f"{path}:{lineno}"
            )
            if video in first_line:
                raise DataError(
                    f"{path}:{lineno}: lists video {video!r} again (first at line "
                    f"{first_line[video]})"
                )
            first_line[video] = lineno
    return list(first_line)


@dataclass(frozen=True)
class Dataset:
    """A dataset root in the MS-TCN layout with its class map and background classes."""

    root: Path
    classes: ClassMap
    background: tuple[str, ...]
    features_dir: str = "features"

    @classmethod
    def open(
        cls,
        root: str | Path,
        background: Sequence[str] = ("background",),
        features_dir: str = "features",
    ) -> Dataset:
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: dataset root not found")
        if Path(features_dir).is_absolute() or ".." in Path(features_dir).parts:
            raise DataError(
                f"{root}: the features folder {features_dir!r} must be a path under the dataset "
                "root (e.g. 'features' or 'features/rgb')"
            )
        classes = ClassMap.read(root / "mapping.txt")
        classes.ids_of(background, where=f"{root / 'mapping.txt'} (data.background)")
        return cls(root, classes, tuple(background), features_dir)

    @property
    def background_ids(self) -> tuple[int, ...]:
        return self.classes.ids_of(self.background)

    @property
    def num_classes(self) -> int:
        return self.classes.num_classes

    def label_path(self, video: str) -> Path:
        return self.root / "groundTruth" / f"{self._plain(video)}.txt"

    def videos(self) -> list[str]:
        """Every video with a ground-truth file, sorted."""
        gt = self.root / "groundTruth"
        if not gt.is_dir():
            raise DataError(f"{gt}: groundTruth folder not found")
        return sorted(p.stem for p in gt.glob("*.txt"))

    def splits(self) -> list[int]:
        """Split numbers N for which both train and test bundles exist."""
        found: dict[int, set[str]] = {}
        for p in (self.root / "splits").glob("*.bundle"):
            m = _BUNDLE.match(p.name)
            if m:
                found.setdefault(int(m.group(2)), set()).add(m.group(1))
        return sorted(n for n, parts in found.items() if parts == {"train", "test"})

    def check_splits(self) -> list[int]:
        """The split numbers, once every ``{train,test}.splitN.bundle`` has its other half and
        every split passes :meth:`split_videos` (its videos have labels, its halves share
        none); raises DataError naming the bundle at fault."""
        for path in sorted((self.root / "splits").glob("*.split*.bundle")):
            part, _, rest = path.name.partition(".")
            other = path.with_name(f"{'test' if part == 'train' else 'train'}.{rest}")
            if part in ("train", "test") and not other.is_file():
                raise DataError(f"{path}: has no {other.name} beside it, so it makes no split")
        splits = self.splits()
        for n in splits:
            self.split_videos(n, "train"), self.split_videos(n, "test")
        return splits

    def split_videos(self, split: int, part: Literal["train", "test"]) -> list[str]:
        """Videos of ``splits/{part}.split{split}.bundle``; each must have a label file."""
        path = self.root / "splits" / f"{part}.split{split}.bundle"
        if not path.is_file():
            known = self.splits()
            raise DataError(f"{path}: split file not found (splits here: {known or 'none'})")
        videos = read_bundle(path)
        if not videos:
            raise DataError(f"{path}: split file lists no videos")
        for v in videos:
            if not self.label_path(v).is_file():
                raise DataError(f"{path}: lists video {v!r} but {self.label_path(v)} is missing")
        other = path.with_name(f"{'test' if part == 'train' else 'train'}.split{split}.bundle")
        if other.is_file():
            both = sorted(set(videos) & set(read_bundle(other)))
            if both:
                raise DataError(
                    f"{path}: video {both[0]!r} is also listed in {other.name} ({len(both)} "
                    "in both), so the split would test on what it trained on"
                )
        return videos

    def labels(self, video: str) -> np.ndarray:
        """Frame-wise class ids ``(T,)`` int64 of ``video``."""
        return read_labels(self.label_path(video), self.classes)

    def feature_path(self, video: str) -> Path:
        return self.root / self.features_dir / f"{self._plain(video)}.npy"

    def video_path(self, video: str) -> Path | None:
        """The video file of ``video`` (first known extension found), or None."""
        for ext in VIDEO_EXTENSIONS:
            p = self.root / "videos" / f"{self._plain(video)}{ext}"
            if p.is_file():
                return p
        return None

    def _plain(self, video: str) -> str:
        """``video`` when it is a plain file name (paths built from it stay in the dataset)."""
        return check_plain_name(video, str(self.root))

    def require_video_path(self, video: str) -> Path:
        path = self.video_path(video)
        if path is None:
            raise DataError(
                f"{self.root / 'videos'}: no video file for {video!r} "
                f"(looked for {', '.join(video + e for e in VIDEO_EXTENSIONS)})"
            )
        return path
