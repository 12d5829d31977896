"""Hugging Face datasets as a source: ``hf:NAME[:CONFIG]`` (the optional ``hf`` extra).

``NAME`` is a dataset on the Hub (through ``datasets.load_dataset``, using
its cache, so a dataset downloaded once loads offline) or a folder written by
``DatasetDict.save_to_disk``. The image column is the first ``Image``
feature and the label column the first ``ClassLabel`` feature (whose names
become the classes); ``NAME[:CONFIG]@IMAGE,LABEL`` names them instead. The
dataset's own ``test`` split is the held-out test split; without one, a
fixed share of every class is carved out of ``train``, as for image folders.

Example:
    >>> parse_spec("cifar10"), parse_spec("ylecun/mnist:mnist@image,label")
    (('cifar10', None, None, None), ('ylecun/mnist', 'mnist', 'image', 'label'))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from policysearch.data.images import DEFAULT_FOLDER_IMAGE_SIZE, resize, stack_images
from policysearch.data.splits import Source, Split, carved_source
from policysearch.errors import DataError, first_line

__all__ = ["load_hf", "parse_spec"]


def parse_spec(arg: str) -> tuple[str, str | None, str | None, str | None]:
    """``NAME[:CONFIG][@IMAGE,LABEL]`` -> (name, config, image column, label column)."""
    dataset, _, columns = arg.partition("@")
    name, _, config = dataset.partition(":")
    image = label = None
    if columns:
        parts = columns.split(",")
        if len(parts) != 2 or not all(parts):
            raise DataError(f"hf:{arg} should name its columns as @IMAGE,LABEL, but got {columns!r}")
        image, label = parts
    if not name:
        raise DataError(f"dataset 'hf:{arg}' should be written hf:NAME[:CONFIG][@IMAGE,LABEL]")
    return name, config or None, image, label


def load_hf(arg: str, image_size: int | None, cache_dir: Path, *, test_fraction: float) -> Source:
    """The source ``hf:arg`` (see the module docstring), images resized to ``image_size`` (default 64)."""
    try:
        import datasets  # the optional "hf" extra
    except ImportError:
        raise DataError("the hf: datasets need Hugging Face datasets: pip install 'policysearch[hf]'") from None
    name, config, image_column, label_column = parse_spec(arg)
    splits = _open(datasets, name, config, cache_dir)
    train_name = "train" if "train" in splits else next(iter(splits))
    features = splits[train_name].features
    image_column = image_column or _first(features, datasets.Image, "an Image", arg)
    label_column = label_column or _first(features, datasets.ClassLabel, "a ClassLabel", arg)
    for column in (image_column, label_column):
        if column not in features:
            raise DataError(f"hf:{arg} has no column {column!r}; its columns: {sorted(features)}")
    label_feature = features[label_column]
    if not isinstance(label_feature, datasets.ClassLabel):
        raise DataError(f"hf:{arg} column {label_column!r} should be a ClassLabel, "
                        f"but is {type(label_feature).__name__}")
    classes = tuple(label_feature.names)
    size = image_size or DEFAULT_FOLDER_IMAGE_SIZE
    images, labels = _arrays(splits[train_name], image_column, label_column, size)
    source_name = f"hf:{arg}"
    if "test" not in splits or train_name == "test":
        return carved_source(source_name, classes, images, labels, test_fraction, 0)
    test_images, test_labels = _arrays(splits["test"], image_column, label_column, size)
    if test_images.shape[3] != images.shape[3]:  # one grayscale split, one colour: both colour
        images, test_images = (np.repeat(a, 3, axis=3) if a.shape[3] == 1 else a for a in (images, test_images))
    return Source(source_name, classes, Split(images, labels), Split(test_images, test_labels))


def _open(datasets: Any, name: str, config: str | None, cache_dir: Path) -> Any:
    """The dataset's splits: a save_to_disk folder, or the Hub (its cache first); one line if neither works."""
    try:
        if Path(name).expanduser().is_dir():
            loaded = datasets.load_from_disk(str(Path(name).expanduser()))
        else:
            loaded = datasets.load_dataset(name, config, cache_dir=str(cache_dir / "hf"))
    except Exception as exc:  # offline without a cache, unknown names, bad configs: all one line
        raise DataError(f"cannot load Hugging Face dataset {name!r}"
                        f"{f' ({config})' if config else ''}: {first_line(exc)}") from None
    if isinstance(loaded, datasets.Dataset):
        return {"train": loaded}
    return dict(loaded)


def _first(features: Any, kind: type, what: str, arg: str) -> str:
    for column, feature in features.items():
        if isinstance(feature, kind):
            return column
    raise DataError(f"hf:{arg} has no {what} column (its features: {sorted(features)}); "
                    f"name the columns as hf:NAME@IMAGE,LABEL")


def _arrays(split: Any, image_column: str, label_column: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 NHWC images at ``size`` and int64 labels of one split (grayscale stays one channel)."""
    images = []
    for image in split[image_column]:
        array = np.asarray(image.convert("L") if image.mode in ("L", "1", "I;16", "I") else image.convert("RGB"))
        images.append(resize(array, size))
    return stack_images(images), np.asarray(split[label_column], np.int64)
