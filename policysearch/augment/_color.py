"""Colour kernels on uint8 images, bit-exact to torchvision.transforms.v2 on uint8 tensors.

Each kernel is ``kernel(image, value, interpolation, fill, rng) -> new image``
(the last three unused here) and is registered by :mod:`policysearch.augment.ops`.

Example:
    >>> import numpy as np
    >>> _posterize(np.full((2, 2), 255, np.uint8), 4.0, "nearest", 0, None)[0, 0]
    np.uint8(240)
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Optional

import cv2
import numpy as np

_LEVELS = np.arange(256, dtype=np.float32)  # every uint8 value, to build LUTs from
_IDENTITY_LUT = np.arange(256, dtype=np.uint8)
_GRAY_WEIGHTS = np.array([[0.2989, 0.587, 0.114]], np.float32)  # torchvision's, not ITU's
_SCRATCH_MAX_BYTES = 4 << 20  # per work buffer; 3 buffers a thread at most
# cv2's float32 arithmetic on the values below errs by under 1.2e-4; keep clear of that.
_ROUNDING_SLACK = 2.0 ** -12
_AFFINE_MIN_SIZE = 1 << 15  # below this many values the check costs more than cv2.LUT


def _rounding_offset(clamped: np.ndarray, want: np.ndarray) -> Optional[float]:
    """An offset b such that cv2's rounding of ``y + b`` gives ``want``, or None.

    Per input level, y is the float32 value torch clamps to [0, 255]
    (``clamped``) and truncates to ``want`` (uint8); |y| must stay under 512.
    cv2's ``saturate(round(x * alpha + beta))``, with beta the offset plus the
    constant term of y, computes ``y + b`` within _ROUNDING_SLACK and rounds
    half to even. A b that puts every ``clamped + b`` the slack inside its
    rounding interval makes cv2 equal the LUT exactly, whatever its order of
    float operations: for a clamped level the same b keeps y + b saturated.
    """
    error = clamped - want  # in [0, 1): exact in float32
    low = -0.5 + _ROUNDING_SLACK - float(error.min())
    high = 0.5 - _ROUNDING_SLACK - float(error.max())
    return 0.5 * (low + high) if low < high else None


@functools.lru_cache(maxsize=512)
def _brightness_plan(value: float) -> tuple[np.ndarray, float, Optional[float]]:
    """(LUT, alpha, beta): the op is convertScaleAbs(alpha, beta) where beta is not None."""
    factor = np.float32(1.0 + value)
    # x * factor in float32, clamped, then truncated (torch's cast), not rounded
    clamped = np.clip(_LEVELS * factor, 0, 255)
    lut = clamped.astype(np.uint8)
    lut.flags.writeable = False  # shared through the cache
    # factor >= 0: no level goes negative, so convertScaleAbs's abs() changes nothing.
    offset = _rounding_offset(clamped, lut) if 0 <= factor <= 2 else None
    return lut, float(factor), offset


def _brightness(img, v, interp, fill, rng):
    # One multiply-add pass is 3x cheaper than cv2.LUT here; the 256-level check makes it exact.
    lut, alpha, beta = _brightness_plan(v)
    return cv2.LUT(img, lut) if beta is None else cv2.convertScaleAbs(img, alpha=alpha, beta=beta)


def _posterize(img, v, interp, fill, rng):
    bits = int(v)
    return img.copy() if bits >= 8 else np.bitwise_and(img, (0xFF << (8 - bits)) & 0xFF)


def _solarize(img, v, interp, fill, rng):
    # torch compares x >= 255 * value in float32, i.e. x > ceil(threshold) - 1 on integers;
    # 255 - x is x ^ 255 on uint8, so XOR with the 0/255 mask inverts just those pixels.
    level = math.ceil(np.float32(255.0 * v)) - 1
    return cv2.bitwise_xor(img, cv2.threshold(img, level, 255, cv2.THRESH_BINARY)[1])


class _Scratch(threading.local):
    """Per-thread float32 work buffers, reused from call to call.

    Fresh large temporaries are expensive in a loop of mixed ops: glibc hands
    freed ones back to the OS and the next call page-faults them in again,
    which made Color and Sharpness 5-8x slower than their arithmetic.
    """

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        buffer = self.buffers.get(key)
        if buffer is None or buffer.shape != shape:
            buffer = np.empty(shape, np.float32)
            if buffer.nbytes <= _SCRATCH_MAX_BYTES:  # big images: compute dwarfs the faults
                self.buffers[key] = buffer
        return buffer

    def floats(self, img: np.ndarray) -> np.ndarray:
        """``img`` as float32, in the "x" buffer."""
        x = self.get("x", img.shape)
        np.copyto(x, img)
        return x


_SCRATCH = _Scratch()


def _gray(x: np.ndarray) -> np.ndarray:
    """floor(0.2989 R + 0.587 G + 0.114 B) of float32 RGB ``x``: torchvision's uint8 gray."""
    gray = cv2.transform(x, _GRAY_WEIGHTS, dst=_SCRATCH.get("gray", x.shape[:2]))
    return np.floor(gray, out=gray)


