"""Unlabeled images to pseudo-label: a plain folder, or a dataset's training pool.

``images:PATH`` is a folder of images at any depth, no classes needed. Any
dataset spec of :func:`policysearch.data.load_source` gives that dataset's
training pool with its labels kept as ``truth``, for held-out experiments
that measure how often pseudo labels are right; the rows of the labelled
splits are left out, and the test split is never touched.

Example:
    >>> import pathlib, tempfile
    >>> import cv2, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("a.png", "deeper/b.jpg"):
    ...     (folder / name).parent.mkdir(exist_ok=True)
    ...     _ = cv2.imwrite(str(folder / name), np.full((40, 30, 3), 128, np.uint8))
    >>> pool = load_unlabeled(f"images:{folder}", image_size=32)
    >>> pool.images.shape, pool.truth
    ((2, 32, 32, 3), None)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from policysearch.data.images import (
    DEFAULT_FOLDER_IMAGE_SIZE,
    IMAGE_EXTENSIONS,
    MIN_IMAGE_SIZE,
    read_images,
    stack_images,
    visible_files,
    warn_skipped,
)
from policysearch.data.sources import SOURCES, available_sources, load_source
from policysearch.data.splits import CARVED_TEST_FRACTION, Source, Split, int_at_least
from policysearch.errors import DataError

__all__ = ["Unlabeled", "load_unlabeled", "UNLABELED_FOLDER"]

UNLABELED_FOLDER = "images"  # the spec of a plain folder of images: images:PATH


@dataclass(frozen=True, eq=False)
class Unlabeled:
    """Images without labels, to pseudo-label.

    ``indices`` are positions in the source's original order, as in
    :class:`Split` (for ``images:PATH``: in the sorted listing of the files
    that could be read). ``truth`` holds the real labels where they are known
    (a labelled dataset used as unlabeled in a held-out experiment), else None.

    Example:
        >>> pool = Unlabeled("demo", np.zeros((2, 8, 8, 1), np.uint8), np.array([3, 7]), None)
        >>> len(pool), pool.image_shape, pool.truth
        (2, (8, 8, 1), None)
    """

    name: str
    images: np.ndarray
    indices: np.ndarray
    truth: np.ndarray | None
    skipped: int = 0  # files of an image folder that could not be read

    def __post_init__(self) -> None:
        images, truth = self.images, self.truth
        rows = (len(images), len(self.indices), len(images) if truth is None else len(truth))
        if images.ndim != 4 or images.dtype != np.uint8 or len(set(rows)) != 1:
            raise DataError(
                f"unlabeled images need uint8 NHWC images with one index (and truth label, if any) each, "
                f"but got {images.dtype} images of shape {images.shape}, {rows[1]} indices and "
                f"{'no' if truth is None else rows[2]} truth labels"
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of every image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def take(self, rows: np.ndarray) -> Unlabeled:
        """Rows ``rows``, keeping their original indices (and truth)."""
        truth = None if self.truth is None else self.truth[rows]
        return Unlabeled(self.name, self.images[rows], self.indices[rows], truth, self.skipped)


def _unlabeled_folder(root: Path, image_size: int) -> Unlabeled:
    """Every readable image under ``root``, at any depth, in sorted path order."""
    if not root.is_dir():
        problem = "is not a directory" if root.exists() else "does not exist"
        raise DataError(f"unlabeled image folder {str(root)!r} {problem}")
    images, skipped = read_images(visible_files(root), image_size)
    if not images:
        unread = f"skipped {len(skipped)} unreadable or non-image file(s); " if skipped else ""
        raise DataError(
            f"unlabeled image folder {str(root)!r} has no readable images ({unread}expected files "
            f"with extension {', '.join(sorted(IMAGE_EXTENSIONS))}, at any depth)"
        )
    warn_skipped(root, skipped)
    indices = np.arange(len(images), dtype=np.int64)
    return Unlabeled(f"{UNLABELED_FOLDER}:{root}", stack_images(images), indices, None, len(skipped))


def _unlabeled_pool(source: Source, exclude: Split | Sequence[Split]) -> tuple[Unlabeled, int]:
    """The source's training pool less the rows of ``exclude``, and how many rows that removed."""
    pool = source.train
    order = np.argsort(pool.indices, kind="stable")
    keep = np.ones(len(pool), bool)
    for split in (exclude,) if isinstance(exclude, Split) else tuple(exclude):
        if not isinstance(split, Split):
            raise DataError(f"exclude should hold Split objects, but got {type(split).__name__}")
        if len(split) == 0:
            continue
        at = np.minimum(np.searchsorted(pool.indices[order], split.indices), len(pool) - 1)
        rows = order[at]
        # A split of another source, another test_fraction or of the test set
        # would silently drop the wrong rows: its indices or labels give it away.
        bad = np.flatnonzero((pool.indices[rows] != split.indices) | (pool.labels[rows] != split.labels))
        if len(bad):
            i = int(split.indices[bad[0]])
            raise DataError(
                f"exclude holds a split that is not part of the training pool of {source.name}: its row "
                f"with index {i} (label {int(split.labels[bad[0]])}) is not there; exclude takes the "
                f"train and val splits made from this same source"
            )
        keep[rows] = False
    pool_left = Unlabeled(source.name, pool.images[keep], pool.indices[keep], pool.labels[keep], source.skipped)
    return pool_left, int(len(pool) - keep.sum())


