"""``hf:`` sources through Hugging Face datasets, on Datasets built here (no network)."""

from __future__ import annotations

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")  # the optional "hf" extra; setup.sh installs it for the tests

from PIL import Image  # noqa: E402

from policysearch.data import load_source, make_splits  # noqa: E402
from policysearch.errors import DataError  # noqa: E402


def _split(count: int, mode: str, seed: int):
    rng = np.random.default_rng(seed)
    shape = (12, 10) if mode == "L" else (12, 10, 3)
    images = [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode) for _ in range(count)]
    features = datasets.Features({"picture": datasets.Image(), "kind": datasets.ClassLabel(names=["ant", "bee", "cat"]),
                                  "note": datasets.Value("string")})
    return datasets.Dataset.from_dict({"picture": images, "kind": [i % 3 for i in range(count)],
                                       "note": ["x"] * count}, features=features)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    datasets.DatasetDict({"train": _split(30, "RGB", 0), "test": _split(9, "RGB", 1)}).save_to_disk(root / "split")
    datasets.DatasetDict({"train": _split(30, "L", 2)}).save_to_disk(root / "train-only")
    return root


def test_columns_come_from_the_features_and_the_test_split_is_the_datasets_own(saved):
    source = load_source(f"hf:{saved / 'split'}", image_size=16)
    assert source.classes == ("ant", "bee", "cat")
    assert (len(source.train), len(source.test)) == (30, 9) and source.train.image_shape == (16, 16, 3)
    assert source.test.labels.tolist() == [i % 3 for i in range(9)]
    assert len(make_splits(source, train_size=12, val_size=6).val) == 6


def test_without_a_test_split_one_is_carved_and_grayscale_stays_one_channel(saved):
    source = load_source(f"hf:{saved / 'train-only'}", image_size=8)
    assert len(source.train) + len(source.test) == 30 and source.test.class_counts(3).tolist() == [2, 2, 2]
    assert source.train.image_shape == (8, 8, 1)


def test_named_columns_and_one_line_errors(saved):
    assert load_source(f"hf:{saved / 'split'}@picture,kind", image_size=8).classes == ("ant", "bee", "cat")
    with pytest.raises(DataError, match="no column 'photo'"):
        load_source(f"hf:{saved / 'split'}@photo,kind", image_size=8)
    with pytest.raises(DataError, match="'note' should be a ClassLabel"):
        load_source(f"hf:{saved / 'split'}@picture,note", image_size=8)
    with pytest.raises(DataError, match="@IMAGE,LABEL"):
        load_source(f"hf:{saved / 'split'}@picture", image_size=8)
    with pytest.raises(DataError, match="should be written hf:NAME"):
        load_source("hf", image_size=8)


def test_a_hub_dataset_offline_without_a_cache_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="cannot load Hugging Face dataset 'policysearch-test/no-such-set'") as caught:
        load_source("hf:policysearch-test/no-such-set", image_size=8, cache_dir=tmp_path)
    assert "\n" not in str(caught.value)
