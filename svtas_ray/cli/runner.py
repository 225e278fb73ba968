"""The one runner every entry point shares: parse, log, run, and turn bad input into one sentence.

``svtas-ray``, the ``experiments/`` scripts and the ``benchmarks/`` scripts all end in
:func:`run`: a :class:`~svtas_ray.errors.SvtasError` (bad data, config or argument) is printed as
``<prog>: error: <sentence>`` on stderr with exit code 2, also when Ray wrapped it on its way
from an actor (:func:`~svtas_ray.errors.user_error`); Ctrl-C exits with 130; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from svtas_ray.errors import user_error

Command = Callable[[argparse.Namespace], int]


def script_parser(prog: str | None, description: str | None) -> argparse.ArgumentParser:
    """A parser for a stand-alone script whose docstring is its ``--help``."""
    return argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def run(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None = None,
    command: Command | None = None,
) -> int:
    """Parse ``argv``, set up logging (``-v``/``--verbose``: debug; ``-q``/``--quiet``: warnings
    only), run ``command`` (default: the ``func`` the chosen sub-command set) and return the exit
    code."""
    args = parser.parse_args(argv)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(
        level=logging.DEBUG
        if getattr(args, "verbose", False)
        else logging.WARNING
        if quiet
        else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    func: Command = command or args.func
    prog = " ".join(p for p in (parser.prog, getattr(args, "command", None)) if p)
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        error = user_error(exc)  # a SvtasError, possibly wrapped by Ray on its way from an actor
        if error is None:
            raise
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
