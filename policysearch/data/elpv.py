"""Solar cells in electroluminescence images as a source: ``elpv`` (the optional ``elpv`` extra).

The data is the PyPI package ``elpv-dataset`` 1.0.0.post1 (images CC BY-NC-SA
4.0, code Apache-2.0; Buerhop-Lutz, Deitsch et al., ZAE Bayern, EU PVSEC 2018):
2,624 real 300x300 8-bit grayscale images of solar cells cut out of 44
photovoltaic modules, shipped as PNG files with a ``labels.csv`` that gives
each cell's defect probability (0, 1/3, 2/3 or 1, as judged by experts) and
its module type (mono- or polycrystalline). The four probabilities are the
classes (:data:`ELPV_CLASSES`: 1,508, 295, 106 and 715 cells). The package
has no train/test split, so a fixed share of every class is carved out as the
test split (:func:`policysearch.data.splits.carved_source`); cells of one
module may fall on both sides, since the package does not say which module a
cell came from.

It is kept for one final check of the search on data its design never saw,
so it is not a dataset to tune on. The non-commercial licence binds the
images, not this loader: the user installs them.

``load_source("elpv", image_size=32)`` loads it through the registry in
:mod:`policysearch.data.sources`; without ``image_size`` the images are
read at 64x64 (like image folders), not at their native 300x300.

Example:
    >>> ELPV, ELPV_CLASSES
    ('elpv', ('defect-0', 'defect-33', 'defect-67', 'defect-100'))
    >>> class_of("0.6666666666666666", "cell0007.png")
    2
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np

from policysearch.data.images import DEFAULT_FOLDER_IMAGE_SIZE, read_images, stack_images
from policysearch.data.splits import Source, carved_source
from policysearch.errors import DataError

__all__ = ["ELPV", "ELPV_CLASSES", "ELPV_PACKAGE", "elpv_dir", "class_of", "read_labels", "load_elpv"]

ELPV = "elpv"  # the dataset's name (``--dataset elpv``)
ELPV_PACKAGE = "elpv_dataset"  # the import name of PyPI's elpv-dataset
INSTALL_HINT = "pip install 'policysearch[elpv]'"
# Defect probability k/3 -> class k; named by the probability in percent.
ELPV_CLASSES = ("defect-0", "defect-33", "defect-67", "defect-100")
LABELS_FILE = "labels.csv"


def elpv_dir(package: str = ELPV_PACKAGE) -> Path:
    """The folder holding ``labels.csv`` and ``images/`` in the installed package (one line if it is missing).

    Example:
        >>> elpv_dir("no_such_package_here")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        policysearch.errors.DataError: the elpv dataset needs the package ...: pip install 'policysearch[elpv]'
    """
    spec = importlib.util.find_spec(package)  # finds the package without running its code
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DataError(f"the {ELPV} dataset needs the package {package} (elpv-dataset): {INSTALL_HINT}")
    folder = Path(locations[0]) / "data"
    if not (folder / LABELS_FILE).is_file():
        raise DataError(f"{folder} lacks {LABELS_FILE}: the {ELPV} dataset needs elpv-dataset 1.0, {INSTALL_HINT}")
    return folder


def class_of(probability: str, where: str) -> int:
    """The class (0..3) of a defect probability written in ``labels.csv`` (one of 0, 1/3, 2/3, 1)."""
    try:
        value = float(probability)
    except ValueError:
        value = math.nan
    k = round(value * 3) if math.isfinite(value) else -1
    if not (0 <= k <= 3 and abs(value * 3 - k) < 1e-6):
        raise DataError(f"{where}: defect probability should be 0, 1/3, 2/3 or 1, but got {probability!r}")
    return k


def read_labels(folder: Path) -> tuple[list[Path], np.ndarray]:
    """The image files listed in ``folder/labels.csv`` (path, probability, type per line) and their classes."""
    files: list[Path] = []
    labels: list[int] = []
    for number, line in enumerate((folder / LABELS_FILE).read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{folder / LABELS_FILE}:{number}"
        if len(fields) != 3:
            raise DataError(f"{where} should hold a path, a probability and a type, but holds {line.strip()!r}")
        files.append(folder / fields[0])
        labels.append(class_of(fields[1], where))
    if not files:
        raise DataError(f"{folder / LABELS_FILE} lists no image")
    return files, np.asarray(labels, np.int64)


def load_elpv(
    arg: str, image_size: int | None, cache_dir: Path, *, test_fraction: float, data_dir: Path | None = None
) -> Source:
    """The source ``elpv`` (see the module docstring), images at ``image_size`` (default 64).

    ``data_dir`` reads ``labels.csv`` and its images from another folder (default: the installed package's).
    """
    folder = data_dir or elpv_dir()
    files, labels = read_labels(folder)
    images, skipped = read_images(files, image_size or DEFAULT_FOLDER_IMAGE_SIZE)
    if skipped:  # a package's own files: a missing or broken one means a broken install, not a file to pass over
        raise DataError(f"{len(skipped)} image(s) listed in {folder / LABELS_FILE} cannot be read, "
                        f"{str(skipped[0])!r} first: reinstall elpv-dataset ({INSTALL_HINT})")
    return carved_source(ELPV, ELPV_CLASSES, stack_images(images), labels, test_fraction, 0)
