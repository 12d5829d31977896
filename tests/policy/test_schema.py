"""The published JSON Schema of the policy document: real exports validate, malformed ones do not."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from policysearch import Policy, load_policy
from policysearch.augment.ops import OPS
from policysearch.policy import (APPROACHES, AUGMENTATION_KINDS, INTERPOLATIONS, MIXING_KINDS, Distillation, Mixing,
                                 Score, Transfer, policy_schema)

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "studies" / "examples").glob("*.json"))
VALIDATOR = jsonschema.Draft202012Validator(policy_schema())


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(policy_schema())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_examples_validate_and_load(path):
    document = json.loads(path.read_text())
    VALIDATOR.validate(document)
    assert load_policy(document).to_json()["augmentation"] == document["augmentation"]


def test_the_examples_include_a_real_export_with_verdict_and_rung():
    documents = [json.loads(path.read_text()) for path in EXAMPLES]
    assert any(d["score"] and d["score"].get("verdict") and d["score"].get("rung") for d in documents)


@pytest.mark.parametrize("policy", [
    Policy(), Policy(kind="trivialaugment"), Policy(num_ops=0, magnitude=0, fill=(1, 2, 3), interpolation="bilinear"),
    Policy(num_ops=1, magnitude=8, ops=("HorizontalFlip", "RandomCrop"), mixing=Mixing("mixup", prob=0.3, alpha=0.2),
           transfer=Transfer("linear_probe", head_lr=0.01, backbone_lr=None), distillation=Distillation(2.0, 0.5),
           score=Score(value=0.9, baselines={"no_augmentation": 0.8, "trivialaugment_wide": None},
                       rung={"budget": {"train_size": 1000, "val_size": 2000, "epochs": 4}, "value": 0.88,
                             "candidates": {"#3": 0.88, "#0": 0.86}})),
], ids=["default", "trivialaugment", "fill-bilinear", "everything"])
def test_every_exported_form_validates(policy):
    VALIDATOR.validate(json.loads(json.dumps(policy.to_json())))


def test_a_real_studys_export_validates(tmp_path):
    # A real search (digits, tiny-cnn) with its rung and verdict: the export carries every block.
    import io

    from policysearch.search.configuration.config import RunConfig
    from policysearch.search.run import run_search

    config = RunConfig(dataset="digits", model="tiny-cnn", weights=None, image_size=8, train_size=200, val_size=100,
                       trials=3, target_train_size=300, target_epochs=1, final_seeds=1, device="cpu",
                       rung_train_size=200, rung_val_size=100, storage=f"sqlite:///{tmp_path / 's.db'}",
                       output_dir=str(tmp_path), study="schema")
    document = json.loads(run_search(config, io.StringIO()).policy_path.read_text())
    assert document["score"]["verdict"] and document["score"]["rung"] and document["provenance"]["versions"]
    VALIDATOR.validate(document)


@pytest.mark.parametrize("change, where", [
    (lambda d: d.update(version=2), "version"),
    (lambda d: d.update(extra=1), "extra"),
    (lambda d: d["augmentation"].update(kind="autoaugment"), "kind"),
    (lambda d: d["augmentation"].pop("num_ops"), "num_ops"),
    (lambda d: d["augmentation"].update(ops=["Blur"]), "Blur"),
    (lambda d: d["augmentation"].update(fill=300), "fill"),
    (lambda d: d["transfer"].update(head_lr=-1), "head_lr"),
    (lambda d: d.update(mixing={"kind": "cutmix", "prob": 2}), "prob"),
])
def test_malformed_documents_fail_the_schema_and_the_loader(change, where):
    document = copy.deepcopy(Policy().to_json())
    change(document)
    assert not VALIDATOR.is_valid(document), where
    with pytest.raises(ValueError):
        load_policy(document)


def test_the_schemas_vocabularies_are_the_codes():
    schema = policy_schema()
    augmentation = schema["properties"]["augmentation"]["properties"]
    assert augmentation["kind"]["enum"] == list(AUGMENTATION_KINDS)
    assert augmentation["ops"]["items"]["enum"] == list(OPS)
    assert augmentation["interpolation"]["enum"] == list(INTERPOLATIONS)
    assert schema["properties"]["mixing"]["oneOf"][1]["properties"]["kind"]["enum"] == list(MIXING_KINDS)
    assert schema["properties"]["transfer"]["oneOf"][1]["properties"]["approach"]["enum"] == list(APPROACHES)
