"""policysearch: find the RandAugment policy and transfer-learning learning
rates that make a pretrained image model generalise best on your data.

Public names are imported lazily so that ``policysearch --help`` starts
instantly (no numpy, OpenCV, torch or Optuna at import time).

Example:
    >>> from policysearch import Policy, load_policy
    >>> load_policy(Policy(num_ops=2, magnitude=9).to_json()).magnitude
    9
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access.
_LAZY = {
    "Policy": "policysearch.policy",
    "Mixing": "policysearch.policy",
    "Transfer": "policysearch.policy",
    "load_policy": "policysearch.policy",
    "RandAugment": "policysearch.augment.randaugment",
    "apply_op": "policysearch.augment.ops",
    "PolicySearchError": "policysearch.errors",
    "PolicyError": "policysearch.errors",
    "DataError": "policysearch.errors",
    "ConfigError": "policysearch.errors",
    "StorageError": "policysearch.errors",
    "ModelError": "policysearch.errors",
    "TrainingError": "policysearch.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only  # noqa: F401
    from policysearch.augment.ops import apply_op
    from policysearch.augment.randaugment import RandAugment
    from policysearch.errors import (
        ConfigError,
        DataError,
        ModelError,
        PolicyError,
        PolicySearchError,
        StorageError,
        TrainingError,
    )
    from policysearch.policy import Mixing, Policy, Transfer, load_policy


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'policysearch' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value
