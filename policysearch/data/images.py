"""Image files and arrays: decoding, resizing to the working size, scanning folders.

Example:
    >>> import numpy as np
    >>> resize_all(np.zeros((2, 28, 28), np.uint8), 32).shape
    (2, 32, 32, 1)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from policysearch._checks import Rule

__all__ = ["IMAGE_EXTENSIONS", "MIN_IMAGE_SIZE", "IMAGE_SIZE", "DEFAULT_FOLDER_IMAGE_SIZE", "DataWarning", "resize", "resize_all",
           "RESIZE_KERNEL", "decode", "stack_images", "visible_files", "read_images", "warn_skipped"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
DEFAULT_FOLDER_IMAGE_SIZE = 64  # folder images differ in size, so one must be chosen
MIN_IMAGE_SIZE = 8  # the smallest working size anything accepts: data, models and configs alike
IMAGE_SIZE = Rule("int", low=MIN_IMAGE_SIZE)
# What :func:`resize` computes with; part of the key of every cached source
# (policysearch.data.cache), so another kernel or OpenCV build never serves old pixels.
RESIZE_KERNEL = f"opencv {cv2.__version__}: INTER_AREA to shrink, INTER_LINEAR to grow, one image per call"


class DataWarning(UserWarning):
    """A dataset loaded, but some of its files were skipped."""


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """One HW or HWC image to (size, size, C)."""
    h, w = image.shape[:2]
    if (h, w) != (size, size):
        # INTER_AREA averages when shrinking (no aliasing) but turns into
        # nearest-neighbour when growing, where INTER_LINEAR is smoother.
        interpolation = cv2.INTER_AREA if size * size < h * w else cv2.INTER_LINEAR
        image = cv2.resize(image, (size, size), interpolation=interpolation)
    return image.reshape(size, size, -1)


def resize_all(images: np.ndarray, size: int | None) -> np.ndarray:
    """NHW or NHWC uint8 -> NHWC at the working size (native size when None)."""
    images = images[..., None] if images.ndim == 3 else images
    if size is None or images.shape[1:3] == (size, size):
        return np.ascontiguousarray(images)
    out = np.empty((len(images), size, size, images.shape[3]), np.uint8)
    for i, image in enumerate(images):  # one by one: cv2.resize takes at most 4 channels here
        out[i] = resize(image, size)
    return out


def decode(path: Path) -> np.ndarray | None:
    """RGB or grayscale uint8 image, or None when the file cannot be decoded."""
    try:
        # np.fromfile + imdecode rather than imread: unicode paths work everywhere.
        # IMREAD_ANYCOLOR keeps grayscale single-channel, drops alpha, maps
        # 16-bit to 8-bit and still applies the EXIF orientation.
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_ANYCOLOR)
    except (OSError, cv2.error):  # unreadable, or empty (imdecode asserts)
        return None
    if image is None or image.size == 0:
        return None
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def stack_images(images: list[np.ndarray]) -> np.ndarray:
    """One NHWC array of a folder's images: grayscale stays single-channel,
    but one colour image makes them all RGB."""
    if any(image.shape[2] == 3 for image in images):
        images = [np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image for image in images]
    return np.stack(images)


def visible_files(root: Path) -> list[Path]:
    """Every file under ``root``, at any depth, in sorted order, hidden ones left out.

    Hidden files and folders (.DS_Store, ._photo.jpg, .ipynb_checkpoints/)
    are never images anyone meant to use.
    """
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )  # fmt: skip


def read_images(files: Iterable[Path], size: int) -> tuple[list[np.ndarray], list[Path]]:
    """The decodable images among ``files`` at ``size`` x ``size``, and the files skipped."""
    images: list[np.ndarray] = []
    skipped: list[Path] = []
    for path in files:
        image = decode(path) if path.suffix.lower() in IMAGE_EXTENSIONS else None
        if image is None:
            skipped.append(path)
        else:
            images.append(resize(image, size))
    return images, skipped


def warn_skipped(root: Path, skipped: list[Path]) -> None:
    """One :class:`DataWarning` naming how many files of a folder were skipped, and one of them."""
    if skipped:
        message = f"skipped {len(skipped)} unreadable or non-image file(s) in {root}, e.g. {skipped[0]}"
        warnings.warn(message, DataWarning, stacklevel=3)
