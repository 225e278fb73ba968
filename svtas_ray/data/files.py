"""What the data layer accepts from files it did not write: UTF-8 text, and plain file names.

Dataset files come from other tools, other machines and sometimes other people. Two rules keep a
bad one from becoming a traceback or a write outside the dataset:

- every text file is read with :func:`read_text` (UTF-8; anything else is one DataError sentence);
- every name that becomes part of a path (a video name in a split bundle, a CSV, a prediction
  folder) passes :func:`check_plain_name`: one path component, never ``..`` or an absolute path.
"""

from __future__ import annotations

from pathlib import Path

from svtas_ray.errors import DataError

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
