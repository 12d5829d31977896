"""Affine warps (ShearX, ShearY, Rotate) that sample where torchvision's do.

torchvision builds a float32 sampling grid (``affine_grid``) and, for nearest
neighbour, rounds it half to even (``grid_sample``). :func:`affine_maps`
reproduces that grid for ``cv2.remap``. Reading two float32 maps (8 bytes a
pixel) is slow once other work has pushed them out of the cache, so nearest
warps use ``cv2.warpAffine`` instead, which computes its coordinates on the
fly in fixed point. Its samples agree with the grid's almost everywhere; the
few pixels where they do not (ties such as every fifth row of a 0.2 shear, or
near-ties of a rotation) are found once per (op, value, size, channels, fill)
by warping an image that encodes each pixel's coordinates, and are patched
after each warp. A warp that disagrees too often falls back to the maps.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from types import MappingProxyType
from typing import Optional

import cv2
import numpy as np

__all__ = ["INTERPOLATIONS", "affine_maps", "warp"]

# The one table of interpolation names: every module that takes one validates against it.
INTERPOLATIONS = MappingProxyType({"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR})

_NEAREST_FLAGS = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
_MAX_PATCHED = 0.05  # fraction of pixels beyond which remapping is the cheaper path
_MAX_CODED_SIDE = 15 * 256  # coordinates: 8 low bits per axis, then a block code
_STAGING_MAX_BYTES = 1 << 20  # about what L2 holds; larger images are warped in place
_MIN_PLANNED_PIXELS = 80 * 80  # smaller maps stay cached: remap is cheaper than the setup
_SLANTED_READS = frozenset({"ShearY", "Rotate"})  # ShearX reads rows: prefetching works


def linspace32(start: float, end: float, num_bins: int) -> tuple[float, ...]:
    """``torch.linspace(start, end, num_bins)`` bit for bit: float32 with fused multiply-add.

    Bit-exactness matters: Solarize's threshold and Translate's ``int()`` sit on
    integers, where one ulp flips a whole level or a whole pixel.
    """
    start32, end32 = np.float32(start), np.float32(end)
    if num_bins == 1:
        return (float(start32),)
    step = np.float64(np.float32((end32 - start32) / np.float32(num_bins - 1)))
    index = np.arange(num_bins)
    low = (np.float64(start32) + step * index).astype(np.float32)  # torch fills the first
    high = (np.float64(end32) - step * (num_bins - 1 - index)).astype(np.float32)  # half up
    return tuple(float(v) for v in np.where(index < num_bins // 2, low, high))


def _inverse_affine(angle: float, translate: tuple[float, float], shear: tuple[float, float],
                    center: tuple[float, float]) -> list[float]:
    """torchvision's ``_get_inverse_affine_matrix`` at scale 1, in image-centred coordinates."""
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    a = math.cos(rot - sy) / math.cos(sy)
    b = -(a * math.tan(sx) + math.sin(rot))
    c = math.sin(rot - sy) / math.cos(sy)
    d = math.cos(rot) - c * math.tan(sx)
    cx, cy = center
    tx, ty = cx + translate[0], cy + translate[1]
    return [d, -b, cx - d * tx + b * ty, -c, a, cy + c * tx - a * ty]


def _torch_matrix(name: str, value: float, height: int, width: int) -> list[float]:
    if name == "Rotate":  # counter-clockwise about the image centre
        return _inverse_affine(-value, (0.0, 0.0), (0.0, 0.0), (0.0, 0.0))
    shear = math.degrees(math.atan(value))  # RandAugment shears about the top-left corner
    shears = (shear, 0.0) if name == "ShearX" else (0.0, shear)
    return _inverse_affine(0.0, (0.0, 0.0), shears, (-0.5 * width, -0.5 * height))


def _theta(name: str, value: float, height: int, width: int) -> np.ndarray:
    """affine_grid's 3x2 theta: rows x, y, 1 of the normalised inverse matrix."""
    theta = np.array(_torch_matrix(name, value, height, width)).reshape(2, 3).T
    return theta / np.array([0.5 * width, 0.5 * height])


