"""Geometric kernels on uint8 images: affine warps, whole-pixel shifts, crop, perspective, cutout.

Each kernel is ``kernel(image, value, interpolation, fill, rng) -> new image``
and is registered by :mod:`policysearch.augment.ops`; ``rng`` places the
random ones (RandomCrop, Perspective, Cutout).

Example:
    >>> import numpy as np
    >>> _shift(np.arange(4, dtype=np.uint8).reshape(1, 4), 0, 1, 9).tolist()
    [[9, 0, 1, 2]]
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Optional, Sequence, Union

import cv2
import numpy as np

from policysearch.augment.geometry import INTERPOLATIONS, warp

FillArg = Union[int, Sequence[int]]
# kernel(image as HxW or HxWx3, value, interpolation name, fill, rng) -> new image
Kernel = Callable[[np.ndarray, Any, str, FillArg, Optional[np.random.Generator]], np.ndarray]

def _cv_fill(fill: FillArg) -> tuple[int, ...]:
    """cv2's 4-value borderValue; an int fills every channel (cv2 alone would fill one)."""
    if isinstance(fill, numbers.Integral):
        return (int(fill),) * 4
    values = tuple(int(v) for v in fill)
    return values * 4 if len(values) == 1 else values + (0,) * (4 - len(values))


def _np_fill(img: np.ndarray, fill: FillArg) -> Union[int, tuple[int, ...]]:
    if isinstance(fill, numbers.Integral):
        return int(fill)
    return int(fill[0]) if img.ndim == 2 or len(fill) == 1 else tuple(fill)


def _affine_op(name: str) -> Kernel:
    def apply(img, v, interp, fill, rng):
        if v == 0:  # torchvision's fast path for rotate; exact for shears
            return img.copy()
        fills = (_np_fill(img, fill),) if img.ndim == 2 else _cv_fill(fill)[:3]
        return warp(img, name, v, interp, fills, INTERPOLATIONS[interp])
    return apply


def _shift(img: np.ndarray, dy: int, dx: int, fill: FillArg) -> np.ndarray:
    """out[i, j] = img[i - dy, j - dx], ``fill`` where that falls outside."""
    h, w = img.shape[:2]
    out = np.empty(img.shape, np.uint8)
    out[...] = _np_fill(img, fill)
    if abs(dy) < h and abs(dx) < w:
        out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            img[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def _translate(axis: int) -> Kernel:
    # RandAugment truncates the shift to whole pixels, so torch's grid lands on pixel
    # centres and the op is an exact shift: slicing, at any interpolation.
    return lambda img, v, interp, fill, rng: _shift(img, int(v) * axis, int(v) * (1 - axis), fill)


def crop_at(img: np.ndarray, pad: int, top: int, left: int, fill: FillArg) -> np.ndarray:
    """torchvision's RandomCrop(size=(H, W), padding=pad, fill) at offset (top, left) in [0, 2 * pad]:
    pad ``pad`` pixels on each side, keep the HxW window at that offset (a shift by pad - offset)."""
    return _shift(img, pad - top, pad - left, fill)


def _random_crop(img, v, interp, fill, rng):
    # torchvision RandomCrop(size=(H, W), padding=p, fill): a uniform offset in [0, 2p] per axis.
    pad = int(v)
    if pad == 0:
        return img.copy()
    rng = rng if rng is not None else np.random.default_rng()
    top, left = (int(s) for s in rng.integers(0, 2 * pad + 1, size=2))
    return crop_at(img, pad, top, left, fill)


def _perspective(img, v, interp, fill, rng):
    # torchvision RandomPerspective(distortion_scale=v): each corner moves inward by a
    # uniform whole number of pixels below int(v * (size // 2)) + 1, per axis.
    h, w = img.shape[:2]
    if v == 0 or h < 2 or w < 2:
        return img.copy()
    rng = rng if rng is not None else np.random.default_rng()
    bw, bh = int(v * (w // 2)) + 1, int(v * (h // 2)) + 1
    (x0, x1), (x2, x3) = rng.integers(0, bw, size=2), rng.integers(w - bw, w, size=2)
    (y0, y1), (y2, y3) = rng.integers(0, bh, size=2), rng.integers(h - bh, h, size=2)
    start = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    end = np.float32([[x0, y0], [x2, y1], [x3, y2], [x1, y3]])
    # torchvision samples pixel centres (+0.5) in the corner frame: conjugate by that shift.
    half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    inverse = np.linalg.inv(half) @ cv2.getPerspectiveTransform(end, start) @ half
    return cv2.warpPerspective(img, inverse, (w, h), flags=INTERPOLATIONS[interp]
                               | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=_cv_fill(fill))


def _cutout(img, v, interp, fill, rng):
    # A square of side round(v * min(H, W)) at a uniform centre, clipped at the border.
    h, w = img.shape[:2]
    side = round(v * min(h, w))
    out = img.copy()
    if side == 0:
        return out
    rng = rng if rng is not None else np.random.default_rng()
    top, left = (int(c) - side // 2 for c in rng.integers(0, (h, w)))
    out[max(0, top):max(0, top + side), max(0, left):max(0, left + side)] = _np_fill(img, fill)
    return out
