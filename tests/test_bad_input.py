"""Bad input through the real command line: exit code 2 and one sentence naming the file.

Each case builds one broken or hostile input in tmp_path (a tiny MS-TCN dataset from conftest, a
tiny RULSTM EGTEA folder) and runs ``python -m svtas_ray`` on it in a subprocess. Whatever is
wrong (a name that is a path, bytes that are not UTF-8, a feature file that is not a float
array, an output that must not be touched), the answer is exit code 2 and a single stderr line
that names the offending file (with its line where there is one), never a traceback.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tiny_dataset
from hostile_inputs import NOT_UTF8, assert_one_sentence, run_cli, write_rulstm

from svtas_ray.data.layout import Dataset
from svtas_ray.data.predictions import write_prediction

Case = Callable[[Path], tuple[list[str], str, str]]
"""tmp_path -> (CLI arguments, text the error must name, pattern the error must match)."""

NOT_PLAIN = "is not a plain file name"
NOT_TEXT = "not a UTF-8 text file"


# --------------------------------------------------------------------------- check-data


def _bundle(text: str | bytes, line: int | None) -> Case:
    def build(tmp: Path) -> tuple[list[str], str, str]:
        root = write_tiny_dataset(tmp / "ds")
        bundle = root / "splits" / "test.split1.bundle"
        if isinstance(text, bytes):
            bundle.write_bytes(text)
        else:
            bundle.write_text(text)
        where = f"{bundle}:{line}" if line else str(bundle)
        return ["check-data", str(root)], where, NOT_PLAIN if line else NOT_TEXT

    return build


def _dataset_file(relative: str, content: bytes | np.ndarray, pattern: str) -> Case:
    def build(tmp: Path) -> tuple[list[str], str, str]:
        root = write_tiny_dataset(tmp / "ds")
        path = root / relative
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            np.save(path, content, allow_pickle=True)
        return ["check-data", str(root)], str(path), pattern

    return build


def _truncated_features(tmp: Path) -> tuple[list[str], str, str]:
    root = write_tiny_dataset(tmp / "ds")
    path = root / "features" / "v1.npy"
    path.write_bytes(path.read_bytes()[:-40])
    return ["check-data", str(root)], str(path), "not a readable .npy array"


def _npz_features(tmp: Path) -> tuple[list[str], str, str]:
    root = write_tiny_dataset(tmp / "ds")
    path = root / "features" / "v1.npy"
    with path.open("wb") as f:
        np.savez(f, x=np.zeros((5, 57), np.float32))
    return ["check-data", str(root)], str(path), r"\.npz archive"


def _features_dir(name: str, pattern: str) -> Case:
    """check-data --features-dir NAME, where ``rgb`` is a file and ``nothing`` is not there."""

    def build(tmp: Path) -> tuple[list[str], str, str]:
        root = write_tiny_dataset(tmp / "ds")
        (root / "rgb").write_text("x")
        return ["check-data", str(root), "--features-dir", name], str(root / name), pattern

    return build


# --------------------------------------------------------------------------- score


def _predictions(tmp: Path) -> tuple[Path, Path]:
    root = write_tiny_dataset(tmp / "ds")
    ds = Dataset.open(root)
    pred = tmp / "pred"
    pred.mkdir()
    for v in ds.videos():
        write_prediction(pred / f"{v}.txt", ds.labels(v), ds.classes)
    return root, pred


def _prediction_not_utf8(tmp: Path) -> tuple[list[str], str, str]:
    root, pred = _predictions(tmp)
    (pred / "v0.txt").write_bytes(NOT_UTF8)
    return ["score", "--gt", str(root), "--pred", str(pred)], str(pred / "v0.txt"), NOT_TEXT


def _score_split_traversal(tmp: Path) -> tuple[list[str], str, str]:
    root, pred = _predictions(tmp)
    bundle = root / "splits" / "test.split1.bundle"
    bundle.write_text("v0.txt\n../../pred/v1.txt\n")
    args = ["score", "--gt", str(root), "--pred", str(pred), "--split", "1"]
    return args, f"{bundle}:2", NOT_PLAIN


def _viz_video_traversal(tmp: Path) -> tuple[list[str], str, str]:
    root = write_tiny_dataset(tmp / "ds")
    args = ["viz", "--gt", str(root), "--video", "../../ds/groundTruth/v0", "--out", "x.png"]
    return args, str(root), NOT_PLAIN


def _viz(out: str, preds: tuple[str, ...], names: str, pattern: str) -> Case:
    """viz of v1 with these ``--out`` and ``--pred`` arguments; in each, ``{tmp}`` is tmp_path,
    ``{pred}`` a folder of good predictions and ``{file}`` a plain file (``{tmp}/adir`` and
    ``{tmp}/bars.png`` are folders); the error names ``names`` (formatted the same way)."""

    def build(tmp: Path) -> tuple[list[str], str, str]:
        root, pred = _predictions(tmp)
        (tmp / "afile").write_text("x")
        (tmp / "adir").mkdir()
        (tmp / "bars.png").mkdir()
        fill = {"pred": str(pred), "tmp": str(tmp), "file": str(tmp / "afile")}
        args = ["viz", "--gt", str(root), "--video", "v1", "--out", out.format(**fill)]
        for item in preds:
            args += ["--pred", item.format(**fill)]
        return args, names.format(**fill), pattern

    return build


# --------------------------------------------------------------------------- synth


def _synth_out_is_a_file(tmp: Path) -> tuple[list[str], str, str]:
    out = tmp / "thesis.tex"
    out.write_text("\\documentclass{book}\n")
    return ["synth", "--num-videos", "4", "--out", str(out)], str(out), "is a file"


def _synth_overwrite_foreign_folder(tmp: Path) -> tuple[list[str], str, str]:
    out = tmp / "thesis"
    out.mkdir()
    (out / "thesis.tex").write_text("\\documentclass{book}\n")
    args = ["synth", "--num-videos", "4", "--out", str(out), "--overwrite"]
    return args, str(out), "not made by svtas-ray synth"


def _synth_from_labels_not_utf8(tmp: Path) -> tuple[list[str], str, str]:
    root = write_tiny_dataset(tmp / "ds")
    (root / "mapping.txt").write_bytes(NOT_UTF8)
    args = ["synth", "--from-labels", str(root), "--out", str(tmp / "out")]
    return args, str(root / "mapping.txt"), NOT_TEXT


def _synth_out_under_a_file(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "afile").write_text("x")
    out = tmp / "afile" / "gtea"
    return ["synth", "--num-videos", "4", "--out", str(out)], str(tmp / "afile"), "is a file"


def _synth_source_bundle(name: str, text: str, pattern: str) -> Case:
    """synth --from-labels of a tiny dataset whose splits/NAME holds ``text``: the error names
    the source's bundle, not the output's."""

    def build(tmp: Path) -> tuple[list[str], str, str]:
        root = write_tiny_dataset(tmp / "ds")
        (root / "splits" / name).write_text(text)
        args = ["synth", "--from-labels", str(root), "--out", str(tmp / "out")]
        return args, str(root / "splits" / name), pattern

    return build


def _synth_bg_without_from_labels(tmp: Path) -> tuple[list[str], str, str]:
    args = ["synth", "--num-videos", "4", "--out", str(tmp / "out"), "--bg", "foo"]
    return args, "--bg", "applies to --from-labels"


# --------------------------------------------------------------------------- train, eval, stream


def _checkpoint(tmp: Path, classes: int = 3, dim: int = 5) -> tuple[Path, Path]:
    """A tiny dataset and a segmenter checkpoint trained (untrained here) for it, in a run
    folder whose meta.json records no tuned post-processing."""
    import dataclasses

    from svtas_ray.config import ClipConfig, DataConfig, ModelConfig, TrainConfig
    from svtas_ray.models.build import build_segmenter
    from svtas_ray.models.checkpoint import save_checkpoint

    root = write_tiny_dataset(tmp / "ds")
    model_cfg = ModelConfig(embed_dim=8, hidden_dim=8, tcn_stages=1, tcn_layers=2, value_hidden=4)
    cfg = TrainConfig(
        data=DataConfig(root=str(root)),
        clip=ClipConfig(clip_len=8, sample_rate=1),
        model=model_cfg,
        val_videos=0,
    )
    names = [f"c{i}" for i in range(classes)] if classes != 3 else ["a", "b", "background"]
    model = build_segmenter(dataclasses.replace(model_cfg), classes, (dim,))
    path = tmp / "run" / "checkpoints" / "best.pt"
    save_checkpoint(path, model, cfg, classes, (dim,), names)
    (tmp / "run" / "meta.json").write_text("{}\n")
    return root, path


def _run_without_meta(command: str) -> Case:
    """eval or stream (default --post) of a checkpoint whose run folder lost its meta.json."""

    def build(tmp: Path) -> tuple[list[str], str, str]:
        _, ckpt = _checkpoint(tmp)
        meta = tmp / "run" / "meta.json"
        meta.unlink()
        args = ["eval", "--checkpoint", str(ckpt)]
        if command == "stream":
            np.save(tmp / "clip.npy", np.zeros((5, 20), np.float32))
            args = ["stream", "--checkpoint", str(ckpt), "--features", str(tmp / "clip.npy")]
        return args, str(meta), r"no such file, .*--post raw decodes without post-processing"

    return build


def _eval_other_class_count(tmp: Path) -> tuple[list[str], str, str]:
    _, ckpt = _checkpoint(tmp, classes=4)
    return ["eval", "--checkpoint", str(ckpt)], str(ckpt), "trained for 4 classes but the dataset"


def _stream_features(array: np.ndarray | bytes, pattern: str) -> Case:
    def build(tmp: Path) -> tuple[list[str], str, str]:
        _, ckpt = _checkpoint(tmp)
        path = tmp / "clip.npy"
        if isinstance(array, bytes):
            path.write_bytes(array)
        else:
            np.save(path, array, allow_pickle=True)
        return ["stream", "--checkpoint", str(ckpt), "--features", str(path)], str(path), pattern

    return build


def _stream_video_with_features_checkpoint(tmp: Path) -> tuple[list[str], str, str]:
    _, ckpt = _checkpoint(tmp)
    video = tmp / "v.mp4"
    video.write_bytes(b"")
    args = ["stream", "--checkpoint", str(ckpt), "--video", str(video)]
    return args, "--video", "frames mode"


def _train_negative_iterations(tmp: Path) -> tuple[list[str], str, str]:
    root = write_tiny_dataset(tmp / "ds")
    args = ["train", "--set", f"data.root={root}", "--set", f"runs_dir={tmp / 'runs'}"]
    return [*args, "--iterations", "-3"], "iterations", "must be >= 0"


def _config_is_a_folder(tmp: Path) -> tuple[list[str], str, str]:
    return ["train", "--config", str(tmp)], str(tmp), "is a folder"


def _config_not_utf8(tmp: Path) -> tuple[list[str], str, str]:
    path = tmp / "config.json"
    path.write_bytes(NOT_UTF8)
    return ["train", "--config", str(path)], str(path), NOT_TEXT


def _set_unknown_key(tmp: Path) -> tuple[list[str], str, str]:
    return ["train", "--set", "algo.bogus=1"], "algo.bogus", "unknown config key"


def _score_out_suffix(tmp: Path) -> tuple[list[str], str, str]:
    root, pred = _predictions(tmp)
    out = tmp / "scores.xyz"
    return ["score", "--gt", str(root), "--pred", str(pred), "--out", str(out)], str(out), ".xyz"


def _score_out_under_a_file(tmp: Path) -> tuple[list[str], str, str]:
    root, pred = _predictions(tmp)
    (tmp / "afile").write_text("x")
    out = tmp / "afile" / "scores.csv"
    args = ["score", "--gt", str(root), "--pred", str(pred), "--out", str(out)]
    return args, str(tmp / "afile"), "is a file"


def _score_out_is_a_folder(tmp: Path) -> tuple[list[str], str, str]:
    root, pred = _predictions(tmp)
    (tmp / "o").mkdir()
    args = ["score", "--gt", str(root), "--pred", str(pred), "--out", str(tmp / "o")]
    return args, str(tmp / "o"), "is a folder"


# --------------------------------------------------------------------------- convert-egtea


def _egtea(csv_name: str, content: str | bytes, line: int | None, pattern: str) -> Case:
    def build(tmp: Path) -> tuple[list[str], str, str]:
        src = write_rulstm(tmp / "rulstm")
        path = src / csv_name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        where = f"{path}:{line}" if line else str(path)
        return ["convert-egtea", str(src), str(tmp / "out")], where, pattern

    return build


def _egtea_out(make: Callable[[Path], Path], pattern: str, *extra: str) -> Case:
    """convert-egtea of a good RULSTM folder into ``make(tmp)`` (which prepares what is there);
    ``extra`` arguments follow (``{tmp}`` is tmp_path). The error names the last ``extra``
    argument when there is one, else the path ``make`` returned (or its parent, if that is all
    there is)."""

    def build(tmp: Path) -> tuple[list[str], str, str]:
        src = write_rulstm(tmp / "rulstm")
        out = make(tmp)
        more = [e.format(tmp=tmp) for e in extra]
        names = more[-1] if more else str(out if out.exists() else out.parent)
        return ["convert-egtea", str(src), str(out), *more], names, pattern

    return build


def _a_file(tmp: Path) -> Path:
    (tmp / "afile").write_text("x")
    return tmp / "afile"


def _under_a_file(tmp: Path) -> Path:
    return _a_file(tmp) / "sub"


def _a_dataset(tmp: Path) -> Path:
    return write_tiny_dataset(tmp / "old")


def _new_folder(tmp: Path) -> Path:
    return tmp / "out"


ok_row = "0,P01-R01-PastaSalad,1,10,0,0,0\n"
CASES: dict[str, Case] = {
    "bundle_parent_traversal": _bundle("../../somewhere/victim.txt\n", 1),
    "bundle_absolute_path": _bundle("v0.txt\n/tmp/somewhere/victim.txt\n", 2),
    "bundle_backslashes": _bundle("..\\..\\victim.txt\n", 1),
    "bundle_dot_dot": _bundle("v0.txt\n\n..\n", 3),
    "bundle_nul": _bundle("v0\x00.txt\n", 1),
    "bundle_not_utf8": _bundle(NOT_UTF8, None),
    "mapping_not_utf8": _dataset_file("mapping.txt", NOT_UTF8, NOT_TEXT),
    "labels_not_utf8": _dataset_file("groundTruth/v1.txt", NOT_UTF8, NOT_TEXT),
    "features_not_npy": _dataset_file("features/v1.npy", b"a,b\n1,2\n", "not a .npy file"),
    "features_object_array": _dataset_file(
        "features/v1.npy", np.array([{"x": 1}, None], dtype=object), "not a readable .npy"
    ),
    "features_all_nan": _dataset_file(
        "features/v1.npy", np.full((5, 57), np.nan, np.float32), "NaN or inf"
    ),
    "features_no_frames": _dataset_file("features/v1.npy", np.zeros((5, 0), np.float32), "empty"),
    "features_truncated": _truncated_features,
    "features_npz": _npz_features,
    "features_dir_missing": _features_dir("nothing", "--features-dir nothing: .*does not exist$"),
    "features_dir_is_a_file": _features_dir("rgb", r"--features-dir rgb: .*rgb is not a folder$"),
    "prediction_not_utf8": _prediction_not_utf8,
    "score_split_traversal": _score_split_traversal,
    "viz_video_traversal": _viz_video_traversal,
    "synth_out_is_a_file": _synth_out_is_a_file,
    "synth_overwrite_foreign_folder": _synth_overwrite_foreign_folder,
    "synth_from_labels_not_utf8": _synth_from_labels_not_utf8,
    "synth_out_under_a_file": _synth_out_under_a_file,
    "synth_source_bundle_names_missing_video": _synth_source_bundle(
        "test.split1.bundle", "v0.txt\nmissing.txt\n", "lists video 'missing' but"
    ),
    "synth_source_bundle_without_other_half": _synth_source_bundle(
        "train.split2.bundle", "v0.txt\n", "has no test.split2.bundle beside it"
    ),
    "synth_source_split_halves_overlap": _synth_source_bundle(
        "train.split1.bundle", "v0.txt\nv1.txt\n", "'v0' is also listed in test.split1.bundle"
    ),
    "synth_bg_without_from_labels": _synth_bg_without_from_labels,
    "viz_out_under_a_file": _viz("{file}/x.png", ("{pred}",), "{file}", "is a file"),
    "viz_out_unknown_suffix": _viz("{tmp}/v/x.foo", ("{pred}",), "{tmp}/v/x.foo", r"\.png"),
    "viz_out_is_a_folder": _viz("{tmp}/adir", ("{pred}",), "{tmp}/adir", "is a folder"),
    "viz_out_png_is_a_folder": _viz("{tmp}/bars", ("{pred}",), "{tmp}/bars.png", "is a folder"),
    "viz_duplicate_name": _viz("{tmp}/x.png", ("a={pred}", "a={pred}"), "'a'", "already given"),
    "viz_same_folder_twice": _viz("{tmp}/x.png", ("{pred}", "{pred}"), "'pred'", "already given"),
    "egtea_parent_traversal": _egtea(
        "training1.csv", ok_row + "1,../../../x/escaped,12,20,1,0,1\n", 2, NOT_PLAIN
    ),
    "egtea_absolute_path": _egtea(
        "validation2.csv", "2,/tmp/x/escaped,22,30,0,0,0\n", 1, NOT_PLAIN
    ),
    "egtea_nul_in_name": _egtea("validation3.csv", "2,P01\x00x,22,30,0,0,0\n", 1, NOT_PLAIN),
    "egtea_csv_not_utf8": _egtea("training3.csv", NOT_UTF8, None, NOT_TEXT),
    "egtea_actions_not_utf8": _egtea("actions.csv", NOT_UTF8, None, NOT_TEXT),
    "egtea_verb_names_collide": _egtea(
        "actions.csv", "0,0_0,Take_cup\n1,1_0,Open_cup\n201,2_0,Take_thing\n", 3, "like verb 0"
    ),
    "egtea_verb_names_collide_once_spaces_are_replaced": _egtea(
        "actions.csv", "0,0_0,Turn on_tap\n1,1_0,Turn_on_x\n", 2, "'Turn_on' like verb 0"
    ),
    "egtea_verb_named_like_the_background": _egtea(
        "actions.csv", "0,0_0,Take_cup\n1,1_0,None_cup\n", 2, "named 'None' like the background"
    ),
    "egtea_verb_with_two_names": _egtea(
        "actions.csv",
        "0,0_0,Take_cup\n1,1_0,Open_cup\n2,1_1,Close_jar\n",
        3,
        "verb 1 is named 'Close' here but 'Open' at line 2",
    ),
    "egtea_verb_without_a_name": _egtea("actions.csv", "0,0_0,Take_cup\n1,1_0,_cup\n", 2, "empty"),
    "egtea_out_is_a_file": _egtea_out(_a_file, "is a file"),
    "egtea_out_under_a_file": _egtea_out(_under_a_file, "is a file"),
    "egtea_out_holds_a_dataset": _egtea_out(_a_dataset, "not empty"),
    "egtea_videos_not_found": _egtea_out(_new_folder, "not found", "--videos", "{tmp}/novideos"),
    "egtea_videos_is_a_file": _egtea_out(
        _new_folder, "is a file", "--videos", "{tmp}/rulstm/actions.csv"
    ),
    "eval_other_class_count": _eval_other_class_count,
    "eval_run_without_meta": _run_without_meta("eval"),
    "stream_run_without_meta": _run_without_meta("stream"),
    "stream_object_array": _stream_features(np.array([{"x": 1}], dtype=object), "not a readable"),
    "stream_not_npy": _stream_features(b"a,b\n1,2\n", "not a .npy file"),
    "stream_wrong_dim": _stream_features(np.zeros((7, 20), np.float32), "D=7 per frame"),
    "stream_all_nan": _stream_features(np.full((5, 20), np.nan, np.float32), "NaN or inf"),
    "stream_no_frames": _stream_features(np.zeros((5, 0), np.float32), "empty"),
    "stream_video_with_features_checkpoint": _stream_video_with_features_checkpoint,
    "train_negative_iterations": _train_negative_iterations,
    "config_is_a_folder": _config_is_a_folder,
    "config_not_utf8": _config_not_utf8,
    "set_unknown_key": _set_unknown_key,
    "score_out_suffix": _score_out_suffix,
    "score_out_under_a_file": _score_out_under_a_file,
    "score_out_is_a_folder": _score_out_is_a_folder,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_sentence_naming_the_file(tmp_path: Path, case: str) -> None:
    args, names, pattern = CASES[case](tmp_path)
    assert_one_sentence(run_cli(*args, cwd=tmp_path), names, pattern)


def test_the_tiny_inputs_are_good_before_they_are_broken(tmp_path: Path) -> None:
    """The cases above fail because of what each breaks, not because the base inputs are bad."""
    root = write_tiny_dataset(tmp_path / "ds")
    assert run_cli("check-data", str(root), cwd=tmp_path).returncode == 0
    assert run_cli("check-data", str(root), "--features-dir", "features").returncode == 0
    shutil.rmtree(root / "features")  # without --features-dir, a labels-only dataset is fine
    labels_only = run_cli("check-data", str(root), cwd=tmp_path)
    assert labels_only.returncode == 0 and "features    none" in labels_only.stdout
    src = write_rulstm(tmp_path / "rulstm")
    out = run_cli("convert-egtea", str(src), str(tmp_path / "out"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    check = run_cli("check-data", str(tmp_path / "out"), "--bg", "None", cwd=tmp_path)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("command", ["eval", "stream"])
def test_post_raw_needs_no_meta_json(tmp_path: Path, command: str) -> None:
    """Without the run's meta.json, --post raw still decodes (the refusal above names it)."""
    args, _, _ = _run_without_meta(command)(tmp_path)
    out = run_cli(*args, "--post", "raw", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "post-processing: none" in out.stdout
