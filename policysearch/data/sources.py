"""Dataset sources: the registry of loaders, each giving a whole dataset in memory.

A source is a whole dataset as numpy arrays: images uint8 NHWC (C=1 for
grayscale, 3 for colour) resized once to the working size, labels int64.
Sources are named by a spec looked up in :data:`SOURCES`: ``fashion-mnist``,
``imagefolder:PATH`` (one sub-folder per class), ``cifar10``, ``cifar100``
and ``digits`` (scikit-learn's 8x8 digits, for fast tests). The search only
sees ``train`` and ``val``, drawn from the training pool; ``test`` (the
dataset's own test set, or a fixed share carved out of sources without one)
is kept for the final report.

Other packages add sources through the entry point group
``policysearch.sources`` (:data:`SOURCE_GROUP`): the entry point's name is
the dataset name, its object a loader
``load(arg: str, image_size: int | None, cache_dir: Path, *, test_fraction: float) -> Source``
(``arg``: what follows ``NAME:`` in the spec, ``""`` if nothing; resize to
``image_size`` when it is given, with :func:`policysearch.data.images.resize_all`;
``test_fraction`` is for datasets without a test set, see
:func:`policysearch.data.splits.carved_source`). Built-in names win.

Example:
    >>> from policysearch.data.splits import make_splits
    >>> splits = make_splits(load_source("digits"), train_size=200, val_size=100)
    >>> splits.train.images.shape, splits.train.images.dtype.name
    ((200, 8, 8, 1), 'uint8')
"""

from __future__ import annotations

import contextlib
import gzip
import inspect
import math
import numbers
import os
import sys
import tarfile
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import MappingProxyType

import numpy as np

from policysearch._plugins import load_plugin, names_in_group
from policysearch.data.images import (
    DEFAULT_FOLDER_IMAGE_SIZE,
    IMAGE_EXTENSIONS,
    MIN_IMAGE_SIZE,
    read_images,
    resize_all,
    stack_images,
    visible_files,
    warn_skipped,
)
from policysearch.data.cache import cached_source
from policysearch.data.elpv import ELPV, load_elpv
from policysearch.data.hf import load_hf
from policysearch.data.silhouettes import SILHOUETTES, load_silhouettes
from policysearch.data.splits import CARVED_TEST_FRACTION, Source, Split, carved_source, int_at_least
from policysearch.errors import DataError, first_line

__all__ = ["SOURCES", "SOURCE_GROUP", "available_sources", "load_source", "FASHION_MNIST_CLASSES", "FASHION_MNIST_DIR",
           "read_idx", "load_fashion_mnist"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)  # fmt: skip
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CACHE_ENV = "POLICYSEARCH_CACHE"
# What torchvision raises when a download, checksum or archive fails.
_DOWNLOAD_ERRORS = (OSError, RuntimeError, EOFError, tarfile.TarError)


