"""Fixed-seed stratified splits, on real data: Fashion-MNIST from the Debian
package and scikit-learn's digits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policysearch.data import FASHION_MNIST_DIR, make_splits, read_idx, stratified_indices
from policysearch.errors import DataError

HAS_FASHION_MNIST = (FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file()
needs_fashion_mnist = pytest.mark.skipif(not HAS_FASHION_MNIST, reason="needs dataset-fashion-mnist")


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


def test_unbalanced_splits_stay_within_one_image_of_the_proportion(digits_source):
    source = digits_source
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


def test_asking_for_more_images_than_exist_names_the_numbers(digits_source):
    source = digits_source
    pool = len(source.train)
    with pytest.raises(DataError, match=rf"1000 \+ {pool} = {1000 + pool} is more than the {pool}"):
        make_splits(source, train_size=1000, val_size=pool)
    with pytest.raises(DataError, match=rf"test_size=5000 is more than the {len(source.test)}"):
        make_splits(source, train_size=100, val_size=100, test_size=5000)
    with pytest.raises(DataError, match=r"train_size=5 is too small .* use train_size >= \d+"):
        make_splits(source, train_size=5, val_size=5)
    with pytest.raises(DataError, match="val_size should be an integer >= 1, but got 0"):
        make_splits(source, train_size=100, val_size=0)
