"""Dataset sources, on real files: Fashion-MNIST from the Debian package,
scikit-learn's digits, CIFAR-10 and Fashion-MNIST offline; spec errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from _network import resolves  # tests/_network.py

from policysearch.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    Split,
    available_sources,
    load_fashion_mnist,
    load_source,
)
from policysearch.errors import DataError

HAS_FASHION_MNIST = (FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file()
needs_fashion_mnist = pytest.mark.skipif(not HAS_FASHION_MNIST, reason="needs dataset-fashion-mnist")


@needs_fashion_mnist
def test_fashion_mnist_loads_the_real_files(fashion):
    assert fashion.name == "fashion-mnist"
    assert fashion.classes == FASHION_MNIST_CLASSES and len(fashion.classes) == 10
    assert fashion.train.images.shape == (60000, 28, 28, 1) and fashion.train.images.dtype == np.uint8
    assert fashion.test.images.shape == (10000, 28, 28, 1)
    assert fashion.train.labels.dtype == np.int64
    # The published dataset is balanced: 6000 train and 1000 test images per class.
    assert fashion.train.class_counts(10).tolist() == [6000] * 10
    assert fashion.test.class_counts(10).tolist() == [1000] * 10
    assert 0 < fashion.train.images.mean() < 255


@needs_fashion_mnist
def test_fashion_mnist_resized_once_at_load(fashion, fashion32):
    resized = fashion32  # load_source("fashion-mnist", image_size=32)
    assert resized.train.images.shape == (60000, 32, 32, 1)
    assert resized.test.images.shape == (10000, 32, 32, 1)
    np.testing.assert_array_equal(resized.train.labels, fashion.train.labels)
    # Growing 28 -> 32 interpolates: the first image keeps its overall brightness.
    small, large = fashion.train.images[0].mean(), resized.train.images[0].mean()
    assert abs(small - large) < 5


def test_digits_source_is_scaled_to_uint8_and_carves_a_test_split(digits_source):
    source = digits_source  # load_source("digits")
    assert source.train.images.shape[1:] == (8, 8, 1) and source.train.images.max() == 255
    assert len(source.train) + len(source.test) == 1797
    per_class = source.train.class_counts(10) + source.test.class_counts(10)
    assert np.abs(source.test.class_counts(10) - 0.2 * per_class).max() <= 0.5  # rounded per class


def test_spec_and_argument_errors():
    with pytest.raises(DataError, match="unknown dataset 'mnist'; known: fashion-mnist, imagefolder:PATH"):
        load_source("mnist")
    assert "cifar10" in available_sources()
    with pytest.raises(DataError, match="imagefolder:PATH"):
        load_source("imagefolder")
    with pytest.raises(DataError, match="should be written digits"):
        load_source("digits:extra")
    with pytest.raises(DataError, match="image_size should be an integer >= 8, but got 4"):
        load_source("digits", image_size=4)
    with pytest.raises(DataError, match="image_size should be an integer >= 8, but got True"):
        load_source("digits", image_size=True)
    with pytest.raises(DataError, match="test_fraction"):
        load_source("digits", test_fraction=1.5)
    with pytest.raises(DataError, match="uint8 NHWC images .* shape \\(2, 8, 8\\)"):
        Split(np.zeros((2, 8, 8), np.uint8), np.zeros(2, np.int64))


@pytest.mark.slow  # importing torchvision alone can take 5 s
@pytest.mark.skipif(resolves("www.cs.toronto.edu"), reason="online: would download 170 MB")
def test_cifar10_without_network_fails_fast_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYSEARCH_CACHE", str(tmp_path / "env-cache"))
    start = time.monotonic()
    with pytest.raises(DataError, match="could not download cifar10") as info:
        load_source("cifar10")
    assert time.monotonic() - start < 30  # importing torchvision is most of it
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "env-cache") in message
    assert "cifar-10-python.tar.gz" in message


@pytest.mark.skipif(resolves("fashion-mnist.s3-website.eu-central-1.amazonaws.com"), reason="online")
def test_fashion_mnist_without_package_or_network_says_both_fixes(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as info:
        load_fashion_mnist("", None, tmp_path, system_dir=tmp_path / "missing")
    assert "internet" in str(info.value) and "\n" not in str(info.value)
