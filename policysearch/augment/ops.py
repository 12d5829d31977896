"""Name-keyed registry of augmentation operations on uint8 numpy images.

Each operation maps a uint8 image (HxW, HxWx1 or HxWx3 RGB) to a new contiguous
image of the same shape; an integer magnitude bin in ``[0, num_bins - 1]``
indexes the operation's table of real values. For the 14 operations of
torchvision's RandAugment the tables, sign rule and arithmetic (float32
rounding, truncation to uint8, affine centres, nearest-neighbour ties) are
``torchvision.transforms.v2``'s on uint8 tensors, bit for bit in our tests.

Example:
    >>> import numpy as np
    >>> image = np.full((32, 32, 3), 100, np.uint8)
    >>> apply_op(image, "Brightness", 30)[0, 0].tolist()    # factor 1.9
    [190, 190, 190]

The kernels live in :mod:`._color` and :mod:`._geometric`; this module is
the registry (the search space as data) and the validated entry points.
Hot loops validate once (:func:`check_image`, :func:`as_fill`), look specs up
with :func:`get_op`, then call ``spec.value(...)`` and ``spec.apply(...)``.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Optional

import cv2
import numpy as np

from policysearch._checks import check_choice, show
from policysearch.augment._color import (
    _autocontrast,
    _brightness,
    _color,
    _contrast,
    _equalize,
    _posterize,
    _sharpness,
    _solarize,
)
from policysearch.augment._geometric import FillArg, Kernel, _affine_op, _cutout, _perspective, _random_crop, _translate
from policysearch.augment.geometry import INTERPOLATIONS
from policysearch.augment.geometry import linspace32 as _linspace
from policysearch.errors import DataError, PolicyError

__all__ = ["TORCHVISION_OPS", "EXTRA_OPS", "OPS", "INTERPOLATIONS", "OpSpec", "get_op",
           "op_value", "apply_op", "check_image", "as_fill", "check_op_bins", "bin_bounds"]

TORCHVISION_OPS: tuple[str, ...] = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
    "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
)
EXTRA_OPS: tuple[str, ...] = ("HorizontalFlip", "RandomCrop", "Perspective", "Cutout", "Invert")
DEFAULT_NUM_BINS = 31

MagnitudesFn = Callable[[int, int, int], tuple[float, ...]]  # (num_bins, height, width)


# ---------------------------------------------------------------- magnitude tables
def _lin(end: float) -> MagnitudesFn:
    return lambda num_bins, height, width: _linspace(0.0, end, num_bins)


def _posterize_bits(num_bins: int, height: int, width: int) -> tuple[float, ...]:
    # torchvision: (8 - arange(num_bins) / ((num_bins - 1) / 4)).round().int(), in float32
    bits = np.float32(8) - np.arange(num_bins, dtype=np.float32) / np.float32((num_bins - 1) / 4)
    return tuple(float(b) for b in np.rint(bits))


def _fractions(end: float) -> MagnitudesFn:
    return lambda num_bins, height, width: tuple(float(v) for v in np.linspace(0, end, num_bins))


def _crop_padding(num_bins: int, height: int, width: int) -> tuple[float, ...]:
    return tuple(float(round(p)) for p in np.linspace(0.0, 0.25 * min(height, width), num_bins))


@functools.lru_cache(maxsize=1024)
def _table(name: str, num_bins: int, height: int, width: int) -> Optional[tuple[float, ...]]:
    fn = OPS[name].magnitudes
    return None if fn is None else fn(num_bins, height, width)


# ---------------------------------------------------------------- the registry
@dataclass(frozen=True)
class OpSpec:
    """One operation: its magnitude table (None: no magnitude), sign rule and kernel.

    Example:
        >>> spec = get_op("Solarize")
        >>> spec.signed, spec.value(0, 31, 32, 32)
        (False, 1.0)
    """

    name: str
    magnitudes: Optional[MagnitudesFn]  # (num_bins, height, width) -> a value per bin
    signed: bool  # RandAugment negates the value with probability 1/2
    kernel: Kernel

    def value(self, magnitude: int, num_bins: int, height: int, width: int,
              sign: int = 1) -> Optional[float]:
        """The real value of bin ``magnitude``; cached and unvalidated (the hot path)."""
        table = _table(self.name, num_bins, height, width)
        if table is None:
            return None
        return -table[magnitude] if self.signed and sign < 0 else table[magnitude]

    def apply(self, image: np.ndarray, value: Optional[float], interpolation: str = "nearest",
              fill: FillArg = 0, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """Apply at a real ``value`` (from :meth:`value`); unvalidated (the hot path).

        Check the image once with :func:`check_image`; a grayscale image takes
        the first value of a sequence ``fill``. Returns a new contiguous array.
        """
        if image.ndim == 3 and image.shape[2] == 1:  # cv2 drops a lone channel axis
            return self.kernel(image[:, :, 0], value, interpolation, fill, rng)[:, :, None]
        return self.kernel(image, value, interpolation, fill, rng)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return get_op, (self.name,)  # kernels are closures: pickle by name (spawned workers)


# The search space as data: name -> (magnitude table, signed, kernel), torchvision's order.
OPS: Mapping[str, OpSpec] = MappingProxyType({spec.name: spec for spec in (
    OpSpec("Identity", None, False, lambda img, *_: img.copy()),
    OpSpec("ShearX", _lin(0.3), True, _affine_op("ShearX")),  # tan of the shear angle
    OpSpec("ShearY", _lin(0.3), True, _affine_op("ShearY")),
    OpSpec("TranslateX", lambda n, h, w: _linspace(0.0, 150.0 / 331.0 * w, n), True,
           _translate(0)),  # pixels, truncated to int
    OpSpec("TranslateY", lambda n, h, w: _linspace(0.0, 150.0 / 331.0 * h, n), True,
           _translate(1)),
    OpSpec("Rotate", _lin(30.0), True, _affine_op("Rotate")),  # degrees
    OpSpec("Brightness", _lin(0.9), True,  # factor = 1 + value
           _brightness),
    OpSpec("Color", _lin(0.9), True, _color),  # saturation factor = 1 + value
    OpSpec("Contrast", _lin(0.9), True, _contrast),  # factor = 1 + value
    OpSpec("Sharpness", _lin(0.9), True, _sharpness),  # factor = 1 + value
    OpSpec("Posterize", _posterize_bits, False, _posterize),  # bits kept, 8 -> 4
    OpSpec("Solarize", lambda n, h, w: _linspace(1.0, 0.0, n), False, _solarize),
    OpSpec("AutoContrast", None, False, _autocontrast),
    OpSpec("Equalize", None, False, _equalize),
    # Extras, with torchvision's conventions where torchvision has the transform.
    OpSpec("HorizontalFlip", None, False, lambda img, *_: cv2.flip(img, 1)),
    OpSpec("RandomCrop", _crop_padding, False, _random_crop),  # padding 0 -> min(H, W) / 4
    OpSpec("Perspective", _fractions(0.5), False, _perspective),  # distortion_scale 0 -> 0.5
    OpSpec("Cutout", _fractions(0.5), False, _cutout),  # side / min(H, W), 0 -> 0.5
    OpSpec("Invert", None, False, lambda img, *_: cv2.bitwise_not(img)),
)})


# ---------------------------------------------------------------- validated entry points
def _is_int(value: object) -> bool:
    """An int or numpy integer, not a bool (``type() is int`` first: it is the cheap case)."""
    return type(value) is int or (
        isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)))


def get_op(name: str) -> OpSpec:
    """The registered :class:`OpSpec` for ``name``, or PolicyError.

    Example:
        >>> get_op("Rotate").signed
        True
    """
    spec = OPS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise PolicyError(f"operation should be one of {list(OPS)}, but got {show(name)}")
    return spec


def _check_bins(magnitude: object, num_bins: object, sign: object) -> None:
    if not _is_int(num_bins) or num_bins < 2:
        raise PolicyError(f"num_bins should be an integer >= 2, but got {show(num_bins)}")
    if not _is_int(magnitude) or not 0 <= magnitude < num_bins:
        raise PolicyError(
            f"magnitude should be an integer in [0, {num_bins - 1}], but got {show(magnitude)}")
    if not _is_int(sign) or sign not in (1, -1):
        raise PolicyError(f"sign should be 1 or -1, but got {show(sign)}")


def op_value(name: str, magnitude: int, *, num_bins: int = DEFAULT_NUM_BINS, height: int,
             width: int, sign: int = 1) -> Optional[float]:
    """The real value bin ``magnitude`` maps to for ``name`` (None: the op has no magnitude).

    Example:
        >>> op_value("TranslateX", 30, height=331, width=331)
        150.0
        >>> op_value("Posterize", 30, height=32, width=32)
        4.0
    """
    spec = get_op(name)
    _check_bins(magnitude, num_bins, sign)
    for label, size in (("height", height), ("width", width)):
        if not _is_int(size) or size < 1:
            raise PolicyError(f"{label} should be a positive integer, but got {show(size)}")
    return spec.value(int(magnitude), int(num_bins), int(height), int(width), int(sign))


def check_op_bins(label: str, op_bins: object, ops: Any, num_bins: int,
                  error: type[ValueError] = PolicyError) -> dict[str, tuple[int, int]]:
    """Validate per-op magnitude bounds ``{op: (lo, hi)}``: each op in ``ops`` and with a magnitude,
    integers ``0 <= lo <= hi <= num_bins - 1``. Returns them as a dict in ``ops``' order.

    The bin an op is applied at is clamped to its bounds: RandAugment's M, and
    TrivialAugmentWide's uniformly drawn bin (whose mass outside the bounds lands on them).

    Example:
        >>> check_op_bins("op_bins", {"Rotate": [0, 10]}, ("Identity", "Rotate"), 31)
        {'Rotate': (0, 10)}
        >>> check_op_bins("b", {"Rotate": [12, 10]}, ("Rotate",), 31)
        Traceback (most recent call last):
        ...
        policysearch.errors.PolicyError: b.Rotate should be [low, high] with 0 <= low <= high <= 30, but got [12, 10]
    """
    if not isinstance(op_bins, Mapping):
        raise error(f"{label} should be a table of operation -> [low, high] bins, but got {show(op_bins)}")
    for name, bounds in op_bins.items():
        if name not in ops:
            raise error(f"{label} bounds {show(name)}, which is not among the operations {list(ops)}")
        if OPS[name].magnitudes is None:
            raise error(f"{label} bounds {show(name)}, which has no magnitude to bound")
        pair = list(bounds) if isinstance(bounds, (list, tuple)) else None
        if (pair is None or len(pair) != 2 or not all(_is_int(b) for b in pair)
                or not 0 <= pair[0] <= pair[1] <= num_bins - 1):
            shown = pair if pair is not None and all(_is_int(b) for b in pair) else show(bounds)
            raise error(f"{label}.{name} should be [low, high] with 0 <= low <= high <= {num_bins - 1}, "
                        f"but got {shown}")
    return {name: (int(op_bins[name][0]), int(op_bins[name][1])) for name in ops if name in op_bins}


def bin_bounds(ops: Any, op_bins: Mapping[str, tuple[int, int]], num_bins: int) -> tuple[tuple[int, int], ...]:
    """Each op's (lo, hi) bins: its bounds, or the whole ``[0, num_bins - 1]``.

    Example:
        >>> bin_bounds(("Identity", "Rotate"), {"Rotate": (0, 10)}, 31)
        ((0, 30), (0, 10))
    """
    return tuple(op_bins.get(name, (0, num_bins - 1)) for name in ops)


def as_fill(fill: object, channels: int = 3) -> tuple[int, ...]:
    """Validate a fill: an int 0..255, or a sequence of 1 or ``channels`` of them.

    Example:
        >>> as_fill(128), as_fill([1, 2, 3])
        ((128,), (1, 2, 3))
    """
    if type(fill) is int and 0 <= fill <= 255:
        return (fill,)
    values = [fill] if _is_int(fill) else list(fill) if isinstance(fill, (list, tuple)) else None
    if (values is None or len(values) not in (1, channels)
            or not all(_is_int(v) and 0 <= v <= 255 for v in values)):
        raise PolicyError(f"fill should be an integer in [0, 255] or a sequence of 1 or "
                          f"{channels} such integers, but got {show(fill)}")
    return tuple(int(v) for v in values)


def check_image(image: object) -> int:
    """Validate a uint8 HxW or HxWxC image (C in {1, 3}); return C. Raises DataError.

    Example:
        >>> check_image(np.zeros((4, 4, 3), np.uint8))
        3
    """
    if not isinstance(image, np.ndarray):
        raise DataError(f"image should be a numpy.ndarray, but got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise DataError(f"image dtype should be uint8, but got {image.dtype}")
    if image.ndim not in (2, 3):
        raise DataError(f"image should be HxW or HxWxC, but got shape {image.shape}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in (1, 3):
        raise DataError(f"image should have 1 or 3 channels, but got {channels}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise DataError(f"image should not be empty, but got shape {image.shape}")
    return channels


def apply_op(image: np.ndarray, name: str, magnitude: int, *, num_bins: int = DEFAULT_NUM_BINS,
             sign: int = 1, interpolation: str = "nearest", fill: FillArg = 0,
             rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Apply operation ``name`` at magnitude bin ``magnitude`` to a uint8 image.

    ``sign=-1`` negates a signed op's value; ``rng`` places RandomCrop,
    Perspective and Cutout (None: fresh entropy). The input is never modified.

    Example:
        >>> image = np.arange(12, dtype=np.uint8).reshape(3, 4)
        >>> apply_op(image, "TranslateX", 30, sign=-1)   # int(-150/331*4): 1 pixel left
        array([[ 1,  2,  3,  0],
               [ 5,  6,  7,  0],
               [ 9, 10, 11,  0]], dtype=uint8)
    """
    channels = check_image(image)
    spec = get_op(name)
    _check_bins(magnitude, num_bins, sign)
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    fill = as_fill(fill, channels)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise PolicyError(f"rng should be a numpy.random.Generator or None, but got {show(rng)}")
    value = spec.value(int(magnitude), int(num_bins), image.shape[0], image.shape[1], int(sign))
    return spec.apply(image, value, interpolation, fill, rng)
