"""The one training loop: setup, epochs, evaluation; used by the proxy fine-tune and by full training.

A :class:`Session` is one run in progress. :func:`start_session` seeds torch
and numpy, builds the model, the optimiser (the policy's learning-rate split),
the cosine schedule, the policy's per-image augmentation and batch mixing,
always in the same order, so the same policy, data and seed draw the same
augmentations whether a proxy trial or a full run trains. Its
:meth:`Session.state_dict` holds everything a resumed run needs to continue
bit-identically, the augmentation's pending random draws included.

Two transfer-learning approaches, chosen by the policy:

* ``linear_probe``: the pretrained backbone is frozen, weights *and*
  batch-norm statistics (it runs in eval mode); only the new head trains.
* ``finetune``: head and backbone train together, each at its own learning
  rate, through :meth:`Policy.param_groups`. A pretrained backbone keeps its
  batch-norm statistics (see :func:`set_train_mode` for the measurement).

Example:
    >>> import numpy as np
    >>> from policysearch.models import build_model
    >>> from policysearch.policy import Policy
    >>> images, labels = np.zeros((8, 16, 16, 3), np.uint8), np.arange(8) % 2
    >>> session = start_session(lambda: build_model("tiny-cnn", 2, weights=None, image_size=16),
    ...                         Policy(num_ops=1, magnitude=5), images, labels, TrainConfig(epochs=1, device="cpu"))
    >>> loss = session.train_epoch()
    >>> from policysearch.data import Split
    >>> 0 <= session.evaluate(Split(images, labels)).accuracy <= 1
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from policysearch.training.config import TrainConfig
from policysearch.training.devices import autocast, resolve_device, to_float_batch
from policysearch.training.feeding import DeviceFeed, HostFeed, ResidentSplit, make_feed

__all__ = ["Session", "start_session", "Evaluation", "evaluate", "build_optimizer", "set_train_mode",
           "train_epoch", "train_and_score", "LOSS_CHECK_STEPS"]

# Off the CPU, steps between reads of the training loss: each read waits for
# the device to finish everything queued, so reading every step would stall
# it every step; a diverged run still stops within this many steps.
LOSS_CHECK_STEPS = 50


@dataclass(frozen=True)
class Evaluation:
    """Accuracy and mean cross-entropy over a split."""

    accuracy: float
    loss: float


@torch.inference_mode()
def evaluate(model: torch.nn.Module, split: Any, *, device: str | torch.device = "auto",
             batch_size: int = 256) -> Evaluation:
    """Accuracy and loss of ``model`` on a split (``.images`` uint8 NHWC, ``.labels``), copied batch by batch.

    Example:
        >>> from policysearch.data import Split
        >>> from policysearch.models import build_model
        >>> split = Split(np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4, np.int64))
        >>> evaluate(build_model("tiny-cnn", 2, weights=None, image_size=8), split, device="cpu").loss > 0
        True
    """
    device = resolve_device(device) if isinstance(device, str) else device
    targets = torch.from_numpy(np.asarray(split.labels, dtype=np.int64))
    batches = ((to_float_batch(split.images[start : start + batch_size], device),
                targets[start : start + batch_size].to(device)) for start in range(0, len(targets), batch_size))
    return _score(model, batches, len(targets), device)


@torch.inference_mode()
def _score(model: torch.nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], count: int,
           device: torch.device) -> Evaluation:
    """Accuracy and mean loss over ``batches`` in eval mode, read from the device once at the end.

    Each batch's sums stay on the device (a read per batch would wait for it
    every batch); they are added up on the host in batch order, as Python
    floats, so the result is the same as reading each batch at once.
    """
    was_training = model.training
    model.eval()
    losses: list[torch.Tensor] = []
    hits: list[torch.Tensor] = []
    try:
        for x, y in batches:
            with autocast(device, purpose="eval"):
                logits = model(x)
            losses.append(F.cross_entropy(logits.float(), y, reduction="sum"))
            hits.append((logits.argmax(1) == y).sum())
    finally:
        model.train(was_training)
    loss_sum = 0.0
    for value in torch.stack(losses).tolist() if losses else []:
        loss_sum += value  # in order, one float at a time: builtin sum() may compensate (Python 3.12+)
    correct = int(torch.stack(hits).sum().item()) if hits else 0
    count = max(count, 1)
    return Evaluation(accuracy=correct / count, loss=loss_sum / count)


def build_optimizer(model: torch.nn.Module, policy: Any, *, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """AdamW over the policy's parameter groups; freezes the backbone for a linear probe.

    Example:
        >>> from policysearch.models import build_model
        >>> from policysearch.policy import Policy
        >>> opt = build_optimizer(build_model("tiny-cnn", 3, weights=None), Policy())
        >>> [g["lr"] for g in opt.param_groups]  # head, backbone
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


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                batches: Iterator[tuple[torch.Tensor, torch.Tensor]], *, device: torch.device,
                approach: str, teaching: Any = None, check_every: int | None = None) -> float:
    """One pass over ``batches`` of ``(x, y)`` on the device; the mean loss, or NaN/inf once one appears.

    The loss is cross-entropy against the rows (labels or soft targets), or
    ``teaching.loss`` when a teacher takes part. Losses are read from the
    device every ``check_every`` steps (default: every step on the CPU, where
    a read is cheap; every :data:`LOSS_CHECK_STEPS` elsewhere, where each read
    waits for the device to finish its queue). A non-finite loss ends the
    epoch at the read that finds it and is returned: on the CPU before that
    step updates the weights, elsewhere up to ``check_every - 1`` steps later
    (the run has diverged either way, and every caller stops it).
    """
    set_train_mode(model, approach)
    running = _RunningLoss(check_every or (1 if device.type == "cpu" else LOSS_CHECK_STEPS))
    for x, y in batches:
        with autocast(device, purpose="train"):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y) if teaching is None else teaching.loss(logits, x, y)
        if running.add(loss, len(y)):
            return running.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    running.settle()
    return running.mean()


