"""The animal silhouettes as a source: ``animal-silhouettes`` (the optional ``silhouettes`` extra).

The data is the PyPI package ``animal-shape-mnist`` 0.39 (MIT, Sina
Mohammadi 2025): 10,000 white-on-black 28x28 grayscale silhouettes, 1,000 of
each of 10 animals, stored inside the wheel as two gzip-compressed pickles
(a uint8 ``(10000, 28, 28)`` array and an int64 ``(10000,)`` label array,
labels in the alphabetical order of :data:`SILHOUETTE_CLASSES`). The package
has no train/test split, so a fixed share of every class is carved out as the
test split (:func:`policysearch.data.splits.carved_source`).

284 images appear twice in the package (always with the same label). Only the
first copy is kept, so no test image also sits in the training pool: 9,716
images remain, and each split's ``indices`` still number rows of the
package's own array.

The package's Python modules import TensorFlow; they are never imported here:
the data files are found with :func:`importlib.util.find_spec` and read
directly.

``load_source("animal-silhouettes", image_size=32)`` loads it through the
registry in :mod:`policysearch.data.sources`.

Example:
    >>> SILHOUETTES, len(SILHOUETTE_CLASSES), SILHOUETTE_CLASSES[-1]
    ('animal-silhouettes', 10, 'zebra')
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import pickle
from pathlib import Path

import numpy as np

from policysearch.data.images import resize_all
from policysearch.data.splits import Source, Split, carved_source
from policysearch.errors import DataError, first_line

__all__ = ["SILHOUETTES", "SILHOUETTE_CLASSES", "PACKAGE", "silhouettes_dir", "read_array_pickle",
           "first_copies", "load_silhouettes"]

SILHOUETTES = "animal-silhouettes"  # the dataset's one name (``--dataset animal-silhouettes``)
PACKAGE = "animal_shape_mnist"  # the import name of PyPI's animal-shape-mnist
INSTALL_HINT = "pip install 'policysearch[silhouettes]'"
# The package's description lists the classes alphabetically; label i is the i-th (checked by eye on a grid).
SILHOUETTE_CLASSES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
IMAGES_FILE, LABELS_FILE = "animal_data_version_3.gz", "animal_label_version_3.gz"
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's array rebuilder, wherever this numpy keeps it


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else.

    A pickle can name any importable callable and have it called while
    loading (``os.system`` included), so a data file from a package index must
    not be unpickled freely. A numpy array needs exactly three globals: the
    array rebuilder (under ``numpy.core`` for pickles written by numpy 1,
    ``numpy._core`` by numpy 2), ``ndarray`` and ``dtype``. Those are mapped
    to this numpy's own objects (so no module is imported by name), and every
    other global is refused.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays are allowed") from None


def read_array_pickle(path: Path) -> np.ndarray:
    """The numpy array pickled in the gzip file ``path``, loaded without running any other code.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.gz"
        >>> _ = path.write_bytes(gzip.compress(pickle.dumps(np.arange(3, dtype=np.uint8))))
        >>> read_array_pickle(path).tolist()
        [0, 1, 2]
    """
    try:
        raw = gzip.decompress(path.read_bytes())
        loaded = _ArrayUnpickler(io.BytesIO(raw)).load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise DataError(f"cannot read {path}: {first_line(exc)}") from exc
    if not isinstance(loaded, np.ndarray) or loaded.dtype.hasobject:
        held = f"an array of {loaded.dtype}" if isinstance(loaded, np.ndarray) else type(loaded).__name__
        raise DataError(f"{path} should hold a numeric numpy array, but holds {held}")
    return loaded


def silhouettes_dir(package: str = PACKAGE) -> Path:
    """The folder holding the silhouettes' data files in the installed package (one line if it is missing).

    Example:
        >>> silhouettes_dir("no_such_package_here")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        policysearch.errors.DataError: the animal-silhouettes dataset needs ...: pip install 'policysearch[silhouettes]'
    """
    # find_spec, not import: finding the (namespace) package runs none of its TensorFlow-importing code.
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DataError(f"the {SILHOUETTES} dataset needs the package {package} (animal-shape-mnist): {INSTALL_HINT}")
    folder = Path(locations[0]) / "data" / "Animal Shape"
    if not (folder / IMAGES_FILE).is_file() or not (folder / LABELS_FILE).is_file():
        raise DataError(f"{folder} lacks {IMAGES_FILE} or {LABELS_FILE}: the {SILHOUETTES} dataset needs "
                        f"animal-shape-mnist 0.39, {INSTALL_HINT}")
    return folder


def _read_arrays(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The package's images (uint8 N x 28 x 28) and labels (int64 in 0..9), checked."""
    images, labels = read_array_pickle(folder / IMAGES_FILE), read_array_pickle(folder / LABELS_FILE)
    if images.dtype != np.uint8 or images.ndim != 3 or labels.shape != images.shape[:1]:
        raise DataError(f"{folder} should hold uint8 N x H x W images and N labels, but holds {images.dtype} "
                        f"images of shape {images.shape} and labels of shape {labels.shape}")
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(SILHOUETTE_CLASSES):
        raise DataError(f"{folder / LABELS_FILE} should hold labels 0..{len(SILHOUETTE_CLASSES) - 1}, but holds "
                        f"{labels.dtype} values {labels.min()}..{labels.max()}")
    return images, labels.astype(np.int64)


def first_copies(images: np.ndarray) -> np.ndarray:
    """Sorted rows of ``images`` that are the first copy of their exact pixels.

    Example:
        >>> first_copies(np.array([[[1]], [[2]], [[1]]], np.uint8)).tolist()
        [0, 1]
    """
    rows = np.ascontiguousarray(images.reshape(len(images), -1))
    keys = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()  # one comparable value per image
    return np.sort(np.unique(keys, return_index=True)[1]).astype(np.int64)


def load_silhouettes(
    arg: str, image_size: int | None, cache_dir: Path, *, test_fraction: float, data_dir: Path | None = None
) -> Source:
    """The source ``animal-silhouettes`` (see the module docstring), resized to ``image_size`` when given.

    ``data_dir`` reads the two files from another folder (default: the installed package's).
    """
    images, labels = _read_arrays(data_dir or silhouettes_dir())
    kept = first_copies(images)
    carved = carved_source(SILHOUETTES, SILHOUETTE_CLASSES, resize_all(images[kept], image_size), labels[kept],
                           test_fraction, 0)
    # carved_source numbers rows of the de-duplicated array; renumber them as rows of the package's array.
    train, test = (Split(s.images, s.labels, kept[s.indices]) for s in (carved.train, carved.test))
    return Source(SILHOUETTES, SILHOUETTE_CLASSES, train, test)