def read_idx(path: Path) -> np.ndarray:
    """A gzip-compressed idx file (the MNIST format) as a uint8 array."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {first_line(exc)}") from exc
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":  # two zero bytes, then 0x08 = unsigned byte
        raise DataError(f"{path} is not an unsigned-byte idx file")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=raw[3], offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3])
    if data.size != math.prod(dims):
        raise DataError(f"{path} is truncated: {data.size} bytes of data for shape {dims}")
    return data.reshape(dims).copy()  # frombuffer views are read-only


def load_fashion_mnist(
    arg: str, image_size: int | None, cache_dir: Path, *, system_dir: Path = FASHION_MNIST_DIR
) -> Source:
    """Fashion-MNIST from Debian's package (else torchvision's download), resized; kept in the cache once loaded."""
    files = [system_dir / f"{name}.gz" for name in FASHION_MNIST_FILES]
    on_system = all(f.is_file() for f in files)
    keyed_by = files if on_system else _files_in(cache_dir / "FashionMNIST" / "raw")
    build = partial(_read_fashion_mnist, files if on_system else None, image_size, cache_dir, system_dir)
    return cached_source(build, cache_dir=cache_dir, name="fashion-mnist", files=keyed_by, image_size=image_size)


def _files_in(folder: Path) -> list[Path]:
    """The files directly in ``folder`` (none if it is missing): what a downloaded dataset is keyed by."""
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _read_fashion_mnist(files: list[Path] | None, image_size: int | None, cache_dir: Path,
                        system_dir: Path) -> Source:
    if files is not None:
        train_x, train_y, test_x, test_y = (read_idx(f) for f in files)
    else:
        try:
            from torchvision.datasets import FashionMNIST

            with contextlib.redirect_stdout(sys.stderr):  # torchvision's progress lines stay off stdout
                train, test = (FashionMNIST(str(cache_dir), train=t, download=True) for t in (True, False))
        except _DOWNLOAD_ERRORS as exc:
            raise DataError(
                f"Fashion-MNIST is not in {system_dir} and downloading it into {cache_dir} failed "
                f"({first_line(exc)}): run `apt-get install dataset-fashion-mnist`, or connect to the "
                f"internet once so torchvision can download it"
            ) from exc
        arrays = (train.data, train.targets, test.data, test.targets)
        train_x, train_y, test_x, test_y = (a.numpy() for a in arrays)
    return Source(
        "fashion-mnist",
        FASHION_MNIST_CLASSES,
        Split(resize_all(train_x, image_size), train_y.astype(np.int64)),
        Split(resize_all(test_x, image_size), test_y.astype(np.int64)),
    )


def _load_cifar(arg: str, image_size: int | None, cache_dir: Path, *, name: str) -> Source:
    from torchvision import datasets

    dataset = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    build = partial(_read_cifar, dataset, image_size, cache_dir, name)
    keyed_by = _files_in(cache_dir / dataset.base_folder)  # none before the first download: nothing cached
    return cached_source(build, cache_dir=cache_dir, name=name, files=keyed_by, image_size=image_size)


def _read_cifar(dataset: type, image_size: int | None, cache_dir: Path, name: str) -> Source:
    try:
        with contextlib.redirect_stdout(sys.stderr):
            train, test = (dataset(str(cache_dir), train=t, download=True) for t in (True, False))
    except _DOWNLOAD_ERRORS as exc:
        raise DataError(
            f"could not download {name} into {cache_dir} ({first_line(exc)}): connect to the internet "
            f"once, or put {Path(dataset.url).name} from {dataset.url} into {cache_dir}"
        ) from exc
    return Source(
        name,
        tuple(train.classes),
        Split(resize_all(train.data, image_size), np.asarray(train.targets, np.int64)),
        Split(resize_all(test.data, image_size), np.asarray(test.targets, np.int64)),
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
    return carved_source("digits", classes, resize_all(images, image_size), labels, test_fraction, 0)


def _load_image_folder(arg: str, image_size: int | None, cache_dir: Path, *, test_fraction: float) -> Source:
    root = Path(arg).expanduser()
    if not root.is_dir():
        problem = "is not a directory" if root.exists() else "does not exist"
        raise DataError(f"image folder {str(root)!r} {problem}")
    size = image_size or DEFAULT_FOLDER_IMAGE_SIZE
    if (root / "train").is_dir() and (root / "test").is_dir():
        return _load_split_folder(root, size)
    if (root / "train").is_dir() and (root / "val").is_dir():  # not two classes called train and val
        raise DataError(f"image folder {str(root)!r} has train/ and val/ but no test/: a split folder needs "
                        f"test/ for the held-out split (or put the classes directly in the folder)")
    classes = _class_names(root)
    stacked, label_array, skipped = _read_class_tree(root, classes, size)
    _check_classes(root, classes)
    warn_skipped(root, skipped)
    return carved_source(f"imagefolder:{root}", classes, stacked, label_array, test_fraction, len(skipped))


def _load_split_folder(root: Path, size: int) -> Source:
    """A folder already split: ``train/`` and ``test/`` class trees (and ``val/``, kept as the validation split)."""
    classes = _class_names(root / "train")
    _check_classes(root / "train", classes)
    parts: dict[str, Split] = {}
    skipped: list[Path] = []
    for part in ("train", "test", "val"):
        if part == "val" and not (root / part).is_dir():
            continue
        extra = sorted(set(_class_names(root / part)) - set(classes))
        if extra:
            raise DataError(f"image folder {str(root / part)!r} has classes {extra} that train/ does not have")
        images, labels, passed_over = _read_class_tree(root / part, classes, size)
        # val/ rows are numbered after train/'s: indices name rows of one source, never two.
        first = len(parts["train"]) if part == "val" else 0
        parts[part] = Split(images, labels, np.arange(first, first + len(labels), dtype=np.int64))
        skipped += passed_over
    warn_skipped(root, skipped)
    return Source(f"imagefolder:{root}", tuple(classes), parts["train"], parts["test"], len(skipped),
                  val=parts.get("val"))


def _class_names(root: Path) -> list[str]:
    """The class sub-folders of ``root``, sorted."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_classes(root: Path, classes: list[str]) -> None:
    if len(classes) < 2:
        what = f"one class ({classes[0]!r})" if classes else "no class sub-folders"
        raise DataError(f"image folder {str(root)!r} has {what}; a classifier needs at least 2")


