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

import sys
from typing import Any, Sequence

import numpy as np

from policysearch._checks import check_choice, check_int, show
from policysearch.augment import ops as ops_module
from policysearch.augment.geometry import INTERPOLATIONS
from policysearch.errors import DataError, PolicyError

__all__ = ["RandAugment", "as_generator"]

# Random draws are made in blocks: one Generator call per block instead of
# two per image keeps the per-image overhead at 32x32 negligible.
_DRAW_BLOCK = 1024


def as_generator(rng: Any) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a Generator, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, int) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise PolicyError(f"rng should be an int seed, a numpy Generator or None, but got {show(rng)}")


class RandAugment:
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
    ) -> None:
        self.num_bins = check_int("num_bins", num_bins, low=2)
        self.num_ops = check_int("num_ops", num_ops, low=0)
        self.magnitude = check_int("magnitude", magnitude, low=0, high=self.num_bins - 1)
        if isinstance(ops, str) or not ops:
            raise PolicyError(f"ops should be a non-empty list of operation names, but got {show(ops)}")
        self.specs = tuple(ops_module.get_op(name) for name in ops)
        self.interpolation = check_choice("interpolation", interpolation, tuple(INTERPOLATIONS))
        self.fill = ops_module.as_fill(fill, 3)  # validated once: the hot path does not
        self.rng = as_generator(rng)
        self._values: dict[tuple[int, int], tuple[tuple[Any, Any], ...]] = {}
        self._choices = np.empty(0, np.int64)
        self._signs = np.empty(0, bool)
        self._cursor = 0

    def __repr__(self) -> str:
        names = [spec.name for spec in self.specs]
        return f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, ops={names})"

    def __call__(self, image: Any) -> Any:
        if isinstance(image, np.ndarray):
            return self.apply_numpy(image)
        torch = sys.modules.get("torch")  # no torch import unless the caller has one
        if torch is not None and isinstance(image, torch.Tensor):
            return self._apply_tensor(image)
        if type(image).__module__.startswith("PIL."):
            return self._apply_pil(image)
        raise DataError(
            "RandAugment takes a numpy uint8 image, a PIL image or a torch uint8 CxHxW "
            f"tensor, but got {type(image).__name__}"
        )

    def apply_numpy(self, image: np.ndarray) -> np.ndarray:
        """Augment one numpy uint8 image (HxW or HxWxC); returns a new array."""
        ops_module.check_image(image)
        if self.num_ops == 0:
            return image.copy()
        values = self._values_for(image.shape[0], image.shape[1])
        out = image
        for _ in range(self.num_ops):
            index, negative = self._draw()
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
                    ops_module.op_value(s.name, self.magnitude, num_bins=self.num_bins,
                                        height=height, width=width, sign=1),
                    ops_module.op_value(s.name, self.magnitude, num_bins=self.num_bins,
                                        height=height, width=width, sign=-1),
                )
                for s in self.specs
            )
            self._values[key] = values
        return values

    def _draw(self) -> tuple[int, bool]:
        if self._cursor >= len(self._choices):
            self._choices = self.rng.integers(0, len(self.specs), size=_DRAW_BLOCK)
            # torchvision negates when rand() <= 0.5: probability one half.
            self._signs = self.rng.random(_DRAW_BLOCK) < 0.5
            self._cursor = 0
        i = self._cursor
        self._cursor += 1
        return int(self._choices[i]), bool(self._signs[i])

    def state_dict(self) -> dict[str, Any]:
        """The pending random draws, so that a resumed run continues them (lists: checkpoint-safe).

        Example:
            >>> ra = RandAugment(1, 5, rng=0); _ = ra(np.zeros((4, 4), np.uint8))
            >>> again = RandAugment(1, 5, rng=1); again.load_state_dict(ra.state_dict())
            >>> again._draw() == ra._draw()
            True
        """
        return {"choices": self._choices.tolist(), "signs": self._signs.tolist(), "cursor": self._cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the draws :meth:`state_dict` saved (the generator's state is the caller's)."""
        self._choices = np.asarray(state["choices"], np.int64)
        self._signs = np.asarray(state["signs"], bool)
        self._cursor = int(state["cursor"])

    def _apply_tensor(self, tensor: Any) -> Any:
        import torch

        if tensor.dtype != torch.uint8 or tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
            raise DataError(
                "RandAugment takes a torch uint8 tensor of shape CxHxW with C in {1, 3}, "
                f"but got dtype {tensor.dtype} and shape {tuple(tensor.shape)}"
            )
        hwc = tensor.detach().cpu().permute(1, 2, 0).numpy()
        out = self.apply_numpy(hwc)
        if out.ndim == 2:
            out = out[:, :, None]
        return torch.from_numpy(out).permute(2, 0, 1).contiguous().to(tensor.device)

    def _apply_pil(self, image: Any) -> Any:
        from PIL import Image

        if image.mode not in ("L", "RGB"):
            raise DataError(
                f"RandAugment takes PIL images in mode 'L' or 'RGB', but got mode {image.mode!r}; "
                "convert it first, e.g. image.convert('RGB')"
            )
        return Image.fromarray(self.apply_numpy(np.asarray(image)), mode=image.mode)
