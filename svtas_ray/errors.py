"""Errors that carry one clear sentence for the user.

Every problem with the user's input (a data file, a config value, a CLI argument) is raised as a
subclass of :class:`SvtasError` whose message names the file or key and the problem. The CLI turns
these into a one-line message and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re


class SvtasError(Exception):
    """Base class of user-facing errors (bad data, bad config, bad arguments)."""


class DataError(SvtasError, ValueError):
    """A dataset file is missing, malformed or inconsistent with the rest of the dataset."""


class ConfigError(SvtasError, ValueError):
    """A configuration key is unknown or its value is invalid."""


class RunStopped(SvtasError):
    """Training stopped on a fault it could not recover from; the message says how to resume."""


_USER_ERROR = re.compile(r"^\s*(?:[\w.]+\.)?(DataError|ConfigError): (.+)$", re.MULTILINE)


def user_error(exc: BaseException) -> SvtasError | None:
    """The user-facing error behind ``exc``, which may come wrapped by Ray.

    A :class:`SvtasError` raised inside an actor method reaches the driver as a Ray task error
    that is also an instance of the original class, with its traceback as its text and the
    original as ``cause``; raised in an actor's constructor it arrives as an ``ActorDiedError``
    whose text holds the original's last line. Either way, this returns an error carrying the
    original one sentence (None when ``exc`` is not a user error).
    """
    cause = getattr(exc, "cause", None)
    if isinstance(cause, SvtasError):
        return cause
    text = str(exc)
    if isinstance(exc, SvtasError) and "\n" not in text:
        return exc
    found = _USER_ERROR.findall(text)
    if not found:
        return exc if isinstance(exc, SvtasError) else None
    kind, message = found[-1]
    return (DataError if kind == "DataError" else ConfigError)(message.strip())
