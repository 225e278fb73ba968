"""EGTEA Gaze+ segment annotations to frame-wise labels in the MS-TCN layout.

Input: the RULSTM release of EGTEA (``actions.csv`` and ``training{1,2,3}.csv`` /
``validation{1,2,3}.csv``; rows ``id,video,start_frame,end_frame,verb_id,noun_id,action_id``).
Output, as in the SVTAS-RL protocol: 20 classes (the 19 verbs, ids 0..18 as in the annotations,
plus ``None`` = 19 for the unannotated gaps, which is the background class), one label file per
video, and 3 splits.

Choices (the released annotations are segment-level, not frame-level):
- Frames are 1-based and inclusive in the csv files (RULSTM's frame numbering), so a segment
  ``(s, e)`` labels 0-based frames ``s-1 .. e-1``.
- A video's length is its frame count when its video file is given, else its last annotated frame.
  An annotation past the end of the video is an error.
- Where two segments overlap, the one that starts later takes the shared frames.
- The RULSTM folds split *segments*, so one video has segments in both the training and the
  validation file of a fold. A video-level split must not leak: a video is in ``test.splitK`` when
  at least half of its segments are validation segments of fold K, else in ``train.splitK``.
  (The SVTAS code listed a video in both bundles whenever it had segments on both sides.)
- Verb names are written with spaces replaced by ``_`` so that tools splitting lines on
  whitespace (the MS-TCN code) read them.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svtas_ray.data.files import check_plain_name, read_text
from svtas_ray.data.layout import VIDEO_EXTENSIONS, ClassMap, write_labels
from svtas_ray.errors import DataError

log = logging.getLogger(__name__)

NUM_FOLDS = 3
BACKGROUND = "None"


@dataclass(frozen=True)
class Segment:
    video: str
    start: int  # 0-based, inclusive
    stop: int  # 0-based, exclusive
    verb: int


def read_verbs(actions_csv: Path) -> list[str]:
    """Verb names indexed by verb id, from ``actions.csv`` (``id, verb_noun, Verb_noun``)."""
    verbs: dict[int, str] = {}
    for lineno, row in _rows(actions_csv, 3):
        try:
            verb_id = int(row[1].split("_")[0])
        except ValueError:
            raise DataError(f"{actions_csv}:{lineno}: bad verb_noun id {row[1]!r}") from None
        name = row[2].rsplit("_", 1)[0] if "_" in row[2] else row[2]
        verbs.setdefault(verb_id, name.replace(" ", "_"))
    if sorted(verbs) != list(range(len(verbs))):
        raise DataError(f"{actions_csv}: verb ids are not 0..{len(verbs) - 1}")
    return [verbs[i] for i in range(len(verbs))]


def read_segments(path: Path, num_verbs: int) -> list[Segment]:
    """Segments of one RULSTM split file; video names must be plain file names (no folders)."""
    out = []
    for lineno, row in _rows(path, 7):
        try:
            start, end, verb = int(row[2]), int(row[3]), int(row[4])
        except ValueError:
            raise DataError(f"{path}:{lineno}: frame or verb id is not an integer") from None
        if start < 1 or end < start:
            raise DataError(f"{path}:{lineno}: bad frame range {start}..{end}")
        if not 0 <= verb < num_verbs:
            raise DataError(f"{path}:{lineno}: verb id {verb} not in 0..{num_verbs - 1}")
        video = check_plain_name(row[1], f"{path}:{lineno}")
        out.append(Segment(video, start - 1, end, verb))
    return out


def _rows(path: Path, width: int) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    text = read_text(path, "CSV file")
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = [(i, [c.strip() for c in r]) for i, r in enumerate(reader, 1) if r]
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    for lineno, row in rows:
        if len(row) < width:
            raise DataError(f"{path}:{lineno}: expected {width} comma-separated fields")
    if not rows:
        raise DataError(f"{path}: file is empty")
    return rows


def _video_frames(videos_dir: Path | None, video: str) -> tuple[int | None, Path | None]:
    if videos_dir is None:
        return None, None
    for ext in VIDEO_EXTENSIONS:
        path = videos_dir / f"{video}{ext}"
        if path.is_file():
            from svtas_ray.data.video import VideoSource

            return VideoSource(path, (32, 32)).num_frames, path
    return None, None


def convert_egtea(
    rulstm_dir: str | Path, out: str | Path, videos_dir: str | Path | None = None
) -> Path:
    """Write the frame-wise EGTEA dataset to ``out``; returns ``out``.

    Args:
        rulstm_dir: folder with ``actions.csv``, ``training{1,2,3}.csv``, ``validation{1,2,3}.csv``.
        out: dataset root to write (mapping.txt, groundTruth/, splits/, and videos/ links).
        videos_dir: optional folder of ``<video>.mp4``; frame counts come from these videos and
            ``out/videos/`` gets symbolic links to them.
    """
    src, root = Path(rulstm_dir), Path(out)
    vdir = Path(videos_dir) if videos_dir is not None else None
    verbs = read_verbs(src / "actions.csv")
    classes = ClassMap((*verbs, BACKGROUND))
    folds = [
        (
            read_segments(src / f"training{k}.csv", len(verbs)),
            read_segments(src / f"validation{k}.csv", len(verbs)),
        )
        for k in range(1, NUM_FOLDS + 1)
    ]
    # Every fold holds all segments (training + validation); labels come from the union.
    segments: dict[tuple[str, int, int, int], Segment] = {}
    for train, val in folds:
        for s in (*train, *val):
            segments[(s.video, s.start, s.stop, s.verb)] = s
    by_video: dict[str, list[Segment]] = defaultdict(list)
    for s in segments.values():
        by_video[s.video].append(s)

    for sub in ("groundTruth", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    classes.write(root / "mapping.txt")
    overlapped = 0
    for video, segs in sorted(by_video.items()):
        segs.sort(key=lambda s: (s.start, s.stop))
        last = max(s.stop for s in segs)
        frames, vpath = _video_frames(vdir, video)
        if frames is not None and last > frames:
            raise DataError(
                f"{vpath}: annotations of {video!r} reach frame {last} but the video has {frames}"
            )
        labels = np.full(frames if frames is not None else last, len(verbs), dtype=np.int64)
        painted = np.zeros(labels.shape, dtype=bool)
        for s in segs:
            overlapped += int(painted[s.start : s.stop].sum())
            labels[s.start : s.stop] = s.verb
            painted[s.start : s.stop] = True
        write_labels(root / "groundTruth" / f"{video}.txt", labels, classes)
        if vpath is not None:
            (root / "videos").mkdir(exist_ok=True)
            link = root / "videos" / vpath.name
            if not link.exists():
                os.symlink(vpath.resolve(), link)

    for k, (train, val) in enumerate(folds, 1):
        n_train = Counter(s.video for s in train)
        n_val = Counter(s.video for s in val)
        test = sorted(v for v in by_video if n_val[v] >= n_train[v] and n_val[v] > 0)
        rest = sorted(v for v in by_video if v not in set(test))
        for part, names in (("train", rest), ("test", test)):
            path = root / "splits" / f"{part}.split{k}.bundle"
            path.write_text("".join(f"{v}.txt\n" for v in names), encoding="utf-8")
    log.info(
        "EGTEA: %d videos, %d segments, %d frames re-labelled by overlapping segments",
        len(by_video),
        len(segments),
        overlapped,
    )
    return root
