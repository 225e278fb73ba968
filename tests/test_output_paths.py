"""Output folders: a file in the way is one sentence naming it, and a refusal writes nothing.

``make_folder`` is the one place an output folder is made (datasets, tables, images); the
commands' refusals are rows of tests/test_bad_input.py, these pin that nothing was written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_tiny_dataset
from hostile_inputs import files_under, write_rulstm

from svtas_ray.config import SynthConfig
from svtas_ray.data.cache import ensure_synthetic
from svtas_ray.data.egtea import convert_egtea
from svtas_ray.data.files import check_output, empty_folder, make_folder
from svtas_ray.errors import ConfigError, DataError
from svtas_ray.results import write_table


def test_make_folder_names_the_file_in_the_way(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    name = re.escape(str(afile))
    with pytest.raises(DataError, match=rf"^{name}: is a file, not a folder; choose a folder"):
        make_folder(afile, "table")
    with pytest.raises(DataError, match=rf"^{name}: is a file, .* {name}/a/b for the image"):
        make_folder(afile / "a" / "b", "image")
    assert make_folder(tmp_path / "a" / "b", "image").is_dir()
    assert make_folder(tmp_path / "a" / "b", "image").is_dir()  # already there is fine


def test_empty_folder_refuses_one_with_content(tmp_path: Path) -> None:
    assert empty_folder(tmp_path / "new", "dataset").is_dir()
    (tmp_path / "new" / "x").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        empty_folder(tmp_path / "new", "dataset")


def test_a_table_without_suffix_goes_beside_a_folder_of_its_name(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()  # as the benchmark keeps runs/ beside its runs table
    written = write_table(pd.DataFrame({"a": [1]}), tmp_path / "runs")
    assert sorted(p.name for p in written) == ["runs.csv", "runs.md", "runs.parquet"]
    assert not any((tmp_path / "runs").iterdir())


def test_synth_from_a_bad_source_writes_nothing(tmp_path: Path) -> None:
    src = write_tiny_dataset(tmp_path / "ds")
    (src / "splits" / "test.split1.bundle").write_text("v0.txt\nmissing.txt\n")
    out = tmp_path / "out"
    for _ in range(2):  # a second try finds no half-written dataset to reuse
        with pytest.raises(DataError, match=r"ds/splits/test\.split1\.bundle: lists video"):
            ensure_synthetic(SynthConfig(), out, from_labels=src)
        assert not out.exists()
    old = ensure_synthetic(SynthConfig(num_videos=4, scale=0.1, feature_dim=8), out)
    before = {p: p.read_bytes() for p in files_under(old)}
    with pytest.raises(DataError, match=r"test\.split1\.bundle: lists video"):
        ensure_synthetic(SynthConfig(), out, from_labels=src, overwrite=True)
    assert {p: p.read_bytes() for p in files_under(old)} == before  # not replaced by a bad one


def test_convert_egtea_leaves_a_full_folder_alone(tmp_path: Path) -> None:
    src = write_rulstm(tmp_path / "rulstm")
    old = write_tiny_dataset(tmp_path / "old")
    before = {p: p.read_bytes() for p in files_under(old)}
    with pytest.raises(DataError, match="not empty"):
        convert_egtea(src, old)
    assert {p: p.read_bytes() for p in files_under(old)} == before
    with pytest.raises(DataError, match="novideos: folder not found"):
        convert_egtea(src, tmp_path / "out", tmp_path / "novideos")
    assert not (tmp_path / "out").exists()
    assert convert_egtea(src, tmp_path / "empty").is_dir()  # a new folder, then an empty one
    (tmp_path / "empty2").mkdir()
    assert (convert_egtea(src, tmp_path / "empty2") / "mapping.txt").is_file()


def test_check_output_refuses_what_cannot_be_written_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    cases = [
        (tmp_path, "file", "names a file to write, and this is a folder"),
        (tmp_path / "f", "folder", "names a folder to write into, and this is a file"),
        (tmp_path / "full", "new folder", "already holds files; choose another"),
        (tmp_path / "f" / "sub" / "x.txt", "file", "f is a file, not a folder"),
    ]
    for path, kind, problem in cases:
        with pytest.raises(ConfigError, match=problem):
            check_output(path, kind)  # type: ignore[arg-type]
    assert check_output(tmp_path / "new" / "deep", "new folder") == tmp_path / "new" / "deep"
    assert check_output(tmp_path / "full", "folder") == tmp_path / "full"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "full"]  # nothing was created
