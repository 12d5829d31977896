"""The on-disk cache of loaded sources, on real idx files and the real Fashion-MNIST: reused while
the files and the size are unchanged (no resize the second time), rebuilt when either changes,
bit-identical to a fresh load, and never in the way (a broken entry or an unwritable folder)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

import policysearch.data.sources as sources
from policysearch.data import FASHION_MNIST_DIR, load_fashion_mnist, load_source, read_idx, resize_all

HAS_FASHION_MNIST = (FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file()
needs_fashion_mnist = pytest.mark.skipif(not HAS_FASHION_MNIST, reason="needs dataset-fashion-mnist")
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8) as a gzip-compressed idx file, the format Debian's package ships."""
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture()
def small_fashion(tmp_path: Path) -> Path:
    """A folder of the four Fashion-MNIST idx files holding 120 training and 40 test images (random pixels)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "fashion"
    folder.mkdir()
    arrays = (rng.integers(0, 256, (120, 28, 28)), np.arange(120) % 10, rng.integers(0, 256, (40, 28, 28)),
              np.arange(40) % 10)
    for name, array in zip(FILES, arrays):
        _write_idx(folder / f"{name}.gz", array)
    return folder


@pytest.fixture()
def resizes(monkeypatch) -> list[tuple[int, ...]]:
    """The shapes the loaders resize, one entry per call of the real resize_all."""
    calls: list[tuple[int, ...]] = []

    def counted(images, size):
        calls.append(images.shape)
        return resize_all(images, size)

    monkeypatch.setattr(sources, "resize_all", counted)
    return calls


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "sources").glob("*.npz"))


def test_second_load_reads_the_cache_without_resizing(small_fashion, tmp_path, resizes):
    cache = tmp_path / "cache"
    first = load_fashion_mnist("", 32, cache, system_dir=small_fashion)
    assert len(resizes) == 2  # train and test, once each
    [entry] = _entries(cache)
    written = entry.stat().st_mtime_ns
    again = load_fashion_mnist("", 32, cache, system_dir=small_fashion)
    assert len(resizes) == 2  # nothing resized the second time
    assert entry.stat().st_mtime_ns == written  # and nothing rewritten
    # Bit-identical to the fresh load, and to resizing the raw files directly.
    raw = read_idx(small_fashion / "train-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(again.train.images, first.train.images)
    np.testing.assert_array_equal(again.train.images, resize_all(raw, 32))
    np.testing.assert_array_equal(again.test.labels, first.test.labels)
    np.testing.assert_array_equal(again.train.indices, np.arange(120))
    assert (again.name, again.classes, again.skipped, again.val) == (first.name, first.classes, 0, None)
    assert again.train.labels.dtype == np.int64 and again.train.images.flags.writeable


def test_another_size_is_another_entry(small_fashion, tmp_path, resizes):
    cache = tmp_path / "cache"
    load_fashion_mnist("", 32, cache, system_dir=small_fashion)
    smaller = load_fashion_mnist("", 16, cache, system_dir=small_fashion)
    assert len(resizes) == 4 and smaller.train.images.shape == (120, 16, 16, 1)
    native = load_fashion_mnist("", None, cache, system_dir=small_fashion)
    assert native.train.images.shape == (120, 28, 28, 1)
    assert [p.name.split("-")[2] for p in _entries(cache)] == ["16px", "32px", "native"]
    load_fashion_mnist("", 16, cache, system_dir=small_fashion)
    load_fashion_mnist("", 32, cache, system_dir=small_fashion)
    assert len(resizes) == 6  # only the native load called it (to add the channel axis); the rest were read back


def test_a_changed_file_rebuilds_the_entry(small_fashion, tmp_path, resizes):
    cache = tmp_path / "cache"
    load_fashion_mnist("", 32, cache, system_dir=small_fashion)
    labels = small_fashion / "t10k-labels-idx1-ubyte.gz"
    _write_idx(labels, (np.arange(40) + 3) % 10)  # same size, new content and time
    os.utime(labels, ns=(labels.stat().st_atime_ns, labels.stat().st_mtime_ns + 10**9))
    rebuilt = load_fashion_mnist("", 32, cache, system_dir=small_fashion)
    assert len(resizes) == 4
    assert rebuilt.test.labels[:3].tolist() == [3, 4, 5]  # the new file's labels, not the cached ones
    assert len(_entries(cache)) == 2  # the old entry stays until the folder is cleaned; it is never served


def test_a_broken_entry_is_rebuilt_and_an_unwritable_cache_is_passed_over(small_fashion, tmp_path, resizes):
    cache = tmp_path / "cache"
    first = load_fashion_mnist("", 32, cache, system_dir=small_fashion)
    [entry] = _entries(cache)
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated, as by a full disk
    again = load_fashion_mnist("", 32, cache, system_dir=small_fashion)
    assert len(resizes) == 4
    np.testing.assert_array_equal(again.train.images, first.train.images)
    assert entry.stat().st_size > 1000  # rewritten whole
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    loaded = load_fashion_mnist("", 32, not_a_folder, system_dir=small_fashion)
    np.testing.assert_array_equal(loaded.test.images, first.test.images)


@needs_fashion_mnist
@pytest.mark.slow
def test_real_fashion_mnist_from_the_cache_is_bit_identical(tmp_path, resizes):
    fresh = load_source("fashion-mnist", image_size=32, cache_dir=tmp_path)
    cached = load_source("fashion-mnist", image_size=32, cache_dir=tmp_path)
    assert len(resizes) == 2
    raw = read_idx(FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(cached.test.images, resize_all(raw, 32))
    np.testing.assert_array_equal(cached.train.images, fresh.train.images)
    np.testing.assert_array_equal(cached.train.labels, fresh.train.labels)
