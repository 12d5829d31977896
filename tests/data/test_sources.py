"""Dataset sources and splits, on real files: Fashion-MNIST from the Debian
package, image folders written with OpenCV, scikit-learn's digits."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policysearch.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    DataWarning,
    Split,
    load_fashion_mnist,
    read_idx,
    available_sources,
    load_source,
    make_splits,
    stratified_indices,
)
from policysearch.errors import DataError

from _network import resolves  # tests/_network.py

HAS_FASHION_MNIST = (FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file()
needs_fashion_mnist = pytest.mark.skipif(not HAS_FASHION_MNIST, reason="needs dataset-fashion-mnist")




def _write(path: Path, image: np.ndarray) -> None:
    # imencode + tofile: like the loader's imdecode + fromfile, safe for unicode paths.
    ok, encoded = cv2.imencode(path.suffix, image)
    assert ok
    encoded.tofile(path)


@pytest.fixture(scope="module")
def fashion():
    return load_source("fashion-mnist")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """3 colour classes x 8 images of assorted sizes and formats, one corrupt
    JPEG and one text file. Each class is one solid colour (given in RGB)."""
    colours = {"blue": (0, 0, 255), "green": (0, 255, 0), "rouge-é": (255, 0, 0)}
    for name, rgb in colours.items():
        (tmp_path / name).mkdir()
        for i in range(8):
            h, w = 20 + 9 * i, 90 - 7 * i  # both smaller and larger than the working size
            image = np.zeros((h, w, 3), np.uint8) + np.array(rgb[::-1], np.uint8)  # OpenCV writes BGR
            suffix = (".png", ".jpg", ".JPEG", ".bmp")[i % 4]
            _write(tmp_path / name / f"{i}{suffix}", image)
    (tmp_path / "blue" / "broken.jpg").write_bytes(np.random.default_rng(0).bytes(300))
    (tmp_path / "green" / "notes.txt").write_text("not an image")
    return tmp_path


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
def test_fashion_mnist_resized_once_at_load(fashion):
    resized = load_source("fashion-mnist", image_size=32)
    assert resized.train.images.shape == (60000, 32, 32, 1)
    assert resized.test.images.shape == (10000, 32, 32, 1)
    np.testing.assert_array_equal(resized.train.labels, fashion.train.labels)
    # Growing 28 -> 32 interpolates: the first image keeps its overall brightness.
    small, large = fashion.train.images[0].mean(), resized.train.images[0].mean()
    assert abs(small - large) < 5


@needs_fashion_mnist
def test_fashion_mnist_test_split_is_the_datasets_own_test_set(fashion):
    splits = make_splits(fashion, train_size=1000, val_size=500, seed=0)
    t10k = read_idx(FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(splits.test.images[..., 0], t10k)
    subsampled = make_splits(fashion, train_size=1000, val_size=500, test_size=2000, seed=0)
    assert subsampled.test.class_counts(10).tolist() == [200] * 10
    np.testing.assert_array_equal(subsampled.test.images[..., 0], t10k[subsampled.test.indices])


@needs_fashion_mnist
def test_splits_are_stratified_disjoint_and_seeded(fashion):
    splits = make_splits(fashion, train_size=1000, val_size=500, seed=0)
    assert splits.train.class_counts(10).tolist() == [100] * 10
    assert splits.val.class_counts(10).tolist() == [50] * 10
    assert np.intersect1d(splits.train.indices, splits.val.indices).size == 0
    np.testing.assert_array_equal(splits.train.images, fashion.train.images[splits.train.indices])
    np.testing.assert_array_equal(splits.val.labels, fashion.train.labels[splits.val.indices])
    again = make_splits(fashion, train_size=1000, val_size=500, seed=0)
    np.testing.assert_array_equal(again.train.indices, splits.train.indices)
    np.testing.assert_array_equal(again.val.indices, splits.val.indices)
    other = make_splits(fashion, train_size=1000, val_size=500, seed=1)
    assert not np.array_equal(other.train.indices, splits.train.indices)


def test_unbalanced_splits_stay_within_one_image_of_the_proportion():
    source = load_source("digits")
    pool = source.train
    train_size, val_size = 301, len(pool) - 301  # the whole pool: no slack anywhere
    splits = make_splits(source, train_size=train_size, val_size=val_size, seed=3)
    counts = pool.class_counts(10)
    for split, size in ((splits.train, train_size), (splits.val, val_size)):
        assert len(split) == size
        assert np.abs(split.class_counts(10) - size * counts / len(pool)).max() <= 1
    assert np.intersect1d(splits.train.indices, splits.val.indices).size == 0
    assert np.intersect1d(splits.train.indices, splits.test.indices).size == 0  # the carved test set


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.integers(1, 15), min_size=1, max_size=6),
    fractions=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_indices_properties(counts, fractions, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    total = len(labels)
    sizes = [max(1, int(f * total / len(fractions))) for f in fractions]
    if sum(sizes) > total:
        with pytest.raises(DataError, match=str(total)):
            stratified_indices(labels, sizes, seed)
        return
    parts = stratified_indices(labels, sizes, seed)
    assert [len(p) for p in parts] == sizes
    merged = np.concatenate(parts)
    assert len(np.unique(merged)) == len(merged)  # disjoint
    for part, size in zip(parts, sizes):
        exact = size * np.array(counts) / total
        assert np.abs(np.bincount(labels[part], minlength=len(counts)) - exact).max() <= 1
    for again, part in zip(stratified_indices(labels, sizes, seed), parts):
        np.testing.assert_array_equal(again, part)


def test_image_folder_loads_the_rest_and_counts_skipped_files(folder):
    with pytest.warns(DataWarning, match=r"skipped 2 .*(broken\.jpg|notes\.txt)"):
        source = load_source(f"imagefolder:{folder}")
    assert source.skipped == 2
    assert source.classes == ("blue", "green", "rouge-é")
    assert source.train.images.shape[1:] == (64, 64, 3)  # the default working size
    assert len(source.train) + len(source.test) == 24
    assert source.test.class_counts(3).tolist() == [2, 2, 2]  # 20% of 8, carved per class
    assert np.intersect1d(source.train.indices, source.test.indices).size == 0
    # Decoded as RGB: every "rouge" image is red, every "blue" image blue.
    for split in (source.train, source.test):
        means = np.stack([split.images[split.labels == c].mean(axis=(0, 1, 2)) for c in range(3)])
        np.testing.assert_allclose(means, [[0, 0, 255], [0, 255, 0], [255, 0, 0]], atol=3)


def test_image_folder_carved_test_split_is_fixed(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        first = load_source(f"imagefolder:{folder}", image_size=16)
        second = load_source(f"imagefolder:{folder}", image_size=16)
    assert first.train.images.shape[1:] == (16, 16, 3)
    np.testing.assert_array_equal(first.test.indices, second.test.indices)
    splits = make_splits(first, train_size=12, val_size=6, seed=0)
    assert splits.train.class_counts(3).tolist() == [4, 4, 4]
    assert set(splits.val.indices).isdisjoint(splits.test.indices)


def test_grayscale_folder_stays_single_channel_and_mixed_becomes_rgb(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            _write(tmp_path / name / f"{i}.png", rng.integers(0, 256, (12, 12), dtype=np.uint8))
    gray = load_source(f"imagefolder:{tmp_path}", image_size=12)
    assert gray.train.images.shape[1:] == (12, 12, 1) and gray.skipped == 0
    _write(tmp_path / "b" / "colour.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    mixed = load_source(f"imagefolder:{tmp_path}", image_size=12)
    assert mixed.train.images.shape[1:] == (12, 12, 3)
    gray_row = mixed.train.images[0]  # "a/0.png", a grayscale image replicated to RGB
    assert (gray_row[..., 0] == gray_row[..., 1]).all() and (gray_row[..., 1] == gray_row[..., 2]).all()


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "no readable images"),
        ({"only": 3}, "one class"),
        ({"cats": 3, "dogs": 1}, r"'dogs' .* has 1 image"),
        ({"cats": 3, "empty": 0}, r"'empty' .* has 0 image"),
    ],
)
def test_bad_image_folders_raise_data_error(tmp_path, layout, message):
    for name, count in layout.items():
        (tmp_path / name).mkdir()
        for i in range(count):
            _write(tmp_path / name / f"{i}.png", np.full((9, 9, 3), 7, np.uint8))
    with pytest.raises(DataError, match=message) as info:
        load_source(f"imagefolder:{tmp_path}")
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_missing_path_and_file_path_raise_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist") as info:
        load_source(f"imagefolder:{tmp_path / 'nowhere'}")
    assert str(tmp_path / "nowhere") in str(info.value)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match="is not a directory"):
        load_source(f"imagefolder:{tmp_path / 'file.png'}")


def test_asking_for_more_images_than_exist_names_the_numbers():
    source = load_source("digits")
    pool = len(source.train)
    with pytest.raises(DataError, match=rf"1000 \+ {pool} = {1000 + pool} is more than the {pool}"):
        make_splits(source, train_size=1000, val_size=pool)
    with pytest.raises(DataError, match=rf"test_size=5000 is more than the {len(source.test)}"):
        make_splits(source, train_size=100, val_size=100, test_size=5000)
    with pytest.raises(DataError, match=r"train_size=5 is too small .* use train_size >= \d+"):
        make_splits(source, train_size=5, val_size=5)
    with pytest.raises(DataError, match="val_size should be an integer >= 1, but got 0"):
        make_splits(source, train_size=100, val_size=0)


def test_digits_source_is_scaled_to_uint8_and_carves_a_test_split():
    source = load_source("digits")
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
