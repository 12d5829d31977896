"""The pre-stage (flip, padded crop) and per-op bounds, per image and batched, on real photographs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_sample_images

from policysearch import Policy
from policysearch.augment import RandAugment, TrivialAugmentWide, apply_op
from policysearch.augment._geometric import crop_at
from policysearch.augment.batched import (BatchedChain, BatchedPreStage, BatchedRandAugment,
                                          BatchedTrivialAugmentWide)
from policysearch.augment.groups import GROUPS, OP_GROUPS, is_grey, ops_for_groups
from policysearch.augment.ops import OPS, TORCHVISION_OPS
from policysearch.augment.prestage import STANDARD_CROP_BIN, Chain, PreStage, crop_offset, crop_padding
from policysearch.errors import PolicyError
from policysearch.training.feeding import device_augment


@pytest.fixture(scope="module")
def photo():
    """A 32x32 crop of one of scikit-learn's sample photographs (a real colour image, offline)."""
    china = load_sample_images().images[0]
    return np.ascontiguousarray(china[100:132, 200:232])


def _binomial_ok(count: int, n: int, p: float = 0.5, z: float = 5.0) -> bool:
    """``count`` successes of ``n`` within z standard deviations of n * p (fails by chance ~1e-6)."""
    return abs(count - n * p) <= z * (n * p * (1 - p)) ** 0.5


def test_the_standard_crop_pads_an_eighth_of_the_side():
    assert STANDARD_CROP_BIN == 15
    assert crop_padding(STANDARD_CROP_BIN, 31, 32, 32) == 4
    assert crop_padding(STANDARD_CROP_BIN, 31, 224, 224) == 28
    assert crop_padding(0, 31, 32, 32) == 0


def test_flip_happens_about_half_the_time(photo):
    pre = PreStage(flip=True, rng=0)
    flipped = photo[:, ::-1]
    outs = [pre(photo) for _ in range(2000)]
    flips = sum(np.array_equal(out, flipped) for out in outs)
    assert all(np.array_equal(out, photo) or np.array_equal(out, flipped) for out in outs)
    assert _binomial_ok(flips, 2000)


def test_crop_offsets_are_uniform_and_the_pixels_are_torchvisions(photo):
    pad = crop_padding(STANDARD_CROP_BIN, 31, 32, 32)
    pre = PreStage(crop=STANDARD_CROP_BIN, fill=7, rng=1)
    padded = np.pad(photo, ((pad, pad), (pad, pad), (0, 0)), constant_values=7)
    windows = {(top, left): padded[top:top + 32, left:left + 32] for top in range(2 * pad + 1)
               for left in range(2 * pad + 1)}
    counts = np.zeros((2 * pad + 1, 2 * pad + 1), int)
    for _ in range(4050):
        out = pre(photo)
        # each output is one window of the padded image: torchvision RandomCrop(32, padding=4, fill=7)
        hits = [key for key, window in windows.items() if np.array_equal(out, window)]
        assert hits, "a crop that is no window of the padded image"
        counts[hits[0]] += 1
    expected = 4050 / counts.size  # 50 per offset pair
    assert counts.min() > 0 and ((counts - expected) ** 2 / expected).sum() < 140  # chi-square, 80 dof: p ~ 1e-4


def test_grey_and_single_channel_images_crop_too():
    image = np.arange(64, dtype=np.uint8).reshape(8, 8)
    pre = PreStage(crop=30, fill=(9, 9, 9), rng=0)
    out2, out3 = pre(image), PreStage(crop=30, fill=(9, 9, 9), rng=0)(image[:, :, None])
    assert out2.shape == (8, 8) and out3.shape == (8, 8, 1) and np.array_equal(out2, out3[:, :, 0])


def test_a_chain_applies_flip_then_crop_then_the_ops_from_one_generator(photo):
    policy = Policy(num_ops=1, magnitude=30, ops=("Solarize",), flip=True, crop=STANDARD_CROP_BIN)
    chain = policy.transform(rng=3)
    assert isinstance(chain, Chain) and [type(s).__name__ for s in chain.stages] == ["PreStage", "RandAugment"]
    candidates = [np.pad(img, ((4, 4), (4, 4), (0, 0))) for img in (photo, photo[:, ::-1])]
    windows = [np.ascontiguousarray(p[t:t + 32, left:left + 32]) for p in candidates for t in range(9)
               for left in range(9)]
    for _ in range(20):  # Solarize after the crop: the padding (0) is solarised too
        out = chain(photo)
        assert any(np.array_equal(out, apply_op(w, "Solarize", 30)) for w in windows)


