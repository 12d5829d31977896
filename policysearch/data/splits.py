"""Splits: a dataset as arrays (:class:`Source`), and the fixed-seed, stratified splits a search uses.

The search only sees ``train`` and ``val``, drawn from the training pool;
``test`` (the dataset's own test set, or a fixed share carved out of sources
without one) is kept for the final check.

Example:
    >>> import numpy as np
    >>> [len(i) for i in stratified_indices(np.array([0, 0, 1, 1]), [2, 2], seed=0)]
    [2, 2]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from policysearch.errors import DataError

__all__ = ["Split", "Source", "Splits", "stratified_indices", "make_splits", "carved_source", "int_at_least",
           "CARVED_TEST_FRACTION"]

MIN_IMAGES_PER_CLASS = 2  # one for the carved test split, one for the training pool
CARVED_TEST_FRACTION = 0.2
CARVE_SEED = 0  # fixed forever: a folder's test split must never move between runs


@dataclass(frozen=True, eq=False)
class Split:
    """Images (uint8 NHWC), labels (int64) and where each row came from.

    ``indices`` are positions in the source's original order (the dataset's
    train or test file, or an image folder's sorted listing), so two splits
    of one source are disjoint exactly when their indices are.

    Example:
        >>> split = Split(np.zeros((3, 8, 8, 1), np.uint8), np.array([0, 1, 1]))
        >>> len(split), split.indices.tolist(), split.class_counts(2).tolist()
        (3, [0, 1, 2], [1, 2])
    """

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray = field(default=None)  # type: ignore[assignment]  # None -> 0..N-1

    def __post_init__(self) -> None:
        if self.indices is None:
            object.__setattr__(self, "indices", np.arange(len(self.labels), dtype=np.int64))
        images, rows = self.images, (len(self.images), len(self.labels), len(self.indices))
        if images.ndim != 4 or images.dtype != np.uint8 or len(set(rows)) != 1:
            raise DataError(
                f"a split needs uint8 NHWC images with one label and index each, but got {images.dtype} "
                f"images of shape {images.shape}, {rows[1]} labels and {rows[2]} indices"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of every image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def class_counts(self, num_classes: int) -> np.ndarray:
        """How many images of each class 0..num_classes-1 the split holds."""
        return np.bincount(self.labels, minlength=num_classes)

    def take(self, rows: np.ndarray) -> Split:
        """Rows ``rows`` of this split, keeping their original indices."""
        return Split(self.images[rows], self.labels[rows], self.indices[rows])


@dataclass(frozen=True, eq=False)
class Source:
    """A whole dataset in memory: the training pool and the held-out test set."""

    name: str
    classes: tuple[str, ...]
    train: Split
    test: Split
    skipped: int = 0  # files of an image folder that could not be read
    val: Split | None = None  # a validation split the dataset fixes (a folder's val/); else drawn from the pool

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True, eq=False)
class Splits:
    """What one search uses: ``train`` and ``val`` from the pool, ``test`` held out."""

    name: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def int_at_least(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise DataError(f"{name} should be an integer >= {low}, but got {value!r}")
    return int(value)


def _allocate(counts: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Per-class counts (parts x classes): each within one image of its exact
    share, together never more of a class than it holds."""
    exact = np.outer(sizes, counts) / counts.sum()
    alloc = np.floor(exact).astype(np.int64)
    slack = counts - alloc.sum(axis=0)
    for part, size in enumerate(sizes):
        need = int(size - alloc[part].sum())
        frac = exact[part] - alloc[part]
        # Round up fractional shares first (largest remainder). Among them,
        # serve first the classes whose slack also covers the later parts'
        # round-ups, so no later part is starved (lexsort: last key first).
        later_wants = (exact[part + 1 :] > np.floor(exact[part + 1 :])).sum(axis=0)
        order = np.lexsort((-frac, slack <= later_wants, frac == 0))
        chosen = [c for c in order if slack[c] > 0][:need]
        if len(chosen) < need:  # unreachable while sum(sizes) <= counts.sum()
            raise DataError(f"cannot split class counts {counts.tolist()} into sizes {list(sizes)}")
        alloc[part, chosen] += 1
        slack[chosen] -= 1
    return alloc


