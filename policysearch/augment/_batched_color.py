"""Colour kernels on uint8 NxCxHxW torch batches, one value per image: the batched :mod:`._color`.

Each kernel is ``kernel(batch, values) -> new batch``: ``batch`` a uint8 tensor on
any device, ``values`` a float64 tensor of one real value per image (None for the
ops without a magnitude). The arithmetic is torchvision v2's on uint8 tensors,
which :mod:`._color` reproduces, with the scalar made a per-image tensor.

torchvision blends with ``x.mul(r).add_(y, alpha=1 - r)``, whose add is fused (one
rounding). A per-image ``alpha`` cannot go through ``add_``, so the blends run in
float64, where the product of a uint8-valued float32 and a float32 factor and its
sum with another float32 are exact: the single rounding back to float32 is then the
fused one, bit for bit (MPS has no float64 and gets float32, off by an ulp at worst).

Example:
    >>> import torch
    >>> batch = torch.full((2, 1, 2, 2), 255, dtype=torch.uint8)
    >>> posterize(batch, torch.tensor([4.0, 8.0], dtype=torch.float64))[:, 0, 0, 0].tolist()
    [240, 255]
"""

from __future__ import annotations

import torch

__all__ = ["brightness", "color", "contrast", "sharpness", "posterize", "solarize", "autocontrast",
           "equalize", "invert"]

_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's, not ITU's


def _wide(device: torch.device) -> torch.dtype:
    """The dtype in which the blends are exact (see the module docstring)."""
    return torch.float32 if device.type == "mps" else torch.float64


def _per_image(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """N values as an Nx1x1x1 tensor, to broadcast over each image."""
    return values.to(dtype).view(-1, 1, 1, 1)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Clamp float32 ``x`` to [0, 255] and truncate, as torch's cast does."""
    return x.clamp_(0, 255).to(torch.uint8)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """floor(0.2989 R + 0.587 G + 0.114 B) of float32 NxCxHxW RGB: torchvision's uint8 gray (Nx1xHxW)."""
    wide = _wide(x.device)
    r, g, b = (channel.unsqueeze(1) for channel in x.unbind(1))
    gray = r * _GRAY_WEIGHTS[0]  # float32, as r.mul(0.2989); each add_(alpha=w) is fused
    for channel, weight in ((g, _GRAY_WEIGHTS[1]), (b, _GRAY_WEIGHTS[2])):
        weight32 = float(torch.tensor(weight, dtype=torch.float32))
        gray = (gray.to(wide) + channel.to(wide) * weight32).to(torch.float32)
    return gray.floor_()


def _blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """torchvision's ``_blend``: x * ratio + other * (1 - ratio) per image, truncated to uint8.

    ``ratio`` is float64, as Python computes ``1.0 + value``; torch takes it (and
    ``1.0 - ratio``) as float32 scalars.
    """
    wide = _wide(x.device)
    scaled = x * _per_image(ratio, torch.float32)
    alpha = _per_image((1.0 - ratio).to(torch.float32), wide)
    return _to_uint8((scaled.to(wide) + other.to(wide) * alpha).to(torch.float32))


def brightness(batch: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return _to_uint8(batch.to(torch.float32) * _per_image(1.0 + values, torch.float32))


def color(batch: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    if batch.shape[1] == 1:  # torchvision (like PIL) leaves one channel's saturation alone
        return batch.clone()
    x = batch.to(torch.float32)
    return _blend(x, _gray(x), 1.0 + values)


def contrast(batch: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    x = batch.to(torch.float32)
    gray = _gray(x) if batch.shape[1] == 3 else x
    # The mean of integers, summed exactly in float64 then rounded to float32, as _color's
    # cv2.mean; a float32 sum would drift on large images.
    mean = gray.to(_wide(x.device)).mean(dim=(1, 2, 3), keepdim=True).to(torch.float32)
    return _blend(x, mean, 1.0 + values)


def sharpness(batch: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    height, width = batch.shape[2:]
    if height <= 2 or width <= 2:  # torchvision: no interior, no change
        return batch.clone()
    x = batch.to(torch.float32)
    # torchvision rounds the 3x3 blur [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13. The integer
    # sum is exact (and free of TF32 convolutions) and S / 13 is at least 1/26 from a
    # rounding tie, so round(S / 13) is the blur torchvision rounds, whatever the device.
    centre = x[:, :, 1:-1, 1:-1]
    total = 4 * centre
    for dy in range(3):
        for dx in range(3):
            total = total + x[:, :, dy:height - 2 + dy, dx:width - 2 + dx]
    diff = torch.round(total / 13) - centre  # integers: exact
    wide = _wide(x.device)
    alpha = _per_image((1.0 - (1.0 + values)).to(torch.float32), wide)
    out = batch.clone()  # the first and last rows and columns stay as they are
    out[:, :, 1:-1, 1:-1] = _to_uint8((centre.to(wide) + diff.to(wide) * alpha).to(torch.float32))
    return out


def posterize(batch: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    shift = (8 - values.to(torch.int64)).clamp(0, 8)  # bits kept -> low bits cleared
    mask = torch.bitwise_left_shift(torch.full_like(shift, 0xFF), shift) & 0xFF
    return batch & _per_image(mask, torch.uint8)


def solarize(batch: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    # torch compares x >= 255 * value with the threshold as a float32 scalar.
    threshold = _per_image(255.0 * values, torch.float32)
    return torch.where(batch >= threshold, torch.bitwise_not(batch), batch)


def autocontrast(batch: torch.Tensor, values: object = None) -> torch.Tensor:
    # torchvision's autocontrast_image, already batched: per image and channel.
    x = batch.to(torch.float32)
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    constant = high == low  # torchvision leaves a constant channel as it is
    inv_scale = torch.where(constant, 1.0, (high - low) * (1.0 / 255.0))
    low = torch.where(constant, 0.0, low)
    return _to_uint8((x - low) / inv_scale)


def equalize(batch: torch.Tensor, values: object = None) -> torch.Tensor:
    # torchvision's equalize_image (PIL's scheme), with one histogram per image and
    # channel from a single scatter_add over the flattened batch.
    n, channels, height, width = batch.shape
    flat = batch.reshape(n, channels, height * width).to(torch.int64)
    hist = torch.zeros(n, channels, 256, dtype=torch.int64, device=batch.device)
    hist.scatter_add_(2, flat, torch.ones_like(flat))
    cumulative = hist.cumsum(dim=2)
    top = cumulative.argmax(dim=2, keepdim=True)  # the first maximum: the top used level
    step = (height * width - hist.gather(2, top)) // 255
    # lut[k] = (pixels below level k + step // 2) // step; lut[0] = 0
    lut = ((cumulative[:, :, :-1] + step // 2) // step.clamp(min=1)).clamp_(0, 255)
    lut = torch.cat([torch.zeros_like(lut[:, :, :1]), lut], dim=2).to(torch.uint8)
    out = lut.gather(2, flat).view_as(batch)
    return torch.where((step != 0).unsqueeze(-1), out, batch)  # step 0: left as it is


def invert(batch: torch.Tensor, values: object = None) -> torch.Tensor:
    return torch.bitwise_not(batch)  # 255 - x on uint8
