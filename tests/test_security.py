"""Hostile input never writes outside its folder, deletes what the tool did not make, or runs.

- names from annotation CSVs, split bundles and prediction folders cannot lead out of a folder;
- ``synth --overwrite`` replaces only a folder that ``synth`` made;
- pretrained-backbone files whose loading can run code (torch.export ``.pt2``, TorchScript,
  pickles) are refused; each crafted file here is shown to run its payload when loaded the
  unsafe way, and never when loaded through svtas-ray;
- the embedded Ray cluster, which listens on every interface, refuses unauthenticated clients.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import write_tiny_dataset
from hostile_inputs import REPO, assert_one_sentence, files_under, run_cli, write_rulstm

from svtas_ray.data.egtea import convert_egtea
from svtas_ray.data.layout import Dataset
from svtas_ray.data.predictions import prediction_path, write_video_prediction
from svtas_ray.errors import ConfigError, DataError
from svtas_ray.models.inputs import load_pretrained_trunk

# --------------------------------------------------------------------------- traversal


@pytest.mark.parametrize("video", ["../../../x/escaped", "ABSOLUTE/x/escaped"])
def test_egtea_video_names_cannot_escape_the_output_folder(tmp_path: Path, video: str) -> None:
    src = write_rulstm(tmp_path / "rulstm")
    out = tmp_path / "a" / "b" / "out"
    (tmp_path / "a" / "x").mkdir(parents=True)  # where ../../../x/escaped would land
    video = video.replace("ABSOLUTE", str(tmp_path / "a"))
    rows = (src / "validation1.csv").read_text().replace("P02-R01-PastaSalad", video)
    (src / "validation1.csv").write_text(rows)
    before = files_under(tmp_path)
    with pytest.raises(DataError, match=r"validation1\.csv:1: video name .* not a plain"):
        convert_egtea(src, out)
    assert files_under(tmp_path) == before  # nothing written, inside or outside out/


def test_bundle_names_are_refused_where_they_are_read(tmp_path: Path) -> None:
    root = write_tiny_dataset(tmp_path / "ds")
    victim = tmp_path / "somewhere" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("precious\n")
    bundle = root / "splits" / "test.split1.bundle"
    for line in ("../../somewhere/victim.txt", str(victim)):
        bundle.write_text(f"v0.txt\n{line}\n")
        with pytest.raises(DataError, match=r"test\.split1\.bundle:2: video name"):
            Dataset.open(root).split_videos(1, "test")
    assert victim.read_text() == "precious\n"


def test_prediction_files_stay_in_their_folder(tmp_path: Path) -> None:
    ds = Dataset.open(write_tiny_dataset(tmp_path / "ds"))
    pred = tmp_path / "pred"
    pred.mkdir()
    labels = ds.labels("v0")
    outside = tmp_path / "victim.txt"
    outside.write_text("precious\n")
    for video in ("../victim", str(tmp_path / "victim"), "..", ""):
        with pytest.raises(DataError, match="not a plain file name"):
            write_video_prediction(pred, video, labels, ds.classes)
        with pytest.raises(DataError, match="not a plain file name"):
            prediction_path(pred, video)
    (pred / "v0.txt").symlink_to(outside)  # a planted link must not be written through
    with pytest.raises(DataError, match="link that leads outside"):
        write_video_prediction(pred, "v0", labels, ds.classes)
    assert outside.read_text() == "precious\n"
    written = write_video_prediction(pred, "v1", ds.labels("v1"), ds.classes)
    assert written == pred / "v1.txt" and written.read_text().count("\n") == len(ds.labels("v1"))


# --------------------------------------------------------------------------- synth --overwrite


def test_synth_overwrite_never_deletes_a_folder_it_did_not_make(tmp_path: Path) -> None:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\documentclass{book}\n")
    out = run_cli("synth", "--num-videos", "4", "--scale", "0.2", "--out", str(thesis),
                  "--overwrite", cwd=tmp_path)  # fmt: skip
    assert_one_sentence(out, thesis, "not made by svtas-ray synth")
    assert (thesis / "thesis.tex").read_text() == "\\documentclass{book}\n"


def test_synth_overwrite_replaces_its_own_folders_even_half_written(tmp_path: Path) -> None:
    from svtas_ray.config import SynthConfig
    from svtas_ray.data.cache import MARKER, ensure_synthetic
    from svtas_ray.data.synthetic import generate

    cfg = SynthConfig(num_videos=4, scale=0.2, feature_dim=8)
    half = generate(cfg, tmp_path / "half")  # as an interrupted run leaves it: no settings yet
    assert json.loads((half / MARKER).read_text()) == {"complete": False}
    with pytest.raises(DataError, match="pass --overwrite"):
        ensure_synthetic(cfg, half)
    ensure_synthetic(cfg, half, overwrite=True)
    assert json.loads((half / MARKER).read_text())["synth"]["num_videos"] == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ensure_synthetic(cfg, empty) == empty  # an empty folder is used as it is


# --------------------------------------------------------------------------- files that run code


class _Touch:
    """Unpickling this creates the file ``path``: a stand-in for any code an attacker runs."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