def _read_class_tree(root: Path, classes: list[str], size: int) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Every readable image of ``root/CLASS/`` for the given classes (absent ones are empty), labelled by position."""
    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped: list[Path] = []
    for label, name in enumerate(classes):
        folder = root / name
        found, passed_over = read_images(visible_files(folder), size) if folder.is_dir() else ([], [])
        images += found
        labels += [label] * len(found)
        skipped += passed_over
    if not images:
        raise DataError(
            f"image folder {str(root)!r} has no readable images in class sub-folders "
            f"(expected {root}/CLASS/IMAGE with extension {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return stack_images(images), np.asarray(labels, np.int64), skipped


# name -> loader(arg, image_size, cache_dir, **options); only "imagefolder" takes an argument (its PATH).
SOURCES: Mapping[str, Callable[..., Source]] = MappingProxyType(
    {
        "fashion-mnist": load_fashion_mnist,
        "imagefolder": _load_image_folder,
        "cifar10": partial(_load_cifar, name="cifar10"),
        "cifar100": partial(_load_cifar, name="cifar100"),
        "digits": _load_digits,
        "hf": load_hf,
        SILHOUETTES: load_silhouettes,  # the optional "silhouettes" extra
        ELPV: load_elpv,  # the optional "elpv" extra; kept for one final check, not for tuning
    }
)
_TAKES_ARGUMENT = MappingProxyType({"imagefolder": "PATH", "hf": "NAME[:CONFIG]"})  # name -> its argument
_CARVES_TEST = frozenset({"imagefolder", "digits", "hf", SILHOUETTES, ELPV})
SOURCE_GROUP = "policysearch.sources"  # entry points of plugin sources (see the module docstring)


def _plugin_source(name: str) -> Callable[..., Source] | None:
    """The loader an installed plugin registers as ``name`` (None if none does), checked in one line."""
    contract = "(arg, image_size, cache_dir, *, test_fraction) -> Source"
    plugin = load_plugin(SOURCE_GROUP, name, "dataset", DataError, f"a loader {contract}")
    if plugin is None:
        return None
    loader, where = plugin
    try:
        inspect.signature(loader).bind("", None, Path(), test_fraction=CARVED_TEST_FRACTION)
    except TypeError:
        raise DataError(f"{where} should take the arguments of a loader {contract}") from None
    except ValueError:  # no signature to read (some builtins): let the call decide
        pass

    def load(arg: str, image_size: int | None, cache_dir: Path, **options: float) -> Source:
        source = loader(arg, image_size, cache_dir, **options)
        if not isinstance(source, Source):
            raise DataError(f"{where} returned {type(source).__name__}, not a policysearch.data.Source")
        return source

    return load


def available_sources() -> list[str]:
    """Dataset specs :func:`load_source` accepts (installed plugins' names last).

    Example:
        >>> available_sources()[:2]
        ['fashion-mnist', 'imagefolder:PATH']
    """
    plugins = [name for name in names_in_group(SOURCE_GROUP) if name not in SOURCES]
    return [*(f"{name}:{_TAKES_ARGUMENT[name]}" if name in _TAKES_ARGUMENT else name for name in SOURCES), *plugins]


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
    receives torchvision downloads, and Fashion-MNIST and CIFAR as loaded at
    each size (:mod:`policysearch.data.cache`: read back, not resized again).
    ``test_fraction`` is the share of each class carved out as the test split
    of sources without one (folders, digits).

    Example:
        >>> source = load_source("digits", image_size=16)
        >>> source.train.image_shape, source.num_classes
        ((16, 16, 1), 10)
    """
    name, _, arg = spec.partition(":")
    loader = SOURCES[name] if name in SOURCES else _plugin_source(name)
    if loader is None:
        raise DataError(f"unknown dataset {spec!r}; known: {', '.join(available_sources())}")
    if name in SOURCES and (name in _TAKES_ARGUMENT) != bool(arg):  # a plugin checks its own argument
        usage = f"{name}:{_TAKES_ARGUMENT[name]}" if name in _TAKES_ARGUMENT else name
        raise DataError(f"dataset {spec!r} should be written {usage}")
    image_size = None if image_size is None else int_at_least("image_size", image_size, MIN_IMAGE_SIZE)
    fraction_ok = isinstance(test_fraction, numbers.Real) and not isinstance(test_fraction, bool)
    if not (fraction_ok and 0 < test_fraction < 1):
        raise DataError(f"test_fraction should be a number between 0 and 1, but got {test_fraction!r}")
    cache = Path(cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "policysearch")
    carves = name in _CARVES_TEST or name not in SOURCES  # plugins always get test_fraction
    options = {"test_fraction": float(test_fraction)} if carves else {}
    return loader(arg, image_size, cache.expanduser(), **options)
