"""``elpv``: the real solar-cell images of PyPI's elpv-dataset (the ``elpv`` extra, in ``.[test]``), its classes,
carved test split and resizing; labels.csv errors on small folders written here. No model is trained on it here:
it is held back for one final check of the search."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("elpv_dataset", reason="the optional 'elpv' extra (elpv-dataset)")

from policysearch.data import available_sources, load_source  # noqa: E402
from policysearch.data.elpv import ELPV_CLASSES, elpv_dir, load_elpv, read_labels  # noqa: E402
from policysearch.data.images import decode, resize  # noqa: E402
from policysearch.errors import DataError  # noqa: E402

CLASS_COUNTS = [1508, 295, 106, 715]  # cells per defect probability 0, 1/3, 2/3, 1 in labels.csv


@pytest.fixture(scope="module")
def elpv16():
    return load_source("elpv", image_size=16)


def test_labels_csv_lists_2624_cells_in_four_classes():
    files, labels = read_labels(elpv_dir())
    assert len(files) == 2624 and all(f.is_file() for f in files)
    assert np.bincount(labels).tolist() == CLASS_COUNTS
    assert cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED).shape == (300, 300)  # 8-bit grayscale, native size


@pytest.mark.slow  # decodes 2,624 PNG files of 300x300: a few seconds
def test_real_images_resized_with_a_fixed_disjoint_test_split(elpv16):
    assert elpv16.name == "elpv" and elpv16.classes == ELPV_CLASSES
    assert elpv16.train.image_shape == (16, 16, 1) and len(elpv16.train) + len(elpv16.test) == 2624
    counts = elpv16.train.class_counts(4) + elpv16.test.class_counts(4)
    assert counts.tolist() == CLASS_COUNTS
    assert np.abs(elpv16.test.class_counts(4) - 0.2 * counts).max() <= 0.5
    assert not set(elpv16.train.indices.tolist()) & set(elpv16.test.indices.tolist())
    assert 20 < elpv16.train.images.mean() < 235 and elpv16.train.images.std() > 5  # real cells, not blank
    # Indices are rows of labels.csv: the first test row's image is that file, resized.
    files, _ = read_labels(elpv_dir())
    row = int(elpv16.test.indices[0])
    np.testing.assert_array_equal(elpv16.test.images[0], resize(decode(files[row]), 16))
    assert elpv16.test.indices[:6].tolist() == [0, 5, 15, 16, 17, 19]  # carved with a constant seed: fixed forever


def test_named_in_the_registry_with_one_line_errors(tmp_path):
    assert "elpv" in available_sources()
    with pytest.raises(DataError, match="should be written elpv$"):
        load_source("elpv:x")
    with pytest.raises(DataError, match=r"^the elpv dataset needs .*: pip install 'policysearch\[elpv\]'$"):
        elpv_dir("elpv_dataset_missing")
    (tmp_path / "images").mkdir()
    for i in range(4):
        cv2.imwrite(str(tmp_path / "images" / f"c{i}.png"), np.full((30, 30), 60 * i, np.uint8))
    rows = [f"images/c{i}.png  {p}  mono" for i, p in enumerate(["0.0", "0.3333333333333333", "1.0", "0.0"])]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    files, labels = read_labels(tmp_path)
    assert labels.tolist() == [0, 1, 3, 0] and files[1] == tmp_path / "images" / "c1.png"
    (tmp_path / "labels.csv").write_text("\n".join([*rows, "images/c1.png  0.5  poly"]) + "\n")
    bad_probability = r"labels\.csv:5: defect probability should be 0, 1/3, 2/3 or 1, but got '0\.5'$"
    with pytest.raises(DataError, match=bad_probability):
        read_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("\n".join([*rows, "images/gone.png  1.0  poly"]) + "\n")
    with pytest.raises(DataError, match=r"1 image\(s\) listed in .* cannot be read, '.*gone\.png' first"):
        load_elpv("", 8, tmp_path, test_fraction=0.2, data_dir=tmp_path)
