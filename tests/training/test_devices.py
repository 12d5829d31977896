"""The fastest-correct rule (training/devices.py): where bf16 is on, where it is off, and the agreement check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from policysearch.data import Split
from policysearch.errors import TrainingError
from policysearch.models import build_model
from policysearch.policy import Policy
from policysearch.training import TrainConfig, evaluate, start_session, train_epoch
from policysearch.training.devices import (
    AGREEMENT_FLOOR,
    agreement,
    autocast,
    choose,
    native_precisions,
    recipe,
)

CPU = torch.device("cpu")
BOTH = {"bfloat16", "float16"}


# ---------------------------------------------------------------- the rule


def test_rule_evaluates_in_fp16_on_a_cpu_that_has_it_but_trains_in_fp32():
    chosen = choose("cpu", native=BOTH)
    assert (chosen.eval_dtype, chosen.train_dtype) == ("float16", None)  # bf16 trains 2x slower on the CPU
    assert chosen.dtype("eval") == torch.float16 and chosen.dtype("train") is None
    assert chosen.channels_last and chosen.memory_format == torch.channels_last
    assert not chosen.compile


def test_rule_trains_in_bf16_and_evaluates_in_fp16_on_an_ampere_gpu():
    chosen = choose("cuda", native=BOTH)
    assert (chosen.train_dtype, chosen.eval_dtype, chosen.channels_last, chosen.compile) == (
        "bfloat16", "float16", True, False)


def test_rule_never_evaluates_in_bf16_which_fails_the_agreement_check():
    for kind in ("cpu", "cuda"):
        assert choose(kind, native={"bfloat16"}).eval_dtype is None
        assert choose(kind, native=BOTH, agreement={"bfloat16": 1.0}).eval_dtype == "float16"


@pytest.mark.parametrize("kind", ["cpu", "cuda", "mps"])
def test_rule_keeps_fp32_without_native_reduced_precision(kind):
    chosen = choose(kind, native=())
    assert chosen.train_dtype is None and chosen.eval_dtype is None


def test_rule_keeps_fp32_on_mps_whatever_it_claims():
    chosen = choose("mps", native=BOTH)
    assert chosen.train_dtype is None and chosen.eval_dtype is None


def test_rule_keeps_fp32_on_a_pre_ampere_gpu_for_training():
    assert choose("cuda", native={"float16"}).train_dtype is None


@pytest.mark.parametrize("kind", ["cpu", "cuda"])
def test_rule_turns_fp16_evaluation_off_where_the_agreement_check_failed(kind):
    assert choose(kind, native=BOTH, agreement={"float16": AGREEMENT_FLOOR - 0.001}).eval_dtype is None
    assert choose(kind, native=BOTH, agreement={"float16": AGREEMENT_FLOOR}).eval_dtype == "float16"


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan"), True])
def test_rule_refuses_an_agreement_that_is_not_a_share(share):
    message = f"agreement should be a share in \\[0, 1\\], but got {share!r} for float16"
    with pytest.raises(TrainingError, match=message):
        choose("cpu", native=BOTH, agreement={"float16": share})


def test_rule_refuses_an_unknown_device_kind_precision_and_purpose():
    with pytest.raises(TrainingError, match="device kind should be one of .*, but got 'auto'"):
        choose("auto", native=BOTH)
    with pytest.raises(TrainingError, match="agreement's precision should be one of .*, but got 'int8'"):
        choose("cpu", native=BOTH, agreement={"int8": 1.0})
    with pytest.raises(TrainingError, match="purpose should be one of \\['train', 'eval'\\], but got 'predict'"):
        choose("cpu", native=BOTH).dtype("predict")


def test_native_precisions_of_this_cpu_match_its_flags():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to read the CPU's flags from")
    flags = set(cpuinfo.read_text().split())
    expected = {name for name, on in (("bfloat16", "amx_bf16" in flags),
                                      ("float16", bool({"avx512_fp16", "amx_fp16"} & flags))) if on}
    assert native_precisions(CPU) == expected
    assert recipe(CPU) == choose("cpu", native=expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.cuda
def test_native_precisions_of_this_gpu_follow_its_compute_capability():
    gpu = torch.device("cuda")
    capability = torch.cuda.get_device_capability(gpu)
    assert ("float16" in native_precisions(gpu)) == (capability >= (7, 0))
    assert ("bfloat16" in native_precisions(gpu)) == (capability >= (8, 0))


# ---------------------------------------------------------------- the wiring


class _Recorder(torch.nn.Module):
    """A classifier that records whether CPU autocast was on at each forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3 * 4 * 4, 2)
        self.seen: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(torch.is_autocast_enabled("cpu"))
        return self.linear(x.flatten(1))


