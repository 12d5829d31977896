"""How fast this machine trains: a few steps of the one training loop, timed.

A run with a time budget plans from what training costs here, on its own
model, image size and device, measured through the same loop every training
runs (:func:`~policysearch.training.loop.start_session`, then
:func:`~policysearch.training.loop.train_epoch` over the session's own feed,
then :meth:`~policysearch.training.loop.Session.evaluate`). A first session,
not timed, sets up, trains ``warmup`` batches and evaluates once: the first
of each pays once per process for imports, thread pools, allocations and
kernel choices (5 s for a first tiny-cnn session on a busy 2-core machine,
0.02 s for the next), which later trainings do not. A second session is then
timed: its setup (the model built, the feed made), ``steps`` batches, one
evaluation of a batch. Every part ends with a read from the device (the
loss, the accuracy), so a GPU's queued work is inside the time measured.

The clock is a parameter: tests pass a fake one and check the arithmetic
without sleeping.

Example:
    >>> import numpy as np
    >>> from policysearch.models import build_model
    >>> from policysearch.policy import Policy
    >>> images, labels = np.zeros((10, 8, 8, 3), np.uint8), np.arange(10) % 2
    >>> ticks = iter(range(100))
    >>> timing = time_training(lambda: build_model("tiny-cnn", 2, weights=None, image_size=8), Policy(), images,
    ...                        labels, TrainConfig(batch_size=4, device="cpu"), clock=lambda: float(next(ticks)))
    >>> timing.train_images, timing.train_seconds, timing.eval_images
    (16, 1.0, 256)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from policysearch.data import Split
from policysearch.training.config import TrainConfig
from policysearch.training.loop import start_session, train_epoch

__all__ = ["Timing", "time_training"]


@dataclass(frozen=True)
class Timing:
    """What the parts of one short training took, in seconds, and how many images each part handled."""

    setup_seconds: float  # start_session: the model built and moved, the optimiser and the feed made
    train_images: int  # images of the measured steps (the warm-up's left out)
    train_seconds: float
    eval_images: int
    eval_seconds: float


def time_training(model_factory: Callable[[], torch.nn.Module], policy: Any, images: np.ndarray, labels: np.ndarray,
                  config: TrainConfig, *, steps: int = 4, warmup: int = 1, teaching: Any = None,
                  clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time a training's setup, ``steps`` batches of ``config.batch_size`` and one evaluation of
    ``config.eval_batch_size`` images, after a warm-up session of ``warmup`` batches (not timed).

    ``images`` and ``labels`` are repeated as needed to fill the batches, so a
    few images are enough; their content does not change what a step costs.
    """
    scored = np.arange(config.eval_batch_size) % len(labels)
    sample = Split(images[scored], labels[scored])
    if warmup:
        rows = np.arange(config.batch_size * warmup) % len(labels)
        first = start_session(model_factory, policy, images[rows], labels[rows], config, teaching=teaching)
        _steps(first, first.feed.epoch())
        first.evaluate(sample)
        del first
    rows = np.arange(config.batch_size * steps) % len(labels)  # exactly ``steps`` full batches
    start = clock()
    session = start_session(model_factory, policy, images[rows], labels[rows], config, teaching=teaching)
    ready = clock()
    _steps(session, session.feed.epoch())
    trained = clock()
    session.evaluate(sample)
    scored_at = clock()
    return Timing(setup_seconds=ready - start, train_images=len(rows), train_seconds=trained - ready,
                  eval_images=len(scored), eval_seconds=scored_at - trained)


def _steps(session: Any, batches: Any) -> float:
    """Train ``session`` on ``batches`` through the loop's own epoch function (it reads the loss at the end)."""
    return train_epoch(session.model, session.optimizer, session.scheduler, batches, device=session.device,
                       approach=session.approach, teaching=session.teaching)
