"""TrivialAugmentWide: one operation per image, at a uniformly random bin of torchvision's wide ranges.

Per image: an op drawn uniformly from the op set, a bin drawn uniformly from
``[0, num_bins)``, and for a signed op a negation with probability 1/2, as
``torchvision.transforms.v2.TrivialAugmentWide`` does. The wide table below is
torchvision's ``_AUGMENTATION_SPACE`` of that class (Mueller & Hutter,
"TrivialAugment: Tuning-free Yet State-of-the-Art Data Augmentation", 2021);
the kernels are the op registry's. An op with no wide range (the seed's
extras: flip, crop, perspective, cutout, invert) uses its RandAugment table.

Example:
    >>> import numpy as np
    >>> ta = TrivialAugmentWide(rng=0)
    >>> ta(np.zeros((32, 32, 3), np.uint8)).shape
    (32, 32, 3)
    >>> WIDE_MAGNITUDES["Rotate"](31, 32, 32)[-1], WIDE_MAGNITUDES["Posterize"](31, 32, 32)[-1]
    (135.0, 2.0)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Optional, Sequence

import numpy as np

from policysearch.augment import ops as ops_module
from policysearch.augment.base import DRAW_BLOCK, PerImage
from policysearch.augment.geometry import linspace32

__all__ = ["TrivialAugmentWide", "WIDE_MAGNITUDES", "wide_value"]


def _lin(end: float) -> Callable[[int, int, int], tuple[float, ...]]:
    return lambda num_bins, height, width: linspace32(0.0, end, num_bins)


def _posterize_wide(num_bins: int, height: int, width: int) -> tuple[float, ...]:
    # torchvision: (8 - arange(num_bins) / ((num_bins - 1) / 6)).round().int(): 8 bits down to 2
    bits = np.float32(8) - np.arange(num_bins, dtype=np.float32) / np.float32((num_bins - 1) / 6)
    return tuple(float(b) for b in np.rint(bits))


# name -> (num_bins, height, width) -> a value per bin; None: the op has no magnitude.
WIDE_MAGNITUDES: Mapping[str, Optional[Callable[[int, int, int], tuple[float, ...]]]] = MappingProxyType({
    "Identity": None,
    "ShearX": _lin(0.99), "ShearY": _lin(0.99),  # tan of the shear angle
    "TranslateX": _lin(32.0), "TranslateY": _lin(32.0),  # whole pixels, whatever the image size
    "Rotate": _lin(135.0),  # degrees
    "Brightness": _lin(0.99), "Color": _lin(0.99), "Contrast": _lin(0.99), "Sharpness": _lin(0.99),
    "Posterize": _posterize_wide,
    "Solarize": lambda num_bins, height, width: linspace32(1.0, 0.0, num_bins),
    "AutoContrast": None, "Equalize": None,
})  # fmt: skip


@functools.lru_cache(maxsize=4096)
def wide_value(name: str, bin_index: int, num_bins: int, height: int, width: int, negate: bool) -> Optional[float]:
    """The value TrivialAugmentWide applies for op ``name`` at ``bin_index`` (None: no magnitude).

    Example:
        >>> wide_value("TranslateX", 30, 31, 28, 28, True)
        -32.0
    """
    spec = ops_module.get_op(name)
    if name in WIDE_MAGNITUDES:
        fn = WIDE_MAGNITUDES[name]
        if fn is None:
            return None
        value = fn(num_bins, height, width)[bin_index]
        return -value if negate and spec.signed else value
    return spec.value(bin_index, num_bins, height, width, -1 if negate else 1)


class TrivialAugmentWide(PerImage):
    """TrivialAugmentWide over the op registry (see the module docstring).

    Args:
        ops: operation names from :data:`policysearch.ops.OPS` (torchvision's 14 by default).
        num_bins: number of magnitude bins (torchvision: 31).
        interpolation: ``"nearest"`` (torchvision's default) or ``"bilinear"``.
        fill: pixel value for areas a geometric op uncovers.
        rng: an int seed, a ``numpy.random.Generator``, or None.
        op_bins: per-op ``(lo, hi)`` bins; the uniformly drawn bin is clamped to them
            (so the bins outside the bounds weigh on the bounds themselves).

    Example:
        >>> TrivialAugmentWide(ops=("Rotate", "Cutout"), rng=1)(np.ones((8, 8), np.uint8)).dtype
        dtype('uint8')
    """

    def __init__(self, ops: Sequence[str] = ops_module.TORCHVISION_OPS, *, num_bins: int = 31,
                 interpolation: str = "nearest", fill: int | Sequence[int] = 0, rng: Any = None,
                 op_bins: Mapping[str, Sequence[int]] | None = None) -> None:
        super().__init__(ops, num_bins=num_bins, interpolation=interpolation, fill=fill, rng=rng, op_bins=op_bins)

    def __repr__(self) -> str:
        bounds = f", op_bins={self.op_bins}" if self.op_bins else ""
        return f"TrivialAugmentWide(num_bins={self.num_bins}, ops={[spec.name for spec in self.specs]}{bounds})"

    def apply_numpy(self, image: np.ndarray) -> np.ndarray:
        """Augment one numpy uint8 image (HxW or HxWxC); returns a new array."""
        ops_module.check_image(image)
        row = self._draw()
        index = int(row["op"])
        spec = self.specs[index]
        low, high = self.bounds[index]  # the drawn bin, clamped to the op's bounds
        value = wide_value(spec.name, min(max(int(row["bin"]), low), high), self.num_bins, image.shape[0],
                           image.shape[1], bool(row["negate"]))
        out = spec.apply(image, value, self.interpolation, self.fill, self.rng)
        return out if out is not image else image.copy()

    def _new_block(self) -> dict[str, np.ndarray]:
        # This order of generator calls is part of every seeded result: keep it.
        return {
            "op": self.rng.integers(0, len(self.specs), size=DRAW_BLOCK),
            "bin": self.rng.integers(0, self.num_bins, size=DRAW_BLOCK),
            "negate": self.rng.random(DRAW_BLOCK) < 0.5,  # torchvision: rand() <= 0.5
        }
