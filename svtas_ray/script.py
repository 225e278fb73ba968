"""The entry point shared by the stand-alone scripts (benchmarks/, experiments/sweep.py)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from svtas_ray.errors import SvtasError


def run_script(
    prog: str | None,
    description: str | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    command: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``argv`` with ``add_arguments``, log at INFO, run ``command``; bad input: one
    sentence on stderr and exit code 2."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return command(args)
    except SvtasError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
