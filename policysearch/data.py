"""Dataset sources, loaded once into memory, and fixed-seed stratified splits.

A source is a whole dataset as numpy arrays: images uint8 NHWC (C=1 for
grayscale, 3 for colour) resized once to the working size, labels int64.
Sources are named by a spec looked up in :data:`SOURCES`: ``fashion-mnist``,
``imagefolder:PATH`` (one sub-folder per class), ``cifar10``, ``cifar100``
and ``digits`` (scikit-learn's 8x8 digits, for fast tests). The search only
sees ``train`` and ``val``, drawn from the training pool; ``test`` (the
dataset's own test set, or a fixed share carved out of sources without one)
is kept for the final report.

Example:
    >>> splits = make_splits(load_source("digits"), train_size=200, val_size=100)
    >>> splits.train.images.shape, splits.train.images.dtype.name
    ((200, 8, 8, 1), 'uint8')
"""

from __future__ import annotations

import contextlib
import gzip
import math
import numbers
import os
import sys
import tarfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np

from policysearch.errors import DataError

__all__ = [
    "DataWarning", "Split", "Source", "Splits", "SOURCES",
    "available_sources", "load_source", "make_splits", "stratified_indices",
]  # fmt: skip

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)  # fmt: skip
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
DEFAULT_FOLDER_IMAGE_SIZE = 64  # folder images differ in size, so one must be chosen
MIN_IMAGE_SIZE = 8
MIN_IMAGES_PER_CLASS = 2  # one for the carved test split, one for the training pool
CARVED_TEST_FRACTION = 0.2
CARVE_SEED = 0  # fixed forever: a folder's test split must never move between runs
CACHE_ENV = "POLICYSEARCH_CACHE"
# What torchvision raises when a download, checksum or archive fails.
_DOWNLOAD_ERRORS = (OSError, RuntimeError, EOFError, tarfile.TarError)


class DataWarning(UserWarning):
    """A dataset loaded, but some of its files were skipped."""


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


def _int_at_least(name: str, value: object, low: int = 1) -> int:
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
    sizes = [_int_at_least("size", s) for s in sizes]
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
    """Fixed-seed stratified ``train`` and ``val`` from the pool, and the ``test`` set.

    ``test_size=None`` keeps the whole test set; a number subsamples it,
    stratified, with the same seed.

    Example:
        >>> splits = make_splits(load_source("digits"), train_size=100, val_size=50, test_size=40)
        >>> len(splits.train), len(splits.val), len(splits.test)
        (100, 50, 40)
    """
    train_size, val_size = _int_at_least("train_size", train_size), _int_at_least("val_size", val_size)
    pool, test = source.train, source.test
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
    if test_size is not None:
        test_size = _int_at_least("test_size", test_size)
        if test_size > len(test):
            message = f"test_size={test_size} is more than the {len(test)} test images of {source.name}"
            raise DataError(message)
        test = test.take(stratified_indices(test.labels, [test_size], seed)[0])
    return Splits(source.name, source.classes, pool.take(train_rows), pool.take(val_rows), test)


