"""Full training under a policy, into a run directory that survives interruption.

:func:`fit` trains a model for a number of epochs with the policy's
augmentation, mixing and learning-rate split through the same
:class:`~policysearch.training.loop.Session` as the proxy fine-tune,
optionally as a student of :class:`~policysearch.distill.Teaching`, and keeps
everything in one run directory (:mod:`policysearch.training.rundir`).
Interrupted (Ctrl-C, a kill, a crash), the same call resumes after the last
finished epoch and ends with the same weights an uninterrupted run gets (on
the same device). It knows nothing of Optuna.

Example:
    >>> import tempfile
    >>> from policysearch.policy import Policy
    >>> splits, run_dir = tiny_splits(), f"{tempfile.mkdtemp()}/run"
    >>> def run():
    ...     return fit(tiny_factory()(), Policy(num_ops=1, magnitude=5), TrainingSet(splits.train.images,
    ...                splits.train.labels), splits.val, splits.test, FitConfig(epochs=1, device="cpu"), run_dir)
    >>> first = run()
    >>> again = run()  # the same call finds the finished run and returns it
    >>> again.resumed_from, again.test_accuracy == first.test_accuracy
    (1, True)
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from policysearch.errors import TrainingError, first_line
from policysearch.training.config import FitConfig
from policysearch.training.curves import Panel, save_panels
from policysearch.training.loop import Session, start_session
from policysearch.training.rundir import RUN_FILES, claim, load_checkpoint, read_run_json, save_torch, write_metrics

__all__ = ["FitResult", "TrainingSet", "fit"]

EpochHook = Callable[[int, Mapping[str, float]], None]


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """Training images (uint8 NHWC) and their rows: int labels ``(N,)`` or soft targets ``(N, K)``."""

    images: np.ndarray
    rows: np.ndarray

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8 or len(self.images) != len(self.rows):
            raise TrainingError(
                f"a training set needs uint8 NHWC images with one row each, but got {self.images.dtype} "
                f"images of shape {self.images.shape} and {len(self.rows)} rows"
            )
        if len(self.rows) == 0:
            raise TrainingError("a training set needs at least one image, but got 0")


@dataclass(frozen=True)
class FitResult:
    """Where the run lives and what it measured (``metrics`` is metrics.json)."""

    run_dir: Path
    metrics: Mapping[str, Any]
    resumed_from: int  # the epoch the run continued after; 0 for a fresh start

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("test_accuracy")


def fit(
    model: torch.nn.Module,
    policy: Any,
    train: TrainingSet,
    val: Any,
    test: Any,
    config: FitConfig,
    run_dir: str | os.PathLike[str],
    *,
    teaching: Any = None,
    description: Mapping[str, Any] | None = None,
    notes: Mapping[str, Any] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_epoch: EpochHook | None = None,
) -> FitResult:
    """Train ``model`` (a fresh :class:`~policysearch.models.TransferModel`) into ``run_dir``.

    ``val`` and ``test`` are splits with ``.images`` and ``.labels``. If
    ``run_dir`` holds a checkpoint of the same run (same ``description`` and
    ``config``), training resumes after its last finished epoch; a finished
    run is returned as it is. ``notes`` (e.g. pseudo-label counts) are copied
    into metrics.json. ``on_start(epoch)`` is called once the directory is
    claimed, with the epoch training resumes after (0: a fresh start);
    ``on_epoch(epoch, metrics)`` after each epoch's checkpoint is written.
    """
    run_dir = Path(run_dir)
    # The device (and so where batches are augmented) is not part of what a run is:
    # a run started on a GPU may resume on a CPU.
    settings = {k: v for k, v in asdict(config).items() if k not in ("device", "augment_on")}
    recipe = {k: v for k, v in policy.to_json().items() if k not in ("score", "provenance")}
    claim(run_dir, {"description": dict(description or {}), "policy": recipe, "fit": settings})
    finished = _finished_metrics(run_dir)
    if finished is not None:
        return FitResult(run_dir, finished, resumed_from=config.epochs)
    session = start_session(lambda: model, policy, train.images, train.rows, config, teaching=teaching)
    history: list[dict[str, float]] = []
    state = load_checkpoint(run_dir, session.device)
    start_epoch = 0
    if state is not None:
        _resume(session, state, run_dir)
        history.extend(state["history"])
        start_epoch = int(state["epoch"])
    if on_start is not None:
        on_start(start_epoch)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        history.append(_epoch(session, epoch, val))
        save_torch({**session.state_dict(), "epoch": epoch, "history": history}, run_dir / RUN_FILES["checkpoint"])
        write_metrics(run_dir, history, epochs=config.epochs, device=session.device.type, finished=False, notes=notes)
        if on_epoch is not None:
            on_epoch(epoch, history[-1])
    test_accuracy = session.evaluate(test).accuracy
    save_torch(session.model.state_dict(), run_dir / RUN_FILES["model"])
    metrics = write_metrics(run_dir, history, epochs=config.epochs, device=session.device.type, finished=True,
                            notes=notes, test_accuracy=test_accuracy)
    _plot(run_dir, history, test_accuracy)
    return FitResult(run_dir, metrics, resumed_from=start_epoch)


def _finished_metrics(run_dir: Path) -> Mapping[str, Any] | None:
    metrics_path = run_dir / RUN_FILES["metrics"]
    if (run_dir / RUN_FILES["model"]).is_file() and metrics_path.is_file():
        metrics = read_run_json(metrics_path)
        if metrics.get("finished"):
            return metrics
    return None


def _resume(session: Session, state: dict[str, Any], run_dir: Path) -> None:
    try:
        session.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - a checkpoint of another shape is the same problem to the user
        path = run_dir / RUN_FILES["checkpoint"]
        raise TrainingError(f"cannot resume from {str(path)!r}: {first_line(exc)}; "
                            f"remove it to start the run again") from None


def _epoch(session: Session, epoch: int, val: Any) -> dict[str, float]:
    began = time.perf_counter()
    loss = session.train_epoch()
    if not math.isfinite(loss):
        raise TrainingError(f"training loss became {loss} in epoch {epoch}; try a smaller learning rate "
                            f"(the checkpoint of epoch {epoch - 1} is kept)")
    scores = session.evaluate(val)
    return {"epoch": epoch, "train_loss": loss, "val_accuracy": scores.accuracy, "val_loss": scores.loss,
            "seconds": time.perf_counter() - began}


def _plot(run_dir: Path, history: list[dict[str, float]], test_accuracy: float) -> None:
    epochs = len(history)
    panels = [
        Panel("training loss", {"train": [h["train_loss"] for h in history]}, y_label="loss"),
        Panel("accuracy", {"validation": [h["val_accuracy"] for h in history]}, y_label="accuracy",
              markers={"test": (float(epochs), test_accuracy)}),
    ]
    save_panels(run_dir / RUN_FILES["curves"], panels)
