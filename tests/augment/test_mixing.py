"""CutMix and MixUp on batches: pasted areas and blends match the mixed targets."""

from __future__ import annotations

import pytest
import torch

from policysearch.augment import BatchMix
from policysearch.errors import DataError


def _labelled_batch(n=8, size=16):
    # Image i is filled with value i, so every pixel tells where it came from.
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size).clone()
    return images, torch.arange(n)


def test_cutmix_targets_match_pasted_area():
    images, labels = _labelled_batch()
    mixed, targets = BatchMix("cutmix", num_classes=8, prob=1.0, alpha=1.0, rng=0)(images, labels)
    assert torch.allclose(targets.sum(1), torch.ones(8))
    pasted = 0
    for i in range(8):
        values = mixed[i, 0].flatten()
        own = (values == i).float().mean().item()
        # Also when nothing of another image was pasted (own == 1): the target is then one-hot.
        assert targets[i, i].item() == pytest.approx(own, abs=1e-6)
        others = torch.unique(values[values != i])
        assert len(others) <= 1
        if len(others):
            pasted += 1
            partner = int(others[0])
            assert targets[i, partner].item() == pytest.approx(1 - own, abs=1e-6)
    assert pasted >= 4  # prob=1.0: most images get a patch (here 7 of 8; one drew itself as partner)


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
