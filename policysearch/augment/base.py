"""What every per-image augmentation shares: input types, validated settings, buffered random draws.

An augmentation takes a numpy uint8 image (HxW or HxWxC, C in {1, 3}), a PIL
image (mode ``L`` or ``RGB``) or a torch uint8 tensor (CxHxW) and returns the
same type; subclasses implement :meth:`PerImage.apply_numpy`. Random choices
are drawn from a numpy Generator in blocks (one Generator call per block
instead of several per image keeps the per-image overhead at 32x32
negligible), and the pending block is part of :meth:`PerImage.state_dict`, so a
resumed training run continues the very same draws.

Example:
    >>> int(as_generator(0).integers(10)) == int(as_generator(0).integers(10))
    True
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Sequence

import numpy as np

from policysearch._checks import check_choice, check_int, show
from policysearch.augment import ops as ops_module
from policysearch.augment.geometry import INTERPOLATIONS
from policysearch.errors import DataError, PolicyError

__all__ = ["ImageTransform", "PerImage", "as_generator", "DRAW_BLOCK"]

DRAW_BLOCK = 1024


def as_generator(rng: Any) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a Generator, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, int) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise PolicyError(f"rng should be an int seed, a numpy Generator or None, but got {show(rng)}")


class ImageTransform:
    """Takes a numpy, PIL or torch image and returns the same type; subclasses implement :meth:`apply_numpy`."""

    def __call__(self, image: Any) -> Any:
        if isinstance(image, np.ndarray):
            return self.apply_numpy(image)
        torch = sys.modules.get("torch")  # no torch import unless the caller has one
        if torch is not None and isinstance(image, torch.Tensor):
            return self._apply_tensor(image)
        if type(image).__module__.startswith("PIL."):
            return self._apply_pil(image)
        raise DataError(
            f"{type(self).__name__} takes a numpy uint8 image, a PIL image or a torch uint8 CxHxW "
            f"tensor, but got {type(image).__name__}"
        )

    def apply_numpy(self, image: np.ndarray) -> np.ndarray:
        """Augment one numpy uint8 image (HxW or HxWxC); returns a new array."""
        raise NotImplementedError

    def _apply_tensor(self, tensor: Any) -> Any:
        import torch  # the caller passed a tensor: torch is loaded already

        if tensor.dtype != torch.uint8 or tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
            raise DataError(
                f"{type(self).__name__} takes a torch uint8 tensor of shape CxHxW with C in {{1, 3}}, "
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
                f"{type(self).__name__} takes PIL images in mode 'L' or 'RGB', but got mode {image.mode!r}; "
                "convert it first, e.g. image.convert('RGB')"
            )
        return Image.fromarray(self.apply_numpy(np.asarray(image)), mode=image.mode)


class PerImage(ImageTransform):
    """The shared part of RandAugment, TrivialAugmentWide and the pre-stage (see the module docstring)."""

    def __init__(self, ops: Sequence[str], *, num_bins: int, interpolation: str, fill: Any, rng: Any,
                 op_bins: Mapping[str, Sequence[int]] | None = None) -> None:
        self.num_bins = check_int("num_bins", num_bins, low=2)
        if isinstance(ops, str) or not ops:
            raise PolicyError(f"ops should be a non-empty list of operation names, but got {show(ops)}")
        self.specs = tuple(ops_module.get_op(name) for name in ops)
        names = tuple(spec.name for spec in self.specs)
        # Each op's (lo, hi) bins: the bin an op is applied at is clamped to them.
        self.op_bins = ops_module.check_op_bins("op_bins", op_bins or {}, names, self.num_bins)
        self.bounds = ops_module.bin_bounds(names, self.op_bins, self.num_bins)
        self.interpolation = check_choice("interpolation", interpolation, tuple(INTERPOLATIONS))
        self.fill = ops_module.as_fill(fill, 3)  # validated once: the hot path does not
        self.rng = as_generator(rng)
        self._block: dict[str, np.ndarray] = {}
        self._cursor = 0

    def _new_block(self) -> dict[str, np.ndarray]:
        """``DRAW_BLOCK`` rows of the subclass's random choices, one array per kind of choice."""
        raise NotImplementedError

    def _draw(self) -> dict[str, Any]:
        """The next row of random choices, drawing a new block when the last one is used up."""
        if not self._block or self._cursor >= DRAW_BLOCK:
            self._block = self._new_block()
            self._cursor = 0
        row = {name: values[self._cursor] for name, values in self._block.items()}
        self._cursor += 1
        return row

    def state_dict(self) -> dict[str, Any]:
        """The pending random draws, so that a resumed run continues them (lists: checkpoint-safe).

        Example:
            >>> from policysearch.augment.randaugment import RandAugment
            >>> ra = RandAugment(1, 5, rng=0); _ = ra(np.zeros((4, 4), np.uint8))
            >>> again = RandAugment(1, 5, rng=1); again.load_state_dict(ra.state_dict())
            >>> {k: int(v) for k, v in again._draw().items()} == {k: int(v) for k, v in ra._draw().items()}
            True
        """
        return {"block": {name: values.tolist() for name, values in self._block.items()}, "cursor": self._cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the draws :meth:`state_dict` saved (the generator's state is the caller's)."""
        self._block = {name: np.asarray(values) for name, values in state["block"].items()}
        self._cursor = int(state["cursor"])
