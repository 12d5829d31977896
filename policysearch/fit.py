"""Full training under a policy, into a run directory that survives interruption.

:func:`fit` trains a model for a number of epochs with the policy's
augmentation, mixing and learning-rate split (the same epoch loop as the
proxy fine-tune), optionally as a student of :class:`~policysearch.distill.Teaching`,
and keeps everything in one run directory:

* ``run.json``: what is being trained (the caller's description and the
  settings); a later call must describe the same run to resume it.
* ``checkpoint.pt``: model, optimiser, schedule and random-generator state
  after the last finished epoch, written atomically.
* ``metrics.json``: per-epoch train loss, validation accuracy and loss,
  seconds; at the end the test accuracy.
* ``curves.png``: those curves; ``model.pt``: the final state dict.

Interrupted (Ctrl-C, a kill, a crash), the same call resumes after the last
finished epoch and ends with the same weights an uninterrupted run gets (on
the same device). Like :mod:`policysearch.train` it knows nothing of Optuna.

Example:
    >>> result = fit(model, policy, TrainingSet(splits.train.images, splits.train.labels),
    ...              splits.val, splits.test, FitConfig(epochs=10), "runs/fmnist")  # doctest: +SKIP
    >>> result.test_accuracy  # doctest: +SKIP
    0.91
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from policysearch.errors import TrainingError
from policysearch.policy import write_json_atomic
from policysearch.train import ProxyConfig, batches, build_optimizer, evaluate, resolve_device, train_epoch

__all__ = ["FitConfig", "FitResult", "TrainingSet", "fit", "read_json", "RUN_FILES"]

RUN_FILES = {
    "run": "run.json",
    "checkpoint": "checkpoint.pt",
    "metrics": "metrics.json",
    "model": "model.pt",
    "curves": "curves.png",
}
EpochHook = Callable[[int, Mapping[str, float]], None]


@dataclass(frozen=True)
class FitConfig(ProxyConfig):
    """The proxy's settings (batch size, weight decay, seed, device), for a full run of 10 epochs by default."""

    epochs: int = 10


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