def load_unlabeled(
    spec: str,
    *,
    image_size: int | None = None,
    size: int | None = None,
    exclude: Split | Sequence[Split] = (),
    seed: int = 0,
    cache_dir: str | Path | None = None,
    test_fraction: float = CARVED_TEST_FRACTION,
    source: Source | None = None,
) -> Unlabeled:
    """Images to pseudo-label: a plain folder (``images:PATH``) or a dataset's training pool.

    ``images:PATH`` reads every image under PATH, at any depth (no class
    folders needed), resized to ``image_size`` (default 64); ``truth`` is None.
    Any spec :func:`load_source` takes gives that dataset's training pool,
    with its labels as ``truth``; its test split is never used, so it stays
    held out. ``exclude`` removes the rows of splits made from that same
    source (matched on ``Split.indices``), so a held-out experiment's labelled
    train and val never come back as unlabeled; folders ignore it.
    ``size`` keeps that many images drawn with ``seed`` (None keeps all).
    ``cache_dir`` and ``test_fraction`` are passed to :func:`load_source`;
    ``source``, that dataset already loaded (as ``load_source(spec, ...)``
    gives it), saves loading it again.

    Example:
        >>> from policysearch.data import make_splits
        >>> splits = make_splits(load_source("digits"), train_size=200, val_size=100)
        >>> pool = load_unlabeled("digits", size=500, exclude=(splits.train, splits.val))
        >>> pool.images.shape, np.intersect1d(pool.indices, splits.train.indices).size
        ((500, 8, 8, 1), 0)
    """
    size = None if size is None else int_at_least("size", size)
    name, _, arg = spec.partition(":")
    excluded = 0
    if name == UNLABELED_FOLDER:
        if not arg:
            raise DataError(f"unlabeled images {spec!r} should be written {UNLABELED_FOLDER}:PATH")
        folder_size = DEFAULT_FOLDER_IMAGE_SIZE if image_size is None else image_size
        pool = _unlabeled_folder(Path(arg).expanduser(), int_at_least("image_size", folder_size, MIN_IMAGE_SIZE))
    elif name in SOURCES:
        if source is None:
            source = load_source(spec, image_size=image_size, cache_dir=cache_dir, test_fraction=test_fraction)
        pool, excluded = _unlabeled_pool(source, exclude)
    else:
        known = ", ".join([f"{UNLABELED_FOLDER}:PATH", *available_sources()])
        raise DataError(f"unknown unlabeled images {spec!r}; known: {known}")
    if len(pool) == 0:  # only a dataset can end up empty here: folders without images raise above
        raise DataError(f"no images of {pool.name}'s training pool are left after excluding {excluded}")
    if size is None:
        return pool
    if size > len(pool):
        after = f" after excluding {excluded} rows of its labelled splits" if excluded else ""
        raise DataError(f"size={size} is more than the {len(pool)} images available in {pool.name}{after}")
    rows = np.sort(np.random.default_rng(seed).choice(len(pool), size, replace=False))
    return pool.take(rows)
