"""The settings of one training run, shared by the proxy fine-tune and full training.

The field rules here are the one definition of how ``epochs``, ``batch_size``,
``seed`` and ``device`` are checked; the search's and the ``train`` command's
configurations check theirs with the same rules.

Example:
    >>> TrainConfig(epochs=2).batch_size
    64
    >>> TrainConfig(seed=-1)
    Traceback (most recent call last):
    ...
    policysearch.errors.TrainingError: seed should be an integer >= 0, but got -1
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from policysearch._checks import COUNT, SEED, Rule, check_fields
from policysearch.errors import TrainingError

__all__ = ["DEVICES", "AUGMENT_PLACES", "TRAINING_FIELDS", "TRAINING_VERSION", "TrainConfig", "FitConfig"]

# Part of the key of every stored target result (search/verdict/target_results.py): raise it with any change to
# training that changes what a seeded run scores (the loop, the optimiser, the schedule, the feeds, the ops).
TRAINING_VERSION = 1
DEVICES = ("auto", "cpu", "cuda", "mps")
AUGMENT_PLACES = ("auto", "host", "device")  # auto: on the device for CUDA/MPS, OpenCV on the host for the CPU

TRAINING_FIELDS = MappingProxyType({
    "epochs": COUNT,
    "batch_size": COUNT,
    "eval_batch_size": COUNT,
    "weight_decay": Rule("number", low=0.0),
    "seed": SEED,
    "device": Rule("choice", choices=DEVICES),
    "augment_on": Rule("choice", choices=AUGMENT_PLACES),
})


@dataclass(frozen=True)
class TrainConfig:
    """The budget and optimiser settings of one training run (the proxy's: 3 epochs)."""

    epochs: int = 3
    batch_size: int = 64
    eval_batch_size: int = 256
    weight_decay: float = 0.01
    seed: int = 0
    device: str = "auto"
    augment_on: str = "auto"  # where batches are augmented: see policysearch.training.feeding

    def __post_init__(self) -> None:
        check_fields(self, TRAINING_FIELDS, error=TrainingError)


@dataclass(frozen=True)
class FitConfig(TrainConfig):
    """The same settings for a full run, 10 epochs by default."""

    epochs: int = 10