def read_json(path: Path) -> Any:
    """A run file's JSON, or a one-line :class:`TrainingError` naming the file."""
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot read {str(path)!r}: {exc}") from None


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
    # The device is not part of what a run is: a run started on a GPU may resume on a CPU.
    settings = {k: v for k, v in asdict(config).items() if k != "device"}
    recipe = {k: v for k, v in policy.to_json().items() if k not in ("score", "provenance")}
    identity = {"description": dict(description or {}), "policy": recipe, "fit": settings}
    _claim(run_dir, identity)
    metrics_path = run_dir / RUN_FILES["metrics"]
    if (run_dir / RUN_FILES["model"]).is_file() and metrics_path.is_file():
        metrics = read_json(metrics_path)
        if metrics.get("finished"):
            return FitResult(run_dir, metrics, resumed_from=config.epochs)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = build_optimizer(model, policy, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(train.rows) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    history: list[dict[str, float]] = []
    start_epoch = _resume(run_dir, model, optimizer, scheduler, rng, history, device)
    if on_start is not None:
        on_start(start_epoch)
    mixer = policy.batch_mixer(int(model.head.out_features), rng=rng)
    rows = train.rows
    if teaching is not None:
        teaching.prepare(device)
        rows = teaching.rows(train.images, train.rows, int(model.head.out_features), device=device)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        began = time.perf_counter()
        # A new RandAugment each epoch: it draws its op choices from rng in
        # blocks, and a buffer left over from the last epoch is state the
        # checkpoint would not hold. Fresh per epoch, a resumed run draws the same.
        augment = policy.transform(rng=rng) if policy.num_ops > 0 else None
        loss = train_epoch(model, optimizer, scheduler,
                           batches(train.images, rows, config.batch_size, rng, augment),
                           mixer=mixer, device=device, approach=policy.transfer.approach, teaching=teaching)
        if not math.isfinite(loss):
            raise TrainingError(f"training loss became {loss} in epoch {epoch}; try a smaller learning rate "
                                f"(the checkpoint of epoch {epoch - 1} is kept)")
        scores = evaluate(model, val, device=device, batch_size=config.eval_batch_size)
        history.append({"epoch": epoch, "train_loss": loss, "val_accuracy": scores.accuracy,
                        "val_loss": scores.loss, "seconds": time.perf_counter() - began})
        _save_checkpoint(run_dir, model, optimizer, scheduler, rng, history)
        _write_metrics(run_dir, notes, history, config, device, finished=False)
        if on_epoch is not None:
            on_epoch(epoch, history[-1])
    test_accuracy = evaluate(model, test, device=device, batch_size=config.eval_batch_size).accuracy
    _save_atomic(model.state_dict(), run_dir / RUN_FILES["model"])
    metrics = _write_metrics(run_dir, notes, history, config, device, finished=True,
                             test_accuracy=test_accuracy)
    _plot(run_dir, history, test_accuracy)
    return FitResult(run_dir, metrics, resumed_from=start_epoch)


def _claim(run_dir: Path, identity: dict[str, Any]) -> None:
    """Write run.json, or check that the one there describes this same run."""
    path = run_dir / RUN_FILES["run"]
    if path.is_file():
        stored = read_json(path)
        if stored != _jsonable(identity):
            changed = _first_difference(stored, _jsonable(identity))
            raise TrainingError(
                f"{str(run_dir)!r} holds another run ({changed}); give another output directory "
                f"or remove that one"
            )
        return
    # Nested runs (self-training keeps its teacher in run_dir/teacher) are not clutter.
    if run_dir.exists() and any(not (entry / RUN_FILES["run"]).is_file() for entry in run_dir.iterdir()):
        raise TrainingError(f"{str(run_dir)!r} is not empty and is not a run directory; give another one")
    try:
        write_json_atomic(path, _jsonable(identity))
    except OSError as exc:
        raise TrainingError(f"cannot write to {str(run_dir)!r}: {exc.strerror or exc}") from None


def _first_difference(old: Any, new: Any, where: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else key)
    return f"{where} was {old!r}, now {new!r}"


def _jsonable(value: Any) -> Any:
    """Tuples as lists, as JSON reads them back, so stored and new compare equal."""
    import json

    return json.loads(json.dumps(value))


def _resume(run_dir: Path, model, optimizer, scheduler, rng: np.random.Generator,
            history: list[dict[str, float]], device: torch.device) -> int:
    """Load the checkpoint if there is one; the epoch it finished (0 if none)."""
    path = run_dir / RUN_FILES["checkpoint"]
    if not path.is_file():
        return 0
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"].cpu())
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu())
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is the same problem to the user
        raise TrainingError(f"cannot resume from {str(path)!r}: {str(exc).splitlines()[0] if str(exc) else exc!r}; "
                            f"remove it to start the run again") from None
    history.extend(state["history"])
    return int(state["epoch"])


def _save_checkpoint(run_dir: Path, model, optimizer, scheduler, rng: np.random.Generator,
                     history: list[dict[str, float]]) -> None:
    state = {
        "epoch": history[-1]["epoch"],
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        "history": history,
    }
    _save_atomic(state, run_dir / RUN_FILES["checkpoint"])


def _save_atomic(obj: Any, path: Path) -> None:
    """torch.save through a temporary file and a rename: a kill mid-write leaves the old file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_metrics(run_dir: Path, notes: Mapping[str, Any] | None, history: list[dict[str, float]],
                   config: FitConfig, device: torch.device, *, finished: bool,
                   test_accuracy: float | None = None) -> dict[str, Any]:
    metrics = {
        "finished": finished,
        "epochs": config.epochs,
        "device": device.type,
        "train_loss": [h["train_loss"] for h in history],
        "val_accuracy": [h["val_accuracy"] for h in history],
        "val_loss": [h["val_loss"] for h in history],
        "seconds": [h["seconds"] for h in history],
        "test_accuracy": test_accuracy,
        **_jsonable(dict(notes or {})),
    }
    write_json_atomic(run_dir / RUN_FILES["metrics"], metrics)
    return metrics


def _plot(run_dir: Path, history: list[dict[str, float]], test_accuracy: float) -> None:
    from policysearch.plot import Panel, save_panels

    epochs = len(history)
    panels = [
        Panel("training loss", {"train": [h["train_loss"] for h in history]}, y_label="loss"),
        Panel("accuracy", {"validation": [h["val_accuracy"] for h in history]}, y_label="accuracy",
              markers={"test": (float(epochs), test_accuracy)}),
    ]
    save_panels(run_dir / RUN_FILES["curves"], panels)
