"""What the data layer accepts from files it did not write (UTF-8 text, plain file names), and
how it makes the folders it writes into.

Dataset files come from other tools, other machines and sometimes other people. Three rules keep a
bad one, or a bad output path, from becoming a traceback or a write outside the dataset:

- every text file is read with :func:`read_text` (UTF-8; anything else is one DataError sentence);
- every name that becomes part of a path (a video name in a split bundle, a CSV, a prediction
  folder) passes :func:`check_plain_name`: one path component, never ``..`` or an absolute path;
- every output folder is made by :func:`make_folder` (or :func:`empty_folder`, for a dataset):
  a file in its way is one DataError sentence naming that file; an output a command writes only
  after long work (training, streaming) is checked first by :func:`check_output`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from svtas_ray.errors import ConfigError, DataError

_FORBIDDEN = ("/", "\\", "\x00")


def read_text(path: Path, what: str = "file") -> str:
    """The text of ``path``, decoded as UTF-8 (a leading byte-order mark is dropped).

    Raises DataError naming the file when it is missing, a folder, unreadable or not UTF-8;
    ``what`` names the file's role in the message ("label file", "split file", ...).
    """
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: {what} is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not a UTF-8 text file (undecodable byte at offset {exc.start}); "
            f"expected a {what} in UTF-8"
        ) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None


def plain_name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name (one path component), or None when it is."""
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return f"{name!r} names a folder"
    for ch in _FORBIDDEN:
        if ch in name:
            return f"it contains {ch!r}"
    return None


def check_plain_name(name: str, where: str, what: str = "video name") -> str:
    """``name`` itself when it is a plain file name, else DataError at ``where`` (file[:line]).

    A plain file name is one path component: not empty, not ``.`` or ``..``, and without ``/``,
    ``\\`` or NUL, so ``folder / name`` always stays inside ``folder``.
    """
    problem = plain_name_problem(name)
    if problem is not None:
        raise DataError(f"{where}: {what} {name!r} is not a plain file name ({problem})")
    return name


def file_in(folder: Path, name: str, suffix: str = "", what: str = "video name") -> Path:
    """``folder / (name + suffix)``, refused unless it lies directly inside ``folder``.

    ``name`` must be a plain file name, and the path must not lead out of ``folder`` through an
    existing symbolic link either (defence in depth for files the tool writes).
    """
    check_plain_name(name, str(folder), what)
    path = folder / f"{name}{suffix}"
    if path.is_symlink() or path.resolve().parent != folder.resolve():
        raise DataError(f"{path}: refusing to write through a link that leads outside {folder}")
    return path


def make_folder(path: Path, what: str) -> Path:
    """Create the folder ``path`` (and its parents) for an output; ``path`` itself is returned.

    ``what`` names what the folder is for ("dataset", "table", "image"). A file where the folder
    or one of its parents should be, or any other OSError, is one DataError sentence naming the
    path at fault, raised before anything is written.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = _file_in_the_way(path)
        if blocker == path:
            raise DataError(
                f"{path}: is a file, not a folder; choose a folder for the {what}"
            ) from None
        if blocker is not None:
            raise DataError(
                f"{blocker}: is a file, not a folder, so the folder {path} for the {what} "
                "cannot be created under it"
            ) from None
        where = exc.filename or path
        raise DataError(
            f"{where}: cannot create the folder for the {what} ({exc.strerror or exc})"
        ) from None
    return path


def empty_folder(path: Path, what: str) -> Path:
    """:func:`make_folder`, refused (before anything is written) when ``path`` holds anything."""
    make_folder(path, what)
    if any(path.iterdir()):
        raise DataError(f"{path}: output folder is not empty; choose a new one or delete it")
    return path


def check_output(
    path: Path,
    kind: Literal["file", "folder", "new folder"],
    flag: str = "--out",
    hint: str = "choose another",
) -> Path:
    """Refuse, before any work and without creating anything, an output ``path`` (given as
    ``flag``) that cannot be written as ``kind``: a folder where a file goes, a file where a
    folder goes, a ``new folder`` that already holds something (``hint`` says what to do), or a
    file among its parents. Returns ``path``."""
    if kind == "file" and path.is_dir():
        raise ConfigError(f"{path}: {flag} names a file to write, and this is a folder")
    if kind != "file" and path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: {flag} names a folder to write into, and this is a file")
    if kind == "new folder" and path.is_dir() and any(path.iterdir()):
        raise ConfigError(f"{path}: {flag} already holds files; {hint}")
    blocker = _file_in_the_way(path.parent)
    if blocker is not None:
        raise ConfigError(f"{path}: cannot be written, {blocker} is a file, not a folder")
    return path


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest of ``path`` and its parents that exists, when it is not a folder."""
    for p in (path, *path.parents):
        try:
            if p.exists():
                return None if p.is_dir() else p
        except OSError:
            return None
    return None
