"""Run directories: the files a full training run keeps, claiming a folder, checkpoints and metrics.

* ``run.json``: what is being trained (the caller's description, the policy's
  recipe and the settings); a later call must describe the same run to resume it.
* ``checkpoint.pt``: the session's state after the last finished epoch.
* ``metrics.json``: per-epoch train loss, validation accuracy and loss,
  seconds; at the end the test accuracy.
* ``curves.png``: those curves; ``model.pt``: the final state dict.

Every file is written atomically (:mod:`policysearch._io`).

Example:
    >>> import tempfile, pathlib
    >>> run_dir = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> claim(run_dir, {"what": "a test"})
    >>> claim(run_dir, {"what": "another"})
    Traceback (most recent call last):
    ...
    policysearch.errors.TrainingError: ... holds another run (what was 'a test', now 'another'); ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from policysearch._io import atomic_path, read_json, to_jsonable, write_json_atomic
from policysearch.errors import TrainingError, first_line

__all__ = ["RUN_FILES", "claim", "read_run_json", "save_torch", "load_checkpoint", "write_metrics"]

RUN_FILES = {
    "run": "run.json",
    "checkpoint": "checkpoint.pt",
    "metrics": "metrics.json",
    "model": "model.pt",
    "curves": "curves.png",
}


def read_run_json(path: Path) -> Any:
    """A run file's JSON, or a one-line :class:`TrainingError` naming the file."""
    return read_json(path, error=TrainingError)


def claim(run_dir: Path, identity: Mapping[str, Any]) -> None:
    """Write run.json, or check that the one there describes this same run."""
    path = run_dir / RUN_FILES["run"]
    wanted = to_jsonable(dict(identity))
    if path.is_file():
        stored = read_run_json(path)
        if stored != wanted:
            raise TrainingError(
                f"{str(run_dir)!r} holds another run ({_first_difference(stored, wanted)}); give another "
                f"output directory or remove that one"
            )
        return
    # Nested runs (self-training keeps its teacher in run_dir/teacher) are not clutter.
    if run_dir.exists() and any(not (entry / RUN_FILES["run"]).is_file() for entry in run_dir.iterdir()):
        raise TrainingError(f"{str(run_dir)!r} is not empty and is not a run directory; give another one")
    try:
        write_json_atomic(path, wanted)
    except OSError as exc:
        raise TrainingError(f"cannot write to {str(run_dir)!r}: {exc.strerror or exc}") from None


def _first_difference(old: Any, new: Any, where: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else key)
    return f"{where} was {old!r}, now {new!r}"


def save_torch(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`policysearch._io.atomic_path`: a kill mid-write leaves the old file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(run_dir: Path, device: torch.device) -> dict[str, Any] | None:
    """The checkpoint's state (tensors on ``device``), None without one, or a one-line error."""
    path = run_dir / RUN_FILES["checkpoint"]
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is the same problem to the user
        raise TrainingError(f"cannot resume from {str(path)!r}: {first_line(exc)}; "
                            f"remove it to start the run again") from None


def write_metrics(run_dir: Path, history: list[dict[str, float]], *, epochs: int, device: str, finished: bool,
                  notes: Mapping[str, Any] | None = None, test_accuracy: float | None = None) -> dict[str, Any]:
    """metrics.json from the per-epoch history; returns what it wrote."""
    metrics = {
        "finished": finished,
        "epochs": epochs,
        "device": device,
        "train_loss": [h["train_loss"] for h in history],
        "val_accuracy": [h["val_accuracy"] for h in history],
        "val_loss": [h["val_loss"] for h in history],
        "seconds": [h["seconds"] for h in history],
        "test_accuracy": test_accuracy,
        **to_jsonable(dict(notes or {})),
    }
    write_json_atomic(run_dir / RUN_FILES["metrics"], metrics)
    return metrics
