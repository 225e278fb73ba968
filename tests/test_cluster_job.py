"""A real two-node Ray cluster on this machine: `ray job submit` of experiments/gtea.py.

The head has the learner's CPU; the second node is the only one with the custom resource
``rollout_node``, so with ``resources.rollout_resource=rollout_node`` the rollout workers must run
there. The run's meta.json records each worker's node id, checked against the node's id.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from ray_cluster import REPO, VENV_BIN, LocalCluster, ray_env

pytestmark = pytest.mark.cluster

EXCLUDES = [".git", "runs/", "data/", ".venv/", "*.npy", "*.mp4", "__pycache__/", "*.egg-info/"]


def _rollout_node_id(cluster: LocalCluster) -> str:
    from ray.util.state import list_nodes

    nodes = list_nodes(address=cluster.dashboard_url, detail=True)
    ids = [n.node_id for n in nodes if "rollout_node" in (n.resources_total or {})]
    assert len(ids) == 1, nodes
    return ids[0]


def _wait_for_job(cluster: LocalCluster, job_id: str, timeout: float) -> tuple[str, str]:
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(cluster.dashboard_url)
    deadline = time.monotonic() + timeout
    status = client.get_job_status(job_id)
    while not status.is_terminal() and time.monotonic() < deadline:
        time.sleep(2)
        status = client.get_job_status(job_id)
    logs = client.get_job_logs(job_id)
    if not status.is_terminal():
        client.stop_job(job_id)
    return str(status.value if isinstance(status, JobStatus) else status), logs


def test_job_runs_rollout_workers_on_the_second_node(tmp_path: Path) -> None:
    cluster = LocalCluster()
    try:
        cluster.start_head(num_cpus=1)
        cluster.add_node(num_cpus=1, resources={"rollout_node": 1})
        runs = tmp_path / "runs"
        job_id = f"gtea-{uuid.uuid4().hex[:8]}"
        entrypoint = [
            "python",
            "experiments/gtea.py",
            f"--cache-dir={tmp_path / 'cache'}",
            "--synth=num_videos=6",
            "--synth=scale=0.3",
            "--synth=feature_dim=32",
            "--set=iterations=2",
            "--set=eval_every=2",
            "--set=val_videos=1",
            "--set=clip.clip_len=16",
            "--set=model.hidden_dim=16",
            "--set=model.tcn_layers=4",
            "--set=resources.envs_per_worker=2",
            f"--set=runs_dir={runs}",
            "--set=resources.rollout_resource=rollout_node",
        ]
        submit = subprocess.run(
            [
                str(VENV_BIN / "ray"),
                "job",
                "submit",
                f"--address={cluster.dashboard_url}",
                f"--submission-id={job_id}",
                "--no-wait",
                "--working-dir=.",
                f"--runtime-env-json={json.dumps({'excludes': EXCLUDES})}",
                "--",
                *entrypoint,
            ],
            cwd=REPO,
            env=ray_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert submit.returncode == 0, submit.stdout + submit.stderr
        status, logs = _wait_for_job(cluster, job_id, timeout=150)
        assert status == "SUCCEEDED", logs[-4000:]

        (run_dir,) = (runs / "gtea-split1").iterdir()
        meta = json.loads((run_dir / "meta.json").read_text())
        node_id = _rollout_node_id(cluster)
        assert meta["worker_nodes"] == [node_id]
        assert (run_dir / "metrics.parquet").is_file()
        assert (run_dir / "summary.md").is_file()
        assert (run_dir / "eval" / "test_best" / "per_video.parquet").is_file()
        assert (run_dir / "checkpoints" / "best.pt").is_file()
        assert "test_best" in logs
    finally:
        cluster.stop()
    assert cluster.processes() == [] or not cluster.temp_dir.exists()
