"""The proxy fine-tune that scores a policy, and evaluation.

This module knows nothing of Optuna: progress goes out through a
``report(epoch, val_accuracy)`` callback, which may raise (for example
``optuna.TrialPruned``) to stop the run early; the exception propagates.

Two transfer-learning approaches, chosen by the policy:

* ``linear_probe``: the pretrained backbone is frozen, weights *and*
  batch-norm statistics (it runs in eval mode); only the new head trains.
* ``finetune``: head and backbone train together, each at its own learning
  rate, through :meth:`Policy.param_groups`. A pretrained backbone keeps its
  batch-norm statistics (see ``set_train_mode`` for the measurement).

Example:
    >>> from policysearch.train import ProxyConfig, proxy_finetune
    >>> result = proxy_finetune(policy, lambda: build_model("tiny-cnn", 10), splits.train,
    ...                         splits.val, ProxyConfig(epochs=2))  # doctest: +SKIP
    >>> result.status, result.val_accuracy  # doctest: +SKIP
    ('ok', 0.71)
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from policysearch.errors import TrainingError
from policysearch.schema import check_choice, check_int, check_number

__all__ = [
    "DEVICES",
    "ProxyConfig",
    "ProxyResult",
    "Evaluation",
    "proxy_finetune",
    "evaluate",
    "build_optimizer",
    "set_train_mode",
    "resolve_device",
    "to_float_batch",
    "batches",
    "train_epoch",
]

DEVICES = ("auto", "cpu", "cuda", "mps")
Report = Callable[[int, float], None]


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy budget and the optimiser settings shared by every trial."""

    epochs: int = 3
    batch_size: int = 64
    eval_batch_size: int = 256
    weight_decay: float = 0.01
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, low=1, error=TrainingError)
        check_int("batch_size", self.batch_size, low=1, error=TrainingError)
        check_int("eval_batch_size", self.eval_batch_size, low=1, error=TrainingError)
        check_number("weight_decay", self.weight_decay, low=0.0, error=TrainingError)
        check_int("seed", self.seed, error=TrainingError)
        check_choice("device", self.device, DEVICES, error=TrainingError)


@dataclass(frozen=True)
class ProxyResult:
    """What one proxy fine-tune measured.

    ``status`` is ``"ok"`` or ``"diverged"`` (a NaN/inf loss stopped it; then
    ``val_accuracy`` is None and ``reason`` says where).
    """

    status: str
    val_accuracy: float | None
    val_history: tuple[float, ...]
    train_loss: tuple[float, ...]
    epochs_run: int
    seconds: float
    device: str
    reason: str | None = None
    test_accuracy: float | None = None


@dataclass(frozen=True)
class Evaluation:
    """Accuracy and mean cross-entropy over a split."""

    accuracy: float
    loss: float


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; others must be available."""
    check_choice("device", name, DEVICES, error=TrainingError)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was asked for, but torch sees no CUDA GPU here")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TrainingError("device 'mps' was asked for, but Apple MPS is not available here")
    return torch.device(name)


def to_float_batch(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 NHWC (or NHW) numpy -> float NCHW in [0, 1] on ``device``."""
    tensor = torch.from_numpy(images)
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(-1)
    # NHWC -> NCHW as a view: the data stays channels-last, the layout the
    # model runs fastest in (measured on CPU: backward 2x faster for
    # EfficientNet-Lite0's depthwise convolutions).
    tensor = tensor.to(device, non_blocking=True).permute(0, 3, 1, 2)
    return tensor.float().div_(255.0).contiguous(memory_format=torch.channels_last)


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    # bf16 on CUDA needs no loss scaling and keeps fp32's range.
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.inference_mode()
def evaluate(model: torch.nn.Module, split: Any, *, device: str | torch.device = "auto",
             batch_size: int = 256) -> Evaluation:
    """Accuracy and loss of ``model`` on a split (``.images`` uint8 NHWC, ``.labels``).

    Example:
        >>> evaluate(model, splits.test).accuracy  # doctest: +SKIP
        0.84
    """
    device = resolve_device(device) if isinstance(device, str) else device
    was_training = model.training
    model.eval()
    correct, loss_sum = 0, 0.0
    labels = torch.from_numpy(np.asarray(split.labels, dtype=np.int64))
    try:
        for start in range(0, len(labels), batch_size):
            x = to_float_batch(split.images[start : start + batch_size], device)
            y = labels[start : start + batch_size].to(device)
            with _autocast(device):
                logits = model(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
    finally:
        model.train(was_training)
    count = max(len(labels), 1)
    return Evaluation(accuracy=correct / count, loss=loss_sum / count)


def proxy_finetune(
    policy: Any,
    model_factory: Callable[[], torch.nn.Module],
    train: Any,
    val: Any,
    config: ProxyConfig = ProxyConfig(),
    report: Report | None = None,
    test: Any = None,
    teaching: Any = None,
) -> ProxyResult:
    """Fine-tune a fresh model under ``policy`` and return its validation accuracy.

    ``model_factory()`` must return a new model with ``.backbone`` and
    ``.head`` (see :mod:`policysearch.models`); it is called after seeding, so
    the new head's initialisation is reproducible. The policy's RandAugment
    runs per training image and its CutMix/MixUp per batch. After each epoch
    ``report(epoch, val_accuracy)`` is called (epochs count from 1). Given a
    ``test`` split, the trained model is also scored on it (``test_accuracy``).
    Given a :class:`policysearch.distill.Teaching`, the model is a student
    that learns from the teachers as well as from the labels.

    Same seed, same device and same inputs give the same accuracy on the CPU.
    """
    device = resolve_device(config.device)
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = model_factory().to(device, memory_format=torch.channels_last)
    optimizer = build_optimizer(model, policy, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train.labels) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(config.epochs * steps_per_epoch, 1)
    )
    augment = policy.transform(rng=rng) if policy.num_ops > 0 else None
    num_classes = int(model.head.out_features)
    mixer = policy.batch_mixer(num_classes, rng=rng)
    rows = train.labels
    if teaching is not None:
        teaching.prepare(device)
        rows = teaching.rows(train.images, train.labels, num_classes, device=device)
    history: list[float] = []
    losses: list[float] = []
    for epoch in range(1, config.epochs + 1):
        epoch_loss = train_epoch(model, optimizer, scheduler, batches(train.images, rows, config.batch_size, rng, augment),
                                 mixer=mixer, device=device, approach=policy.transfer.approach, teaching=teaching)
        if not math.isfinite(epoch_loss):
            return ProxyResult("diverged", None, tuple(history), tuple(losses), epoch,
                               time.perf_counter() - start, device.type,
                               reason=f"training loss became {epoch_loss} in epoch {epoch}")
        losses.append(epoch_loss)
        accuracy = evaluate(model, val, device=device, batch_size=config.eval_batch_size).accuracy
        history.append(accuracy)
        if report is not None:
            report(epoch, accuracy)
    test_accuracy = None
    if test is not None:
        test_accuracy = evaluate(model, test, device=device, batch_size=config.eval_batch_size).accuracy
    return ProxyResult("ok", history[-1], tuple(history), tuple(losses), config.epochs,
                       time.perf_counter() - start, device.type, test_accuracy=test_accuracy)


