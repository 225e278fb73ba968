"""Starting or joining Ray the same way everywhere (standalone, ``ray job submit``, Tune)."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def init_ray(num_cpus: int | None = None, **kwargs: Any) -> bool:
    """Make sure Ray is initialised; returns True when this call started it.

    Inside a Ray job (``RAY_ADDRESS`` set) it joins that cluster with a plain ``ray.init()``
    (passing ``num_cpus`` there raises); otherwise it starts a private embedded cluster with
    ``address="local"``, which never attaches to a ``ray start`` cluster on the same machine.
    Already initialised (a Tune trial, a test fixture): nothing to do.
    """
    import ray

    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):
        log.info("joining the Ray cluster at %s", os.environ["RAY_ADDRESS"])
        ray.init(**kwargs)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **kwargs)
    return True