def test_the_chains_draws_resume_from_a_checkpoint(photo):
    policy = Policy(num_ops=2, magnitude=9, flip=True, crop=STANDARD_CROP_BIN)
    first = policy.transform(rng=5)
    for _ in range(3):
        first(photo)
    state = first.state_dict()
    rng_state = first.stages[0].rng.bit_generator.state
    second = policy.transform(rng=99)
    second.load_state_dict(state)
    second.stages[0].rng.bit_generator.state = rng_state
    assert all(np.array_equal(first(photo), second(photo)) for _ in range(5))


def test_a_policy_without_pre_stage_transforms_exactly_as_before(photo):
    plain = Policy(num_ops=2, magnitude=9).transform(rng=0)
    assert type(plain) is RandAugment
    reference = RandAugment(2, 9, rng=0)
    assert all(np.array_equal(plain(photo), reference(photo)) for _ in range(20))


def test_augments_is_any_flip_crop_or_op():
    assert not Policy(num_ops=0).augments
    assert Policy(num_ops=0, flip=True).augments and Policy(num_ops=0, crop=1).augments
    assert Policy(num_ops=1).augments and Policy(kind="trivialaugment").augments


@pytest.mark.parametrize("magnitude, low, high", [(20, 0, 10), (3, 5, 12), (8, 5, 12)])
def test_randaugment_applies_each_op_at_m_clamped_to_its_bounds(photo, magnitude, low, high):
    ra = RandAugment(1, magnitude, ops=("Rotate",), op_bins={"Rotate": (low, high)}, rng=0)
    at = min(max(magnitude, low), high)
    allowed = [apply_op(photo, "Rotate", at, sign=s) for s in (1, -1)]
    for _ in range(10):
        out = ra(photo)
        assert any(np.array_equal(out, a) for a in allowed)


def test_trivialaugment_clamps_the_drawn_bin_to_the_bounds(photo):
    # Solarize's wide table is RandAugment's (threshold 1 -> 0): each bin gives apply_op's pixels at that bin.
    ta = TrivialAugmentWide(ops=("Solarize",), op_bins={"Solarize": (2, 5)}, rng=0)
    outputs = {b: apply_op(photo, "Solarize", b) for b in range(31)}
    assert len({o.tobytes() for o in outputs.values()}) == 31
    seen = [next(b for b in range(31) if np.array_equal(out, outputs[b])) for out in (ta(photo) for _ in range(400))]
    counts = np.bincount(seen, minlength=31)
    # bins 0-2 land on 2 (3/31 of the draws), 5-30 on 5 (26/31): the clamp of a uniform bin
    assert counts[:2].sum() == counts[6:].sum() == 0
    assert _binomial_ok(counts[5], 400, 26 / 31) and _binomial_ok(counts[2], 400, 3 / 31) and counts[3] > 0


def test_bad_bounds_are_one_line_errors():
    for bounds, pattern in [({"Rotate": (11, 10)}, "Rotate.*11, 10"), ({"Cutout": (0, 1)}, "Cutout"),
                            ({"Identity": (0, 1)}, "no magnitude"), ({"Rotate": (0, 31)}, "30.*0, 31")]:
        with pytest.raises(PolicyError, match=pattern) as info:
            RandAugment(1, 5, op_bins=bounds)
        assert "\n" not in str(info.value)


