"""Preview grids: a few images, each beside several augmented draws of it, and PNG writing.

Example:
    >>> import numpy as np
    >>> from policysearch.augment import RandAugment, preview_grid
    >>> preview_grid([np.zeros((28, 28, 1), np.uint8)], RandAugment(2, 9, rng=0), draws=3).shape
    (116, 458, 3)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from policysearch._checks import check_int
from policysearch.errors import DataError

__all__ = ["preview_grid", "save_png"]


def preview_grid(
    images: Sequence[np.ndarray],
    transform: Callable[[np.ndarray], np.ndarray],
    *,
    draws: int = 6,
    min_tile: int = 96,
    pad: int = 2,
) -> np.ndarray:
    """A grid: one row per image, the original first, then ``draws`` augmentations.

    Tiles are upscaled by an integer factor (nearest) to at least ``min_tile``
    pixels so that 28x28 images stay legible. The result is RGB uint8 of size
    ``rows * (tile_h + pad) + pad`` by ``(draws + 1) * (tile_w + pad) + pad``.

    Example:
        >>> from policysearch.augment.randaugment import RandAugment
        >>> grid = preview_grid([np.zeros((28, 28, 1), np.uint8)], RandAugment(2, 9, rng=0), draws=3)
        >>> grid.shape  # 28 px tiles upscaled 4x to 112, 2 px padding
        (116, 458, 3)
    """
    if not images:
        raise DataError("preview needs at least one image, but got none")
    check_int("draws", draws, low=1)
    height, width = images[0].shape[:2]
    scale = max(1, math.ceil(min_tile / min(height, width)))
    tile_h, tile_w = height * scale, width * scale
    rows, cols = len(images), draws + 1
    grid = np.full((rows * (tile_h + pad) + pad, cols * (tile_w + pad) + pad, 3), 255, np.uint8)
    for r, image in enumerate(images):
        tiles = [image] + [transform(image) for _ in range(draws)]
        for c, tile in enumerate(tiles):
            y, x = pad + r * (tile_h + pad), pad + c * (tile_w + pad)
            grid[y : y + tile_h, x : x + tile_w] = _to_rgb(_upscale(tile, scale))
    return grid


def _upscale(image: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB (or grayscale) uint8 image as PNG, creating parent folders."""
    path = Path(path)
    bgr = image[:, :, ::-1] if image.ndim == 3 and image.shape[2] == 3 else image
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(bgr))
    if not ok:
        raise DataError(f"cannot encode a PNG from an image of shape {image.shape}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encoded.tobytes())
    except OSError as exc:
        raise DataError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path