def _grid(name: str, value: float, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The source pixel coordinates torch samples, computed in float32 in torch's order."""
    f32 = np.float32  # float32 before the division, as torch
    theta = np.array(_torch_matrix(name, value, height, width), f32).reshape(2, 3).T
    theta = theta / np.array([0.5 * width, 0.5 * height], f32)
    x = np.array(linspace32((1.0 - width) * 0.5, (width - 1.0) * 0.5, width), f32)[None, :]
    y = np.array(linspace32((1.0 - height) * 0.5, (height - 1.0) * 0.5, height), f32)[:, None]
    return tuple(((x * theta[0, k] + y * theta[1, k]) + theta[2, k] + f32(1)) * f32(size / 2)
                 - f32(0.5) for k, size in ((0, width), (1, height)))


def _pixel_matrix(name: str, value: float, height: int, width: int) -> np.ndarray:
    """The 2x3 matrix of :func:`_grid` in pixel coordinates, in float64 (cv2's convention)."""
    theta = _theta(name, value, height, width)
    rows = []
    for k, size in ((0, width), (1, height)):
        half = 0.5 * size
        constant = (theta[2, k] + 1.0 - 0.5 * (width - 1) * theta[0, k]
                    - 0.5 * (height - 1) * theta[1, k]) * half - 0.5
        rows.append([theta[0, k] * half, theta[1, k] * half, constant])
    return np.array(rows)


# Two float32 maps cost 8 bytes a pixel; a policy needs 2 per op and image size.
@functools.lru_cache(maxsize=64)
def affine_maps(name: str, value: float, height: int, width: int,
                interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps that sample where torchvision's affine_grid + grid_sample sample.

    The grid is computed in float32 in torch's order, so nearest-neighbour ties
    (a shear of 0.2 puts every fifth row on one) round to the same pixel.
    """
    maps = _grid(name, value, height, width)
    # grid_sample rounds half to even; float maps remap faster here than fixed-point ones.
    return tuple(np.rint(m) for m in maps) if interpolation == "nearest" else maps


@dataclass(frozen=True)
class _Plan:
    """warpAffine by ``matrix``, then out[copy_to] = img[copy_from] and out[fill_at] = fill."""

    matrix: np.ndarray
    copy_to: np.ndarray  # flat pixel indices into the output
    copy_from: np.ndarray  # flat pixel indices into the input
    fill_at: np.ndarray


def _block_codes(avoid: int) -> np.ndarray:
    """The 255 byte values other than ``avoid``, ascending: one per 256x256 block."""
    return np.delete(np.arange(256, dtype=np.uint8), avoid)


def _coordinate_planes(height: int, width: int, avoid: int) -> list[np.ndarray]:
    """Three uint8 planes naming each pixel: x & 255, y & 255, and a block code != ``avoid``.

    The block code is never ``avoid``, the fill of the third plane, so a warp
    of the planes reads back as source coordinates or as "filled".
    """
    yy, xx = np.mgrid[:height, :width]
    block = _block_codes(avoid)[(xx >> 8) + 16 * (yy >> 8)]
    return [(xx & 255).astype(np.uint8), (yy & 255).astype(np.uint8), block]


def _warp_planes(planes: list[np.ndarray], channels: int, fn) -> np.ndarray:
    """``fn`` applied to the planes as one image of ``channels`` channels; HxWx3 back."""
    if channels == 3:
        return fn(cv2.merge(planes))
    return np.dstack([fn(p) for p in planes])


@functools.lru_cache(maxsize=64)
def _nearest_plan(name: str, value: float, height: int, width: int, channels: int,
                  fill: tuple[int, ...]) -> Optional[_Plan]:
    """How to reproduce the nearest-neighbour remap with warpAffine, or None.

    Checked by warping coordinate planes both ways with this very channel count
    and fill (cv2 may pick a different code path for either), so the plan is
    exact by construction: whatever warpAffine gets wrong is in the patch list.
    """
    if max(height, width) > _MAX_CODED_SIDE:
        return None
    fills = fill * 3 if len(fill) == 1 else fill
    planes = _coordinate_planes(height, width, avoid=fills[2])
    map_x, map_y = (np.rint(m) for m in _grid(name, value, height, width))  # not cached
    matrix = _pixel_matrix(name, value, height, width)

    def by_maps(img: np.ndarray) -> np.ndarray:
        return cv2.remap(img, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=_border(fill))

    def by_matrix(img: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(img, matrix, (width, height), flags=_NEAREST_FLAGS,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=_border(fill))

    expected = _warp_planes(planes, channels, by_maps).reshape(-1, 3)
    got = _warp_planes(planes, channels, by_matrix).reshape(-1, 3)
    wrong = np.flatnonzero((got != expected).any(axis=1))
    if wrong.size > _MAX_PATCHED * height * width:
        return None
    source = expected[wrong].astype(np.int64)
    inside = source[:, 2] != fills[2]
    block = np.searchsorted(_block_codes(fills[2]), source[:, 2])
    flat_source = (source[:, 1] + 256 * (block // 16)) * width + source[:, 0] + 256 * (block % 16)
    return _Plan(matrix, wrong[inside], flat_source[inside], wrong[~inside])


def _border(fill: tuple[int, ...]) -> tuple[int, ...]:
    return fill * 4 if len(fill) == 1 else fill + (0,) * (4 - len(fill))


class _Staging(threading.local):
    """A per-thread uint8 buffer the source is copied into before a warp.

    Rotations and vertical shears read the source along slanted lines, which
    defeats the hardware prefetcher: on an image that is not in the cache
    (a fresh sample) each read waits on memory and the warp takes 2-3x longer.
    One sequential copy brings the image into the cache at full bandwidth.
    """

    def __init__(self) -> None:
        self.buffer = np.empty(0, np.uint8)

    def hot(self, img: np.ndarray) -> np.ndarray:
        if img.nbytes > _STAGING_MAX_BYTES:
            return np.ascontiguousarray(img)
        if self.buffer.shape != img.shape:
            self.buffer = np.empty(img.shape, np.uint8)
        np.copyto(self.buffer, img)
        return self.buffer


_STAGING = _Staging()


def warp(img: np.ndarray, name: str, value: float, interpolation: str, fill: tuple[int, ...],
         cv_interpolation: int) -> np.ndarray:
    """``img`` (HxW or HxWx3) warped by torchvision's affine for op ``name`` at ``value``.

    ``fill`` has one value per channel, or one for all; ``cv_interpolation``
    is cv2's flag for ``interpolation``. Returns a new array.
    """
    height, width = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    plan = (_nearest_plan(name, value, height, width, channels, fill)
            if interpolation == "nearest" and height * width >= _MIN_PLANNED_PIXELS else None)
    if plan is None:
        map_x, map_y = affine_maps(name, value, height, width, interpolation)
        return cv2.remap(img, map_x, map_y, cv_interpolation, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=_border(fill))
    src = _STAGING.hot(img) if name in _SLANTED_READS else img
    out = cv2.warpAffine(src, plan.matrix, (width, height), flags=_NEAREST_FLAGS,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=_border(fill))
    if plan.copy_to.size or plan.fill_at.size:  # where warpAffine rounds unlike torch
        pixels = out.reshape(height * width, -1)
        pixels[plan.copy_to] = src.reshape(height * width, -1)[plan.copy_from]
        pixels[plan.fill_at] = fill[0] if len(fill) == 1 or channels == 1 else fill
    return out
