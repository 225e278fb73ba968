"""A real multi-node Ray cluster on one machine, started with ``ray start`` (tests only).

Every port is passed explicitly (free ones, never Ray's defaults) and the head gets a private short
``--temp-dir`` (unix socket paths are limited to ~107 characters). :meth:`LocalCluster.stop` ends
exactly the processes this cluster started: those whose command line holds the temp dir or the
GCS address, and all their descendants. Never a bare ``ray stop``, which would also end other
people's clusters on the same machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports that were free a moment ago."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def ray_env() -> dict[str, str]:
    """The environment of ``ray`` commands: the venv first on PATH (the jobs' ``python``)."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["RAY_AUTH_MODE"] = "disabled"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.pop("RAY_ADDRESS", None)
    return env


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ports bound to 0 (where :func:`free_ports` draws from)."""
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def worker_port_range(taken: set[int], width: int = 100) -> int:
    """The first port of ``width`` free ports outside the ephemeral range and ``taken``.

    Ray refuses to start a node whose worker range holds one of its other ports, and
    :func:`free_ports` draws those from the ephemeral range, so the worker range sits below it.
    """
    eph_lo, eph_hi = _ephemeral_range()
    below = eph_lo - width if eph_lo > 10000 + width else None
    rng = random.Random()
    for _ in range(200):
        lo = rng.randrange(10000, below) if below else rng.randrange(eph_hi + 1, 65536 - width)
        ports = range(lo, lo + width)
        if taken.isdisjoint(ports) and all(_bindable(p) for p in ports):
            return lo
    raise RuntimeError(f"no {width} consecutive free ports outside {eph_lo}-{eph_hi}")


def _node_ports(taken: set[int]) -> list[str]:
    ports = free_ports(6)
    taken.update(ports)
    node, obj, metrics, agent, agent_grpc, runtime_env = ports
    lo = worker_port_range(taken)
    taken.update(range(lo, lo + 100))
    return [
        f"--node-manager-port={node}",
        f"--object-manager-port={obj}",
        f"--metrics-export-port={metrics}",
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={runtime_env}",
        f"--min-worker-port={lo}",
        f"--max-worker-port={lo + 99}",
    ]


@dataclass
class LocalCluster:
    """A head node (and the nodes added to it) running on this machine."""

    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rt", dir="/tmp")))
    gcs_port: int = 0
    dashboard_port: int = 0
    log: list[str] = field(default_factory=list)
    taken: set[int] = field(default_factory=set)  # every port handed to a node of this cluster

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _ray_start(self, args: list[str]) -> None:
        cmd = [str(VENV_BIN / "ray"), "start", "--disable-usage-stats", *args]
        proc = subprocess.run(
            cmd, env=ray_env(), capture_output=True, text=True, timeout=120, check=False
        )
        self.log.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")

    def start_head(self, num_cpus: int = 1) -> None:
        self.gcs_port, self.dashboard_port, client = free_ports(3)
        self.taken.update((self.gcs_port, self.dashboard_port, client))
        self._ray_start(
            [
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={self.gcs_port}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
                "--include-dashboard=true",
                f"--ray-client-server-port={client}",
                f"--temp-dir={self.temp_dir}",
                f"--num-cpus={num_cpus}",
                "--num-gpus=0",
                f"--object-store-memory={300 * 1024**2}",
                *_node_ports(self.taken),
            ]
        )

    def add_node(self, num_cpus: int = 1, resources: dict[str, float] | None = None) -> None:
        self._ray_start(
            [
                f"--address={self.gcs_address}",
                "--node-ip-address=127.0.0.1",
                f"--num-cpus={num_cpus}",
                "--num-gpus=0",
                f"--object-store-memory={300 * 1024**2}",
                f"--resources={json.dumps(resources or {})}",
                *_node_ports(self.taken),
            ]
        )

    def processes(self) -> list[psutil.Process]:
        """This cluster's processes: temp dir or GCS address on the command line, + children."""
        if not self.gcs_port:
            return []
        gcs = re.compile(rf":{self.gcs_port}\b")
        roots = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            if p.pid == os.getpid():
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            if str(self.temp_dir) in cmd or gcs.search(cmd):
                roots.append(p)
        found = {p.pid: p for p in roots}
        for p in roots:
            with contextlib.suppress(psutil.NoSuchProcess):
                found.update({c.pid: c for c in p.children(recursive=True)})
        return list(found.values())

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate this cluster's processes, kill what is left, delete the temp dir."""
        for _ in range(2):  # a second pass catches workers spawned while the first one ran
            procs = self.processes()
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.terminate()
            _, alive = psutil.wait_procs(procs, timeout=timeout)
            for p in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            psutil.wait_procs(alive, timeout=5)
        time.sleep(0.2)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
