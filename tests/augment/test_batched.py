"""Tests for policysearch.augment.batched: the batched tensor path against the numpy reference.

The numpy/OpenCV ops (:func:`policysearch.ops.apply_op`) are the reference.
Every op at bins 0, 9, 20 and 30 and both signs, on the same test images as
the torchvision parity tests, must give the same pixels on CPU tensors:
colour ops bit for bit, warps identical everywhere off a rounding tie.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from policysearch.augment.batched import (BatchedRandAugment, BatchedTrivialAugmentWide, apply_batched_op,
                                          check_batch, draw_placement)
from policysearch.augment.ops import EXTRA_OPS, TORCHVISION_OPS, apply_op, get_op
from policysearch.augment.trivialaugment import wide_value
from policysearch.errors import DataError, PolicyError

from test_ops import GEOMETRIC, IMAGES, assert_same_samples  # tests/augment/test_ops.py: the same images


def to_batch(image: np.ndarray) -> torch.Tensor:
    """HxW or HxWx3 uint8 -> 1xCxHxW."""
    hwc = np.ascontiguousarray(image.reshape(*image.shape[:2], -1))
    return torch.from_numpy(hwc).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_image(batch: torch.Tensor, like: np.ndarray) -> np.ndarray:
    return batch[0].permute(1, 2, 0).numpy().reshape(like.shape)


def assert_matches(ours: np.ndarray, reference: np.ndarray, name: str, value, label: str) -> None:
    if name in GEOMETRIC:
        assert_same_samples(ours, reference, name, value, label)
    else:
        assert np.array_equal(ours, reference), f"{label}: {np.mean(ours != reference):.2%} of values differ"


@pytest.mark.parametrize("kind", IMAGES)
@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("magnitude", [0, 9, 20, 30])
@pytest.mark.parametrize("name", TORCHVISION_OPS)
def test_each_op_equals_the_numpy_reference(name, magnitude, sign, kind):
    image = IMAGES[kind]
    height, width = image.shape[:2]
    value = get_op(name).value(magnitude, 31, height, width, sign)
    ours = to_image(apply_batched_op(to_batch(image), name, None if value is None else [value]), image)
    assert_matches(ours, apply_op(image, name, magnitude, sign=sign), name, value, f"{name} M={magnitude}")


@pytest.mark.parametrize("negate", [False, True])
@pytest.mark.parametrize("bin_index", [0, 9, 20, 30])
@pytest.mark.parametrize("name", TORCHVISION_OPS)
def test_trivialaugment_wide_values_equal_the_numpy_reference(name, bin_index, negate):
    image = IMAGES["large"]
    value = wide_value(name, bin_index, 31, *image.shape[:2], negate)
    ours = to_image(apply_batched_op(to_batch(image), name, None if value is None else [value]), image)
    assert_matches(ours, get_op(name).apply(image, value), name, value, f"{name} bin {bin_index}")


def _scripted_rng(values: list[int]):
    """Hands the numpy kernel the integers the batched path drew, in the kernel's order of draws."""
    pending = list(values)

    class Rng:
        @staticmethod
        def integers(low, high, size=None):
            count = 2 if size is not None or np.ndim(high) else 1
            taken, pending[:] = pending[:count], pending[count:]
            return np.array(taken)

    return Rng()


@pytest.mark.parametrize("kind", ["rgb", "gray"])
@pytest.mark.parametrize("magnitude", [0, 9, 20, 30])
@pytest.mark.parametrize("name", EXTRA_OPS)
def test_extra_ops_equal_the_numpy_reference_at_the_same_placement(name, magnitude, kind):
    image = IMAGES[kind]
    height, width = image.shape[:2]
    value = get_op(name).value(magnitude, 31, height, width, 1)
    values = None if value is None else torch.tensor([value], dtype=torch.float64)
    placement = draw_placement(name, values, height, width, generator=magnitude) if values is not None else None
    ours = to_image(apply_batched_op(to_batch(image), name, values, placement=placement), image)
    integers = [] if placement is None else placement[0].tolist()
    reference = get_op(name).apply(image, value, rng=_scripted_rng(integers))
    if name == "Perspective":  # float64 homographies solved two ways: ties may round apart
        assert np.mean((ours != reference).reshape(height, width, -1).any(-1)) <= 0.01, name
    else:
        assert np.array_equal(ours, reference), f"{name} M={magnitude}"