def _to_uint8(x: np.ndarray, clip: bool = True) -> np.ndarray:
    """Truncate float32 ``x`` to uint8, as torch's cast, after clamping to [0, 255].

    ``clip=False`` is for blends that cannot leave (-1, 256): there the cast
    alone truncates the same, and the clamp is a full pass saved.
    """
    return (np.clip(x, 0, 255, out=x) if clip else x).astype(np.uint8)


def _color(img, v, interp, fill, rng):
    if img.ndim == 2:  # torchvision (like PIL) leaves one channel's saturation alone
        return img.copy()
    ratio = 1.0 + v
    x = _SCRATCH.floats(img)
    gray = cv2.cvtColor(_gray(x), cv2.COLOR_GRAY2RGB, dst=_SCRATCH.get("y", img.shape))
    # _blend: x * ratio, then += gray * (1 - ratio) in one rounding; scaleAdd fuses too.
    # For ratio <= 1 that is a convex blend of levels, in [0, 255] up to an ulp.
    np.multiply(x, np.float32(ratio), out=x)
    blend = cv2.scaleAdd(gray, float(np.float32(1.0 - ratio)), x, dst=gray)
    return _to_uint8(blend, clip=ratio > 1.0)


@functools.lru_cache(maxsize=512)
def _scaled_levels(ratio: np.float32) -> np.ndarray:
    """Every level times ``ratio`` in float32 (torch's first rounding), as float64."""
    return (_LEVELS * ratio).astype(np.float64)


def _contrast(img, v, interp, fill, rng):
    # The blend target is one number, the grayscale mean, so the op is a LUT, and an
    # affine one: addWeighted computes it in one pass where the rounding check allows.
    mean = cv2.mean(_gray(_SCRATCH.floats(img)) if img.ndim == 3 else img)[0]
    ratio = np.float32(1.0 + v)
    # torch: x * ratio in float32, then + mean * (1 - ratio) in one rounding; the product
    # of two float32s is exact in float64, and the float64 sum rounds to the same float32.
    shift = float(np.float32(mean)) * float(np.float32(1.0 - (1.0 + v)))
    clamped = np.clip((_scaled_levels(ratio) + shift).astype(np.float32), 0, 255)
    lut = clamped.astype(np.uint8)
    # |x * ratio| and |shift| stay under 512 for ratio in [0, 2]: cv2's error is in the slack.
    offset = (_rounding_offset(clamped, lut)
              if img.size >= _AFFINE_MIN_SIZE and 0 <= ratio <= 2 else None)
    if offset is None:
        return cv2.LUT(img, lut)
    return cv2.addWeighted(img, float(ratio), img, 0.0, shift + offset)


