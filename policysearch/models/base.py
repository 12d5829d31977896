"""What every backbone builder shares: the :class:`Backbone` record it returns, and strict weight loading.

A builder is a callable ``builder(weights) -> Backbone``, where ``weights`` is
``"DEFAULT"`` (its pretrained weights) or ``None`` (random initialisation).
Built-in backbones, ``timm:NAME`` and plugin backbones (entry point group
``policysearch.backbones``) all follow that contract; a weights file is loaded
by :func:`policysearch.models.build_model` afterwards, the same way for all.

Example:
    >>> from torch import nn
    >>> Backbone(nn.Flatten(), mean=(0.5,) * 3, std=(0.5,) * 3, pretrained=False).classifier
    ''
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from policysearch.errors import ModelError

__all__ = ["Backbone", "DEFAULT_WEIGHTS", "IMAGENET_MEAN", "IMAGENET_STD", "read_state_dict", "load_strict"]

DEFAULT_WEIGHTS = "DEFAULT"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _three_floats(label: str, value: object, *, positive: bool) -> tuple[float, ...]:
    numbers_ok = isinstance(value, (tuple, list)) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value
    )
    if not numbers_ok or len(value) != 3 or (positive and min(value) <= 0):  # type: ignore[arg-type]
        what = "3 positive numbers" if positive else "3 numbers"
        raise ModelError(f"Backbone {label} should be {what} (one per RGB channel), but got {value!r}")
    return tuple(float(v) for v in value)  # type: ignore[union-attr]


@dataclass(frozen=True)
class Backbone:
    """What a builder hands to :func:`~policysearch.models.build_model`.

    Args:
        module: normalised 3-channel NCHW images -> ``(N, features)``; the
            feature size is measured with one forward pass, not declared.
        mean, std: the per-channel input normalisation its weights were
            trained with, for pixels in [0, 1].
        pretrained: whether ``module`` holds trained weights.
        classifier: where the removed classifier lived in the original
            network's state dict (``"fc"``, ``"classifier"``; a tuple for
            networks with two), so that a weights file saved from the
            original network loads: those keys are dropped, or become the
            head when their shape fits. ``""`` if there is none.

    Example:
        >>> Backbone(nn.Flatten(), mean=(0.5, 0.5), std=(1, 1, 1), pretrained=False)
        Traceback (most recent call last):
        ...
        policysearch.errors.ModelError: Backbone mean should be 3 numbers (one per RGB channel), but got (0.5, 0.5)
    """

    module: nn.Module
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pretrained: bool
    classifier: str | tuple[str, ...] = ""

    def __post_init__(self) -> None:
        # Plugins build these too: check here, where a mistake is cheap to explain.
        if not isinstance(self.module, nn.Module):
            raise ModelError(f"Backbone module should be a torch.nn.Module, but got {type(self.module).__name__}")
        object.__setattr__(self, "mean", _three_floats("mean", self.mean, positive=False))
        object.__setattr__(self, "std", _three_floats("std", self.std, positive=True))
        if not isinstance(self.pretrained, bool):
            raise ModelError(f"Backbone pretrained should be True or False, but got {self.pretrained!r}")
        names = (self.classifier,) if isinstance(self.classifier, str) else self.classifier
        if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
            raise ModelError(f"Backbone classifier should be a module path or a tuple of them, "
                             f"but got {self.classifier!r}")

    @property
    def classifiers(self) -> tuple[str, ...]:
        """``classifier`` as a tuple of module paths (empty if none)."""
        names = (self.classifier,) if isinstance(self.classifier, str) else self.classifier
        return tuple(n for n in names if n)


def read_state_dict(path: str | Path, model_name: str) -> dict[str, torch.Tensor]:
    """A state dict from a file, refusing anything but tensors (``weights_only``).

    Example:
        >>> read_state_dict("/no/such.pth", "tiny-cnn")
        Traceback (most recent call last):
        ...
        policysearch.errors.ModelError: weights file '/no/such.pth' for tiny-cnn does not exist
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"weights file {str(path)!r} for {model_name} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load's failures have no common type; any means "not loadable"
        raise ModelError(
            f"cannot load weights file {str(path)!r} for {model_name} ({type(exc).__name__}); expected a "
            f"state dict saved with torch.save(model.state_dict(), path)"
        ) from exc
    # Training checkpoints often wrap the state dict: {"state_dict": ...} or {"model": ...}.
    if isinstance(state, Mapping) and len(state) == 1 and next(iter(state)) in ("state_dict", "model"):
        state = next(iter(state.values()))
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"weights file {str(path)!r} for {model_name} is not a state dict of tensors")
    return dict(state)


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str, model_name: str) -> None:
    """Load ``state`` strictly, turning torch's multi-line complaint into one line.

    Example:
        >>> load_strict(nn.Linear(2, 3), {"weight": torch.zeros(3, 2)}, "memory", "a layer")
        Traceback (most recent call last):
        ...
        policysearch.errors.ModelError: weights in memory do not fit a layer: 1 missing keys (e.g. 'bias')
    """
    own = module.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    reshaped = sorted(k for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
    if missing or unexpected or reshaped:
        found = ((missing, "missing keys"), (unexpected, "unexpected keys"), (reshaped, "shape mismatches"))
        problems = [f"{len(keys)} {what} (e.g. {keys[0]!r})" for keys, what in found if keys]
        raise ModelError(f"weights in {source} do not fit {model_name}: {', '.join(problems)}")
    module.load_state_dict(state)