def test_each_image_draws_its_own_op_and_sign():
    # 4,000 images: op counts uniform over the 14 ops and signs fair (chi-square), never one draw per batch.
    ra = BatchedRandAugment(2, 9, generator=0)
    draws = ra.draw(4000)
    assert draws["op"].shape == (2, 4000)
    ops = np.bincount(draws["op"].flatten().numpy(), minlength=14)
    assert stats.chisquare(ops).pvalue > 1e-3, ops
    signs = np.bincount(draws["negate"].flatten().numpy().astype(int), minlength=2)
    assert stats.chisquare(signs).pvalue > 1e-3, signs
    assert len(set(draws["op"][0, :64].tolist())) > 5  # one batch holds many ops
    ta = BatchedTrivialAugmentWide(generator=0).draw(6200)
    assert stats.chisquare(np.bincount(ta["bin"].flatten().numpy(), minlength=31)).pvalue > 1e-3


def test_a_batch_is_augmented_image_by_image_as_its_draws_say():
    # The batched result of each image equals the numpy op sequence its own draws name.
    image = IMAGES["rgb"]
    batch = to_batch(image).repeat(16, 1, 1, 1)
    ra = BatchedRandAugment(2, 12, generator=3)
    draws = ra.draw(16)
    out = ra.apply_draws(batch, draws)
    height, width = image.shape[:2]
    for i in range(16):
        expected = image
        for step in range(2):
            name = TORCHVISION_OPS[int(draws["op"][step, i])]
            expected = apply_op(expected, name, 12, sign=-1 if bool(draws["negate"][step, i]) else 1)
        differ = (to_image(out[i : i + 1], image) != expected).reshape(height, width, -1).any(-1)
        assert differ.mean() <= 0.03, (i, differ.mean())
    assert len({out[i].sum().item() for i in range(16)}) > 8  # not one draw for the whole batch


def test_same_seed_same_output_and_another_seed_differs():
    batch = to_batch(IMAGES["large"]).repeat(8, 1, 1, 1)
    first = BatchedTrivialAugmentWide(generator=5)(batch)
    assert torch.equal(first, BatchedTrivialAugmentWide(generator=5)(batch))
    assert not torch.equal(first, BatchedTrivialAugmentWide(generator=6)(batch))
    assert torch.equal(batch, to_batch(IMAGES["large"]).repeat(8, 1, 1, 1))  # input untouched


def test_bad_input_is_one_clear_error():
    with pytest.raises(DataError, match="uint8"):
        check_batch(torch.zeros(1, 3, 4, 4))
    with pytest.raises(DataError, match="NxCxHxW"):
        check_batch(torch.zeros(3, 4, 4, dtype=torch.uint8))
    with pytest.raises(PolicyError, match="one per image"):
        apply_batched_op(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), "Brightness", [0.5])
    with pytest.raises(PolicyError, match="magnitude"):
        BatchedRandAugment(2, 31)
    with pytest.raises(PolicyError, match="generator"):
        BatchedRandAugment(2, 9, generator=-1)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", TORCHVISION_OPS)
def test_each_op_on_the_gpu_equals_the_cpu_batched_path(name):
    image = IMAGES["large"]
    height, width = image.shape[:2]
    batch = to_batch(image).repeat(4, 1, 1, 1)
    values = [get_op(name).value(m, 31, height, width, s) for m, s in ((0, 1), (9, -1), (20, 1), (30, -1))]
    values = None if values[0] is None else values
    cpu = apply_batched_op(batch, name, values)
    gpu = apply_batched_op(batch.cuda(), name, None if values is None else torch.tensor(values).cuda()).cpu()
    differ = (cpu != gpu).any(dim=1).float().mean().item()
    assert differ <= (0.03 if name in GEOMETRIC else 0.0), (name, differ)
    if name not in GEOMETRIC:  # colour ops: at most one level apart where they differ at all
        assert (cpu.int() - gpu.int()).abs().max() <= 1, name
