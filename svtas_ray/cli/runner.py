"""The one runner every entry point shares: parse, log, run, and turn bad input into one sentence.

``svtas-ray``, the ``experiments/`` scripts and the ``benchmarks/`` scripts all end in
:func:`run`: a :class:`~svtas_ray.errors.SvtasError` (bad data, config or argument) is printed as
``<prog>: error: <sentence>`` on stderr with exit code 2; Ctrl-C exits with 130; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from svtas_ray.errors import SvtasError

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
    """Parse ``argv``, set up logging (``-v``/``--verbose``: debug), run ``command`` (default:
    the ``func`` the chosen sub-command set) and return the exit code."""
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    func: Command = command or args.func
    prog = " ".join(p for p in (parser.prog, getattr(args, "command", None)) if p)
    try:
        return func(args)
    except SvtasError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
