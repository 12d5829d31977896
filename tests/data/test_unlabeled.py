"""Unlabeled images to pseudo-label, on real files: Fashion-MNIST's training
pool less a held-out experiment's labelled splits, and folders of images
written with OpenCV."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from policysearch.data import FASHION_MNIST_DIR, DataWarning, make_splits
from policysearch.data.unlabeled import Unlabeled, load_unlabeled
from policysearch.errors import DataError

HAS_FASHION_MNIST = (FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file()
needs_fashion_mnist = pytest.mark.skipif(not HAS_FASHION_MNIST, reason="needs dataset-fashion-mnist")


@pytest.fixture(scope="module")
def fashion_splits(fashion32):
    return fashion32, make_splits(fashion32, train_size=1000, val_size=500, seed=0)


@needs_fashion_mnist
def test_fashion_mnist_pool_leaves_out_the_labelled_splits_and_the_test_set(fashion_splits):
    source, splits = fashion_splits
    pool = load_unlabeled("fashion-mnist", image_size=32, size=2000, exclude=(splits.train, splits.val), seed=0)
    assert isinstance(pool, Unlabeled) and pool.name == "fashion-mnist"
    assert pool.images.shape == (2000, 32, 32, 1) and pool.images.dtype == np.uint8
    assert pool.indices.dtype == np.int64 and (np.diff(pool.indices) > 0).all()  # sorted, no repeats
    assert np.intersect1d(pool.indices, splits.train.indices).size == 0
    assert np.intersect1d(pool.indices, splits.val.indices).size == 0
    # Indices are positions in the training pool (Fashion-MNIST's train file), never its test file:
    # every row is that pool's image, and truth is that pool's label.
    np.testing.assert_array_equal(pool.images, source.train.images[pool.indices])
    np.testing.assert_array_equal(pool.truth, source.train.labels[pool.indices])
    assert pool.truth.dtype == np.int64 and len(np.unique(pool.truth)) == 10


@needs_fashion_mnist
def test_fashion_mnist_pool_is_seeded_and_keeps_everything_without_size(fashion_splits):
    source, splits = fashion_splits
    exclude = (splits.train, splits.val)
    first = load_unlabeled("fashion-mnist", image_size=32, size=2000, exclude=exclude, seed=0)
    again = load_unlabeled("fashion-mnist", image_size=32, size=2000, exclude=exclude, seed=0)
    other = load_unlabeled("fashion-mnist", image_size=32, size=2000, exclude=exclude, seed=1)
    np.testing.assert_array_equal(first.indices, again.indices)
    np.testing.assert_array_equal(first.images, again.images)
    assert np.intersect1d(first.indices, other.indices).size < 1000  # two 2000-of-58500 draws barely meet
    everything = load_unlabeled("fashion-mnist", image_size=32, exclude=splits.train)  # one Split is fine
    assert len(everything) == len(source.train) - 1000
    assert not np.isin(splits.train.indices, everything.indices).any()
    assert np.isin(splits.val.indices, everything.indices).all()


@needs_fashion_mnist
def test_excluding_a_split_of_the_test_set_is_refused(fashion_splits):
    # Test indices are positions in another file: matching them against the
    # pool would silently drop the wrong rows, so the labels give it away.
    _, splits = fashion_splits
    with pytest.raises(DataError, match="not part of the training pool of fashion-mnist"):
        load_unlabeled("fashion-mnist", image_size=32, exclude=splits.test)


def test_size_errors_name_the_numbers(digits_source):
    splits = make_splits(digits_source, train_size=200, val_size=100)
    pool = load_unlabeled("digits", exclude=(splits.train, splits.val))
    available = len(digits_source.train) - 300
    assert len(pool) == available
    with pytest.raises(DataError, match=rf"size=5000 is more than the {available} images available in digits"):
        load_unlabeled("digits", size=5000, exclude=(splits.train, splits.val))
    with pytest.raises(DataError, match="size should be an integer >= 1, but got 0"):
        load_unlabeled("digits", size=0)
    with pytest.raises(DataError, match="exclude should hold Split objects, but got ndarray"):
        load_unlabeled("digits", exclude=[splits.train.indices])


@pytest.fixture()
def folder(tmp_path: Path, write_image) -> Path:
    """Five colour images in nested folders, one grayscale image, a hidden
    file, a hidden folder and a text file posing as a PNG."""
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg", "deep/er/c.png", "deep/d.JPEG", "sub/e.bmp"):
        h, w = rng.integers(20, 90, size=2)  # both smaller and larger than the working size
        write_image(tmp_path / name, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    write_image(tmp_path / "sub" / "gray.png", np.full((30, 40), 77, np.uint8))
    write_image(tmp_path / ".hidden.png", np.zeros((9, 9, 3), np.uint8))
    write_image(tmp_path / ".cache" / "thumb.png", np.zeros((9, 9, 3), np.uint8))
    (tmp_path / "sub" / "x.png").write_text("not an image")
    return tmp_path


def test_image_folder_reads_every_image_at_any_depth(folder):
    with pytest.warns(DataWarning, match=r"skipped 1 .*x\.png") as record:
        pool = load_unlabeled(f"images:{folder}", image_size=16)
    assert len(record) == 1  # hidden files are left out silently
    assert pool.name == f"images:{folder}" and pool.truth is None and pool.skipped == 1
    assert pool.images.shape == (6, 16, 16, 3)  # one colour image makes them all RGB
    assert pool.indices.tolist() == list(range(6))
    # Sorted listing: a, b, deep/d, deep/er/c, sub/e, sub/gray.
    gray = pool.images[5]
    assert (gray == 77).all()  # a grayscale image, replicated to three equal channels
    first = cv2.cvtColor(cv2.imread(str(folder / "a.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(pool.images[0], cv2.resize(first, (16, 16), interpolation=cv2.INTER_AREA))


def test_image_folder_defaults_to_64_grayscale_stays_one_channel_and_size_draws(tmp_path, write_image):
    rng = np.random.default_rng(1)
    for i in range(5):
        write_image(tmp_path / f"{i}.png", rng.integers(0, 256, (20, 30), dtype=np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # nothing to skip here
        pool = load_unlabeled(f"images:{tmp_path}")
        three = load_unlabeled(f"images:{tmp_path}", size=3, seed=4, exclude=())
    assert pool.images.shape == (5, 64, 64, 1) and pool.skipped == 0
    assert len(three) == 3 and (np.diff(three.indices) > 0).all()
    np.testing.assert_array_equal(three.images, pool.images[three.indices])
    with pytest.raises(DataError, match=r"size=6 is more than the 5 images available in images:"):
        load_unlabeled(f"images:{tmp_path}", size=6)


def test_folder_and_spec_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist") as info:
        load_unlabeled(f"images:{tmp_path / 'nowhere'}")
    assert str(tmp_path / "nowhere") in str(info.value)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=r"has no readable images \(expected files") as info:
        load_unlabeled(f"images:{tmp_path / 'empty'}")
    assert str(tmp_path / "empty") in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"has no readable images \(skipped 1 unreadable"):
        load_unlabeled(f"images:{tmp_path / 'empty'}")
    with pytest.raises(DataError, match="'images' should be written images:PATH"):
        load_unlabeled("images")
    with pytest.raises(DataError, match="unknown unlabeled images 'mnist'; known: images:PATH, fashion-mnist"):
        load_unlabeled("mnist")
    with pytest.raises(DataError, match="should be written digits"):
        load_unlabeled("digits:extra")
    with pytest.raises(DataError, match="image_size should be an integer >= 8, but got 4"):
        load_unlabeled(f"images:{tmp_path}", image_size=4)


def test_an_already_loaded_source_gives_the_same_rows(digits_source):
    source = digits_source
    splits = make_splits(source, train_size=200, val_size=100, seed=0)
    a = load_unlabeled("digits", size=300, exclude=(splits.train, splits.val), seed=1)
    b = load_unlabeled("digits", size=300, exclude=(splits.train, splits.val), seed=1, source=source)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.images, b.images)
    assert np.array_equal(a.truth, b.truth)
