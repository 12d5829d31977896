"""Export formats: every export loads in its own library and augments a real photograph.

The per-op claims of the approximate formats are checked where the converter
says the arithmetic is the same: those ops must give our (torchvision's)
pixels exactly, at one of the two signs.
"""

from __future__ import annotations

import importlib.util
import runpy
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_images

from policysearch import Policy, load_policy
from policysearch.augment.ops import TORCHVISION_OPS, apply_op
from policysearch.errors import PolicyError
from policysearch.policy import EXPORT_FORMATS, Mixing, Provenance, Transfer, write_export
from policysearch.policy.to_kornia import KORNIA_OPS, kornia_policy



def _needs(module: str):
    """A test that needs an optional library skips without it; the others still run."""
    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"needs {module}")


needs_albumentations, needs_kornia, needs_timm = _needs("albumentations"), _needs("kornia"), _needs("timm")

RA = Policy(num_ops=2, magnitude=9, mixing=Mixing("cutmix", prob=1.0, alpha=1.0),
            transfer=Transfer(head_lr=3e-3, backbone_lr=4e-4),
            provenance=Provenance(study="fmnist", trial=7, image_size=64))
TA = Policy(kind="trivialaugment", fill=(10, 20, 30), interpolation="bilinear")


@pytest.fixture(scope="module")
def photos():
    """Four 64x64 crops of scikit-learn's sample photographs (real colour images, offline)."""
    china, flower = load_sample_images().images
    return [np.ascontiguousarray(p[y:y + 64, x:x + 64]) for p in (china, flower) for y, x in ((100, 200), (250, 300))]


def _closest_sign_equal(out: np.ndarray, image: np.ndarray, op: str, magnitude: int) -> bool:
    return any(np.array_equal(out, apply_op(image, op, magnitude, sign=sign)) for sign in (1, -1))


def test_the_registry_names_every_format_and_marks_fidelity():
    assert list(EXPORT_FORMATS) == ["json", "torchvision", "timm", "albumentations", "kornia"]
    assert {f.name: f.fidelity for f in EXPORT_FORMATS.values()} == {
        "json": "exact", "torchvision": "exact", "timm": "approximate", "albumentations": "approximate",
        "kornia": "approximate"}
    assert all(f.reason for f in EXPORT_FORMATS.values())


@pytest.mark.parametrize("policy", [RA, TA], ids=["randaugment", "trivialaugment"])
def test_json_export_reads_back_as_the_same_policy(policy, tmp_path):
    assert load_policy(policy.export(tmp_path / "p.json")) == policy


@pytest.mark.parametrize("policy", [RA, TA], ids=["randaugment", "trivialaugment"])
def test_torchvision_export_builds_the_same_transform_and_mixes_batches(policy, tmp_path, photos):
    module = runpy.run_path(str(policy.export(tmp_path / "tv.py", "torchvision")))
    from_file, direct = module["train_transform"](), policy.to_torchvision()
    image = torch.from_numpy(photos[0]).permute(2, 0, 1)
    torch.manual_seed(3)
    first = from_file(image)
    torch.manual_seed(3)
    assert torch.equal(first, direct(image)) and not torch.equal(first, image)
    assert module["HEAD_LR"] == policy.transfer.head_lr and module["BACKBONE_LR"] == policy.transfer.backbone_lr
    mixer = module["batch_transform"](10)
    if policy.mixing is None:
        assert mixer is None
        return
    images, labels = mixer(torch.stack([image] * 4), torch.tensor([0, 1, 2, 3]))
    assert labels.shape == (4, 10) and torch.allclose(labels.sum(1), torch.ones(4))
    assert sum(float(row.max()) < 1.0 for row in labels) >= 1  # CutMix at p=1 mixes the labels


@needs_timm
def test_timm_export_carries_the_config_string_and_augments_a_pil_image(tmp_path, photos):
    module = runpy.run_path(str(RA.export(tmp_path / "timm.py", "timm")))
    assert module["CONFIG"] == RA.to_timm() == "rand-m3-n2-mstd0-inc1-p1.0"
    transform = module["train_transform"]()
    outputs = [np.asarray(transform(Image.fromarray(photos[1]))) for _ in range(4)]
    assert all(o.shape == (64, 64, 3) for o in outputs)
    assert any(not np.array_equal(o, photos[1]) for o in outputs)


@needs_albumentations
@pytest.mark.parametrize("policy", [RA, TA], ids=["randaugment", "trivialaugment"])
def test_albumentations_export_is_read_by_a_load(policy, tmp_path, photos):
    path = policy.export(tmp_path / "alb.json", "albumentations")
    import albumentations as A

    pipeline = A.load(str(path), data_format="json")
    assert A.to_dict(pipeline) == A.to_dict(policy.to_albumentations())
    outputs = [pipeline(image=photos[2])["image"] for _ in range(6)]
    assert all(o.shape == photos[2].shape and o.dtype == np.uint8 for o in outputs)
    assert any(not np.array_equal(o, photos[2]) for o in outputs)


@needs_albumentations
@pytest.mark.parametrize("op", ["Identity", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
                                "Posterize", "Solarize"])
@pytest.mark.parametrize("magnitude", [9, 20])
def test_albumentations_ops_with_torchvisions_arithmetic_give_its_pixels(op, magnitude, photos):
    pipeline = Policy(num_ops=1, magnitude=magnitude, ops=(op,)).to_albumentations()
    for image in photos:
        out = pipeline(image=image)["image"]
        # ColorJitter's factors are torchvision's, but it rounds where torchvision truncates: within a level.
        if op in ("Brightness", "Color", "Contrast"):  # Color's grey mix rounds twice: two levels
            worst = min(np.abs(out.astype(int) - apply_op(image, op, magnitude, sign=s)).max() for s in (1, -1))
            assert worst <= (2 if op == "Color" else 1), op
        else:
            assert _closest_sign_equal(out, image, op, magnitude), op


