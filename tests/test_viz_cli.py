"""``svtas-ray viz``: how --pred arguments become named bars, and which file --out writes.

The refusals (a folder or an unknown suffix as --out, a name given twice) are rows of
tests/test_bad_input.py; these pin what is accepted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_tiny_dataset
from hostile_inputs import run_cli

from svtas_ray.cli.data import _prediction_folders
from svtas_ray.data.layout import Dataset
from svtas_ray.data.predictions import write_prediction
from svtas_ray.errors import DataError
from svtas_ray.viz import image_path


def test_name_is_what_precedes_the_first_equals_sign() -> None:
    folders = _prediction_folders(["ours=runs/lr=0.1/pred", "runs/plain", "=x/y"])
    assert folders == {
        "ours": Path("runs/lr=0.1/pred"),
        "plain": Path("runs/plain"),
        "y": Path("x/y"),
    }


def test_a_path_with_an_equals_sign_is_a_folder(tmp_path: Path) -> None:
    trial = tmp_path / "trial_lr=0.001" / "predictions"
    trial.mkdir(parents=True)
    assert _prediction_folders([str(trial)]) == {"predictions": trial}
    missing = f"{tmp_path}/trial_lr=0.002/predictions"  # not there: still not split at the '='
    assert _prediction_folders([missing]) == {"predictions": Path(missing)}


@pytest.mark.parametrize(
    ("given", "written"),
    [("bars.png", "bars.png"), ("bars", "bars.png"), ("bars.PDF", "bars.PDF"), ("b.svg", "b.svg")],
)
def test_out_is_the_file_written(tmp_path: Path, given: str, written: str) -> None:
    assert image_path(tmp_path / given) == tmp_path / written


def test_the_current_folder_is_no_image() -> None:
    with pytest.raises(DataError, match=r"^\.: is a folder"):
        image_path(".")


def test_viz_prints_the_file_it_wrote(tmp_path: Path) -> None:
    root = write_tiny_dataset(tmp_path / "ds")
    ds = Dataset.open(root)
    pred = tmp_path / "trial_lr=0.001" / "predictions"
    pred.mkdir(parents=True)
    write_prediction(pred / "v1.txt", ds.labels("v1"), ds.classes)
    out = tmp_path / "v" / "noext"
    args = ["viz", "--gt", str(root), "--video", "v1", "--pred", str(pred), "--out", str(out)]
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote {out}.png"
    assert sorted(p.name for p in out.parent.iterdir()) == ["noext.png"]
