"""Policy documents of both augmentation kinds: RandAugment and TrivialAugmentWide (additive in version 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torchvision.transforms.v2 as T

from policysearch import Policy, PolicyError, load_policy
from policysearch.augment import RandAugment, TrivialAugmentWide


def test_trivialaugment_round_trips_through_json_and_a_file(tmp_path):
    policy = Policy(kind="trivialaugment", num_magnitude_bins=21, fill=(1, 2, 3))
    doc = policy.to_json()
    assert doc["version"] == 1 and doc["augmentation"]["kind"] == "trivialaugment"
    assert "num_ops" not in doc["augmentation"] and doc["augmentation"]["magnitude_scale"] == "torchvision-wide"
    assert load_policy(json.loads(json.dumps(doc))) == policy
    assert load_policy(policy.save(tmp_path / "p.json")) == policy


def test_n_and_m_do_not_apply_to_trivialaugment():
    assert Policy(kind="trivialaugment", num_ops=3, magnitude=20) == Policy(kind="trivialaugment")


def test_each_kind_transforms_and_converts_to_its_torchvision_class():
    image = np.zeros((16, 16, 3), np.uint8)
    ta, ra = Policy(kind="trivialaugment"), Policy(num_ops=2, magnitude=9)
    assert isinstance(ta.transform(rng=0), TrivialAugmentWide) and ta.transform(rng=0)(image).shape == image.shape
    assert isinstance(ra.transform(rng=0), RandAugment)
    tv = ta.to_torchvision()
    assert isinstance(tv, T.TrivialAugmentWide) and tv.num_magnitude_bins == 31
    assert isinstance(ra.to_torchvision(), T.RandAugment)


def test_older_randaugment_documents_still_load_and_need_n_and_m():
    old = {"format": "policysearch.policy", "version": 1, "augmentation": {"kind": "randaugment", "num_ops": 2,
                                                                           "magnitude": 9}}
    assert load_policy(old) == Policy()
    del old["augmentation"]["magnitude"]
    with pytest.raises(PolicyError, match="augmentation.magnitude is missing"):
        load_policy(old)


@pytest.mark.parametrize("augmentation, message", [
    ({"kind": "autoaugment"}, "augmentation.kind should be one of"),
    ({"kind": "trivialaugment", "magnitude_scale": "torchvision-bins"}, "'torchvision-wide' for kind"),
    ({"kind": "randaugment", "num_ops": 1, "magnitude": 2, "magnitude_scale": "torchvision-wide"},
     "'torchvision-bins' for kind"),
])
def test_bad_kinds_and_scales_quote_the_value(augmentation, message):
    with pytest.raises(PolicyError, match=message):
        load_policy({"format": "policysearch.policy", "version": 1, "augmentation": augmentation})


def test_trivialaugment_has_no_timm_string():
    with pytest.raises(PolicyError, match="no timm config string"):
        Policy(kind="trivialaugment").to_timm()