# ---------------------------------------------------------------- the batched path
def test_batched_pre_stage_flips_about_half_and_crops_the_same_pixels_for_the_same_offsets(photo):
    batch = torch.from_numpy(np.repeat(photo[None], 4000, axis=0)).permute(0, 3, 1, 2).contiguous()
    pre = BatchedPreStage(flip=True, crop=STANDARD_CROP_BIN, fill=5, generator=0)
    draws = pre.draw(4000)
    assert _binomial_ok(int(draws["flip"].sum()), 4000)
    out = pre.apply_draws(batch, draws)
    pad = 4
    for i in range(0, 4000, 397):  # the numpy reference at the very same offsets
        top, left = (crop_offset(float(u), pad) for u in draws["crop"][i])
        source = photo[:, ::-1] if bool(draws["flip"][i]) else photo
        expected = crop_at(np.ascontiguousarray(source), pad, top, left, (5, 5, 5))
        assert np.array_equal(out[i].permute(1, 2, 0).numpy(), expected)
    offsets = torch.clamp((draws["crop"] * 9).to(torch.int64), max=8)
    counts = torch.bincount(offsets[:, 0], minlength=9).numpy()
    assert ((counts - 4000 / 9) ** 2 / (4000 / 9)).sum() < 30  # chi-square, 8 dof


def test_host_and_batched_paths_agree_in_distribution(photo):
    policy = Policy(num_ops=0, flip=True, crop=STANDARD_CROP_BIN)
    host = policy.transform(rng=0)
    batched = device_augment(policy, torch.Generator().manual_seed(0))
    assert isinstance(batched, BatchedChain)
    batch = torch.from_numpy(np.repeat(photo[None], 1500, axis=0)).permute(0, 3, 1, 2).contiguous()
    device_outs = batched(batch).permute(0, 2, 3, 1).numpy()
    host_outs = np.stack([host(photo) for _ in range(1500)])
    # the mean image is a smooth function of the flip rate and the offset distribution: both paths match
    assert np.abs(device_outs.mean(0) - host_outs.mean(0)).mean() < 3.0
    # and every output of either path is a flipped-or-not window of the padded photograph
    padded = [np.pad(p, ((4, 4), (4, 4), (0, 0))) for p in (photo, np.ascontiguousarray(photo[:, ::-1]))]
    windows = {p[t:t + 32, left:left + 32].tobytes() for p in padded for t in range(9) for left in range(9)}
    assert all(o.tobytes() in windows for o in device_outs[:200])
    assert all(o.tobytes() in windows for o in host_outs[:200])


def test_batched_bounds_use_the_clamped_tables(photo):
    batch = torch.from_numpy(np.repeat(photo[None], 8, axis=0)).permute(0, 3, 1, 2).contiguous()
    ra = BatchedRandAugment(1, 25, ops=("Rotate",), op_bins={"Rotate": (0, 10)}, generator=0)
    draws = ra.draw(8)
    out = ra.apply_draws(batch, draws).permute(0, 2, 3, 1).numpy()
    for i in range(8):
        sign = -1 if bool(draws["negate"][0, i]) else 1
        expected = apply_op(photo, "Rotate", 10, sign=sign)
        assert (out[i] != expected).mean() < 0.01  # warps: the same source pixel almost everywhere
    ta = BatchedTrivialAugmentWide(ops=("Rotate",), op_bins={"Rotate": (0, 10)}, generator=0)
    table = ta._table(32, 32, torch.device("cpu"))
    assert torch.equal(table[0, 0, 10:], table[0, 0, 10].expand(21))


def test_device_augment_without_pre_stage_is_the_plain_augmenter():
    assert type(device_augment(Policy(num_ops=2), torch.Generator())) is BatchedRandAugment
    chain = device_augment(Policy(num_ops=2, flip=True), torch.Generator())
    assert [type(s).__name__ for s in chain.stages] == ["BatchedPreStage", "BatchedRandAugment"]


# ---------------------------------------------------------------- groups
def test_the_groups_cover_torchvisions_ops_and_cutout():
    assert GROUPS == ("flips", "crop", "geometric", "colour", "histogram", "cutout")
    assert ops_for_groups(("geometric", "colour", "histogram")) == TORCHVISION_OPS
    assert ops_for_groups(tuple(OP_GROUPS)) == (*TORCHVISION_OPS, "Cutout")
    assert all(op in OPS for ops in OP_GROUPS.values() for op in ops)
    assert "Color" not in ops_for_groups(tuple(OP_GROUPS), grey=True)


def test_grey_images_are_one_channel_or_three_equal_ones(photo):
    grey = np.repeat(photo[..., :1], 3, axis=2)[None]
    assert is_grey(grey) and is_grey(photo[None, ..., :1]) and is_grey(photo[None, ..., 0])
    assert not is_grey(photo[None])
