"""Geometric kernels on uint8 NxCxHxW torch batches, one value per image: the batched :mod:`._geometric`.

Every warp is a per-image map from output pixels to source coordinates, sampled
by one gather over the flattened batch: nearest rounds the coordinates half to
even (as ``grid_sample`` and cv2 do), bilinear follows cv2 (coordinates rounded to
1/32 pixel, integer weights, rounding half up), and uncovered pixels take the fill.
The coordinates are the numpy kernels': torchvision's float32 affine grid for the
shears and rotations (:mod:`.geometry`), cv2's float64 homography for Perspective.

Kernels are ``kernel(batch, values, interpolation, fill, placement) -> new batch``;
``fill`` is a uint8 tensor of C values, ``placement`` the per-image integer draws
of :func:`draw_placement` for RandomCrop, Perspective and Cutout (else None).

Example:
    >>> import torch
    >>> batch = torch.arange(4, dtype=torch.uint8).view(1, 1, 1, 4)
    >>> fill = torch.tensor([9], dtype=torch.uint8)
    >>> translate(0)(batch, torch.tensor([1.0], dtype=torch.float64), "nearest", fill, None).tolist()
    [[[[9, 0, 1, 2]]]]
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from policysearch.augment.geometry import linspace32

__all__ = ["affine", "translate", "random_crop", "perspective", "cutout", "horizontal_flip",
           "draw_placement", "PLACEMENT_WIDTH"]

BatchedKernel = Callable[[torch.Tensor, Optional[torch.Tensor], str, torch.Tensor, Optional[torch.Tensor]],
                         torch.Tensor]
# Integers drawn per image by the ops placed at random, in the numpy kernels' order of draws.
PLACEMENT_WIDTH = {"RandomCrop": 2, "Perspective": 8, "Cutout": 2}
_RAD_TO_DEG, _DEG_TO_RAD = 180.0 / math.pi, math.pi / 180.0  # math.degrees, math.radians


# ---------------------------------------------------------------- sampling
def _gather(batch: torch.Tensor, src_x: torch.Tensor, src_y: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """out[n, :, i, j] = batch[n, :, src_y, src_x] (integer maps broadcast to NxHxW), ``fill`` outside."""
    n, channels, height, width = batch.shape
    inside = ((src_x >= 0) & (src_x < width) & (src_y >= 0) & (src_y < height)).expand(n, height, width)
    index = (src_y.clamp(0, height - 1) * width + src_x.clamp(0, width - 1)).expand(n, height, width)
    flat_index = index.reshape(n, 1, height * width).expand(n, channels, height * width)
    out = batch.reshape(n, channels, height * width).gather(2, flat_index)
    out = torch.where(inside.reshape(n, 1, height * width), out, fill.view(1, channels, 1))
    return out.view(n, channels, height, width)


def _bilinear(batch: torch.Tensor, src_x: torch.Tensor, src_y: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """cv2's fixed-point bilinear at float source maps: 1/32-pixel coordinates, weights out of 1024."""
    qx, qy = (torch.round(m * 32).to(torch.int64) for m in (src_x, src_y))  # cvRound: half to even
    x0, y0, fx, fy = qx >> 5, qy >> 5, (qx & 31).unsqueeze(1), (qy & 31).unsqueeze(1)
    total = torch.zeros(batch.shape, dtype=torch.int32, device=batch.device)
    for dy, wy in ((0, 32 - fy), (1, fy)):
        for dx, wx in ((0, 32 - fx), (1, fx)):
            total += _gather(batch, x0 + dx, y0 + dy, fill).to(torch.int32) * (wy * wx).to(torch.int32)
    return ((total + 512) >> 10).to(torch.uint8)  # cv2: (sum * 32 + 2**14) >> 15


def _sample(batch: torch.Tensor, src_x: torch.Tensor, src_y: torch.Tensor, interpolation: str,
            fill: torch.Tensor) -> torch.Tensor:
    if interpolation == "bilinear":
        return _bilinear(batch, src_x, src_y, fill)
    return _gather(batch, torch.round(src_x).to(torch.int64), torch.round(src_y).to(torch.int64), fill)


