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
- Verb names are written with whitespace replaced by ``_`` so that tools splitting lines on
  whitespace (the MS-TCN code) read them. Names must then be distinct and differ from ``None``;
  every row of a verb id must give it the same name.
- The output folder must be new or empty, and ``--videos`` an existing folder; everything is read
  and checked before the first file is written.
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

from svtas_ray.data.files import check_plain_name, empty_folder, read_text
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
    """Verb names indexed by verb id, from ``actions.csv`` (``id, verb_noun, Verb_noun``).

    Every row of one verb id must name the same verb, and names (after :func:`_verb_name`) must
    be distinct and not :data:`BACKGROUND`: each becomes one class of ``mapping.txt``.
    """
    verbs: dict[int, tuple[str, int]] = {}  # verb id -> (name, first line)
    ids: dict[str, int] = {}  # name -> verb id
    for lineno, row in _rows(actions_csv, 3):
        where = f"{actions_csv}:{lineno}"
        try:
            verb_id = int(row[1].split("_")[0])
        except ValueError:
            raise DataError(f"{where}: bad verb_noun id {row[1]!r}") from None
        name = _verb_name(row[2])
        if verb_id in verbs:
            known, first = verbs[verb_id]
            if name != known:
                raise DataError(
                    f"{where}: verb {verb_id} is named {name!r} here but {known!r} at line {first}"
                )
            continue
        if not name or name == BACKGROUND:
            what = (
                "has an empty name" if not name else f"is named {name!r} like the background class"
            )
            raise DataError(f"{where}: verb {verb_id} {what} (from {row[2]!r})")
        if name in ids:
            raise DataError(
                f"{where}: verb {verb_id} is named {name!r} like verb {ids[name]} (line "
                f"{verbs[ids[name]][1]}); each verb must be one class"
            )
        verbs[verb_id], ids[name] = (name, lineno), verb_id
    if sorted(verbs) != list(range(len(verbs))):
        raise DataError(f"{actions_csv}: verb ids are not 0..{len(verbs) - 1}")
    return [verbs[i][0] for i in range(len(verbs))]


def _verb_name(verb_noun: str) -> str:
    """The verb of ``Verb_noun``, whitespace replaced by ``_`` (``Turn on_tap`` -> ``Turn_on``)."""
    verb = verb_noun.rsplit("_", 1)[0] if "_" in verb_noun else verb_noun
    return "_".join(verb.split())


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


def _videos_folder(videos_dir: str | Path | None) -> Path | None:
    """``videos_dir`` as a Path; it must be an existing folder when given."""
    if videos_dir is None:
        return None
    vdir = Path(videos_dir)
    if not vdir.is_dir():
        problem = "is a file, not a folder" if vdir.exists() else "folder not found"
        raise DataError(f"{vdir}: {problem} (--videos names the folder of <video>.mp4 files)")
    return vdir


def _video_frames(videos_dir: Path | None, video: str) -> tuple[int | None, Path | None]:
    if videos_dir is None:
        return None, None
    for ext in VIDEO_EXTENSIONS:
        path = videos_dir / f"{video}{ext}"
        if path.is_file():
            from svtas_ray.data.video import VideoSource

            return VideoSource(path, (32, 32)).num_frames, path
    return None, None


def _paint(
    video: str, segs: list[Segment], vdir: Path | None, background: int
) -> tuple[np.ndarray, Path | None, int]:
    """(frame labels, video file or None, frames re-labelled by overlaps) of one video."""
    segs = sorted(segs, key=lambda s: (s.start, s.stop))
    last = max(s.stop for s in segs)
    frames, vpath = _video_frames(vdir, video)
    if frames is not None and last > frames:
        raise DataError(
            f"{vpath}: annotations of {video!r} reach frame {last} but the video has {frames}"
        )
    labels = np.full(frames if frames is not None else last, background, dtype=np.int64)
    painted = np.zeros(labels.shape, dtype=bool)
    overlapped = 0
    for s in segs:
        overlapped += int(painted[s.start : s.stop].sum())
        labels[s.start : s.stop] = s.verb
        painted[s.start : s.stop] = True
    return labels, vpath, overlapped


def _split_bundles(
    folds: list[tuple[list[Segment], list[Segment]]], videos: list[str]
) -> dict[str, list[str]]:
    """Bundle file name -> videos, by the majority rule of the module docstring."""
    bundles = {}
    for k, (train, val) in enumerate(folds, 1):
        n_train = Counter(s.video for s in train)
        n_val = Counter(s.video for s in val)
        test = sorted(v for v in videos if n_val[v] >= n_train[v] and n_val[v] > 0)
        bundles[f"train.split{k}.bundle"] = sorted(set(videos) - set(test))
        bundles[f"test.split{k}.bundle"] = test
    return bundles


def convert_egtea(
    rulstm_dir: str | Path, out: str | Path, videos_dir: str | Path | None = None
) -> Path:
    """Write the frame-wise EGTEA dataset to ``out``; returns ``out``.

    Args:
        rulstm_dir: folder with ``actions.csv``, ``training{1,2,3}.csv``, ``validation{1,2,3}.csv``.
        out: dataset root to write (mapping.txt, groundTruth/, splits/, and videos/ links); a new
            or empty folder.
        videos_dir: optional existing folder of ``<video>.mp4``; frame counts come from these
            videos and ``out/videos/`` gets symbolic links to them.
    """
    src, root = Path(rulstm_dir), Path(out)
    vdir = _videos_folder(videos_dir)
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
    painted = {v: _paint(v, segs, vdir, len(verbs)) for v, segs in sorted(by_video.items())}

    empty_folder(root, "dataset")
    for sub in ("groundTruth", "splits"):
        (root / sub).mkdir()
    classes.write(root / "mapping.txt")
    for video, (labels, vpath, _) in painted.items():
        write_labels(root / "groundTruth" / f"{video}.txt", labels, classes)
        if vpath is not None:
            (root / "videos").mkdir(exist_ok=True)
            os.symlink(vpath.resolve(), root / "videos" / vpath.name)
    for name, videos in _split_bundles(folds, list(painted)).items():
        (root / "splits" / name).write_text("".join(f"{v}.txt\n" for v in videos), encoding="utf-8")
    log.info(
        "EGTEA: %d videos, %d segments, %d frames re-labelled by overlapping segments",
        len(by_video),
        len(segments),
        sum(n for _, _, n in painted.values()),
    )
    return root
