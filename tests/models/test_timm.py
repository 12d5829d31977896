"""timm:NAME backbones with a real small timm model (random init: nothing is downloaded)."""

from __future__ import annotations

import time

import pytest
import torch

from policysearch.errors import ModelError
from policysearch.models import available_models, build_model

timm = pytest.importorskip("timm")

NAME = "mobilenetv3_small_050"  # 0.6M parameters; its pooled features (1024) are not its num_features (288)


def _parameter_split_is_clean(model) -> bool:
    backbone = {id(p) for p in model.backbone.parameters()}
    head = {id(p) for p in model.head.parameters()}
    return backbone.isdisjoint(head) and backbone | head == {id(p) for p in model.parameters()}


@pytest.fixture()
def no_hub(tmp_path, monkeypatch):
    """An empty Hugging Face and torch hub cache, and offline mode: no download is even tried."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return cache


def test_timm_random_init_builds_with_pooled_features_and_its_own_normalisation():
    model = build_model(f"timm:{NAME}", 10, image_size=32, weights=None, seed=0)
    assert model.name == f"timm:{NAME}" and not model.pretrained and _parameter_split_is_clean(model)
    assert model.in_features == 1024 and model.head.out_features == 10
    cfg = timm.models.get_pretrained_cfg(NAME)
    assert model.mean.flatten().tolist() == pytest.approx(cfg.mean)
    assert model.std.flatten().tolist() == pytest.approx(cfg.std)
    assert model(torch.rand(4, 1, 32, 32)).shape == (4, 10)  # train mode, grayscale replicated
    again = build_model(f"timm:{NAME}", 10, image_size=32, weights=None, seed=0)
    assert torch.equal(again.backbone.conv_stem.weight, model.backbone.conv_stem.weight)
    assert "timm:NAME" in available_models()


def test_timm_weights_path_loads_the_original_networks_state_dict(tmp_path):
    original = timm.create_model(NAME, pretrained=False)  # random, with its 1000-way ImageNet classifier
    path = tmp_path / f"{NAME}.pth"
    torch.save(original.state_dict(), path)
    model = build_model(f"timm:{NAME}", 5, image_size=32, weights=str(path))
    assert model.pretrained and model.head.weight.shape == (5, 1024)  # the classifier was dropped
    loaded = model.backbone.state_dict()
    assert loaded.keys() == {k for k in original.state_dict() if not k.startswith("classifier.")}
    for key, value in loaded.items():
        assert torch.equal(value, original.state_dict()[key]), key


def _fake_hub_entry(cache, state: dict) -> None:
    """Lay out the hub cache as huggingface_hub does: refs/main -> snapshots/<commit>/model.safetensors."""
    # Checked below against huggingface_hub's own reader, so the layout is the real one.
    from safetensors.torch import save_file

    repo = cache / f"models--{timm.models.get_pretrained_cfg(NAME).hf_hub_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / "model.safetensors"))
    from huggingface_hub import try_to_load_from_cache

    repo_id = timm.models.get_pretrained_cfg(NAME).hf_hub_id
    assert try_to_load_from_cache(repo_id, "model.safetensors", cache_dir=cache) == str(snapshot / "model.safetensors")


def test_timm_default_weights_load_from_the_hub_cache_without_network(no_hub):
    original = timm.create_model(NAME, pretrained=False)
    _fake_hub_entry(no_hub, original.state_dict())
    model = build_model(f"timm:{NAME}", 3, image_size=32)  # weights="DEFAULT"
    assert model.pretrained
    assert torch.equal(model.backbone.conv_stem.weight, original.conv_stem.weight)
    assert torch.equal(model.backbone.conv_head.weight, original.conv_head.weight)


def test_timm_default_weights_offline_fail_fast_with_one_line(no_hub):
    start = time.monotonic()
    with pytest.raises(ModelError) as info:
        build_model(f"timm:{NAME}", 3, image_size=32)
    assert time.monotonic() - start < 10
    assert str(info.value) == (f"cannot download timm weights for '{NAME}' (offline?); "
                               f"pass --weights PATH or --weights none")


def test_unknown_timm_names_are_one_line_model_errors():
    with pytest.raises(ModelError, match=r"^unknown timm model 'resnet19' \(close: resnet18"):
        build_model("timm:resnet19", 3, weights=None)
    with pytest.raises(ModelError, match=r"^unknown timm model 'resnet18.nope' \(Invalid pretrained tag"):
        build_model("timm:resnet18.nope", 3, weights=None)
    with pytest.raises(ModelError, match=r"^unknown timm model ''"):
        build_model("timm:", 3)
