"""The Policy dataclass and its version-1 JSON: round trips and validation."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policysearch import Policy, PolicyError, load_policy
from policysearch.augment.ops import EXTRA_OPS, TORCHVISION_OPS
from policysearch.policy import Mixing, Provenance, Score, Transfer


def full_policy() -> Policy:
    return Policy(
        num_ops=3,
        magnitude=14,
        ops=TORCHVISION_OPS + ("HorizontalFlip", "Cutout"),
        interpolation="bilinear",
        fill=(1, 2, 3),
        mixing=Mixing("mixup", prob=0.25, alpha=0.4),
        transfer=Transfer("finetune", head_lr=3e-3, backbone_lr=2e-4),
        score=Score(
            "val_accuracy",
            0.91,
            baselines={"no_augmentation": 0.88, "randaugment_n2_m9": 0.9},
            final_check={"best": {"mean": 0.9, "std": 0.01, "values": [0.89, 0.91]}},
        ),
        provenance=Provenance(
            study="fashion-mnist",
            storage="sqlite:///studies/policysearch.db",
            trial=7,
            dataset="fashion-mnist",
            model="efficientnet-lite0",
            image_size=32,
            budget={"epochs": 3, "train_size": 1000},
            versions={"policysearch": "0.1.0"},
            created="2026-11-29T00:00:00+00:00",
        ),
    )


@pytest.mark.parametrize("policy", [Policy(), Policy(num_ops=0, magnitude=0), full_policy()])
def test_round_trip_through_dict_and_file(policy, tmp_path):
    assert load_policy(policy.to_json()) == policy
    path = policy.save(tmp_path / "sub" / "policy.json")
    assert load_policy(path) == policy
    assert load_policy(str(path)) == policy
    # The file is plain JSON that any tool can read.
    assert json.loads(path.read_text())["augmentation"]["magnitude"] == policy.magnitude


def test_document_names_its_format_version_and_scale():
    doc = Policy().to_json()
    assert doc["format"] == "policysearch.policy"
    assert doc["version"] == 1
    assert doc["augmentation"]["magnitude_scale"] == "torchvision-bins"
    assert doc["augmentation"]["ops"] == list(TORCHVISION_OPS)
    assert doc["transfer"] == {"approach": "finetune", "head_lr": 1e-3, "backbone_lr": 1e-4}


def test_linear_probe_has_no_backbone_rate():
    policy = Policy(transfer=Transfer("linear_probe", head_lr=0.01, backbone_lr=None))
    assert load_policy(policy.to_json()) == policy
    with pytest.raises(PolicyError, match="backbone_lr.*linear_probe.*0.001"):
        Transfer("linear_probe", head_lr=0.01, backbone_lr=0.001)


def _set(doc, dotted, value):
    target = doc
    *parents, last = dotted.split(".")
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


_DELETE = object()

BAD_FIELDS = [
    ("format", _DELETE, "format"),
    ("version", _DELETE, "version"),
    ("version", 2, "version.*2"),
    ("version", "1", "version.*'1'"),
    ("version", True, "version.*True"),
    ("format", "other", "format.*'other'"),
    ("augmentation", _DELETE, "augmentation"),
    ("augmentation", [], r"augmentation.*\[\]"),
    ("augmentation.num_ops", _DELETE, "augmentation.num_ops"),
    ("augmentation.num_ops", -1, "augmentation.num_ops.*-1"),
    ("augmentation.num_ops", 2.0, "augmentation.num_ops.*2.0"),
    ("augmentation.num_ops", "2", "augmentation.num_ops.*'2'"),
    ("augmentation.magnitude", 31, "augmentation.magnitude.*31"),
    ("augmentation.magnitude", -1, "augmentation.magnitude.*-1"),
    ("augmentation.magnitude", None, "augmentation.magnitude.*None"),
    ("augmentation.num_magnitude_bins", 1, "num_magnitude_bins.*1"),
    ("augmentation.kind", "autoaugment", "augmentation.kind.*autoaugment"),
    ("augmentation.magnitude_scale", "timm", "magnitude_scale.*timm"),
    ("augmentation.ops", ["Rotate", "Smudge"], "augmentation.ops.*Smudge"),
    ("augmentation.ops", [], r"augmentation.ops.*\[\]"),
    ("augmentation.ops", "Rotate", "augmentation.ops.*Rotate"),
    ("augmentation.ops", ["Rotate", "Rotate"], "augmentation.ops.*repeat"),
    ("augmentation.interpolation", "cubic", "interpolation.*cubic"),
    ("augmentation.fill", 256, "fill.*256"),
    ("augmentation.fill", [1, 2], r"fill.*\[1, 2\]"),
    ("augmentation.extra", 1, "augmentation.*extra"),
    ("transfer.head_lr", -0.1, "transfer.head_lr.*-0.1"),
    ("transfer.head_lr", 0, "transfer.head_lr.*0"),
    ("transfer.backbone_lr", -1e-4, "transfer.backbone_lr.*-0.0001"),
    ("transfer.backbone_lr", float("nan"), "transfer.backbone_lr.*nan"),
    ("transfer.approach", "distill", "transfer.approach.*distill"),
    ("transfer.momentum", 0.9, "transfer.*momentum"),
    ("mixing", {"kind": "cutmix", "prob": 1.5, "alpha": 1.0}, "mixing.prob.*1.5"),
    ("mixing", {"kind": "cutmix", "prob": 0.5, "alpha": 0}, "mixing.alpha.*0"),
    ("mixing", {"kind": "fmix"}, "mixing.kind.*fmix"),
    ("score", {"metric": "acc", "value": "high"}, "score.value.*high"),
    ("score", {"metric": "acc", "value": 1, "baselines": {"x": "y"}}, "score.baselines.x.*'y'"),
    ("provenance", {"trial": -3}, "provenance.trial.*-3"),
    ("provenance", {"versions": {"torch": 2}}, "provenance.versions.torch.*2"),
    ("surprise", 1, "surprise"),
]


@pytest.mark.parametrize("field,value,pattern", BAD_FIELDS, ids=[f[0] + "=" + repr(f[1])[:20] for f in BAD_FIELDS])
def test_bad_field_is_named_with_its_value(field, value, pattern):
    doc = full_policy().to_json()
    _set(doc, field, value)
    with pytest.raises(PolicyError, match=pattern):
        load_policy(doc)


def test_policy_error_is_a_value_error():
    with pytest.raises(ValueError):
        Policy(num_ops=-1)


def test_bad_files(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "missing.json")
    truncated = tmp_path / "truncated.json"
    truncated.write_text(json.dumps(Policy().to_json())[:40])
    with pytest.raises(PolicyError, match="not valid JSON"):
        load_policy(truncated)
    with pytest.raises(PolicyError, match="should be a file path or a dict"):
        load_policy(42)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "best_policy.json"
    target.write_text("old")
    Policy(num_ops=1, magnitude=3).save(target)
    assert load_policy(target).num_ops == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_policy.json"]


def test_to_torchvision_is_torchvisions_randaugment():
    from torchvision.transforms import v2

    tv = Policy(num_ops=3, magnitude=17).to_torchvision()
    assert isinstance(tv, v2.RandAugment)
    assert (tv.num_ops, tv.magnitude, tv.num_magnitude_bins) == (3, 17, 31)
    out = tv(torch.zeros(3, 16, 16, dtype=torch.uint8))
    assert out.shape == (3, 16, 16)


def test_to_torchvision_refuses_ops_torchvision_lacks_and_restricts_a_subset():
    with pytest.raises(PolicyError, match="HorizontalFlip"):
        Policy(ops=TORCHVISION_OPS + ("HorizontalFlip",)).to_torchvision()
    subset = Policy(ops=TORCHVISION_OPS[:-1]).to_torchvision()  # an op subset: exact, through a subclass
    assert type(subset).__name__ == "RandAugmentSubset" and "Equalize" not in subset._AUGMENTATION_SPACE


def test_to_timm_rescales_magnitude():
    assert Policy(num_ops=2, magnitude=9).to_timm() == "rand-m3-n2-mstd0-inc1-p1.0"
    assert Policy(num_ops=1, magnitude=30).to_timm() == "rand-m10-n1-mstd0-inc1-p1.0"
    # timm parses an integer level: the nearest one (its parser fails on "3.33")
    assert Policy(num_ops=3, magnitude=10).to_timm() == "rand-m3-n3-mstd0-inc1-p1.0"


def test_param_groups_split_the_learning_rates():
    backbone, head = torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)
    groups = Policy(transfer=Transfer("finetune", head_lr=0.01, backbone_lr=0.0005)).param_groups(
        backbone.parameters(), head.parameters()
    )
    assert [(g["name"], g["lr"], len(g["params"])) for g in groups] == [
        ("head", 0.01, 2),
        ("backbone", 0.0005, 2),
    ]
    optimizer = torch.optim.AdamW(groups)
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.0005]
    frozen = Policy(transfer=Transfer("linear_probe", head_lr=0.02, backbone_lr=None))
    assert [g["name"] for g in frozen.param_groups(backbone.parameters(), head.parameters())] == ["head"]


def test_transform_accepts_numpy_pil_and_tensor_and_returns_same_type():
    from PIL import Image

    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    transform = Policy(num_ops=2, magnitude=20).transform(rng=0)
    out = transform(array)
    assert isinstance(out, np.ndarray) and out.shape == array.shape and out.dtype == np.uint8
    pil = transform(Image.fromarray(array))
    assert isinstance(pil, Image.Image) and pil.size == (24, 20) and pil.mode == "RGB"
    gray = transform(Image.fromarray(array[:, :, 0]))
    assert gray.mode == "L"
    tensor = transform(torch.from_numpy(array).permute(2, 0, 1).contiguous())
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (3, 20, 24) and tensor.dtype == torch.uint8


def test_transform_is_reproducible_with_a_seed():
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    policy = Policy(num_ops=2, magnitude=15, ops=TORCHVISION_OPS + EXTRA_OPS)
    first, second, other = (policy.transform(rng=seed) for seed in (5, 5, 6))
    outputs = [first(image) for _ in range(20)]
    for out in outputs:
        np.testing.assert_array_equal(out, second(image))
    assert any(not np.array_equal(out, other(image)) for out in outputs)


# -- property-based: only PolicyError comes out of the loader ---------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)
FIELD_PATHS = [
    "augmentation.num_ops",
    "augmentation.magnitude",
    "augmentation.num_magnitude_bins",
    "augmentation.ops",
    "augmentation.kind",
    "augmentation.fill",
    "augmentation.interpolation",
    "augmentation.magnitude_scale",
    "transfer.approach",
    "transfer.head_lr",
    "transfer.backbone_lr",
    "mixing",
    "score",
    "score.baselines",
    "score.final_check",
    "provenance",
    "provenance.budget",
    "provenance.trial",
    "version",
    "format",
    "transfer",
    "augmentation",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELD_PATHS), json_values)
def test_loader_raises_only_policy_error_on_mutated_documents(field, value):
    doc = copy.deepcopy(full_policy().to_json())
    _set(doc, field, value)
    try:
        policy = load_policy(doc)
    except PolicyError:
        return
    # Whatever loads must be a valid policy that round-trips.
    assert load_policy(policy.to_json()) == policy


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_loader_raises_only_policy_error_on_arbitrary_values(value):
    try:
        load_policy(value) if isinstance(value, dict) else load_policy({"policy": value})
    except PolicyError:
        pass
    else:  # pragma: no cover - no random value is a complete valid policy
        pytest.fail(f"random value loaded as a policy: {value!r}")


def test_distillation_block_round_trips_and_is_absent_otherwise(tmp_path):
    from policysearch.policy import Distillation

    taught = Policy(num_ops=1, magnitude=3, distillation=Distillation(temperature=2.5, alpha=0.4))
    assert load_policy(taught.save(tmp_path / "kd.json")) == taught
    assert taught.to_json()["distillation"] == {"temperature": 2.5, "alpha": 0.4}
    assert "distillation" not in Policy().to_json()
    document = {**taught.to_json(), "distillation": {"temperature": 0, "alpha": 0.4}}
    with pytest.raises(PolicyError, match="distillation.temperature should be .* but got 0"):
        load_policy(document)
    with pytest.raises(PolicyError, match="distillation has an unknown field .beta."):
        load_policy({**taught.to_json(), "distillation": {"temperature": 2.0, "beta": 1}})
