"""The proxy fine-tune: the short training run that scores one policy.

This module knows nothing of Optuna: progress goes out through a
``report(epoch, val_accuracy)`` callback, which may raise (for example
``optuna.TrialPruned``) to stop the run early; the exception propagates.

Example:
    >>> import numpy as np
    >>> from policysearch.data import Split
    >>> from policysearch.models import build_model
    >>> from policysearch.policy import Policy
    >>> split = Split(np.zeros((8, 16, 16, 3), np.uint8), np.arange(8) % 2)
    >>> result = proxy_finetune(Policy(num_ops=0), lambda: build_model("tiny-cnn", 2, weights=None, image_size=16),
    ...                         split, split, TrainConfig(epochs=2, device="cpu"))
    >>> result.status, result.epochs_run, len(result.val_history)
    ('ok', 2, 2)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from policysearch.training.config import TrainConfig
from policysearch.training.loop import start_session

__all__ = ["ProxyResult", "proxy_finetune", "Report"]

Report = Callable[[int, float], None]


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


def proxy_finetune(
    policy: Any,
    model_factory: Callable[[], torch.nn.Module],
    train: Any,
    val: Any,
    config: TrainConfig = TrainConfig(),
    report: Report | None = None,
    test: Any = None,
    teaching: Any = None,
) -> ProxyResult:
    """Fine-tune a fresh model under ``policy`` and return its validation accuracy.

    The run is :func:`policysearch.training.loop.start_session`'s, so it draws
    the same augmentations as a full run of the same policy, data and seed.
    After each epoch ``report(epoch, val_accuracy)`` is called (epochs count
    from 1). Given a ``test`` split, the trained model is also scored on it.
    Same seed, same device and same inputs give the same accuracy on the CPU.
    """
    start = time.perf_counter()
    session = start_session(model_factory, policy, train.images, train.labels, config, teaching=teaching)
    history: list[float] = []
    losses: list[float] = []
    for epoch in range(1, config.epochs + 1):
        loss = session.train_epoch()
        if not math.isfinite(loss):
            return ProxyResult("diverged", None, tuple(history), tuple(losses), epoch,
                               time.perf_counter() - start, session.device.type,
                               reason=f"training loss became {loss} in epoch {epoch}")
        losses.append(loss)
        history.append(session.evaluate(val).accuracy)
        if report is not None:
            report(epoch, history[-1])
    test_accuracy = None if test is None else session.evaluate(test).accuracy
    return ProxyResult("ok", history[-1], tuple(history), tuple(losses), config.epochs,
                       time.perf_counter() - start, session.device.type, test_accuracy=test_accuracy)