def build_optimizer(model: torch.nn.Module, policy: Any, *, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """AdamW over the policy's parameter groups; freezes the backbone for a linear probe.

    Example:
        >>> opt = build_optimizer(model, Policy())  # doctest: +SKIP
        >>> [g["lr"] for g in opt.param_groups]  # doctest: +SKIP
        [0.001, 0.0001]
    """
    frozen = policy.transfer.approach == "linear_probe"
    model.backbone.requires_grad_(not frozen)
    model.head.requires_grad_(True)
    groups = policy.param_groups(model.backbone.parameters(), model.head.parameters())
    return torch.optim.AdamW(groups, weight_decay=weight_decay)


def set_train_mode(model: torch.nn.Module, approach: str) -> None:
    """Training mode as the approach wants it (see the module docstring and below)."""
    model.train()
    if approach == "linear_probe":
        # Frozen means frozen: eval mode keeps BN running statistics (and
        # dropout) of the pretrained backbone exactly as they were.
        model.backbone.eval()
    elif getattr(model, "pretrained", False):
        # Fine-tuning a pretrained backbone trains every weight, BN's affine
        # ones included, but normalises with the pretrained statistics: batch
        # statistics of small proxy batches of small images wreck the
        # pretrained features (EfficientNet-Lite0, Fashion-MNIST 32x32, 1,000
        # images, 3 epochs: val accuracy 0.24 with batch statistics, 0.74
        # with the pretrained ones). A random-init backbone has no statistics
        # worth keeping and learns its own.
        for module in model.backbone.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def batches(images: np.ndarray, rows: np.ndarray, batch_size: int, rng: np.random.Generator,
            augment: Callable[[np.ndarray], np.ndarray] | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of shuffled ``(images, rows)`` batches, augmented per image.

    ``rows`` are int labels ``(N,)`` or float target rows ``(N, D)`` (soft
    labels, with any cached teacher probabilities beside them).
    """
    order = rng.permutation(len(rows))
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        chunk = images[index]
        if augment is not None:
            chunk = np.stack([augment(image) for image in chunk])
        yield chunk, rows[index]


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                batches: Iterator[tuple[np.ndarray, np.ndarray]], *, mixer: Any, device: torch.device,
                approach: str, teaching: Any = None) -> float:
    """One pass over ``batches``; the mean loss, or NaN/inf as soon as it appears.

    The loss is cross-entropy against the rows (labels or soft targets), or
    ``teaching.loss`` when a teacher takes part. Shared by the proxy
    fine-tune and full training (:mod:`policysearch.fit`).
    """
    set_train_mode(model, approach)
    total, count = 0.0, 0
    for images, rows in batches:
        x = to_float_batch(images, device)
        y = torch.from_numpy(np.asarray(rows, dtype=np.int64 if rows.ndim == 1 else np.float32)).to(device)
        if mixer is not None:
            x, y = mixer(x, y)
        with _autocast(device):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y) if teaching is None else teaching.loss(logits, x, y)
        value = loss.item()
        if not math.isfinite(value):
            return value
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += value * len(rows)
        count += len(rows)
    return total / max(count, 1)
