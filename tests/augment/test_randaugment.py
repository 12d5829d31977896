"""RandAugment draws: uniform ops with replacement, signs, untouched inputs, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policysearch.augment import RandAugment
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
