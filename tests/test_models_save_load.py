"""Checkpoints round-trip; loading against other data, or a bad pretrained file, is one sentence."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from svtas_ray.config import DataConfig, ModelConfig, OfflineTrainConfig, TrainConfig
from svtas_ray.errors import ConfigError, DataError
from svtas_ray.models.build import build_offline, build_segmenter
from svtas_ray.models.checkpoint import (
    Checkpoint,
    load_offline,
    load_segmenter,
    save_checkpoint,
)
from svtas_ray.models.inputs import TSMCNN, load_pretrained_trunk

SMALL = ModelConfig(
    embed_dim=8, hidden_dim=8, tcn_stages=2, tcn_layers=3, brt_heads=2, state_len=3,
    refine_stages=1, refine_layers=2, backbone_width=4, value_hidden=4,
)  # fmt: skip
CLASSES = ("a", "b", "c")


def run_config(model: ModelConfig) -> TrainConfig:
    """The run config a segmenter checkpoint holds (only its model section matters here)."""
    return TrainConfig(model=model, data=DataConfig(modality=model.input))


@pytest.mark.parametrize("head", ["causal_mstcn", "brt"])
@pytest.mark.parametrize("frames", [False, True])
def test_segmenter_round_trip(tmp_path, head, frames):
    cfg = dataclasses.replace(SMALL, head=head, input="frames" if frames else "features")
    shape = (16, 16, 3) if frames else (5,)
    torch.manual_seed(0)
    model = build_segmenter(cfg, 3, shape).eval()
    path = save_checkpoint(
        tmp_path / "m.pt", model, run_config(cfg), 3, shape, CLASSES, {"iteration": 7}
    )
    loaded, cfg2, ckpt = load_segmenter(path, 3, shape, CLASSES)
    loaded.eval()
    assert cfg2.model == cfg and ckpt.extra == {"iteration": 7} and ckpt.kind == "segmenter"
    if frames:
        clip = torch.randint(0, 256, (1, 4, *shape), dtype=torch.uint8)
    else:
        clip = torch.randn(1, 4, *shape)
    with torch.no_grad():
        a = model(clip, model.initial_state(1))
        b = loaded(clip, loaded.initial_state(1))
    torch.testing.assert_close(a.final, b.final, rtol=0, atol=0)
    torch.testing.assert_close(a.value, b.value, rtol=0, atol=0)
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


def test_offline_round_trip(tmp_path):
    cfg = OfflineTrainConfig(model="asformer", num_stages=2, num_layers=3, hidden_dim=8)
    torch.manual_seed(0)
    model = build_offline(cfg, 3, 5).eval()
    path = save_checkpoint(tmp_path / "o.pt", model, cfg, 3, (5,), CLASSES)
    loaded, cfg2, _ = load_offline(path, 3, 5, CLASSES)
    x = torch.randn(1, 30, 5)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[-1], loaded.eval()(x)[-1], rtol=0, atol=0)
    assert cfg2 == cfg


@pytest.fixture
def feature_ckpt(tmp_path):
    model = build_segmenter(SMALL, 3, (5,))
    return save_checkpoint(tmp_path / "m.pt", model, run_config(SMALL), 3, (5,), CLASSES)


def test_mismatched_input_dimension_is_one_sentence(feature_ckpt):
    with pytest.raises(DataError) as err:
        load_segmenter(feature_ckpt, 3, (7,))
    message = str(err.value)
    assert "trained on input dimension 5 but the data has dimension 7" in message
    assert str(feature_ckpt) in message and "\n" not in message


def test_mismatched_class_count_and_names(feature_ckpt):
    with pytest.raises(DataError, match="trained for 3 classes but the dataset has 4"):
        load_segmenter(feature_ckpt, 4, (5,))
    with pytest.raises(DataError, match="class 1 is 'b' in the model but 'x'"):
        load_segmenter(feature_ckpt, classes=("a", "x", "c"))
    with pytest.raises(DataError, match="trained for 3 classes"):
        load_segmenter(feature_ckpt, classes=("a", "b"))


def test_frames_vs_features_and_frame_size(tmp_path, feature_ckpt):
    with pytest.raises(DataError, match="trained on features"):
        load_segmenter(feature_ckpt, 3, (16, 16, 3))
    cfg = dataclasses.replace(SMALL, input="frames")
    path = save_checkpoint(
        tmp_path / "f.pt", build_segmenter(cfg, 3, (16, 16, 3)), run_config(cfg), 3, (16, 16, 3)
    )
    with pytest.raises(DataError, match="16x16 frames but the data gives 32x32"):
        load_segmenter(path, 3, (32, 32, 3))


def test_unreadable_or_wrong_kind_of_checkpoint(tmp_path, feature_ckpt):
    with pytest.raises(ConfigError, match="checkpoint file not found"):
        Checkpoint.read(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        Checkpoint.read(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not an svtas-ray model checkpoint"):
        Checkpoint.read(tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="kind 'segmenter' where 'offline' was expected"):
        load_offline(feature_ckpt)
    with pytest.raises(ConfigError, match="is a folder, not a checkpoint file"):
        Checkpoint.read(tmp_path)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kind": None}, r"\(no 'kind' field\)"),
        ({"config": 5}, "a field of the wrong type"),
        ({"num_classes": "eleven"}, "a field of the wrong type"),
        ({"input_shape": "abc"}, "a field of the wrong type"),
        ({"state_dict": [1]}, "a field of the wrong type"),
        ({"classes": ["a", "b"]}, r"2 class names for 3 classes"),
    ],
)
def test_a_damaged_checkpoint_is_one_sentence_naming_the_file(
    tmp_path, feature_ckpt, change, problem
):
    data = torch.load(feature_ckpt, weights_only=True)
    data.update({k: v for k, v in change.items() if v is not None})
    for key in (k for k, v in change.items() if v is None):
        del data[key]
    torch.save(data, tmp_path / "damaged.pt")
    with pytest.raises(
        ConfigError, match=rf"^{tmp_path / 'damaged.pt'}: a damaged checkpoint .*{problem}"
    ):
        Checkpoint.read(tmp_path / "damaged.pt")


# --------------------------------------------------------------------------- pretrained backbones


def test_pretrained_state_dict_width_is_read_from_the_file(tmp_path):
    trunk = TSMCNN(width=6, shift_div=4)
    torch.save(trunk.state_dict(), tmp_path / "tsm.pt")
    loaded = load_pretrained_trunk(tmp_path / "tsm.pt", (32, 32), shift_div=4)
    assert isinstance(loaded, TSMCNN) and loaded.out_dim == 48
    for k, v in trunk.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    cfg = dataclasses.replace(
        SMALL, input="frames", backbone="pretrained", pretrained_path=str(tmp_path / "tsm.pt"),
        shift_div=4, freeze_backbone=True,
    )  # fmt: skip
    model = build_segmenter(cfg, 3, (32, 32, 3)).train()
    assert not model.encoder.trunk.training  # frozen: stays in eval mode
    assert not any(p.requires_grad for p in model.encoder.trunk.parameters())
    clip = torch.randint(0, 256, (1, 3, 32, 32, 3), dtype=torch.uint8)
    model(clip, model.initial_state(1)).final.sum().backward()  # the rest still trains


def test_pretrained_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="pretrained backbone file not found"):
        load_pretrained_trunk(tmp_path / "missing.pt", (32, 32))
    torch.save({"conv.weight": torch.zeros(2, 3, 3, 3)}, tmp_path / "alien.pt")
    with pytest.raises(ConfigError, match="not a tsm_cnn state dict"):
        load_pretrained_trunk(tmp_path / "alien.pt", (32, 32))
    weights = TSMCNN(width=4).state_dict()
    weights["blocks.0.conv1.weight"] = torch.zeros(1, 1, 3, 3)
    torch.save(weights, tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match=r"blocks\.0\.conv1\.weight has shape"):
        load_pretrained_trunk(tmp_path / "bad.pt", (32, 32))
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ConfigError, match="not a torch state dict that loads with weights_only"):
        load_pretrained_trunk(tmp_path / "text.pt", (32, 32))
    (tmp_path / "broken.pt2").write_text("hello")
    with pytest.raises(ConfigError, match=r"refused, because loading a torch\.export program"):
        load_pretrained_trunk(tmp_path / "broken.pt2", (32, 32))


def test_a_pickled_payload_is_refused_without_running(tmp_path):
    """A checkpoint that would run code when unpickled is refused in one sentence; the payload
    never runs and the message does not repeat torch's advice to load it unsafely."""
    import os

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"format": "svtas-ray/model/2", "state_dict": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ConfigError) as err:
        load_segmenter(tmp_path / "evil.pt")
    message = str(err.value)
    assert "not a plain checkpoint" in message and "\n" not in message
    assert "weights_only" not in message
    assert not marker.exists()

    # .pt2 and TorchScript files are refused before they are opened: tests/test_security.py
