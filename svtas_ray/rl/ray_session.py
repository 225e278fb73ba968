"""Starting or joining Ray the same way everywhere (standalone, ``ray job submit``, Tune).

The embedded cluster (``address="local"``) cannot be confined to this machine: in Ray 2.60 its
GCS server listens on all interfaces whatever node IP is given (``_node_ip_address="127.0.0.1"``
is rewritten to the machine's address, and the GCS still binds ``::``), and so do the raylet
and workers. What keeps other machines out is Ray's token authentication, on by default for a
local cluster; ``RAY_AUTH_MODE=disabled`` turns it off and leaves anyone who can reach the
machine able to run code in the job (see docs/cluster.md).
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

AUTH_MODE_ENV = "RAY_AUTH_MODE"
"""Ray's switch for token authentication ('token', or 'disabled'; unset: token for local)."""


def init_ray(num_cpus: int | None = None, **kwargs: Any) -> bool:
    """Make sure Ray is initialised; returns True when this call started it.

    Inside a Ray job (``RAY_ADDRESS`` set) it joins that cluster with a plain ``ray.init()``
    (passing ``num_cpus`` there raises); otherwise it starts a private embedded cluster with
    ``address="local"``, which never attaches to a ``ray start`` cluster on the same machine,
    and warns when token authentication is switched off for it. Already initialised (a Tune
    trial, a test fixture): nothing to do.
    """
    import ray

    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):
        log.info("joining the Ray cluster at %s", os.environ["RAY_ADDRESS"])
        ray.init(**kwargs)
    else:
        if os.environ.get(AUTH_MODE_ENV, "").lower() == "disabled":
            log.warning(
                "%s=disabled: the embedded Ray cluster listens on all network interfaces "
                "without authentication, so anyone who can reach this machine can run code in "
                "it; unset it outside tests (docs/cluster.md)",
                AUTH_MODE_ENV,
            )
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **kwargs)
    return True
