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

Hot loops validate once (:func:`check_image`, :func:`as_fill`), look specs up
with :func:`get_op`, then call ``spec.value(...)`` and ``spec.apply(...)``.
"""

from __future__ import annotations

import functools
import math
import numbers
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Optional, Union

import cv2
import numpy as np

from .errors import DataError, PolicyError
from .geometry import linspace32 as _linspace, warp
from .schema import check_choice, show

__all__ = ["TORCHVISION_OPS", "EXTRA_OPS", "OPS", "INTERPOLATIONS", "OpSpec", "get_op",
           "op_value", "apply_op", "check_image", "as_fill"]

TORCHVISION_OPS: tuple[str, ...] = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
    "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
)
EXTRA_OPS: tuple[str, ...] = ("HorizontalFlip", "RandomCrop", "Perspective", "Cutout", "Invert")
INTERPOLATIONS: Mapping[str, int] = MappingProxyType(
    {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR})
DEFAULT_NUM_BINS = 31

FillArg = Union[int, Sequence[int]]
# kernel(image as HxW or HxWx3, value, interpolation name, fill, rng) -> new image
Kernel = Callable[[np.ndarray, Any, str, FillArg, Optional[np.random.Generator]], np.ndarray]
MagnitudesFn = Callable[[int, int, int], tuple[float, ...]]  # (num_bins, height, width)

_LEVELS = np.arange(256, dtype=np.float32)  # every uint8 value, to build LUTs from
_IDENTITY_LUT = np.arange(256, dtype=np.uint8)
_GRAY_WEIGHTS = np.array([[0.2989, 0.587, 0.114]], np.float32)  # torchvision's, not ITU's
_SCRATCH_MAX_BYTES = 4 << 20  # per work buffer; 3 buffers a thread at most


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


# ---------------------------------------------------------------- colour ops
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


# ---------------------------------------------------------------- geometric ops
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


def _random_crop(img, v, interp, fill, rng):
    # torchvision RandomCrop(size=(H, W), padding=p, fill): pad p on each side and crop
    # at a uniform offset in [0, 2p]: a shift by p - offset, filled.
    pad = int(v)
    if pad == 0:
        return img.copy()
    rng = rng if rng is not None else np.random.default_rng()
    dy, dx = (pad - int(s) for s in rng.integers(0, 2 * pad + 1, size=2))
    return _shift(img, dy, dx, fill)


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
