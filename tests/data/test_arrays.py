"""A source from numpy arrays (``from_arrays``), and a search over it without files."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from policysearch.data import from_arrays, make_splits
from policysearch.errors import ConfigError, DataError
from policysearch.search.configuration.config import RunConfig
from policysearch.search.run import run_search


@pytest.fixture(scope="module")
def digits_arrays():
    digits = load_digits()
    return np.round(digits.images * (255 / 16)).astype(np.uint8), digits.target


def test_arrays_become_a_source_with_a_carved_test_split(digits_arrays):
    images, labels = digits_arrays
    source = from_arrays(images, labels, name="nb", image_size=16)
    assert source.name == "nb" and source.classes == tuple(str(c) for c in range(10))
    assert source.train.image_shape == (16, 16, 1) and len(source.train) + len(source.test) == len(images)
    assert set(source.train.indices.tolist()).isdisjoint(source.test.indices.tolist())
    # Every class keeps about a fifth for the test split, the same rows each time.
    assert np.all(np.abs(source.test.class_counts(10) - np.bincount(labels) * 0.2) <= 1)
    again = from_arrays(images, labels, name="nb", image_size=16)
    assert np.array_equal(source.test.indices, again.test.indices)
    assert len(make_splits(source, train_size=200, val_size=100).train) == 200


def test_given_test_arrays_are_used_as_they_are(digits_arrays):
    images, labels = digits_arrays
    rgb = np.repeat(images[..., None], 3, axis=-1)
    source = from_arrays(rgb[:1000], labels[:1000], name="nb", test_images=rgb[1000:], test_labels=labels[1000:],
                         classes=[f"digit {c}" for c in range(10)])
    assert len(source.train) == 1000 and len(source.test) == len(images) - 1000
    assert source.classes[3] == "digit 3" and source.test.image_shape == (8, 8, 3)
    assert np.array_equal(source.test.images[..., 0], images[1000:])


@pytest.mark.parametrize("kwargs, message", [
    (dict(images=np.zeros((4, 8, 8), np.float32), labels=[0, 1, 0, 1]), "uint8"),
    (dict(images=np.zeros((4, 8, 8, 2), np.uint8), labels=[0, 1, 0, 1]), "C 1 or 3"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=[0, 1, 0]), "4 integer class indices"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=[0, -1, 0, 1]), ">= 0"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=[0, 0, 0, 0]), "at least 2 classes"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=[0, 1, 2, 1], classes=["a", "b"]), "every label"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=[0, 1, 0, 1], test_images=np.zeros((2, 8, 8), np.uint8)),
     "come together"),
    (dict(images=np.zeros((4, 8, 8), np.uint8), labels=[0, 1, 0, 1], image_size=4), "image_size"),
    (dict(images=np.zeros((4, 8, 6), np.uint8), labels=[0, 1, 0, 1]), "not square"),
])
def test_bad_arrays_are_one_clear_error(kwargs, message):
    with pytest.raises(DataError, match=message) as caught:
        from_arrays(**kwargs, name="bad")
    assert "\n" not in str(caught.value)


def test_a_search_runs_on_arrays_without_files(tmp_path, digits_arrays):
    images, labels = digits_arrays
    source = from_arrays(images, labels, name="notebook-digits")
    config = RunConfig(model="tiny-cnn", weights=None, train_size=200, val_size=100, trials=3, target_train_size=300,
                       target_epochs=1, final_seeds=1, device="cpu", output_dir=str(tmp_path),
                       storage=f"sqlite:///{tmp_path / 's.db'}", rung_candidates=0)
    outcome = run_search(config, io.StringIO(), source=source)
    assert outcome.study_name == "notebook-digits-tiny-cnn" and outcome.verdict is not None
    provenance = json.loads(outcome.policy_path.read_text())["provenance"]
    assert provenance["dataset"] == "notebook-digits" and provenance["image_size"] == 8
    with pytest.raises(ConfigError, match="in this process only"):
        run_search(RunConfig(jobs=2, output_dir=str(tmp_path)), io.StringIO(), source=source)
