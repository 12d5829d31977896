"""Shared by the whole test tree.

The tests mirror the package: one folder per subpackage, no ``__init__.py``,
every test file's basename unique (pytest's default "prepend" import mode
imports each test file by its basename). Importing this file puts ``tests/``
on ``sys.path``, so helper modules such as ``_network`` import from any folder.

Fixtures used by more than one test file live here: the datasets (loaded once
per session and shared read-only), the tiny-cnn factory, and image-file writers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # "prepend" mode has put it there already; other modes do not
    sys.path.insert(0, str(TESTS))

# ---------------------------------------------------------------- datasets, loaded once per session
# Sources and splits are shared read-only: a test that needs to change one copies it first.


@pytest.fixture(scope="session")
def digits_source():
    """scikit-learn's digits at their own 8x8 size, with the carved test split."""
    from policysearch.data import load_source

    return load_source("digits")


@pytest.fixture(scope="session")
def digits16():
    """scikit-learn's digits resized to 16x16 (tiny-cnn's working size in these tests)."""
    from policysearch.data import load_source

    return load_source("digits", image_size=16)


@pytest.fixture(scope="session")
def digits_splits(digits16):
    """``digits_splits(train_size, val_size)``: seed-0 splits of :func:`digits16`, each made once."""
    from policysearch.data import make_splits

    made = {}

    def splits(train_size: int, val_size: int):
        if (train_size, val_size) not in made:
            made[train_size, val_size] = make_splits(digits16, train_size=train_size, val_size=val_size, seed=0)
        return made[train_size, val_size]

    return splits


@pytest.fixture(scope="session")
def fashion():
    """Fashion-MNIST from the Debian package, at its own 28x28."""
    from policysearch.data import load_source

    return load_source("fashion-mnist")


@pytest.fixture(scope="session")
def fashion32():
    """Fashion-MNIST resized once at load to 32x32 (EfficientNet-Lite0's smallest working size here)."""
    from policysearch.data import load_source

    return load_source("fashion-mnist", image_size=32)


# ---------------------------------------------------------------- models


@pytest.fixture(scope="session")
def tiny_cnn():
    """``tiny_cnn(num_classes=10, seed=None)``: a random-init tiny-cnn at 16 px.

    Called with no arguments it is a model factory, as the training loops take one.
    """
    from policysearch.models import build_model

    def build(num_classes: int = 10, seed: int | None = None):
        return build_model("tiny-cnn", num_classes, image_size=16, weights=None, seed=seed)

    return build


# ---------------------------------------------------------------- image files


@pytest.fixture(scope="session")
def write_image():
    """``write_image(path, image)``: the file as the loaders read it (imencode + tofile, safe for
    unicode paths), parent folders made as needed."""

    def write(path: Path, image: np.ndarray) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, encoded = cv2.imencode(path.suffix, image)
        assert ok, path
        encoded.tofile(path)
        return path

    return write


@pytest.fixture(scope="session")
def class_folders(write_image):
    """``class_folders(root, {class: count}, image)``: ``root/<class>/<i>.png`` for each class (a count
    of 0 makes an empty folder); ``image`` is an array, or a callable giving one per file."""

    def build(root: Path, layout: dict[str, int], image) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for name, count in layout.items():
            (root / name).mkdir(exist_ok=True)
            for i in range(count):
                write_image(root / name / f"{i}.png", image() if callable(image) else image)
        return root

    return build
