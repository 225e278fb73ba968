"""Errors that carry one clear sentence for the user.

Every problem with the user's input (a data file, a config value, a CLI argument) is raised as a
subclass of :class:`SvtasError` whose message names the file or key and the problem. The CLI turns
these into a one-line message and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SvtasError(Exception):
    """Base class of user-facing errors (bad data, bad config, bad arguments)."""


class DataError(SvtasError, ValueError):
    """A dataset file is missing, malformed or inconsistent with the rest of the dataset."""


class ConfigError(SvtasError, ValueError):
    """A configuration key is unknown or its value is invalid."""
