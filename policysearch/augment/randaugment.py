"""RandAugment over the op registry, per image on NumPy/OpenCV.

``RandAugment`` draws N operations uniformly with replacement and a random
sign for signed ones, then applies them at magnitude bin M, exactly as
``torchvision.transforms.v2.RandAugment`` does, but on NumPy/OpenCV so that it
is cheap enough to run per sample in a proxy fine-tune.

Example:
    >>> import numpy as np
    >>> from policysearch.augment.randaugment import RandAugment
    >>> ra = RandAugment(2, 9, rng=0)
    >>> ra(np.zeros((32, 32, 3), np.uint8)).shape
    (32, 32, 3)
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from policysearch._checks import check_int
from policysearch.augment import ops as ops_module
from policysearch.augment.base import DRAW_BLOCK, PerImage, as_generator

__all__ = ["RandAugment", "as_generator"]


class RandAugment(PerImage):
    """RandAugment: N ops drawn uniformly with replacement, each at bin M.

    Accepts a numpy uint8 image (HxW or HxWxC, C in {1, 3}), a PIL image
    (mode ``L`` or ``RGB``) or a torch uint8 tensor (CxHxW) and returns the
    same type. Signed ops are negated with probability 1/2, as torchvision
    does.

    Args:
        num_ops: N, operations applied per image (>= 0).
        magnitude: M, an integer bin in ``[0, num_bins - 1]``.
        ops: operation names from :data:`policysearch.ops.OPS`.
        num_bins: number of magnitude bins (torchvision: 31).
        interpolation: ``"nearest"`` (torchvision's default) or ``"bilinear"``.
        fill: pixel value for areas a geometric op uncovers.
        rng: an int seed, a ``numpy.random.Generator``, or None.
        op_bins: per-op ``(lo, hi)`` bins; an op is applied at M clamped to its bounds.

    Example:
        >>> RandAugment(2, 9, ops=("Rotate", "Cutout"), rng=1)(np.ones((8, 8), np.uint8)).dtype
        dtype('uint8')
    """

    def __init__(
        self,
        num_ops: int,
        magnitude: int,
        ops: Sequence[str] = ops_module.TORCHVISION_OPS,
        *,
        num_bins: int = 31,
        interpolation: str = "nearest",
        fill: int | Sequence[int] = 0,
        rng: Any = None,
        op_bins: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        super().__init__(ops, num_bins=num_bins, interpolation=interpolation, fill=fill, rng=rng, op_bins=op_bins)
        self.num_ops = check_int("num_ops", num_ops, low=0)
        self.magnitude = check_int("magnitude", magnitude, low=0, high=self.num_bins - 1)
        self._values: dict[tuple[int, int], tuple[tuple[Any, Any], ...]] = {}

    def __repr__(self) -> str:
        names = [spec.name for spec in self.specs]
        bounds = f", op_bins={self.op_bins}" if self.op_bins else ""
        return f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, ops={names}{bounds})"

    def apply_numpy(self, image: np.ndarray) -> np.ndarray:
        """Augment one numpy uint8 image (HxW or HxWxC); returns a new array."""
        ops_module.check_image(image)
        if self.num_ops == 0:
            return image.copy()
        values = self._values_for(image.shape[0], image.shape[1])
        out = image
        for _ in range(self.num_ops):
            row = self._draw()
            index, negative = int(row["op"]), bool(row["negate"])
            spec = self.specs[index]
            value = values[index][1 if negative and spec.signed else 0]
            out = spec.apply(out, value, self.interpolation, self.fill, self.rng)
        return out if out is not image else image.copy()

    def _values_for(self, height: int, width: int) -> tuple[tuple[Any, Any], ...]:
        """(value, negated value) per op; translate ranges depend on the size."""
        key = (height, width)
        values = self._values.get(key)
        if values is None:
            values = tuple(
                (
                    ops_module.op_value(s.name, self.bin_of(i), num_bins=self.num_bins,
                                        height=height, width=width, sign=1),
                    ops_module.op_value(s.name, self.bin_of(i), num_bins=self.num_bins,
                                        height=height, width=width, sign=-1),
                )
                for i, s in enumerate(self.specs)
            )
            self._values[key] = values
        return values

    def bin_of(self, index: int) -> int:
        """The bin op ``index`` is applied at: M clamped to the op's bounds.

        Example:
            >>> RandAugment(1, 20, ops=("Rotate",), op_bins={"Rotate": (0, 10)}).bin_of(0)
            10
        """
        low, high = self.bounds[index]
        return min(max(self.magnitude, low), high)

    def _new_block(self) -> dict[str, np.ndarray]:
        # This order of generator calls is part of every seeded result: keep it.
        return {
            "op": self.rng.integers(0, len(self.specs), size=DRAW_BLOCK),
            # torchvision negates when rand() <= 0.5: probability one half.
            "negate": self.rng.random(DRAW_BLOCK) < 0.5,
        }