class _TouchOnLoad(torch.nn.Module):
    """A TorchScript module whose ``__setstate__`` (run by torch.jit.load) writes ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.w = torch.zeros(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    @torch.jit.export
    def __getstate__(self) -> tuple[str, torch.Tensor, bool]:
        return (self.path, self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, torch.Tensor, bool]) -> None:
        self.path = state[0]
        self.w = state[1]
        self.training = state[2]
        torch.save(self.w, self.path)  # aten::save: any file the user can write


@pytest.fixture(scope="module")
def exported_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "net.pt2"
    program = torch.export.export(torch.nn.Linear(2, 1), (torch.zeros(1, 2),))
    torch.export.save(program, path)
    return path


def _malicious_pt2(exported: Path, path: Path, marker: Path) -> None:
    """``exported`` with its first weight stored as a pickle that creates ``marker``.

    torch.export.load reads pickled weights with ``torch.load(weights_only=False)``.
    """
    with zipfile.ZipFile(exported) as src, zipfile.ZipFile(path, "w") as out:
        names = src.namelist()
        config_name = next(n for n in names if n.endswith("model_weights_config.json"))
        config = json.loads(src.read(config_name))
        weights = config["config"]
        fqn = next(iter(weights))
        weights[fqn]["use_pickle"] = True
        payload = pickle.dumps(_Touch(marker))
        weight_name = config_name.replace("model_weights_config.json", weights[fqn]["path_name"])
        for name in names:
            if name not in (config_name, weight_name):
                out.writestr(name, src.read(name))
        out.writestr(config_name, json.dumps(config))
        out.writestr(weight_name, payload)


def _crafted(kind: str, tmp: Path, marker: Path, exported: Path) -> Path:
    match kind:
        case "pt2":
            _malicious_pt2(exported, tmp / "net.pt2", marker)
            return tmp / "net.pt2"
        case "torchscript" | "torchscript_renamed":
            name = "net.ts" if kind == "torchscript" else "net.pt"
            torch.jit.save(torch.jit.script(_TouchOnLoad(str(marker))), tmp / name)
            return tmp / name
        case "pickle":
            (tmp / "net.pt").write_bytes(pickle.dumps({"stem.0.weight": _Touch(marker)}))
            return tmp / "net.pt"
        case "torch_zip_pickle":
            torch.save({"stem.0.weight": _Touch(marker)}, tmp / "net.pt")
            return tmp / "net.pt"
    raise AssertionError(kind)


def _load_unsafely(kind: str, path: Path) -> None:
    """What a loader without these checks did (the old svtas-ray code for pt2 / TorchScript)."""
    try:
        if kind == "pt2":
            torch.export.load(path)
        elif kind.startswith("torchscript"):
            torch.jit.load(path)
        else:
            torch.load(path, weights_only=False)
    except Exception:
        pass  # the payload has run by then; the rest of the file need not load


KINDS = ["pt2", "torchscript", "torchscript_renamed", "pickle", "torch_zip_pickle"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.filterwarnings("ignore")
def test_crafted_backbones_do_run_code_when_loaded_unsafely(
    tmp_path: Path, kind: str, exported_program: Path
) -> None:
    """The files of the next test are live: loading them the unsafe way runs the payload."""
    marker = tmp_path / "pwned"
    _load_unsafely(kind, _crafted(kind, tmp_path, marker, exported_program))
    assert marker.exists()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.filterwarnings("ignore")
def test_backbone_files_that_can_run_code_are_refused(
    tmp_path: Path, kind: str, exported_program: Path
) -> None:
    marker = tmp_path / "pwned"
    path = _crafted(kind, tmp_path, marker, exported_program)
    with pytest.raises(ConfigError) as info:
        load_pretrained_trunk(path, (8, 8))
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    if kind in ("pt2", "torchscript", "torchscript_renamed"):
        assert (
            "refused, because loading a" in message and "torch.save(trunk.state_dict()" in message
        )
    assert not marker.exists()


# --------------------------------------------------------------------------- the embedded cluster

_CLUSTER = """
import json, signal, sys
import psutil, ray
from svtas_ray.rl.ray_session import init_ray
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
init_ray(1)  # as the trainer starts it (RAY_ADDRESS unset: an embedded cluster)
gcs = ray._private.worker.global_worker.node.gcs_address
listen = [
    c.laddr.ip
    for p in psutil.Process().children(recursive=True) if "gcs_server" in p.name()
    for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN
]
print(json.dumps({"gcs": gcs, "listen": listen}), flush=True)
sys.stdin.read()  # until the test closes stdin
ray.shutdown()
"""


def _gcs_answers_without_token(address: str) -> str:
    """'ok', or the gRPC status code name of an unauthenticated GetClusterId call."""
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        try:
            stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=10)
        except grpc.RpcError as exc:
            return str(exc.code().name)
    return "ok"


@pytest.mark.ray
def test_embedded_cluster_refuses_unauthenticated_clients() -> None:
    """The GCS cannot be bound to loopback in Ray 2.60 (it listens on ``::``), so token auth must
    be on, as ``make run`` sets it: a client without the token, from the machine's network
    address, is refused."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "token"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CLUSTER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline() or "null")
        assert started is not None, "the embedded cluster did not start"
        host, port = started["gcs"].rsplit(":", 1)
        loopback = {"127.0.0.1", "::1"}
        assert started["listen"], "the GCS listens nowhere?"
        if set(started["listen"]) <= loopback:
            return  # bound to loopback only: nothing else to check
        for address in (started["gcs"], f"127.0.0.1:{port}"):
            assert _gcs_answers_without_token(address) == "UNAUTHENTICATED", address
        assert host not in loopback  # the refusal above was over the network address
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def test_make_run_keeps_token_auth_on() -> None:
    """The main job's embedded cluster is reachable from the network: its token must stay on."""
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "RAY_AUTH_MODE=token" in recipe and "RAY_AUTH_MODE=disabled" not in recipe


def test_embedded_cluster_without_auth_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import ray

    from svtas_ray.rl import ray_session

    started: list[dict[str, object]] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: started.append(kwargs))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    with caplog.at_level("WARNING", logger=ray_session.__name__):
        assert ray_session.init_ray(1)
    assert started and started[0]["address"] == "local"
    assert "without authentication" in caplog.text
    caplog.clear()
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    with caplog.at_level("WARNING", logger=ray_session.__name__):
        ray_session.init_ray(1)
    assert "without authentication" not in caplog.text
