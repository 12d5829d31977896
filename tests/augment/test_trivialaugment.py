"""Tests for policysearch.augment.trivialaugment: torchvision parity, draws, state.

The reference is torchvision's own ``v2.TrivialAugmentWide``: its magnitude
table (``_AUGMENTATION_SPACE``) and its ``_apply_image_or_video_transform`` on
uint8 tensors, called with the value our draw picked.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.v2 as T
from scipy import stats

from policysearch.augment.ops import EXTRA_OPS, TORCHVISION_OPS, get_op
from policysearch.augment.trivialaugment import WIDE_MAGNITUDES, TrivialAugmentWide, wide_value
from policysearch.errors import DataError, PolicyError

from test_ops import GEOMETRIC, IMAGES, assert_same_samples  # tests/augment/test_ops.py: the same images

TV = T.TrivialAugmentWide()
TV_SPACE = TV._AUGMENTATION_SPACE


def tv_apply(image: np.ndarray, name: str, value: float) -> np.ndarray:
    chw = torch.from_numpy(np.ascontiguousarray(image.reshape(*image.shape[:2], -1))).permute(2, 0, 1)
    out = TV._apply_image_or_video_transform(chw.contiguous(), name, value, interpolation=T.InterpolationMode.NEAREST,
                                             fill={type(chw): None})
    return out.permute(1, 2, 0).numpy().reshape(image.shape)


@pytest.mark.parametrize("shape", [(32, 32), (37, 45), (224, 224)])
def test_wide_table_is_torchvisions(shape):
    assert set(WIDE_MAGNITUDES) == set(TV_SPACE) == set(TORCHVISION_OPS)
    for name, (fn, signed) in TV_SPACE.items():
        theirs = fn(31, *shape)
        ours = WIDE_MAGNITUDES[name]
        assert (ours is None) == (theirs is None), name
        if theirs is not None:
            assert ours(31, *shape) == tuple(float(v) for v in theirs), name
        assert get_op(name).signed == signed, name


@pytest.mark.parametrize("kind", IMAGES)
@pytest.mark.parametrize("negate", [False, True])
@pytest.mark.parametrize("bin_index", [0, 9, 20, 30])
@pytest.mark.parametrize("name", TORCHVISION_OPS)
def test_each_op_at_each_bin_matches_torchvision(name, bin_index, negate, kind):
    image = IMAGES[kind]
    height, width = image.shape[:2]
    value = wide_value(name, bin_index, 31, height, width, negate)
    ours = get_op(name).apply(image, value)
    theirs = tv_apply(image, name, 0.0 if value is None else value)
    error = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    if name in GEOMETRIC:
        assert_same_samples(ours, theirs, name, value, f"{name} bin {bin_index}")
    else:
        assert error.mean() <= 1.0 and error.max() <= 1, f"{name} bin {bin_index}: mean {error.mean():.3f}"


def _draws(ta: TrivialAugmentWide, count: int) -> list[dict]:
    return [{k: int(v) for k, v in ta._draw().items()} for _ in range(count)]


def test_one_op_bin_and_sign_per_image_uniformly():
    # 14 ops x 31 bins, and the sign: each uniform (chi-square against the flat distribution).
    rows = _draws(TrivialAugmentWide(rng=3), 20000)
    for key, size in (("op", 14), ("bin", 31), ("negate", 2)):
        counts = np.bincount([r[key] for r in rows], minlength=size)
        assert len(counts) == size
        assert stats.chisquare(counts).pvalue > 1e-3, (key, counts)


def test_images_of_a_batch_get_their_own_draws():
    # The batched path (the GPU's) draws for a whole batch at once: 64 copies of one image must
    # come out as many different images, as one shared draw per batch would make them all alike.
    from policysearch.augment.batched import BatchedTrivialAugmentWide

    batch = torch.from_numpy(IMAGES["rgb"]).permute(2, 0, 1).expand(64, -1, -1, -1).contiguous()

    def distinct(ops=TORCHVISION_OPS):
        out = BatchedTrivialAugmentWide(ops, generator=0)(batch)
        return len({image.numpy().tobytes() for image in out})

    # Over seeds 0-299: at least 36 distinct of 64 (mean 48), with Brightness alone at least 32 (mean 40).
    assert distinct() > 32
    # Its own op: the five ops without a magnitude give five different images, and all five appear
    # (missing one in 64 draws: p < 1e-5).
    assert distinct(["Identity", "AutoContrast", "Equalize", "HorizontalFlip", "Invert"]) == 5
    # Its own bin and sign: one op, 31 bins x 2 signs.
    assert distinct(["Brightness"]) > 24


def test_seeded_and_resumable():
    image = IMAGES["gray"]
    a, b = TrivialAugmentWide(rng=7), TrivialAugmentWide(rng=7)
    assert all(np.array_equal(a(image), b(image)) for _ in range(30))
    state, rng_state = a.state_dict(), a.rng.bit_generator.state
    expected = [a(image) for _ in range(2000)]  # crosses a block boundary
    c = TrivialAugmentWide(rng=99)
    c.load_state_dict(state)
    c.rng.bit_generator.state = rng_state
    assert all(np.array_equal(c(image), e) for e in expected)


def test_extras_use_their_randaugment_table_and_any_input_type():
    from PIL import Image

    ta = TrivialAugmentWide(ops=EXTRA_OPS, rng=0)
    assert wide_value("Cutout", 30, 31, 32, 32, False) == get_op("Cutout").value(30, 31, 32, 32)
    image = IMAGES["rgb"]
    assert ta(image).shape == image.shape
    assert isinstance(ta(Image.fromarray(image)), Image.Image)
    tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
    assert ta(tensor).shape == tensor.shape


@pytest.mark.parametrize("kwargs, error, quoted", [
    ({"ops": ()}, PolicyError, "()"),
    ({"ops": ("Blur",)}, PolicyError, "'Blur'"),
    ({"num_bins": 1}, PolicyError, "1"),
    ({"interpolation": "cubic"}, PolicyError, "'cubic'"),
])
def test_bad_settings_quote_the_value(kwargs, error, quoted):
    with pytest.raises(error, match=quoted.replace("(", r"\(").replace(")", r"\)")):
        TrivialAugmentWide(**kwargs)


def test_bad_image_is_a_data_error():
    with pytest.raises(DataError, match="TrivialAugmentWide takes"):
        TrivialAugmentWide()("not an image")
