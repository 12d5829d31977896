"""Model factories: build a backbone once, hand out copies with a freshly drawn head.

Copying beats reloading the weights for every trial or verdict run. The
pristine copy is built with a fixed seed, so a random-init backbone is the
same whatever ran before it in the process; each copy's head is then
re-initialised from torch's generator, which the training loop seeds, so
seeds still vary it.

Example:
    >>> factory = model_factory("tiny-cnn", 3, image_size=8, weights=None)
    >>> a, b = factory(), factory()
    >>> a is b, a.head.out_features
    (False, 3)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

from policysearch.models.backbones import DEFAULT_WEIGHTS, TransferModel, build_model

__all__ = ["model_factory"]


def model_factory(name: str, num_classes: int, *, image_size: int = 32, weights: str | Path | None = DEFAULT_WEIGHTS,
                  seed: int = 0) -> Callable[[], TransferModel]:
    """A factory of fresh copies of one backbone (see the module docstring)."""
    pristine = build_model(name, num_classes, image_size=image_size, weights=weights, seed=seed)

    def factory() -> TransferModel:
        model = copy.deepcopy(pristine)
        model.head.reset_parameters()
        return model

    return factory
