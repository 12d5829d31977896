"""The pre-stage: a horizontal flip and a padded random crop, applied to every image before the ops.

A policy may flip and crop each image before RandAugment or TrivialAugmentWide
draws its operations; with N = 0 that is the classic fine-tuning augmentation
("standard": ``flip=True, crop=STANDARD_CROP_BIN``). Both follow torchvision:

- flip: ``RandomHorizontalFlip(p=0.5)``, flipped when a uniform draw is below 1/2;
- crop: ``RandomCrop(size=(H, W), padding=p, fill)`` at a uniform offset in
  ``[0, 2p]`` per axis, ``p`` the RandomCrop op's table at the crop's bin
  (0 to min(H, W) / 4 over the bins; :data:`STANDARD_CROP_BIN` is min(H, W) / 8,
  4 pixels at 32).

The draws (the flip, two uniform numbers for the offsets) are buffered like the
ops' draws (:class:`~.base.PerImage`), so a checkpoint holds them; :class:`Chain`
runs the pre-stage and the ops in turn and saves both stages' draws.

Example:
    >>> import numpy as np
    >>> image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> crop_padding(STANDARD_CROP_BIN, 31, 32, 32)
    4
    >>> PreStage(flip=True, crop=STANDARD_CROP_BIN, rng=0)(image).shape
    (4, 4)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from policysearch._checks import check_int, show
from policysearch.augment import ops as ops_module
from policysearch.augment._geometric import crop_at
from policysearch.augment.base import DRAW_BLOCK, ImageTransform, PerImage
from policysearch.errors import PolicyError

__all__ = ["STANDARD_CROP_BIN", "PreStage", "Chain", "crop_padding", "crop_offset"]

# The classic fine-tuning crop: padding min(H, W) / 8 (4 pixels at 32x32), the RandomCrop op's bin 15 of 31.
STANDARD_CROP_BIN = 15


def crop_padding(crop: int, num_bins: int, height: int, width: int) -> int:
    """The padding, in pixels, of the crop at bin ``crop`` (0: no crop) for an HxW image.

    Example:
        >>> crop_padding(30, 31, 224, 224), crop_padding(0, 31, 32, 32)
        (56, 0)
    """
    return int(ops_module.get_op("RandomCrop").value(crop, num_bins, height, width))


def crop_offset(uniform: float, pad: int) -> int:
    """The crop offset in ``[0, 2 * pad]`` a uniform draw in [0, 1) stands for.

    Example:
        >>> crop_offset(0.0, 4), crop_offset(0.999, 4)
        (0, 8)
    """
    return min(int(uniform * (2 * pad + 1)), 2 * pad)  # the product may round up to 2 * pad + 1


class PreStage(PerImage):
    """Horizontal flip with probability 1/2, then a padded random crop at bin ``crop`` (see the module docstring).

    Args:
        flip: flip each image with probability 1/2.
        crop: the RandomCrop op's bin (0: no crop).
        num_bins: number of magnitude bins (torchvision: 31).
        fill: pixel value (or one per channel) of the crop's padding.
        rng: an int seed, a ``numpy.random.Generator``, or None.

    Example:
        >>> PreStage(flip=True)
        PreStage(flip=True, crop=0)
    """

    def __init__(self, *, flip: bool = False, crop: int = 0, num_bins: int = 31, fill: int | Sequence[int] = 0,
                 rng: Any = None) -> None:
        if not isinstance(flip, bool):
            raise PolicyError(f"flip should be true or false, but got {show(flip)}")
        ops = (("HorizontalFlip",) if flip else ()) + (("RandomCrop",) if crop else ())
        super().__init__(ops or ("Identity",), num_bins=num_bins, interpolation="nearest", fill=fill, rng=rng)
        self.flip = flip
        self.crop = check_int("crop", crop, low=0, high=self.num_bins - 1)

    def __repr__(self) -> str:
        return f"PreStage(flip={self.flip}, crop={self.crop})"

    def apply_numpy(self, image: np.ndarray) -> np.ndarray:
        """Flip and crop one numpy uint8 image (HxW or HxWxC); returns a new array."""
        ops_module.check_image(image)
        row = self._draw()
        out = image
        if self.flip and bool(row["flip"]):
            out = np.ascontiguousarray(out[:, ::-1])
        pad = crop_padding(self.crop, self.num_bins, image.shape[0], image.shape[1])
        if pad:
            top, left = (crop_offset(float(u), pad) for u in row["crop"])
            planes = out[:, :, 0] if out.ndim == 3 and out.shape[2] == 1 else out
            cropped = crop_at(planes, pad, top, left, self.fill if planes.ndim == 3 else self.fill[0])
            out = cropped[:, :, None] if planes is not out else cropped
        return out if out is not image else image.copy()

    def _new_block(self) -> dict[str, np.ndarray]:
        # This order of generator calls is part of every seeded result: keep it.
        return {
            "flip": self.rng.random(DRAW_BLOCK) < 0.5,  # torchvision flips when rand() < p
            "crop": self.rng.random((DRAW_BLOCK, 2)),  # the (row, column) offsets, as uniforms in [0, 1)
        }


class Chain(ImageTransform):
    """Per-image stages applied in turn (the pre-stage, then RandAugment or TrivialAugmentWide).

    The stages draw from one generator; :meth:`state_dict` holds every stage's pending draws.

    Example:
        >>> from policysearch.augment.randaugment import RandAugment
        >>> rng = np.random.default_rng(0)
        >>> chain = Chain([PreStage(flip=True, rng=rng), RandAugment(1, 5, rng=rng)])
        >>> chain(np.zeros((8, 8, 3), np.uint8)).shape
        (8, 8, 3)
    """

    def __init__(self, stages: Sequence[PerImage]) -> None:
        if not stages:
            raise PolicyError("a chain should have at least one stage, but got none")
        self.stages = tuple(stages)

    def __repr__(self) -> str:
        return f"Chain({list(self.stages)})"

    def apply_numpy(self, image: np.ndarray) -> np.ndarray:
        """Augment one numpy uint8 image (HxW or HxWxC) with each stage in turn; returns a new array."""
        out = image
        for stage in self.stages:
            out = stage.apply_numpy(out)
        return out

    def state_dict(self) -> dict[str, Any]:
        """Every stage's pending draws (see :meth:`.base.PerImage.state_dict`)."""
        return {"stages": [stage.state_dict() for stage in self.stages]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the draws :meth:`state_dict` saved."""
        for stage, saved in zip(self.stages, state["stages"]):
            stage.load_state_dict(saved)