def _carved_source(
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


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """One HW or HWC image to (size, size, C)."""
    h, w = image.shape[:2]
    if (h, w) != (size, size):
        # INTER_AREA averages when shrinking (no aliasing) but turns into
        # nearest-neighbour when growing, where INTER_LINEAR is smoother.
        interpolation = cv2.INTER_AREA if size * size < h * w else cv2.INTER_LINEAR
        image = cv2.resize(image, (size, size), interpolation=interpolation)
    return image.reshape(size, size, -1)


def _resize_all(images: np.ndarray, size: int | None) -> np.ndarray:
    """NHW or NHWC uint8 -> NHWC at the working size (native size when None)."""
    images = images[..., None] if images.ndim == 3 else images
    if size is None or images.shape[1:3] == (size, size):
        return np.ascontiguousarray(images)
    out = np.empty((len(images), size, size, images.shape[3]), np.uint8)
    for i, image in enumerate(images):  # one by one: cv2.resize takes at most 4 channels here
        out[i] = _resize(image, size)
    return out


def _decode(path: Path) -> np.ndarray | None:
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


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _read_idx(path: Path) -> np.ndarray:
    """A gzip-compressed idx file (the MNIST format) as a uint8 array."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {_first_line(exc)}") from exc
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":  # two zero bytes, then 0x08 = unsigned byte
        raise DataError(f"{path} is not an unsigned-byte idx file")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=raw[3], offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3])
    if data.size != math.prod(dims):
        raise DataError(f"{path} is truncated: {data.size} bytes of data for shape {dims}")
    return data.reshape(dims).copy()  # frombuffer views are read-only


def _load_fashion_mnist(
    arg: str, image_size: int | None, cache_dir: Path, *, system_dir: Path = FASHION_MNIST_DIR
) -> Source:
    files = [system_dir / f"{name}.gz" for name in FASHION_MNIST_FILES]
    if all(f.is_file() for f in files):
        train_x, train_y, test_x, test_y = (_read_idx(f) for f in files)
    else:
        try:
            from torchvision.datasets import FashionMNIST

            with contextlib.redirect_stdout(sys.stderr):  # torchvision's progress lines stay off stdout
                train, test = (FashionMNIST(str(cache_dir), train=t, download=True) for t in (True, False))
        except _DOWNLOAD_ERRORS as exc:
            raise DataError(
                f"Fashion-MNIST is not in {system_dir} and downloading it into {cache_dir} failed "
                f"({_first_line(exc)}): run `apt-get install dataset-fashion-mnist`, or connect to the "
                f"internet once so torchvision can download it"
            ) from exc
        arrays = (train.data, train.targets, test.data, test.targets)
        train_x, train_y, test_x, test_y = (a.numpy() for a in arrays)
    return Source(
        "fashion-mnist",
        FASHION_MNIST_CLASSES,
        Split(_resize_all(train_x, image_size), train_y.astype(np.int64)),
        Split(_resize_all(test_x, image_size), test_y.astype(np.int64)),
    )


def _load_cifar(arg: str, image_size: int | None, cache_dir: Path, *, name: str) -> Source:
    from torchvision import datasets

    dataset = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            train, test = (dataset(str(cache_dir), train=t, download=True) for t in (True, False))
    except _DOWNLOAD_ERRORS as exc:
        raise DataError(
            f"could not download {name} into {cache_dir} ({_first_line(exc)}): connect to the internet "
            f"once, or put {Path(dataset.url).name} from {dataset.url} into {cache_dir}"
        ) from exc
    return Source(
        name,
        tuple(train.classes),
        Split(_resize_all(train.data, image_size), np.asarray(train.targets, np.int64)),
        Split(_resize_all(test.data, image_size), np.asarray(test.targets, np.int64)),
    )


def _load_digits(arg: str, image_size: int | None, cache_dir: Path, *, test_fraction: float) -> Source:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DataError("the digits dataset needs scikit-learn: pip install scikit-learn") from exc
    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)  # its pixels are 0..16
    classes = [str(c) for c in digits.target_names]
    labels = digits.target.astype(np.int64)
    return _carved_source("digits", classes, _resize_all(images, image_size), labels, test_fraction, 0)


def _load_image_folder(arg: str, image_size: int | None, cache_dir: Path, *, test_fraction: float) -> Source:
    root = Path(arg).expanduser()
    if not root.is_dir():
        problem = "is not a directory" if root.exists() else "does not exist"
        raise DataError(f"image folder {str(root)!r} {problem}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    size = image_size or DEFAULT_FOLDER_IMAGE_SIZE
    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped: list[Path] = []
    for label, class_dir in enumerate(class_dirs):
        # Hidden files (.DS_Store, macOS ._photo.jpg) are never images anyone meant to use.
        files = sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
        for path in files:
            image = _decode(path) if path.suffix.lower() in IMAGE_EXTENSIONS else None
            if image is None:
                skipped.append(path)
            else:
                images.append(_resize(image, size))
                labels.append(label)
    if not images:
        raise DataError(
            f"image folder {str(root)!r} has no readable images in class sub-folders "
            f"(expected {root}/CLASS/IMAGE with extension {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    if len(class_dirs) < 2:
        only = class_dirs[0].name
        raise DataError(f"image folder {str(root)!r} has one class ({only!r}); a classifier needs at least 2")
    if skipped:
        message = f"skipped {len(skipped)} unreadable or non-image file(s) in {root}, e.g. {skipped[0]}"
        warnings.warn(message, DataWarning, stacklevel=3)
    classes = [d.name for d in class_dirs]
    stacked, label_array = stack_images(images), np.asarray(labels, np.int64)
    return _carved_source(f"imagefolder:{root}", classes, stacked, label_array, test_fraction, len(skipped))


# name -> loader(arg, image_size, cache_dir, **options); only "imagefolder" takes an argument (its PATH).
SOURCES: Mapping[str, Callable[..., Source]] = MappingProxyType(
    {
        "fashion-mnist": _load_fashion_mnist,
        "imagefolder": _load_image_folder,
        "cifar10": partial(_load_cifar, name="cifar10"),
        "cifar100": partial(_load_cifar, name="cifar100"),
        "digits": _load_digits,
    }
)
_TAKES_ARGUMENT = frozenset({"imagefolder"})
_CARVES_TEST = frozenset({"imagefolder", "digits"})


def available_sources() -> list[str]:
    """Dataset specs :func:`load_source` accepts.

    Example:
        >>> available_sources()[:2]
        ['fashion-mnist', 'imagefolder:PATH']
    """
    return [f"{name}:PATH" if name in _TAKES_ARGUMENT else name for name in SOURCES]


def load_source(
    spec: str,
    *,
    image_size: int | None = None,
    cache_dir: str | Path | None = None,
    test_fraction: float = CARVED_TEST_FRACTION,
) -> Source:
    """Load a whole dataset into memory, resized to ``image_size`` when given.

    ``image_size=None`` keeps the native size (image folders: 64).
    ``cache_dir`` (default $POLICYSEARCH_CACHE, else ~/.cache/policysearch)
    receives torchvision downloads. ``test_fraction`` is the share of each
    class carved out as the test split of sources without one (folders, digits).

    Example:
        >>> source = load_source("digits", image_size=16)
        >>> source.train.image_shape, source.num_classes
        ((16, 16, 1), 10)
    """
    name, _, arg = spec.partition(":")
    if name not in SOURCES:
        raise DataError(f"unknown dataset {spec!r}; known: {', '.join(available_sources())}")
    if (name in _TAKES_ARGUMENT) != bool(arg):
        usage = f"{name}:PATH" if name in _TAKES_ARGUMENT else name
        raise DataError(f"dataset {spec!r} should be written {usage}")
    image_size = None if image_size is None else _int_at_least("image_size", image_size, MIN_IMAGE_SIZE)
    fraction_ok = isinstance(test_fraction, numbers.Real) and not isinstance(test_fraction, bool)
    if not (fraction_ok and 0 < test_fraction < 1):
        raise DataError(f"test_fraction should be a number between 0 and 1, but got {test_fraction!r}")
    cache = Path(cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "policysearch")
    options = {"test_fraction": float(test_fraction)} if name in _CARVES_TEST else {}
    return SOURCES[name](arg, image_size, cache.expanduser(), **options)
