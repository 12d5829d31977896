"""The proxy fine-tune: the learning-rate split, determinism, divergence, reporting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from policysearch import Policy
from policysearch.data import make_splits
from policysearch.errors import TrainingError
from policysearch.models import build_model
from policysearch.policy import Mixing, Transfer
from policysearch.training import TrainConfig, build_optimizer, evaluate, proxy_finetune, resolve_device

LINEAR = Transfer("linear_probe", head_lr=0.01, backbone_lr=None)
FINETUNE = Transfer("finetune", head_lr=0.003, backbone_lr=0.0007)


@pytest.fixture(scope="module")
def digits(digits_splits):
    return digits_splits(train_size=300, val_size=150)


def test_linear_probe_leaves_backbone_weights_and_bn_statistics_unchanged(digits, tiny_cnn):
    models: list = []
    snapshot = {}

    def factory():
        model = tiny_cnn()
        models.append(model)
        snapshot.update({k: v.clone() for k, v in model.backbone.state_dict().items()})
        snapshot["_head"] = model.head.weight.detach().clone()
        return model

    policy = Policy(num_ops=2, magnitude=9, transfer=LINEAR)
    result = proxy_finetune(policy, factory, digits.train, digits.val, TrainConfig(epochs=2, batch_size=32))
    assert result.status == "ok"
    backbone = models[0].backbone.state_dict()
    assert any("running_mean" in k for k in backbone), "tiny-cnn should have batch norm"
    for key, value in backbone.items():
        assert torch.equal(value, snapshot[key]), f"backbone {key} changed under linear_probe"
    assert not torch.equal(models[0].head.weight, snapshot["_head"]), "the head should train"


def test_finetune_of_pretrained_backbone_trains_weights_but_keeps_bn_statistics(fashion32):
    splits = make_splits(fashion32, train_size=64, val_size=20, seed=0)
    models: list = []

    def factory():
        models.append(build_model("efficientnet-lite0", 10, image_size=32))
        return models[-1]

    before = build_model("efficientnet-lite0", 10, image_size=32).backbone.state_dict()
    proxy_finetune(Policy(num_ops=0, magnitude=0, transfer=FINETUNE), factory, splits.train, splits.val,
                   TrainConfig(epochs=1, batch_size=32))
    after = models[0].backbone.state_dict()
    stats = [k for k in after if "running_" in k]
    weights = [k for k in after if k.endswith("weight")]
    assert stats and all(torch.equal(after[k], before[k]) for k in stats)
    assert sum(not torch.equal(after[k], before[k]) for k in weights) > len(weights) // 2


def test_finetune_of_random_init_backbone_learns_its_bn_statistics(digits, tiny_cnn):
    models: list = []

    def factory():
        models.append(tiny_cnn())
        return models[-1]

    policy = Policy(num_ops=0, magnitude=0, transfer=FINETUNE)
    before = tiny_cnn().backbone.state_dict()
    proxy_finetune(policy, factory, digits.train, digits.val, TrainConfig(epochs=1))
    after = models[0].backbone.state_dict()
    changed = [k for k in after if after[k].dtype.is_floating_point and not torch.equal(after[k], before[k])]
    assert any("running_mean" in k for k in changed)
    assert len(changed) > len(after) // 2


def test_finetune_optimizer_groups_have_exactly_the_requested_rates(tiny_cnn):
    model = tiny_cnn()
    optimizer = build_optimizer(model, Policy(transfer=FINETUNE))
    by_name = {g["name"]: g for g in optimizer.param_groups}
    assert by_name["head"]["lr"] == 0.003 and by_name["backbone"]["lr"] == 0.0007
    assert {id(p) for p in by_name["head"]["params"]} == {id(p) for p in model.head.parameters()}
    assert {id(p) for p in by_name["backbone"]["params"]} == {id(p) for p in model.backbone.parameters()}
    assert all(p.requires_grad for p in model.parameters())


def test_linear_probe_optimizer_has_only_the_head(tiny_cnn):
    model = tiny_cnn()
    optimizer = build_optimizer(model, Policy(transfer=LINEAR))
    assert [g["name"] for g in optimizer.param_groups] == ["head"]
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_same_seed_same_result_and_report_each_epoch(digits, tiny_cnn):
    policy = Policy(num_ops=2, magnitude=12, mixing=Mixing("cutmix", prob=0.5, alpha=1.0), transfer=FINETUNE)
    reports: list[tuple[int, float]] = []
    config = TrainConfig(epochs=3, batch_size=32, seed=3)
    a = proxy_finetune(policy, tiny_cnn, digits.train, digits.val, config, report=lambda e, v: reports.append((e, v)))
    b = proxy_finetune(policy, tiny_cnn, digits.train, digits.val, config)
    assert a.val_history == b.val_history and a.train_loss == b.train_loss
    assert [e for e, _ in reports] == [1, 2, 3]
    assert [v for _, v in reports] == list(a.val_history)
    assert a.status == "ok" and a.epochs_run == 3 and a.device == resolve_device("auto").type  # config says auto
    assert a.val_accuracy > 0.3, "three epochs on digits should beat chance (0.1) clearly"


def test_report_may_raise_to_stop_early(digits, tiny_cnn):
    class Stop(Exception):
        pass

    calls = []

    def report(epoch, value):
        calls.append(epoch)
        raise Stop

    with pytest.raises(Stop):
        proxy_finetune(Policy(num_ops=0, magnitude=0), tiny_cnn, digits.train, digits.val,
                       TrainConfig(epochs=3), report=report)
    assert calls == [1]


def test_divergent_run_stops_with_a_clear_status(digits, tiny_cnn):
    def broken():
        model = tiny_cnn()
        with torch.no_grad():
            model.head.weight.fill_(float("inf"))
        return model

    result = proxy_finetune(Policy(num_ops=0, magnitude=0), broken, digits.train, digits.val, TrainConfig(epochs=2))
    assert result.status == "diverged"
    assert result.val_accuracy is None
    assert "nan" in result.reason and "epoch 1" in result.reason


def test_evaluate_reports_accuracy_and_loss(digits, tiny_cnn):
    model = tiny_cnn()
    result = evaluate(model, digits.val, device="cpu")
    # The same numbers by hand: one eval-mode pass over the whole split.
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(digits.val.images).permute(0, 3, 1, 2).float() / 255)
    labels = torch.from_numpy(digits.val.labels)
    assert result.accuracy == pytest.approx((logits.argmax(1) == labels).float().mean().item())
    assert result.loss == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-5)
    assert math.isfinite(result.loss) and result.loss > 0
    # A model that always says "class 0" scores exactly the share of zeros.
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.arange(10, 0, -1, dtype=torch.float32))
    zeros = float(np.mean(digits.val.labels == 0))
    assert evaluate(model, digits.val, device="cpu").accuracy == pytest.approx(zeros)


def test_bad_config_and_device():
    with pytest.raises(TrainingError, match="epochs.*0"):
        TrainConfig(epochs=0)
    with pytest.raises(TrainingError, match="device.*tpu"):
        TrainConfig(device="tpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda") == torch.device("cuda")
    else:
        with pytest.raises(TrainingError, match="cuda"):
            resolve_device("cuda")
    # auto prefers CUDA, then Apple MPS, then the CPU: what this machine has decides.
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    expected = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    assert resolve_device("auto") == torch.device(expected)


@pytest.mark.slow
def test_pretrained_efficientnet_lite0_transfers_far_better_than_random(fashion32):
    splits = make_splits(fashion32, train_size=400, val_size=400, seed=0)
    policy = Policy(num_ops=0, magnitude=0, transfer=Transfer("linear_probe", head_lr=0.01, backbone_lr=None))
    config = TrainConfig(epochs=1, batch_size=32, seed=0)

    def score(weights):
        factory = lambda: build_model("efficientnet-lite0", 10, image_size=32, weights=weights)  # noqa: E731
        return proxy_finetune(policy, factory, splits.train, splits.val, config).val_accuracy

    pretrained, random_init = score("DEFAULT"), score(None)
    assert pretrained > random_init + 0.2, (pretrained, random_init)
