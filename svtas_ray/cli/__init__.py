"""The ``svtas-ray`` command line (also ``python -m svtas_ray``): one module per command group.

- :mod:`~svtas_ray.cli.data`: ``synth``, ``check-data``, ``convert-egtea``, ``score``, ``viz``
- :mod:`~svtas_ray.cli.train`: ``train``, ``eval``, ``stream``
- :mod:`~svtas_ray.cli.tune`: ``tune``; :mod:`~svtas_ray.cli.experiment`: the dataset scripts
- :mod:`~svtas_ray.cli.baseline`: ``baseline train|eval``; :mod:`~svtas_ray.cli.bench`: ``bench``

Every sub-command's ``--help`` works without data, Ray or a GPU: heavy modules are imported inside
the command functions. :func:`svtas_ray.cli.runner.run` turns a problem with the user's input into
one sentence on stderr and exit code 2, for every entry point.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from svtas_ray.cli import baseline, bench, data, train, tune
from svtas_ray.cli.runner import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="svtas-ray",
        description="Streaming video temporal action segmentation with RL on Ray.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (data, train, tune, baseline, bench):
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)