def test_autocast_follows_the_rule_for_each_purpose_and_defaults_to_training():
    layer = torch.nn.Linear(4, 2)
    for purpose in ("train", "eval"):
        with autocast(CPU, purpose=purpose):
            assert layer(torch.ones(1, 4)).dtype == (recipe(CPU).dtype(purpose) or torch.float32)
    with autocast(CPU):  # the default: training's choice, fp32 on every CPU (the loop's earlier behaviour)
        assert layer(torch.ones(1, 4)).dtype == torch.float32
    with pytest.raises(TrainingError, match="but got 'test'"):
        autocast(CPU, purpose="test")


def test_the_training_loop_evaluates_and_trains_as_the_rule_says():
    images, labels = np.zeros((6, 4, 4, 3), np.uint8), np.arange(6) % 2
    model = _Recorder()
    evaluate(model, Split(images, labels), device=CPU)
    assert model.seen and set(model.seen) == {recipe(CPU).eval_dtype is not None}
    model.seen.clear()
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    batches = [(torch.rand(3, 3, 4, 4), torch.tensor([0, 1, 0]))]
    train_epoch(model, optimizer, scheduler, iter(batches), device=CPU, approach="finetune")
    assert model.seen == [False]


# ---------------------------------------------------------------- the agreement check


class _NearTie(torch.nn.Module):
    """Two logits 0.3% apart: fp32 and fp16 (11 significant bits) tell them apart, bf16 (8) cannot."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = x.flatten(1).sum(1, keepdim=True) + 1.0
        return torch.nn.functional.linear(total, torch.tensor([[1.0], [1.003]]))


def test_agreement_check_sees_predictions_that_a_precision_changes():
    images = np.full((5, 4, 4, 1), 128, np.uint8)
    assert agreement(_NearTie(), images, CPU, dtype=torch.bfloat16) == 0.0  # fp32 picks 1; bf16 ties, picks 0
    assert agreement(_NearTie(), images, CPU, dtype=torch.float16) == 1.0
    assert choose("cpu", native=BOTH, agreement={"float16": 0.0}).eval_dtype is None


@pytest.mark.slow
def test_fp16_evaluation_of_a_fine_tuned_efficientnet_agrees_with_fp32_on_real_test_images_and_bf16_does_not(
        fashion32):
    rng = np.random.default_rng(0)
    train = rng.choice(len(fashion32.train), 512, replace=False)
    factory = lambda: build_model("efficientnet-lite0", 10, image_size=32)  # noqa: E731
    session = start_session(factory, Policy(num_ops=0, magnitude=0), fashion32.train.images[train],
                            fashion32.train.labels[train], TrainConfig(epochs=2, device="cpu"))
    for _ in range(2):
        session.train_epoch()
    test = fashion32.test
    assert session.evaluate(Split(test.images[:500], test.labels[:500])).accuracy > 0.6  # it learned the task
    shares = {name: agreement(session.model, test.images[:2000], CPU, dtype=getattr(torch, name))
              for name in ("float16", "bfloat16")}
    assert shares["float16"] >= AGREEMENT_FLOOR, shares
    assert shares["bfloat16"] < AGREEMENT_FLOOR, shares  # why the rule never evaluates in bf16
    assert choose("cpu", native=BOTH, agreement=shares).eval_dtype == "float16"


@pytest.mark.slow
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_evaluation_on_the_gpu_agrees_with_fp32_on_real_test_images(fashion32):
    gpu = torch.device("cuda")
    rng = np.random.default_rng(0)
    train = rng.choice(len(fashion32.train), 1000, replace=False)
    factory = lambda: build_model("efficientnet-lite0", 10, image_size=32)  # noqa: E731
    session = start_session(factory, Policy(num_ops=0, magnitude=0), fashion32.train.images[train],
                            fashion32.train.labels[train], TrainConfig(epochs=2, device="cuda"))
    for _ in range(2):
        session.train_epoch()
    share = agreement(session.model, fashion32.test.images, gpu, dtype=torch.float16)
    assert share >= AGREEMENT_FLOOR, share
