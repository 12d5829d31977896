"""RandAugment draws, CutMix/MixUp on batches, and preview grids."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from policysearch.augment import BatchMix, RandAugment, preview_grid, save_png
from policysearch.errors import DataError, PolicyError
from policysearch.augment.ops import apply_op


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)


def test_zero_ops_is_identity_and_copies(image):
    out = RandAugment(0, 30, rng=0)(image)
    np.testing.assert_array_equal(out, image)
    assert out is not image


def test_ops_are_drawn_uniformly_with_replacement(image):
    ra = RandAugment(2, 0, ops=("Identity", "Invert"), rng=0)
    unchanged = sum(np.array_equal(ra(image), image) for _ in range(2000))
    # Two draws with replacement: Identity+Identity or Invert+Invert -> unchanged.
    assert 0.45 < unchanged / 2000 < 0.55


def test_signed_ops_take_each_sign_half_the_time(image):
    up = apply_op(image, "Brightness", 30, sign=1)
    down = apply_op(image, "Brightness", 30, sign=-1)
    ra = RandAugment(1, 30, ops=("Brightness",), rng=1)
    outs = [ra(image) for _ in range(1000)]
    n_up = sum(np.array_equal(o, up) for o in outs)
    n_down = sum(np.array_equal(o, down) for o in outs)
    assert n_up + n_down == 1000
    assert 0.44 < n_up / 1000 < 0.56


def test_randaugment_does_not_modify_its_input(image):
    before = image.copy()
    ra = RandAugment(3, 25, rng=2)
    for _ in range(50):
        ra(image)
    np.testing.assert_array_equal(image, before)


def test_grayscale_shapes_are_kept():
    ra = RandAugment(2, 15, rng=3)
    for shape in [(16, 16), (16, 16, 1)]:
        out = ra(np.full(shape, 100, np.uint8))
        assert out.shape == shape and out.dtype == np.uint8


def test_bad_arguments_raise_policy_error():
    with pytest.raises(PolicyError, match="num_ops.*-1"):
        RandAugment(-1, 9)
    with pytest.raises(PolicyError, match="magnitude.*31"):
        RandAugment(2, 31)
    with pytest.raises(PolicyError, match="Blur"):
        RandAugment(2, 9, ops=("Blur",))
    with pytest.raises(DataError, match="list"):
        RandAugment(2, 9)([[1, 2]])
    with pytest.raises(DataError, match="float32"):
        RandAugment(2, 9)(torch.zeros(3, 8, 8))


def _labelled_batch(n=8, size=16):
    # Image i is filled with value i, so every pixel tells where it came from.
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size).clone()
    return images, torch.arange(n)


def test_cutmix_targets_match_pasted_area():
    images, labels = _labelled_batch()
    mixed, targets = BatchMix("cutmix", num_classes=8, prob=1.0, alpha=1.0, rng=0)(images, labels)
    assert torch.allclose(targets.sum(1), torch.ones(8))
    for i in range(8):
        values = mixed[i, 0].flatten()
        own = (values == i).float().mean().item()
        assert targets[i, i].item() == pytest.approx(own, abs=1e-6) or own == 1.0
        others = torch.unique(values[values != i])
        assert len(others) <= 1
        if len(others):
            partner = int(others[0])
            assert targets[i, partner].item() == pytest.approx(1 - own, abs=1e-6)


def test_mixup_blends_images_and_labels_with_the_same_weight():
    images, labels = _labelled_batch()
    mixed, targets = BatchMix("mixup", num_classes=8, prob=1.0, alpha=0.4, rng=1)(images, labels)
    for i in range(8):
        top = torch.topk(targets[i], 2)
        (wa, wb), (a, b) = top.values.tolist(), top.indices.tolist()
        expected = wa * a + wb * b if wb > 0 else float(i)
        assert mixed[i, 0, 0, 0].item() == pytest.approx(expected, abs=1e-4)
        assert wa + wb == pytest.approx(1.0)


def test_mix_probability_zero_keeps_batch_and_one_hot_targets():
    images, labels = _labelled_batch()
    out, targets = BatchMix("cutmix", num_classes=10, prob=0.0, rng=0)(images, labels)
    assert torch.equal(out, images)
    assert torch.equal(targets, torch.nn.functional.one_hot(labels, 10).float())


def test_mix_is_reproducible_with_a_seed():
    images, labels = _labelled_batch()
    a = BatchMix("cutmix", num_classes=8, rng=7)(images, labels)
    b = BatchMix("cutmix", num_classes=8, rng=7)(images, labels)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_float_targets_are_mixed_like_one_hot_labels():
    # Soft rows (here one-hot labels beside a second block of columns, as a
    # teacher's probabilities ride along) mix with the same pairing and weight.
    images, labels = _labelled_batch()
    one_hot = torch.nn.functional.one_hot(labels, 8).float()
    rows = torch.cat([one_hot, one_hot.flip(1)], dim=1)
    mixed_a, targets = BatchMix("cutmix", num_classes=8, prob=1.0, rng=3)(images, labels)
    mixed_b, rows_out = BatchMix("cutmix", num_classes=8, prob=1.0, rng=3)(images, rows)
    assert torch.equal(mixed_a, mixed_b)
    assert torch.allclose(rows_out[:, :8], targets) and torch.allclose(rows_out[:, 8:], targets.flip(1))


def test_integer_targets_of_two_dimensions_are_refused():
    images, labels = _labelled_batch()
    with pytest.raises(DataError, match="float targets"):
        BatchMix("cutmix", num_classes=8, rng=0)(images, labels.view(-1, 1))


def test_mixup_keeps_uint8_dtype():
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    out, _ = BatchMix("mixup", num_classes=3, prob=1.0, rng=0)(images, torch.tensor([0, 1, 2, 0]))
    assert out.dtype == torch.uint8


def test_preview_grid_layout_and_png(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (28, 28, 1), dtype=np.uint8) for _ in range(3)]
    grid = preview_grid(images, RandAugment(2, 20, rng=0), draws=4, min_tile=56, pad=2)
    tile = 56  # 28 upscaled x2
    assert grid.shape == (3 * (tile + 2) + 2, 5 * (tile + 2) + 2, 3)
    path = save_png(tmp_path / "out" / "grid.png", grid)
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, grid)