class _RunningLoss:
    """An epoch's loss sum, its steps' losses kept on the device and read ``every`` steps at a time."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.pending: list[tuple[torch.Tensor, int]] = []  # (loss, rows) not read yet
        self.total, self.count = 0.0, 0
        self.diverged: float | None = None  # the first non-finite loss read

    def add(self, loss: torch.Tensor, rows: int) -> bool:
        """Count one step's loss; True when a read found the epoch diverged."""
        self.pending.append((loss.detach(), rows))
        return len(self.pending) >= self.every and self.settle()

    def settle(self) -> bool:
        """Read the pending losses (one wait for the device) into the sum; True if one is NaN/inf."""
        if self.pending:
            values = torch.stack([loss for loss, _ in self.pending]).tolist()
            for value, (_, rows) in zip(values, self.pending):
                if not math.isfinite(value):
                    self.diverged = value
                    break
                self.total += value * rows
                self.count += rows
            self.pending.clear()
        return self.diverged is not None

    def mean(self) -> float:
        return self.diverged if self.diverged is not None else self.total / max(self.count, 1)


@dataclass(eq=False)
class Session:
    """One training run in progress: the model and everything that moves it (see :func:`start_session`)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    rng: np.random.Generator
    feed: HostFeed | DeviceFeed
    device: torch.device
    approach: str
    config: TrainConfig
    teaching: Any = None
    resident: ResidentSplit | None = None  # the split evaluated last, kept on the device (see evaluate)

    def train_epoch(self) -> float:
        """One shuffled, augmented, mixed pass over the training rows; the mean loss (NaN/inf if it diverged)."""
        return train_epoch(self.model, self.optimizer, self.scheduler, self.feed.epoch(), device=self.device,
                           approach=self.approach, teaching=self.teaching)

    def evaluate(self, split: Any) -> Evaluation:
        """The model's accuracy and loss on a split (``.images``, ``.labels``), in eval mode.

        Where the training split lives on the device (a GPU, or a device feed
        on the CPU), the split evaluated is copied there once and kept for the
        next evaluation of the same split object (the validation split, every
        epoch); another split replaces it, so one split at most is kept. The
        host path copies batch by batch. Both give the same numbers.
        """
        if self.device.type == "cpu" and not isinstance(self.feed, DeviceFeed):
            return evaluate(self.model, split, device=self.device, batch_size=self.config.eval_batch_size)
        if self.resident is None or not self.resident.holds(split):
            self.resident = None  # let the old copy go before the new one is made
            self.resident = ResidentSplit(split, self.device)
        batches = self.resident.batches(self.config.eval_batch_size)
        return _score(self.model, batches, len(self.resident), self.device)

    def state_dict(self) -> dict[str, Any]:
        """Model, optimiser, schedule and every random state: what resuming needs."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
            "augment": self.feed.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`; a checkpoint without augmentation state starts fresh draws."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"].cpu())
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu())
        self.feed.load_state_dict(state.get("augment"))


def start_session(model_factory: Callable[[], torch.nn.Module], policy: Any, images: np.ndarray,
                  rows: np.ndarray, config: TrainConfig, *, teaching: Any = None) -> Session:
    """Seed, build and wire one training run; the same steps in the same order for every caller.

    ``model_factory()`` returns a model with ``.backbone`` and ``.head`` (see
    :mod:`policysearch.models`); it is called after seeding, so a new head's
    initialisation is reproducible. Given a :class:`policysearch.distill.Teaching`,
    the model is a student that learns from the teachers as well as the rows.
    """
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = model_factory().to(device, memory_format=torch.channels_last)
    optimizer = build_optimizer(model, policy, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(rows) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    num_classes = int(model.head.out_features)
    mixer = policy.batch_mixer(num_classes, rng=rng)
    if teaching is not None:
        teaching.prepare(device)
        rows = teaching.rows(images, rows, num_classes, device=device)
    feed = make_feed(config.augment_on, images, rows, config.batch_size, rng, policy, mixer, device)
    return Session(model, optimizer, scheduler, rng, feed, device, policy.transfer.approach, config, teaching)


def train_and_score(model_factory: Callable[[], torch.nn.Module], policy: Any, train: Any, scored: Any,
                    config: TrainConfig, *, teaching: Any = None) -> float:
    """Train a fresh model on ``train`` for ``config.epochs``, then its accuracy on ``scored`` (evaluated once).

    A run whose loss diverges scores 0: the policy failed to train at that
    budget, and a comparison must count that, not skip it.
    """
    session = start_session(model_factory, policy, train.images, train.labels, config, teaching=teaching)
    for _ in range(config.epochs):
        if not math.isfinite(session.train_epoch()):
            return 0.0
    return session.evaluate(scored).accuracy