def _keep_where(zero: torch.Tensor, batch: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``batch``'s image where ``zero`` (per image) is set: the numpy kernels' fast path copies it."""
    return torch.where(zero.view(-1, 1, 1, 1), batch, out)


# ---------------------------------------------------------------- affine: ShearX, ShearY, Rotate
def _inverse_affine(rot: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, cx: float,
                    cy: float) -> torch.Tensor:
    """geometry._inverse_affine per image (float64 tensors, zero translation): Nx6, same operation order."""
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -(a * torch.tan(sx) + torch.sin(rot))
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = torch.cos(rot) - c * torch.tan(sx)
    tx, ty = cx + 0.0, cy + 0.0
    return torch.stack([d, -b, cx - d * tx + b * ty, -c, a, cy + c * tx - a * ty], dim=1)


def _affine_sources(name: str, values: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """geometry._grid per image: torchvision's float32 source coordinates, in its order of operations."""
    zero = torch.zeros_like(values)
    if name == "Rotate":  # counter-clockwise about the image centre
        matrix = _inverse_affine(-values * _DEG_TO_RAD, zero, zero, 0.0, 0.0)
    else:  # RandAugment shears about the top-left corner, by atan(value) in degrees
        shear = torch.atan(values) * _RAD_TO_DEG * _DEG_TO_RAD
        sx, sy = (shear, zero) if name == "ShearX" else (zero, shear)
        matrix = _inverse_affine(zero, sx, sy, -0.5 * width, -0.5 * height)
    matrix = matrix.to(torch.float32).view(-1, 2, 3, 1, 1)  # float32 before the division, as torch
    device = values.device
    x = torch.tensor(linspace32((1.0 - width) * 0.5, (width - 1.0) * 0.5, width), device=device).view(1, width)
    y = torch.tensor(linspace32((1.0 - height) * 0.5, (height - 1.0) * 0.5, height), device=device).view(height, 1)
    coords = []
    for k, size in ((0, width), (1, height)):
        half = torch.tensor(0.5 * size, dtype=torch.float32, device=device)
        t0, t1, t2 = (matrix[:, k, i] / half for i in range(3))
        coords.append((((x * t0 + y * t1) + t2) + 1.0) * (size / 2) - 0.5)
    return coords[0], coords[1]


def affine(name: str) -> BatchedKernel:
    def apply(batch, values, interpolation, fill, placement):
        src_x, src_y = _affine_sources(name, values, *batch.shape[2:])
        return _keep_where(values == 0, batch, _sample(batch, src_x, src_y, interpolation, fill))
    return apply


# ---------------------------------------------------------------- whole-pixel shifts
def _shift(batch: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """out[n, :, i, j] = batch[n, :, i - dy[n], j - dx[n]], ``fill`` where that falls outside."""
    height, width = batch.shape[2:]
    rows = torch.arange(height, device=batch.device).view(1, height, 1) - dy.view(-1, 1, 1)
    cols = torch.arange(width, device=batch.device).view(1, 1, width) - dx.view(-1, 1, 1)
    return _gather(batch, cols, rows, fill)


def translate(axis: int) -> BatchedKernel:
    # RandAugment truncates the shift to whole pixels: an exact shift at any interpolation.
    def apply(batch, values, interpolation, fill, placement):
        shift = torch.trunc(values).to(torch.int64)
        return _shift(batch, shift * axis, shift * (1 - axis), fill)
    return apply


def random_crop(batch, values, interpolation, fill, placement):
    # Pad p on each side and crop at the drawn offset in [0, 2p]: a shift by p - offset.
    pad = torch.trunc(values).to(torch.int64)
    return _shift(batch, pad - placement[:, 0], pad - placement[:, 1], fill)


def horizontal_flip(batch, values, interpolation, fill, placement):
    return batch.flip(-1)


def cutout(batch, values, interpolation, fill, placement):
    # A square of side round(v * min(H, W)) about the drawn centre, clipped at the border.
    height, width = batch.shape[2:]
    side = torch.round(values * min(height, width)).to(torch.int64).view(-1, 1, 1)  # half to even
    top = placement[:, 0].view(-1, 1, 1) - side // 2
    left = placement[:, 1].view(-1, 1, 1) - side // 2
    rows = torch.arange(height, device=batch.device).view(1, height, 1)
    cols = torch.arange(width, device=batch.device).view(1, 1, width)
    square = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    return torch.where(square.unsqueeze(1), fill.view(1, -1, 1, 1), batch)


# ---------------------------------------------------------------- perspective
def _homographies(placement: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per image, the 3x3 matrix from output pixels to source pixels (pixel-centre frame), float64."""
    n = placement.shape[0]
    corners = placement.to(torch.float64)
    x0, x1, x2, x3, y0, y1, y2, y3 = corners.unbind(1)
    # cv2.getPerspectiveTransform(end, start): the moved corners back to the image's corners.
    u = torch.stack([x0, x2, x3, x1], dim=1)
    v = torch.stack([y0, y1, y2, y3], dim=1)
    xs = torch.tensor([0.0, width - 1.0, width - 1.0, 0.0], dtype=torch.float64, device=placement.device)
    ys = torch.tensor([0.0, 0.0, height - 1.0, height - 1.0], dtype=torch.float64, device=placement.device)
    xs, ys, one, nil = xs.expand(n, 4), ys.expand(n, 4), torch.ones_like(u), torch.zeros_like(u)
    rows_x = torch.stack([u, v, one, nil, nil, nil, -u * xs, -v * xs], dim=2)
    rows_y = torch.stack([nil, nil, nil, u, v, one, -u * ys, -v * ys], dim=2)
    solution = torch.linalg.solve(torch.cat([rows_x, rows_y], dim=1), torch.cat([xs, ys], dim=1))
    matrix = torch.cat([solution, torch.ones_like(solution[:, :1])], dim=1).view(n, 3, 3)
    # torchvision samples pixel centres (+0.5) in the corner frame: conjugate by that shift.
    half = torch.eye(3, dtype=torch.float64, device=placement.device)
    half[:2, 2] = 0.5
    unhalf = half.clone()
    unhalf[:2, 2] = -0.5
    return unhalf @ matrix @ half


def perspective(batch, values, interpolation, fill, placement):
    height, width = batch.shape[2:]
    if height < 2 or width < 2:
        return batch.clone()
    m = _homographies(placement, height, width).view(-1, 9, 1, 1)
    x = torch.arange(width, dtype=torch.float64, device=batch.device).view(1, width)
    y = torch.arange(height, dtype=torch.float64, device=batch.device).view(height, 1)
    w = m[:, 6] * x + m[:, 7] * y + m[:, 8]
    inverse_w = torch.where(w == 0, 0.0, 1.0 / w)  # cv2's W = W ? 1 / W : 0, then X * W
    src_x = (m[:, 0] * x + m[:, 1] * y + m[:, 2]) * inverse_w
    src_y = (m[:, 3] * x + m[:, 4] * y + m[:, 5]) * inverse_w
    return _keep_where(values == 0, batch, _sample(batch, src_x, src_y, interpolation, fill))


# ---------------------------------------------------------------- placement draws
def _below(high: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One integer uniform in [0, high) per entry of ``high`` (int64, >= 1)."""
    u = torch.rand(high.shape, dtype=torch.float64, device=high.device, generator=generator)
    return torch.minimum((u * high).to(torch.int64), high - 1)  # u * high may round up to high


def draw_placement(name: str, values: torch.Tensor, height: int, width: int,
                   generator: torch.Generator) -> Optional[torch.Tensor]:
    """Per image, the integers that place op ``name`` (Nx``PLACEMENT_WIDTH[name]``), or None.

    RandomCrop: the crop's (row, column) offset in ``[0, 2 * pad]``; Cutout: the
    square's (row, column) centre; Perspective: the corners' inward moves
    ``x0, x1, x2, x3, y0, y1, y2, y3`` as :func:`._geometric._perspective` draws them.
    """
    if name not in PLACEMENT_WIDTH:
        return None
    n = values.shape[0]
    if name == "RandomCrop":
        span = 2 * torch.trunc(values).to(torch.int64) + 1
        return _below(span.view(n, 1).expand(n, 2), generator)
    if name == "Cutout":
        sizes = torch.tensor([height, width], dtype=torch.int64, device=values.device)
        return _below(sizes.expand(n, 2), generator)
    bw = torch.trunc(values * (width // 2)).to(torch.int64) + 1  # int(v * (size // 2)) + 1
    bh = torch.trunc(values * (height // 2)).to(torch.int64) + 1
    spans = torch.stack([bw, bw, bw, bw, bh, bh, bh, bh], dim=1)
    starts = torch.stack([0 * bw, 0 * bw, width - bw, width - bw, 0 * bh, 0 * bh, height - bh, height - bh], dim=1)
    return starts + _below(spans, generator)
