"""The datasets' protocols, importable from the installed package.

``svtas_ray.experiments.<dataset>.EXPERIMENT`` for every dataset of :data:`NAMES`; the thin
``experiments/<dataset>.py`` scripts of the repository run them (``ray job submit -- python
experiments/egtea.py``), and ``svtas-ray tune --experiment NAME`` sweeps them.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from svtas_ray.config import Preset, choices
from svtas_ray.errors import ConfigError
from svtas_ray.experiments.protocol import Experiment

NAMES = choices(Preset)
"""One protocol per dataset preset: gtea, salads, breakfast, egtea."""


def load_experiment(name_or_path: str) -> Experiment:
    """The protocol ``name`` of :data:`NAMES`, or ``EXPERIMENT`` of a user's script file."""
    if name_or_path in NAMES:
        module = importlib.import_module(f"svtas_ray.experiments.{name_or_path}")
        return module.EXPERIMENT
    path = Path(name_or_path)
    if path.suffix != ".py":
        raise ConfigError(
            f"no experiment {name_or_path!r}: use one of {', '.join(NAMES)} or a path to a "
            "script that defines EXPERIMENT"
        )
    if not path.is_file():
        raise ConfigError(f"{path}: no such experiment script")
    spec = importlib.util.spec_from_file_location(f"_experiment_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's script: any error on import is bad input
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise ConfigError(f"{path}: the experiment script failed on import ({detail})") from None
    exp = getattr(module, "EXPERIMENT", None)
    if not isinstance(exp, Experiment):
        raise ConfigError(f"{path}: defines no EXPERIMENT")
    return exp
