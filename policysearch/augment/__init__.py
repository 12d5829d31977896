"""Augmentation: the op registry and its kernels, RandAugment, TrivialAugmentWide, CutMix/MixUp, preview grids.

Everything here works on uint8 images in NumPy/OpenCV; torch is imported only
by the batch mixer, when it runs on torch batches.

Example:
    >>> import numpy as np
    >>> from policysearch.augment import RandAugment, apply_op
    >>> apply_op(np.zeros((8, 8), np.uint8), "Solarize", 30).max()
    np.uint8(255)
"""

from __future__ import annotations

from policysearch.augment.mixing import MIXING_KINDS, BatchMix
from policysearch.augment.ops import EXTRA_OPS, OPS, TORCHVISION_OPS, OpSpec, apply_op, get_op, op_value
from policysearch.augment.preview import preview_grid, save_png
from policysearch.augment.randaugment import RandAugment, as_generator
from policysearch.augment.trivialaugment import WIDE_MAGNITUDES, TrivialAugmentWide

__all__ = ["RandAugment", "TrivialAugmentWide", "WIDE_MAGNITUDES", "BatchMix", "MIXING_KINDS", "preview_grid", "save_png", "as_generator",
           "OPS", "TORCHVISION_OPS", "EXTRA_OPS", "OpSpec", "apply_op", "get_op", "op_value"]
