"""Data: dataset sources loaded once into memory, fixed-seed stratified splits, image files, unlabeled pools.

Example:
    >>> from policysearch.data import load_source, make_splits
    >>> make_splits(load_source("digits"), train_size=200, val_size=100).train.images.shape
    (200, 8, 8, 1)
"""

from __future__ import annotations

from policysearch.data.arrays import from_arrays
from policysearch.data.images import (
                                       DEFAULT_FOLDER_IMAGE_SIZE,
                                       IMAGE_EXTENSIONS,
                                       IMAGE_SIZE,
                                       MIN_IMAGE_SIZE,
                                       DataWarning,
                                       decode,
                                       read_images,
                                       resize,
                                       resize_all,
                                       stack_images,
                                       visible_files,
                                       warn_skipped,
)
from policysearch.data.sources import (
                                       FASHION_MNIST_CLASSES,
                                       FASHION_MNIST_DIR,
                                       SOURCES,
                                       available_sources,
                                       load_fashion_mnist,
                                       load_source,
                                       read_idx,
)
from policysearch.data.splits import (
                                       CARVED_TEST_FRACTION,
                                       Source,
                                       Split,
                                       Splits,
                                       carved_source,
                                       int_at_least,
                                       make_splits,
                                       stratified_indices,
)
from policysearch.data.unlabeled import UNLABELED_FOLDER, Unlabeled, load_unlabeled

__all__ = ["from_arrays", "IMAGE_EXTENSIONS", "MIN_IMAGE_SIZE", "IMAGE_SIZE", "DEFAULT_FOLDER_IMAGE_SIZE", "DataWarning", "resize", "resize_all", "decode", "stack_images", "visible_files", "read_images", "warn_skipped", "Split", "Source", "Splits", "stratified_indices", "make_splits", "carved_source", "int_at_least", "CARVED_TEST_FRACTION", "SOURCES", "available_sources", "load_source", "FASHION_MNIST_CLASSES", "FASHION_MNIST_DIR", "read_idx", "load_fashion_mnist", "Unlabeled", "load_unlabeled", "UNLABELED_FOLDER"]
