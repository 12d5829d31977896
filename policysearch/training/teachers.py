"""Teachers: finished training runs loaded back as models, for distillation and pseudo labels.

Example:
    >>> load_teacher("/nonexistent")
    Traceback (most recent call last):
    ...
    policysearch.errors.TrainingError: teacher '/nonexistent' is not a run directory (no run.json)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from policysearch.errors import TrainingError, first_line
from policysearch.models import build_model
from policysearch.training.rundir import RUN_FILES, read_run_json

__all__ = ["load_teacher", "check_teacher"]


def load_teacher(run_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """A finished run's model (eval mode) and its description from run.json.

    Example:
        >>> import io, tempfile
        >>> from policysearch.policy import Policy
        >>> from policysearch.runs import RunSpec, train_run
        >>> run_dir = f"{tempfile.mkdtemp()}/teacher"
        >>> _ = train_run(RunSpec(Policy(num_ops=0), output=run_dir, dataset="digits", model="tiny-cnn", weights=None,
        ...                       image_size=8, train_size=100, val_size=50, epochs=1, device="cpu"), stream=io.StringIO())
        >>> model, info = load_teacher(run_dir)
        >>> info["model"], info["image_size"], model.training
        ('tiny-cnn', 8, False)
    """
    run_dir = Path(run_dir)
    weights = run_dir / RUN_FILES["model"]
    if not (run_dir / RUN_FILES["run"]).is_file():
        raise TrainingError(f"teacher {str(run_dir)!r} is not a run directory (no {RUN_FILES['run']})")
    if not weights.is_file():
        raise TrainingError(f"teacher {str(run_dir)!r} has not finished training (no {RUN_FILES['model']}); "
                            f"run its train command again to finish it")
    info = read_run_json(run_dir / RUN_FILES["run"]).get("description")
    if not isinstance(info, dict) or not {"model", "classes", "image_size"} <= info.keys():
        raise TrainingError(f"teacher {str(run_dir)!r} has a run.json that does not describe a model")
    model = build_model(info["model"], len(info["classes"]), image_size=info["image_size"], weights=None)
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 - a damaged file, whatever the exception
        raise TrainingError(f"cannot load teacher weights {str(weights)!r}: {first_line(exc)}") from None
    return model.eval(), info


def check_teacher(info: Mapping[str, Any], path: str, classes: tuple[str, ...]) -> None:
    """A teacher must know the dataset's classes (its image size may differ: it sees the images resized)."""
    if tuple(info["classes"]) != tuple(classes):
        raise TrainingError(f"teacher {path!r} knows classes {list(info['classes'])[:4]}..., "
                            f"not the dataset's {list(classes)[:4]}...")