# blur - x = round(S / 13) - x = round((S - 13 x) / 13): one filter gives it. S - 13 x is
# an integer and 13 is odd, so the filtered value is at least 1/26 away from a rounding
# tie, far beyond float32's error on these sums: rint makes it exact.
_SHARPNESS_DIFF_KERNEL = np.float32([[1, 1, 1], [1, -8, 1], [1, 1, 1]]) / np.float32(13)


def _sharpness(img, v, interp, fill, rng):
    h, w = img.shape[:2]
    if h <= 2 or w <= 2:  # torchvision: no interior, no change
        return img.copy()
    # torchvision rounds the 3x3 blur [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, blends
    # x + (1 - factor) * (blur - x) in one rounding, and leaves the border pixels alone.
    x = _SCRATCH.floats(img)
    diff = cv2.filter2D(x, -1, _SHARPNESS_DIFF_KERNEL, dst=_SCRATCH.get("y", img.shape))
    np.rint(diff, out=diff)
    alpha = np.float32(1.0 - (1.0 + v))
    # alpha in [0, 1]: a convex blend of x and the blur, in [0, 255] up to an ulp.
    out = _to_uint8(cv2.scaleAdd(diff, float(alpha), x, dst=diff), clip=alpha < 0)
    out[::h - 1], out[:, ::w - 1] = img[::h - 1], img[:, ::w - 1]  # first and last rows, columns
    return out


@functools.lru_cache(maxsize=4096)
def _autocontrast_lut(lo: int, hi: int) -> Optional[np.ndarray]:
    """The LUT for a channel spanning [lo, hi]; None for the identity (a constant channel,
    or one spanning [0, 255]), which the kernel then skips."""
    if lo == hi:  # torchvision leaves a constant channel as it is
        return None
    # torchvision: (x - min) / ((max - min) * (1 / 255)) in float32, truncated
    inv_scale = np.float32(hi - lo) * np.float32(1.0 / 255.0)
    lut = _to_uint8((_LEVELS - np.float32(lo)) / inv_scale)
    lut.flags.writeable = False  # shared through the cache
    return None if np.array_equal(lut, _IDENTITY_LUT) else lut


def _autocontrast(img, v, interp, fill, rng):
    # Per channel: split once, min and max, a cached LUT per plane (none for identities).
    planes = [img] if img.ndim == 2 else cv2.split(img)
    luts = [_autocontrast_lut(*(int(m) for m in cv2.minMaxLoc(plane)[:2])) for plane in planes]
    if all(lut is None for lut in luts):
        return img.copy()
    out = [plane if lut is None else cv2.LUT(plane, lut) for plane, lut in zip(planes, luts)]
    return cv2.merge(out) if img.ndim == 3 else out[0]


def _equalize(img, v, interp, fill, rng):
    # Histograms straight off the interleaved image and one multi-channel LUT: splitting
    # and merging would cost more than per-plane LUTs save. Counts are integers, exact
    # in float64, where numpy's division is cheaper than its integer floor division.
    channels = 1 if img.ndim == 2 else 3
    hists = np.array([cv2.calcHist([img], [c], None, [256], [0, 256]) for c in range(channels)],
                     np.float64).reshape(channels, 256)
    below = np.cumsum(hists, axis=1) - hists  # pixels below each level
    # PIL's scheme, as torchvision: step = pixels below the top used level // 255, and
    # lut[k] = (pixels below level k + step // 2) // step, which makes lut[0] = 0.
    # floor(a / b) is a // b for integers below 2**53: the quotient's rounding cannot
    # cross an integer.
    total = img.shape[0] * img.shape[1]
    step = np.floor(np.where(below < total, below, 0).max(axis=1) / 255)[:, None]
    if not step.any():
        return img.copy()
    luts = np.floor((below + np.floor(step / 2)) / np.maximum(step, 1))
    luts = np.minimum(luts, 255).astype(np.uint8)
    if not step.all():
        luts[step[:, 0] == 0] = _IDENTITY_LUT
    return cv2.LUT(img, luts[0] if channels == 1 else np.ascontiguousarray(luts.T)[:, None])
