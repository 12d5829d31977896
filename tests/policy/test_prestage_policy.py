"""The policy's pre-stage and per-op bounds: the JSON, the schema, the loader's errors, and the exports."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from sklearn.datasets import load_sample_images

from policysearch import Policy, load_policy
from policysearch._io import json_text
from policysearch.augment.ops import TORCHVISION_OPS, get_op
from policysearch.augment.trivialaugment import wide_value
from policysearch.errors import PolicyError
from policysearch.policy import EXPORT_FORMATS, STANDARD_CROP_BIN, Provenance, policy_schema
from policysearch.policy.formats import render

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "studies" / "examples").glob("*.json"))
STANDARD = Policy(num_ops=0, flip=True, crop=STANDARD_CROP_BIN, provenance=Provenance(image_size=32))
BOUNDED = Policy(num_ops=2, magnitude=20, ops=("Identity", "Rotate", "Brightness", "Posterize", "Cutout"),
                 op_bins={"Rotate": (0, 10), "Posterize": (25, 30)}, flip=True, crop=STANDARD_CROP_BIN,
                 provenance=Provenance(image_size=32))


@pytest.fixture(scope="module")
def photo():
    china = load_sample_images().images[0]
    return torch.from_numpy(np.ascontiguousarray(china[100:132, 200:232])).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize("policy", [
    STANDARD, BOUNDED, Policy(kind="trivialaugment", ops=("Identity", "Solarize"), op_bins={"Solarize": [3, 4]}),
], ids=["standard", "bounded", "trivialaugment"])
def test_the_new_fields_round_trip_and_validate(policy, tmp_path):
    document = json.loads(json.dumps(policy.to_json()))
    assert load_policy(document) == policy and load_policy(policy.save(tmp_path / "p.json")) == policy
    jsonschema.Draft202012Validator(policy_schema()).validate(document)


def test_they_are_written_only_when_set_so_old_documents_stay_byte_for_byte():
    assert not {"flip", "crop", "op_bins"} & set(Policy().to_json()["augmentation"])
    assert STANDARD.to_json()["augmentation"]["flip"] is True and STANDARD.to_json()["augmentation"]["crop"] == 15
    for path in EXAMPLES:  # documents written before these fields
        text = path.read_text()
        assert json_text(load_policy(json.loads(text)).to_json()) == text


@pytest.mark.parametrize("augmentation, pattern", [
    ({"flip": "yes"}, "augmentation.flip should be true or false, but got 'yes'"),
    ({"crop": 31}, "augmentation.crop .*31"),
    ({"crop": -1}, "augmentation.crop .*-1"),
    ({"op_bins": {"Rotate": [10, 2]}}, r"augmentation.op_bins.Rotate .*\[10, 2\]"),
    ({"op_bins": {"Rotate": [0, 31]}}, r"augmentation.op_bins.Rotate .*\[0, 31\]"),
    ({"op_bins": {"Rotate": [0.5, 2]}}, r"augmentation.op_bins.Rotate .*0.5"),
    ({"op_bins": {"Cutout": [0, 2]}}, "augmentation.op_bins bounds 'Cutout', which is not among"),
    ({"op_bins": {"Equalize": [0, 2]}}, "'Equalize', which has no magnitude"),
    ({"op_bins": [0, 2]}, r"augmentation.op_bins should be a table .*\[0, 2\]"),
])
def test_bad_values_are_one_line_errors_quoting_the_value(augmentation, pattern):
    document = Policy().to_json()
    document["augmentation"].update(augmentation)
    with pytest.raises(PolicyError, match=pattern) as info:
        load_policy(document)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- torchvision: exact
def test_to_torchvision_is_unchanged_for_plain_policies():
    from torchvision.transforms import v2

    assert type(Policy(num_ops=2, magnitude=9).to_torchvision()) is v2.RandAugment
    assert type(Policy(kind="trivialaugment").to_torchvision()) is v2.TrivialAugmentWide


def test_torchvision_subset_holds_the_ops_and_our_tables_at_the_clamped_bins(photo):
    tv = BOUNDED.to_torchvision()
    names = [type(t).__name__ for t in tv.transforms]
    assert names == ["RandomHorizontalFlip", "RandomCrop", "RandAugmentSubset"]
    assert tv.transforms[1].padding == [4, 4, 4, 4] and tuple(tv.transforms[1].size) == (32, 32)
    ra = tv.transforms[2]
    assert list(ra._AUGMENTATION_SPACE) == list(BOUNDED.ops)
    for name in ("Rotate", "Brightness", "Posterize", "Cutout"):
        table = ra._AUGMENTATION_SPACE[name][0](31, 32, 32)
        ours = get_op(name).value(BOUNDED.op_bin(name), 31, 32, 32)
        assert float(table[BOUNDED.magnitude]) == pytest.approx(ours, abs=1e-6), name
    out = tv(photo)
    assert out.shape == photo.shape and out.dtype == torch.uint8


def test_torchvision_trivialaugment_subset_reads_the_clamped_bin():
    policy = Policy(kind="trivialaugment", ops=("Identity", "Rotate", "Color"), op_bins={"Rotate": (3, 8)})
    tv = policy.to_torchvision()
    assert list(tv._AUGMENTATION_SPACE) == ["Identity", "Rotate", "Color"]
    table = tv._AUGMENTATION_SPACE["Rotate"][0](31, 32, 32)
    for b in range(31):
        assert float(table[b]) == pytest.approx(wide_value("Rotate", min(max(b, 3), 8), 31, 32, 32, False), abs=1e-5)


def test_torchvision_cutout_blanks_a_square_of_our_side(photo):
    policy = Policy(num_ops=1, magnitude=30, ops=("Cutout",), fill=(1, 2, 3))
    tv = policy.to_torchvision()
    torch.manual_seed(0)
    for _ in range(10):
        out = tv(photo)
        changed = (out != photo).any(0)
        rows, cols = changed.any(1).nonzero(), changed.any(0).nonzero()
        # side round(0.5 * 32) = 16, clipped at the border; the hole takes the fill
        assert 0 < len(rows) <= 16 and 0 < len(cols) <= 16
        assert out[:, changed].T.tolist() == [[1, 2, 3]] * int(changed.sum())


def test_the_export_file_builds_what_to_torchvision_builds(tmp_path, photo):
    module = runpy.run_path(str(BOUNDED.export(tmp_path / "tv.py", "torchvision")))
    from_file, direct = module["train_transform"](), BOUNDED.to_torchvision()
    assert [type(t).__name__ for t in from_file.transforms] == [type(t).__name__ for t in direct.transforms]
    torch.manual_seed(3)
    a = [from_file(photo) for _ in range(5)]
    torch.manual_seed(3)
    b = [direct(photo) for _ in range(5)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert EXPORT_FORMATS["torchvision"].fidelity_for(BOUNDED) == "exact"
    assert render(BOUNDED, "torchvision").splitlines()[0].endswith("(exact): see the reason below.")


def test_the_standard_augmentation_exports_as_flip_and_crop():
    text = render(STANDARD, "torchvision")
    assert "v2.Compose([v2.RandomHorizontalFlip(), v2.RandomCrop(32, padding=4, fill=0)])" in text
    assert "restricted" not in text


def test_a_crop_without_an_image_size_is_refused_in_one_line():
    with pytest.raises(PolicyError, match="augmentation.crop 15 pads by a share of the image size") as info:
        Policy(num_ops=0, crop=15).to_torchvision()
    assert "\n" not in str(info.value)
    assert len(Policy(num_ops=0, crop=15).to_torchvision(image_size=64).transforms) == 1


def test_ops_torchvision_lacks_are_refused():
    with pytest.raises(PolicyError, match="Perspective"):
        Policy(ops=("Identity", "Perspective")).to_torchvision()


# ---------------------------------------------------------------- the approximate formats
def test_albumentations_carries_the_pre_stage_and_the_bounded_bin():
    pytest.importorskip("albumentations")
    pipeline = Policy(num_ops=1, magnitude=20, ops=("Rotate",), op_bins={"Rotate": (0, 10)}, flip=True,
                      crop=STANDARD_CROP_BIN, provenance=Provenance(image_size=32)).to_albumentations()
    names = [type(t).__name__ for t in pipeline.transforms]
    assert names == ["HorizontalFlip", "PadIfNeeded", "RandomCrop", "SomeOf"]
    rotate = pipeline.transforms[3].transforms[0].transforms[0]
    assert tuple(rotate.limit) == pytest.approx((10.0, 10.0))  # bin 10 of 0-30 degrees, not bin 20
    out = pipeline(image=np.zeros((32, 32, 3), np.uint8))["image"]
    assert out.shape == (32, 32, 3)


def test_kornia_and_timm_files_carry_the_pre_stage_and_say_what_differs(tmp_path):
    pytest.importorskip("kornia")
    pytest.importorskip("timm")
    ta = Policy(kind="trivialaugment", ops=("Identity", "Rotate"), op_bins={"Rotate": (0, 10)}, flip=True,
                crop=STANDARD_CROP_BIN, provenance=Provenance(image_size=32))
    kornia_text = render(ta, "kornia")
    assert "K.RandomHorizontalFlip(p=0.5)" in kornia_text and "K.RandomCrop((32, 32), padding=4" in kornia_text
    assert "# Bounded ops ['Rotate'] draw uniformly within their bounds" in kornia_text
    module = runpy.run_path(str(ta.export(tmp_path / "k.py", "kornia")))
    assert module["train_transform"]()(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    ra = Policy(num_ops=1, magnitude=20, ops=("Identity", "Rotate"), flip=True, provenance=Provenance(image_size=32))
    timm_text = render(ra, "timm")
    assert "do not carry over" in timm_text and "transforms.RandomHorizontalFlip()" in timm_text
    from PIL import Image

    module = runpy.run_path(str(ra.export(tmp_path / "t.py", "timm")))
    assert module["train_transform"]()(Image.fromarray(np.zeros((32, 32, 3), np.uint8))).size == (32, 32)


def test_plain_torchvision_ops_still_export_as_before():
    assert "v2.RandAugment(num_ops=2, magnitude=9," in render(Policy(), "torchvision")
    assert set(Policy().ops) == set(TORCHVISION_OPS)