def stratified_indices(labels: np.ndarray, sizes: Sequence[int], seed: int) -> tuple[np.ndarray, ...]:
    """Disjoint, sorted row indices into ``labels``, one array per requested size.

    Every part holds each class in proportion to its share of ``labels``
    (within one image of the exact proportion); the same seed gives the same parts.

    Example:
        >>> labels = np.array([0] * 6 + [1] * 3)
        >>> a, b = stratified_indices(labels, [3, 3], seed=0)
        >>> len(set(a) | set(b)), np.bincount(labels[a]).tolist()
        (6, [2, 1])
    """
    sizes = [int_at_least("size", s) for s in sizes]
    if sum(sizes) > len(labels):
        raise DataError(f"cannot draw {' + '.join(map(str, sizes))} = {sum(sizes)} images from {len(labels)}")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    bounds = np.vstack([np.zeros(len(classes), np.int64), np.cumsum(_allocate(counts, sizes), axis=0)])
    rng = np.random.default_rng(seed)
    members = [rng.permutation(np.flatnonzero(inverse == c)) for c in range(len(classes))]
    parts = ([m[bounds[p, c] : bounds[p + 1, c]] for c, m in enumerate(members)] for p in range(len(sizes)))
    return tuple(np.sort(np.concatenate(part)).astype(np.int64) for part in parts)


def make_splits(
    source: Source, *, train_size: int, val_size: int, test_size: int | None = None, seed: int = 0
) -> Splits:
    """Fixed-seed stratified ``train`` and ``val`` from the pool (``val`` from the dataset's own
    validation split when it has one), and the ``test`` set.

    ``test_size=None`` keeps the whole test set; a number subsamples it,
    stratified, with the same seed.

    Example:
        >>> from policysearch.data import load_source
        >>> splits = make_splits(load_source("digits"), train_size=100, val_size=50, test_size=40)
        >>> len(splits.train), len(splits.val), len(splits.test)
        (100, 50, 40)
    """
    train_size, val_size = int_at_least("train_size", train_size), int_at_least("val_size", val_size)
    pool, test = source.train, source.test
    if source.val is not None:
        return _with_fixed_val(source, train_size, val_size, test_size, seed)
    if train_size + val_size > len(pool):
        raise DataError(
            f"train_size + val_size = {train_size} + {val_size} = {train_size + val_size} is more than "
            f"the {len(pool)} training images of {source.name}"
        )
    counts = pool.class_counts(source.num_classes)
    starved = np.flatnonzero(_allocate(counts, [train_size])[0] == 0)
    if len(starved):  # a class the proxy never trains on turns its validation score into noise
        c = int(starved[0])
        raise DataError(
            f"train_size={train_size} is too small for {source.name}: class {source.classes[c]!r} has "
            f"{counts[c]} of the {len(pool)} training images and would get none; use train_size >= "
            f"{math.ceil(len(pool) / max(counts[c], 1))}"
        )
    train_rows, val_rows = stratified_indices(pool.labels, [train_size, val_size], seed)
    return Splits(source.name, source.classes, pool.take(train_rows), pool.take(val_rows),
                  _test_subset(source, test_size, seed))


def _with_fixed_val(source: Source, train_size: int, val_size: int, test_size: int | None, seed: int) -> Splits:
    """The dataset's own validation split (a stratified ``val_size`` of it when larger); train from the pool."""
    for label, size, split in (("train_size", train_size, source.train), ("val_size", val_size, source.val)):
        if size > len(split):
            part = "training pool" if split is source.train else "validation split"
            raise DataError(f"{label}={size} is more than the {len(split)} images of {source.name}'s {part}")
    train = source.train.take(stratified_indices(source.train.labels, [train_size], seed)[0])
    val = source.val.take(stratified_indices(source.val.labels, [val_size], seed)[0])
    return Splits(source.name, source.classes, train, val, _test_subset(source, test_size, seed))


def _test_subset(source: Source, test_size: int | None, seed: int) -> Split:
    if test_size is None:
        return source.test
    test_size = int_at_least("test_size", test_size)
    if test_size > len(source.test):
        raise DataError(f"test_size={test_size} is more than the {len(source.test)} test images of {source.name}")
    return source.test.take(stratified_indices(source.test.labels, [test_size], seed)[0])


def carved_source(
    name: str, classes: Sequence[str], images: np.ndarray, labels: np.ndarray, fraction: float, skipped: int
) -> Source:
    """A source without its own test set: round(fraction * n) of each class
    (at least one) becomes the test split, drawn with a fixed seed."""
    counts = np.bincount(labels, minlength=len(classes))
    if counts.min() < MIN_IMAGES_PER_CLASS:
        c = int(np.argmin(counts))
        raise DataError(
            f"class {classes[c]!r} of {name} has {counts[c]} image(s); each class needs at least "
            f"{MIN_IMAGES_PER_CLASS} (a test split is carved out of every class)"
        )
    rng = np.random.default_rng(CARVE_SEED)
    members = [rng.permutation(np.flatnonzero(labels == c)) for c in range(len(classes))]
    n_test = [max(1, math.floor(fraction * len(m) + 0.5)) for m in members]
    test_rows = np.sort(np.concatenate([m[:n] for m, n in zip(members, n_test)]))
    pool_rows = np.sort(np.concatenate([m[n:] for m, n in zip(members, n_test)]))
    everything = Split(images, labels)
    return Source(name, tuple(classes), everything.take(pool_rows), everything.take(test_rows), skipped)