@needs_albumentations
def test_albumentations_signs_are_drawn_half_and_half(photos):
    pipeline = Policy(num_ops=1, magnitude=20, ops=("Rotate",)).to_albumentations()
    positive = apply_op(photos[0], "Rotate", 20, sign=1)
    hits = sum(np.array_equal(pipeline(image=photos[0])["image"], positive) for _ in range(200))
    assert 70 <= hits <= 130  # Binomial(200, 1/2): outside this range with probability < 1e-4


@needs_kornia
@pytest.mark.parametrize("policy", [RA, TA], ids=["randaugment", "trivialaugment"])
def test_kornia_export_augments_a_batch_on_the_device(policy, tmp_path, photos):
    module = runpy.run_path(str(policy.export(tmp_path / "k.py", "kornia")))
    augment = module["train_transform"]()
    batch = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float() / 255.0
    torch.manual_seed(0)
    outputs = [augment(batch) for _ in range(4)]
    assert all(o.shape == batch.shape for o in outputs)
    assert any(not torch.allclose(o, batch) for o in outputs)
    assert module["POLICY"] == kornia_policy(policy)


def test_kornia_randaugment_keeps_each_ops_share_and_pins_bin_m():
    entries = [entry for [entry] in kornia_policy(Policy(num_ops=2, magnitude=9))]
    assert len(entries) == 2 * len(TORCHVISION_OPS)  # two entries per op: one chance in 14 per draw
    assert Counter(name for name, *_ in entries) == Counter(KORNIA_OPS[op] for op in TORCHVISION_OPS for _ in "ab")
    # Brightness and Contrast are both Kornia's "contrast" (a plain scaling), one entry per sign each.
    assert entries.count(("contrast", 1.27, 1.27)) == 2 and entries.count(("contrast", 0.73, 0.73)) == 2
    assert ("rotate", -18.0, 18.0) in entries  # read at m=15: half of 18 is bin 9's 9 degrees


@needs_kornia
@pytest.mark.parametrize("op", ["Posterize", "Solarize", "Equalize", "Identity", "Brightness"])
def test_kornia_ops_with_pinned_values_give_our_pixels(op, photos):
    module = Policy(num_ops=1, magnitude=9, ops=(op,)).to_kornia()
    for image in photos:
        batch = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
        out = np.rint(module(batch)[0].permute(1, 2, 0).numpy() * 255.0).astype(int)
        # float32 in [0, 1] against uint8 (torchvision truncates): within a level, at the sign Kornia drew
        assert min(np.abs(out - apply_op(image, op, 9, sign=sign)).max() for sign in (1, -1)) <= 1, op


@needs_kornia
def test_kornia_with_no_ops_is_the_identity_and_too_many_is_refused():
    assert isinstance(Policy(num_ops=0, magnitude=0).to_kornia(), torch.nn.Identity)
    with pytest.raises(PolicyError, match="num_ops 3 is more than"):
        Policy(num_ops=3, magnitude=9, ops=("Rotate",)).to_kornia()


@pytest.mark.parametrize(("fmt", "policy", "message"), [
    ("torchvision", Policy(ops=("Rotate", "HorizontalFlip")), "no torchvision equivalent"),
    ("timm", TA, "RandAugment only"),
    ("albumentations", Policy(ops=("RandomCrop",)), "no albumentations equivalent for 'RandomCrop'"),
    ("kornia", Policy(ops=("Perspective",)), "no Kornia equivalent for 'Perspective'"),
    ("kornia", Policy(num_ops=3, magnitude=9, ops=("Rotate",)), "num_ops 3 is more than"),
    ("onnx", Policy(), "export format should be one of"),
])
def test_a_policy_a_format_cannot_hold_is_refused_and_writes_nothing(fmt, policy, message, tmp_path):
    if fmt == "albumentations":
        pytest.importorskip("albumentations")
    target = tmp_path / "out"
    target.write_text("earlier")
    with pytest.raises(PolicyError, match=message):
        write_export(policy, fmt, target)
    assert target.read_text() == "earlier"


def test_a_format_with_batch_mixing_it_cannot_carry_exactly_says_approximate(tmp_path):
    assert EXPORT_FORMATS["torchvision"].fidelity_for(RA) == "approximate"  # CutMix pairs neighbours in torchvision
    assert EXPORT_FORMATS["torchvision"].fidelity_for(TA) == "exact"
    assert EXPORT_FORMATS["json"].fidelity_for(RA) == "exact"
    text = RA.export(tmp_path / "k.py", "kornia").read_text()
    assert "(approximate)" in text and "mixes batches (cutmix" in text
    assert "(approximate)" in RA.export(tmp_path / "tv.py", "torchvision").read_text().splitlines()[0]


def test_kornia_trivialaugment_translates_at_most_a_whole_side():
    entries = {name: (low, high) for [(name, low, high)] in kornia_policy(TA, image_size=16)}
    assert entries["translate_x"] == (-1.0, 1.0)  # 32 pixels of a 16-pixel side: capped at the side
    entries = {name: (low, high) for [(name, low, high)] in kornia_policy(TA, image_size=64)}
    assert entries["translate_x"] == (-0.5, 0.5)
    with pytest.raises(PolicyError, match="image_size"):
        kornia_policy(TA, image_size=0)
