"""Backbones and dataset sources from another installed package, through entry points.

The plugin is a real distribution written to tmp_path (a package and its
``*.dist-info`` with ``entry_points.txt``), put on ``sys.path``: what
``pip install`` of a plugin package leaves behind, found the same way.
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap

import numpy as np
import pytest
import torch

from policysearch.data import available_sources, load_source
from policysearch.errors import DataError, ModelError
from policysearch.models import BACKBONE_GROUP, available_models, build_model

PACKAGE = "ps_plugin_example"  # unique: the module stays imported for the session

PLUGIN_CODE = '''
import numpy as np
from torch import nn

from policysearch.data import carved_source, resize_all
from policysearch.models import Backbone

NOT_A_FUNCTION = 42


def build(weights):
    """Two conv layers and a pool: a 16-feature backbone, "pretrained" when asked for weights."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if weights == "DEFAULT":
        for p in net.parameters():
            nn.init.constant_(p, 0.01)
    return Backbone(net, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), pretrained=weights is not None)


def returns_a_module(weights):
    return nn.Flatten()


def takes_nothing():
    return None


def load(arg, image_size, cache_dir, *, test_fraction):
    """Random 12x12 colour images in 3 classes; ``arg`` is the number of images (default 60)."""
    rng = np.random.default_rng(0)
    n = int(arg or 60)
    images = rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8)
    labels = np.arange(n) % 3
    return carved_source(f"noise:{n}", ["a", "b", "c"], resize_all(images, image_size), labels, test_fraction, 0)
'''

ENTRY_POINTS = f"""
[policysearch.backbones]
myplugin-net = {PACKAGE}:build
tiny-cnn = {PACKAGE}:build
broken-net = {PACKAGE}.missing:build
number-net = {PACKAGE}:NOT_A_FUNCTION
module-net = {PACKAGE}:returns_a_module
noargs-net = {PACKAGE}:takes_nothing

[policysearch.sources]
myplugin-noise = {PACKAGE}:load
digits = {PACKAGE}:load
broken-data = {PACKAGE}:no_such_loader
noargs-data = {PACKAGE}:takes_nothing
"""


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    """Install the example plugin distribution (on sys.path, for this test only)."""
    (tmp_path / PACKAGE).mkdir()
    (tmp_path / PACKAGE / "__init__.py").write_text(textwrap.dedent(PLUGIN_CODE))
    info = tmp_path / f"{PACKAGE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    sys.modules.pop(PACKAGE, None)
    importlib.invalidate_caches()


def test_a_plugin_backbone_builds_by_name_and_loads_weight_files(plugin, tmp_path):
    model = build_model("myplugin-net", 4, image_size=16, seed=0)
    assert model.pretrained and model.in_features == 16 and model.head.out_features == 4
    assert torch.all(model.backbone[0].weight == 0.01)
    assert model.mean.flatten().tolist() == [0.5] * 3
    assert model(torch.rand(2, 1, 16, 16)).shape == (2, 4)
    random = build_model("myplugin-net", 4, image_size=16, weights=None, seed=0)
    assert not random.pretrained and not torch.all(random.backbone[0].weight == 0.01)
    path = tmp_path / "mine.pt"
    torch.save(random.state_dict(), path)
    assert torch.equal(build_model("myplugin-net", 4, weights=path).backbone[0].weight, random.backbone[0].weight)
    names = available_models()
    assert "myplugin-net" in names and names.count("tiny-cnn") == 1


def test_built_in_names_win_over_a_plugins(plugin):
    assert build_model("tiny-cnn", 4, seed=0).in_features == 64  # ours, not the plugin's 16 features
    assert load_source("digits").num_classes == 10  # scikit-learn's, not the plugin's noise


@pytest.mark.parametrize(("name", "message"), [
    ("broken-net", re.escape(f"cannot load plugin backbone 'broken-net' (entry point broken-net = "
                             f"{PACKAGE}.missing:build in {BACKBONE_GROUP}): ModuleNotFoundError: No module named "
                             f"'{PACKAGE}.missing'")),
    ("number-net", "plugin backbone 'number-net' .* is a int, not a builder function"),
    ("module-net", "plugin backbone 'module-net' .* returned Flatten, not a policysearch.models.Backbone"),
    ("noargs-net", r"plugin backbone 'noargs-net' .* should take one argument \(weights: 'DEFAULT' or None\)"),
], ids=lambda value: value if value.endswith("-net") else "")
def test_a_broken_plugin_backbone_is_one_line_naming_its_entry_point(plugin, name, message):
    with pytest.raises(ModelError, match=message) as info:
        build_model(name, 4)
    assert "\n" not in str(info.value)


def test_without_the_plugin_its_names_are_unknown():
    with pytest.raises(ModelError, match="unknown model 'myplugin-net'"):
        build_model("myplugin-net", 4)
    with pytest.raises(DataError, match="unknown dataset 'myplugin-noise'"):
        load_source("myplugin-noise")


def test_a_plugin_source_loads_by_name_with_its_argument(plugin):
    source = load_source("myplugin-noise:90", image_size=8, test_fraction=0.2)
    assert source.classes == ("a", "b", "c") and source.train.images.shape[1:] == (8, 8, 3)
    assert len(source.train) + len(source.test) == 90 and len(source.test) == 18
    assert np.array_equal(load_source("myplugin-noise").train.images.shape[1:], (12, 12, 3))
    sources = available_sources()
    assert sources[-3:] == ["broken-data", "myplugin-noise", "noargs-data"] and sources.count("digits") == 1


@pytest.mark.parametrize(("name", "message"), [
    ("broken-data", f"cannot load plugin dataset 'broken-data' .*: AttributeError: module '{PACKAGE}' has no "
                    "attribute 'no_such_loader'"),
    ("noargs-data", r"plugin dataset 'noargs-data' \(entry point noargs-data = .*\) should take the arguments "
                    r"of a loader \(arg, image_size, cache_dir, \*, test_fraction\) -> Source"),
], ids=lambda value: value if value.endswith("-data") else "")
def test_a_broken_plugin_source_is_one_line_naming_its_entry_point(plugin, name, message):
    with pytest.raises(DataError, match=message) as info:
        load_source(name)
    assert "\n" not in str(info.value)
