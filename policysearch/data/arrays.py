"""A source from numpy arrays: images and labels a notebook already holds, no files needed.

``from_arrays`` checks the arrays, resizes them to the working size, and
either uses the test arrays given or carves a fixed-seed, stratified test
split out of every class, as image folders do. The result is a
:class:`~policysearch.data.splits.Source` like any loaded dataset, which
:func:`policysearch.search.run.run_search` takes directly.

Example:
    >>> import numpy as np
    >>> images = np.random.default_rng(0).integers(0, 256, (40, 12, 12, 3), dtype=np.uint8)
    >>> source = from_arrays(images, np.arange(40) % 4, image_size=16, name="mine")
    >>> source.name, len(source.train), len(source.test), source.train.image_shape
    ('mine', 32, 8, (16, 16, 3))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from policysearch._checks import show
from policysearch.data.images import MIN_IMAGE_SIZE, resize_all
from policysearch.data.splits import CARVED_TEST_FRACTION, Source, Split, carved_source, int_at_least
from policysearch.errors import DataError

__all__ = ["from_arrays"]


def from_arrays(images: Any, labels: Any, *, name: str, test_images: Any = None, test_labels: Any = None,
                classes: Sequence[str] | None = None, image_size: int | None = None,
                test_fraction: float = CARVED_TEST_FRACTION) -> Source:
    """A :class:`Source` from uint8 images (N x H x W, or N x H x W x C with C 1 or 3) and integer labels.

    Labels are class indices 0..K-1 (``classes`` names them; by default
    "0".."K-1"). Without ``test_images``/``test_labels`` a ``test_fraction``
    of every class is carved out as the held-out test split. ``name`` is
    required: a study knows its dataset by name, so two different datasets
    must not share one. Images that are not square need an ``image_size``.
    """
    if not isinstance(name, str) or not name:
        raise DataError(f"name should be a non-empty string, but got {show(name)}")
    size = None if image_size is None else int_at_least("image_size", image_size, MIN_IMAGE_SIZE)
    train_images, train_labels = _checked("images", images, "labels", labels)
    if size is None and train_images.shape[1] != train_images.shape[2]:
        raise DataError(f"images of {train_images.shape[1]}x{train_images.shape[2]} pixels are not square: "
                        f"give an image_size to resize them to")
    count = int(train_labels.max()) + 1 if len(train_labels) else 0
    if test_images is not None or test_labels is not None:
        held_images, held_labels = _checked("test_images", test_images, "test_labels", test_labels)
        count = max(count, int(held_labels.max()) + 1 if len(held_labels) else 0)
    names = tuple(str(c) for c in range(count)) if classes is None else tuple(str(c) for c in classes)
    if len(names) < count or len(names) < 2:
        raise DataError(f"classes should name at least 2 classes and every label (labels go up to {count - 1}), "
                        f"but got {list(names)}")
    if test_images is None and test_labels is None:
        return carved_source(name, names, resize_all(train_images, size), train_labels, test_fraction, 0)
    if held_images.shape[1:] != train_images.shape[1:]:
        raise DataError(f"test_images should have the shape of images {train_images.shape[1:]} after N, "
                        f"but got {held_images.shape[1:]}")
    return Source(name, names, Split(resize_all(train_images, size), train_labels),
                  Split(resize_all(held_images, size), held_labels))


def _checked(image_name: str, images: Any, label_name: str, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """uint8 NHWC images and int64 labels, one per image; one-line errors naming the argument."""
    if images is None or labels is None:
        raise DataError(f"{image_name} and {label_name} come together; got only one of them")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        raise DataError(f"{image_name} should be uint8 N x H x W or N x H x W x C (C 1 or 3), but got "
                        f"{images.dtype} of shape {images.shape}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{label_name} should be {len(images)} integer class indices, one per image, but got "
                        f"{labels.dtype} of shape {labels.shape}")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{label_name} should be class indices >= 0, but got {int(labels.min())}")
    images = images[..., None] if images.ndim == 3 else images
    return np.ascontiguousarray(images), labels.astype(np.int64)
