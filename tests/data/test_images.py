"""Image folders as sources, on real files written with OpenCV: decoding,
resizing to the working size, skipped files, the carved test split, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from policysearch.data import DataWarning, load_source, make_splits
from policysearch.errors import DataError


@pytest.fixture()
def folder(tmp_path: Path, write_image) -> Path:
    """3 colour classes x 8 images of assorted sizes and formats, one corrupt
    JPEG and one text file. Each class is one solid colour (given in RGB)."""
    colours = {"blue": (0, 0, 255), "green": (0, 255, 0), "rouge-é": (255, 0, 0)}
    for name, rgb in colours.items():
        (tmp_path / name).mkdir()
        for i in range(8):
            h, w = 20 + 9 * i, 90 - 7 * i  # both smaller and larger than the working size
            image = np.zeros((h, w, 3), np.uint8) + np.array(rgb[::-1], np.uint8)  # OpenCV writes BGR
            suffix = (".png", ".jpg", ".JPEG", ".bmp")[i % 4]
            write_image(tmp_path / name / f"{i}{suffix}", image)
    (tmp_path / "blue" / "broken.jpg").write_bytes(np.random.default_rng(0).bytes(300))
    (tmp_path / "green" / "notes.txt").write_text("not an image")
    return tmp_path


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


def test_grayscale_folder_stays_single_channel_and_mixed_becomes_rgb(tmp_path, class_folders, write_image):
    rng = np.random.default_rng(0)
    class_folders(tmp_path, {"a": 3, "b": 3}, lambda: rng.integers(0, 256, (12, 12), dtype=np.uint8))
    gray = load_source(f"imagefolder:{tmp_path}", image_size=12)
    assert gray.train.images.shape[1:] == (12, 12, 1) and gray.skipped == 0
    write_image(tmp_path / "b" / "colour.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
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
def test_bad_image_folders_raise_data_error(tmp_path, class_folders, layout, message):
    class_folders(tmp_path, layout, np.full((9, 9, 3), 7, np.uint8))
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


def test_a_folder_split_into_train_test_and_val_keeps_those_splits(tmp_path, class_folders):
    gray = np.full((10, 10), 128, np.uint8)
    class_folders(tmp_path / "train", {"cats": 6, "dogs": 5}, gray)
    class_folders(tmp_path / "test", {"cats": 2, "dogs": 3}, gray)
    class_folders(tmp_path / "val", {"cats": 2, "dogs": 2}, gray)
    source = load_source(f"imagefolder:{tmp_path}", image_size=8)
    assert source.classes == ("cats", "dogs")
    assert (len(source.train), len(source.test), len(source.val)) == (11, 5, 4)
    assert source.test.class_counts(2).tolist() == [2, 3]  # not carved: the folder's own test split
    splits = make_splits(source, train_size=6, val_size=4)
    assert len(splits.train) == 6 and splits.val.class_counts(2).tolist() == [2, 2] and splits.test is source.test
    with pytest.raises(DataError, match="val_size=5 is more than the 4 images"):
        make_splits(source, train_size=6, val_size=5)
    assert source.val.indices.min() == len(source.train)  # numbered after train/: never a pool row


def test_a_split_folder_without_val_draws_val_from_train_and_refuses_unknown_test_classes(tmp_path, class_folders):
    gray = np.full((10, 10), 128, np.uint8)
    class_folders(tmp_path / "a" / "train", {"cats": 6, "dogs": 6}, gray)
    class_folders(tmp_path / "a" / "test", {"cats": 2}, gray)  # a class may be absent from test/
    source = load_source(f"imagefolder:{tmp_path / 'a'}", image_size=8)
    assert source.val is None and len(source.test) == 2
    assert len(make_splits(source, train_size=6, val_size=4).val) == 4
    class_folders(tmp_path / "b" / "train", {"cats": 3, "dogs": 3}, gray)
    class_folders(tmp_path / "b" / "test", {"cats": 1, "birds": 1}, gray)
    with pytest.raises(DataError, match=r"classes \['birds'\] that train/ does not have"):
        load_source(f"imagefolder:{tmp_path / 'b'}", image_size=8)
    class_folders(tmp_path / "c" / "train", {"cats": 3, "dogs": 3}, gray)
    class_folders(tmp_path / "c" / "val", {"cats": 1, "dogs": 1}, gray)
    with pytest.raises(DataError, match="train/ and val/ but no test/"):
        load_source(f"imagefolder:{tmp_path / 'c'}", image_size=8)
