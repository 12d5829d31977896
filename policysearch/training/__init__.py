"""Training: one loop shared by the proxy fine-tune and full training, the feeds (OpenCV on the host,
batched on the device), devices, run directories, teachers, and timing a few steps (calibrate).

This layer knows nothing of Optuna: progress leaves through callbacks.

Example:
    >>> from policysearch.training import TrainConfig, resolve_device
    >>> resolve_device("cpu").type, TrainConfig().epochs
    ('cpu', 3)
"""

from __future__ import annotations

from policysearch.training.calibrate import Timing, time_training
from policysearch.training.config import DEVICES, TRAINING_FIELDS, TRAINING_VERSION, FitConfig, TrainConfig
from policysearch.training.devices import autocast, resolve_device, to_float_batch
from policysearch.training.fit import FitResult, TrainingSet, fit
from policysearch.training.loop import (
    Evaluation,
    Session,
    build_optimizer,
    evaluate,
    set_train_mode,
    start_session,
    train_and_score,
    train_epoch,
)
from policysearch.training.proxy import ProxyResult, Report, proxy_finetune
from policysearch.training.rundir import RUN_FILES
from policysearch.training.teachers import check_teacher, load_teacher

__all__ = ["DEVICES", "TRAINING_FIELDS", "TRAINING_VERSION", "TrainConfig", "FitConfig", "resolve_device", "to_float_batch", "autocast",
           "Session", "start_session", "Evaluation", "evaluate", "build_optimizer", "set_train_mode",
           "train_epoch", "train_and_score", "ProxyResult", "Report", "proxy_finetune", "FitResult", "TrainingSet", "fit", "RUN_FILES",
           "load_teacher", "check_teacher", "Timing", "time_training"]
