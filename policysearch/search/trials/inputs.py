"""What a search loads once before its trials: the splits, the model factory, the teacher, the proxy budget.

Example:
    >>> from policysearch.search.configuration.config import RunConfig
    >>> train_config(RunConfig(epochs=2)).epochs
    2
"""

from __future__ import annotations

from typing import Any, Callable

from policysearch.data import Source, load_source, make_splits
from policysearch.distill import Teaching
from policysearch.models import model_factory
from policysearch.search.configuration.config import RunConfig
from policysearch.search.verdict.verdict import TargetSpec
from policysearch.training import TrainConfig, check_teacher, load_teacher, resolve_device

__all__ = ["load_splits", "make_model_factory", "load_teaching", "train_config", "target_spec"]


def load_splits(config: RunConfig, source: Source | None = None) -> Any:
    """The dataset (loaded here unless given), and its fixed-seed train/val/test splits."""
    source = source or load_source(config.dataset, image_size=config.image_size)
    # test_size is at most the split: the default's 2,000 is the whole test split of a smaller dataset
    test_size = None if config.test_size is None or config.test_size >= len(source.test) else config.test_size
    return make_splits(source, train_size=config.train_size, val_size=config.val_size, test_size=test_size,
                       seed=config.seed)


def make_model_factory(config: RunConfig, num_classes: int) -> Callable[[], Any]:
    """The run's backbone, built once; each call returns a copy with a freshly drawn head."""
    return model_factory(config.model, num_classes, image_size=config.image_size, weights=config.weights,
                         seed=config.seed)


def load_teaching(config: RunConfig, splits: Any) -> Any:
    """The teacher of a distillation study (``config.teacher``), checked against the data; else None.

    With the clean view the teacher's outputs over the proxy's training images
    are computed here, once for every trial; the teaching keeps them by those
    images, so the rung and the verdict, which train on other images, get
    their own computed (and kept) when they first train.
    """
    if config.teacher is None:
        return None
    model, info = load_teacher(config.teacher)
    check_teacher(info, config.teacher, splits.classes)
    teaching = Teaching((model,), view=config.teacher_view)
    if config.teacher_view == "clean":
        device = resolve_device(config.device)
        teaching.prepare(device)
        teaching.clean_logits_for(splits.train.images, device)
    return teaching


def target_spec(config: RunConfig) -> TargetSpec:
    """The verdict's budget: the run's ``target_*`` settings, on the run's dataset and seeds."""
    return TargetSpec(dataset=config.dataset, model=config.target_model or config.model, weights=config.weights,
                      image_size=config.target_image_size or config.image_size, train_size=config.target_train_size,
                      epochs=config.target_epochs, seeds=config.final_seeds, batch_size=config.batch_size,
                      seed=config.seed, device=config.device, test_size=config.test_size,
                      augment_on=config.augment_on)


def train_config(config: RunConfig) -> TrainConfig:
    """The proxy budget of one trial (and of the final check), from the run's settings."""
    return TrainConfig(epochs=config.proxy_epochs, batch_size=config.batch_size, seed=config.seed, device=config.device,
                       augment_on=config.augment_on)
