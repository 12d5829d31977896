"""The stored schema: one module spells every study and trial attribute, and reads what earlier releases stored.

The attribute names below are written out literally on purpose: they are a
stored format (studies live for years), so renaming a constant in
``policysearch/search/study/schema.py`` must fail here.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from policysearch.search.configuration.config import RunConfig
from policysearch.search.outputs.export import best_trial
from policysearch.search.run import run_search
from policysearch.search.study import schema
from policysearch.search.study.schema import (
    Ablation,
    Baseline,
    Owner,
    Placement,
    StoredRung,
    StudyIdentity,
    TrialCost,
)
from policysearch.search.verdict.target_results import RESULTS_STUDY

PACKAGE = Path(schema.__file__).resolve().parents[2]
SCHEMA = Path(schema.__file__).resolve()
LEGACY = Path(__file__).resolve().parents[1] / "data_files" / "legacy_v2.db"

# Every way code reaches Optuna's user attributes: a study's or trial's ``user_attrs`` (read, ``.get``, or
# ``enqueue_trial(..., user_attrs=...)`` / ``create_trial(user_attrs=...)``), ``set_user_attr``, and the storage's
# own ``set_trial_user_attr`` / ``set_study_user_attr``. Prose ("user attribute") is not code and does not match.
USER_ATTRIBUTE_CODE = re.compile(r"\buser_attrs\b|\bset_user_attr\b|\bset_(?:trial|study)_user_attr\b")


def _offences(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each line of ``text`` that touches user attributes."""
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)
            if USER_ATTRIBUTE_CODE.search(line)]


def _attribute_literals(line: str) -> list[str]:
    """The stored attribute names a line spells as string literals."""
    names = (*schema.STUDY_ATTRIBUTES, *schema.TRIAL_ATTRIBUTES)
    found = [name for name in names if re.search(rf"""["']{name}["']""", line)]
    return found + ([schema.RESULT_PREFIX] if re.search(r"""f?["']result:""", line) else [])


def test_only_the_schema_module_touches_stored_attributes():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.resolve() == SCHEMA:
            continue
        for number, line in _offences(path.read_text(encoding="utf-8")):
            named = _attribute_literals(line)
            found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line}"
                         + (f"  (spells {', '.join(map(repr, named))})" if named else ""))
    assert not found, ("only policysearch/search/study/schema.py may read or write study and trial attributes; "
                       "use its accessors instead:\n" + "\n".join(found))


@pytest.mark.parametrize("line,names", [
    ('verdict = study.user_attrs["verdict"]', ["verdict"]),
    ("picked = study.user_attrs.get('rung', {})", ["rung"]),
    ('trial.set_user_attr("epochs_run", 3)', ["epochs_run"]),
    ('study.enqueue_trial(params, user_attrs={"baseline": name}, skip_if_exists=True)', ["baseline"]),
    ("study.add_trial(optuna.trial.create_trial(value=1.0, user_attrs={'policy': document}))", ["policy"]),
    ('storage.set_trial_user_attr(trial_id, "failure", reason)', ["failure"]),
    ('storage.set_study_user_attr(study_id, f"result:{digest}", entry)', ["result:"]),
    ("value = trial.user_attrs.get(name)", []),  # no literal: still touches attributes, still flagged
])
def test_the_check_sees_every_form_of_attribute_access(line, names):
    assert _offences(f"x = 1\n{line}\n") == [(2, line)]
    assert _attribute_literals(line) == names


@pytest.mark.parametrize("line", [
    'dataset = settings.get("dataset")',
    'print(f"verdict: {outcome.verdict[\'line\']}")',
    '"""The policy a trial evaluated (stored as its ``policy`` user attribute)."""',
    "attributes = dict(user_attributes)",
])
def test_the_check_leaves_unrelated_strings_alone(line):
    assert _offences(line) == []


def test_stored_names_are_forever():
    assert schema.STUDY_ATTRIBUTES == ("settings", "storage", "dataset", "model", "rung", "verdict", "verdict_trial",
                                       "final_check", "final_check_trial")
    assert schema.TRIAL_ATTRIBUTES == ("policy", "baseline", "ablation_of", "failure", "seconds", "epochs_run",
                                       "device", "seed_accuracies", "worker", "gpu", "host", "pid", "started")
    assert schema.RESULT_PREFIX == "result:"


# --- the stored JSON, key for key --------------------------------------------------------------------------------

# A rung as promotion.py wrote it before this module (release with paired seeds): names, order and types.
STORED_RUNG = {"budget": {"train_size": 400, "val_size": 200, "epochs": 4, "seeds": 2},
               "scores": {"7": 0.5, "2": 0.625}, "values": {"7": [0.5, 0.5], "2": [0.625, 0.625]},
               "candidates": [2, 7], "pick": 2, "image_epochs": 6400}


def test_a_rung_reads_and_writes_back_key_for_key():
    study = optuna.create_study()
    study.set_user_attr("rung", STORED_RUNG)
    rung = schema.read_rung(study)
    assert (rung.pick, rung.scores, rung.values[7], rung.listed, rung.image_epochs) == (
        2, {7: 0.5, 2: 0.625}, [0.5, 0.5], (2, 7), 6400)
    schema.write_rung(study, rung)
    assert json.dumps(study.user_attrs["rung"]) == json.dumps(STORED_RUNG)


def test_a_cleared_rung_keeps_its_cost_as_before():
    study = optuna.create_study()
    schema.write_rung(study, StoredRung.from_json(STORED_RUNG).cleared())
    assert json.dumps(study.user_attrs["rung"]) == json.dumps({"image_epochs": 6400, "pick": None})
    assert schema.read_rung(study) == StoredRung(image_epochs=6400)
    assert schema.read_rung(optuna.create_study()) == StoredRung()  # none ran: empty, cost 0


def test_a_rung_from_before_paired_seeds_and_listed_candidates_reads():
    study = optuna.create_study()  # one score per trial, no values, no candidates, no cost
    study.set_user_attr("rung", {"budget": {"train_size": 400, "val_size": 200, "epochs": 4},
                                 "scores": {"5": 0.75, "1": 0.5}, "pick": 5})
    rung = schema.read_rung(study)
    assert (rung.listed, rung.values, rung.image_epochs, rung.budget) == (
        (5, 1), {}, 0, {"train_size": 400, "val_size": 200, "epochs": 4})


def test_the_verdict_and_an_earlier_final_check_belong_to_one_trial():
    study = optuna.create_study()
    assert schema.read_verdict(study) is None and schema.read_final_check(study) is None
    schema.write_verdict(study, {"line": "beats"}, 3)
    assert (study.user_attrs["verdict"], study.user_attrs["verdict_trial"]) == ({"line": "beats"}, 3)
    assert schema.read_verdict(study).for_trial(3) == {"line": "beats"}
    assert schema.read_verdict(study).for_trial(4) is None
    study.set_user_attr("final_check", {"best": {"mean": 0.9, "std": 0.0}})  # as an earlier release stored it
    study.set_user_attr("final_check_trial", 1)
    assert schema.read_final_check(study).for_trial(1) == {"best": {"mean": 0.9, "std": 0.0}}


def test_settings_and_identity_as_stored():
    study = optuna.create_study()
    schema.write_settings(study, {"format": 3, "train_size": 200}, StudyIdentity("sqlite:///a.db", "digits", "m"))
    assert study.user_attrs == {"settings": {"format": 3, "train_size": 200}, "storage": "sqlite:///a.db",
                                "dataset": "digits", "model": "m"}
    assert schema.read_identity(optuna.create_study()) == StudyIdentity()


def test_trial_attributes_as_stored():
    study = optuna.create_study()
    schema.enqueue_baseline(study, "standard", {"x": 1})
    schema.enqueue_baseline(study, "standard", {"x": 1})  # the same point is enqueued once
    schema.enqueue_ablation(study, 0, {"x": 2})
    schema.enqueue_ablation(study, 0, {"x": 2})  # an ablation always: a retry after a pruned one
    assert [t.user_attrs for t in study.get_trials()] == [{"baseline": "standard"}, {"ablation_of": 0},
                                                          {"ablation_of": 0}]
    assert [schema.trial_role(t) for t in study.get_trials()] == [Baseline("standard"), Ablation(0), Ablation(0)]
    assert [schema.baseline_name(t) for t in study.get_trials()] == ["standard", None, None]
    assert [schema.ablated_trial(t) for t in study.get_trials()] == [None, 0, 0]
    trial = study.ask()  # the first waiting trial: a baseline
    schema.write_trial_policy(trial, {"format": "policysearch.policy"})
    schema.set_trial_placement(trial, Placement(1, gpu=0))
    schema.set_trial_cost(trial, TrialCost(2.5, 3, "cpu", (0.5, 0.25)))
    schema.set_trial_failure(trial, "diverged")
    schema.write_owner(trial, Owner("host", 42, "2026-01-01T00:00:00"))
    assert study.trials[0].user_attrs == {
        "baseline": "standard", "policy": {"format": "policysearch.policy"}, "worker": 1, "gpu": 0, "seconds": 2.5,
        "epochs_run": 3, "device": "cpu", "seed_accuracies": [0.5, 0.25], "failure": "diverged", "host": "host",
        "pid": 42, "started": "2026-01-01T00:00:00"}
    assert schema.trial_cost(study.trials[0]) == TrialCost(2.5, 3, "cpu", (0.5, 0.25))
    assert schema.trial_placement(study.trials[0]) == Placement(1, 0)
    assert schema.read_owner(study.trials[0]) == Owner("host", 42, "2026-01-01T00:00:00")
    other = study.ask()
    schema.set_trial_placement(other, Placement(0))  # no GPU chosen: no gpu attribute, as before
    assert other.user_attrs == {"ablation_of": 0, "worker": 0}
    assert schema.trial_placement(study.ask()) is None and schema.trial_cost(study.trials[2]) == TrialCost()


def test_target_results_by_digest_ignore_other_attributes():
    study = optuna.create_study()
    schema.write_target_result(study, "abc", {"seed_index": 0, "budget": {"epochs": (1, 2)}}, 0.75)
    study.set_user_attr("unrelated", {"accuracy": 1.0})
    assert study.user_attrs["result:abc"] == {"key": {"seed_index": 0, "budget": {"epochs": [1, 2]}},
                                              "accuracy": 0.75}
    assert schema.read_target_results(study) == {"abc": 0.75}


# --- real studies ------------------------------------------------------------------------------------------------

def test_the_previous_releases_study_reads_through_the_schema(tmp_path):
    db = tmp_path / "legacy_v2.db"
    shutil.copy(LEGACY, db)
    study = optuna.load_study(study_name="legacy-v2", storage=f"sqlite:///{db}")
    assert set(study.user_attrs) <= set(schema.STUDY_ATTRIBUTES)
    assert schema.read_settings(study)["format"] == 2
    identity = schema.read_identity(study)
    assert (identity.dataset, identity.model) == ("digits", "tiny-cnn")
    rung = schema.read_rung(study)  # before paired seeds: no values, no seeds in its budget
    assert (rung.listed, rung.pick, rung.values, rung.image_epochs) == ((0, 1, 2), 0, {}, 11904)
    assert "seeds" not in rung.budget
    trials = study.get_trials()
    assert all(set(t.user_attrs) <= set(schema.TRIAL_ATTRIBUTES) for t in trials)
    assert [schema.baseline_name(t) for t in trials] == ["no_augmentation", "randaugment_n2_m9",
                                                         "trivialaugment_wide", None]
    assert all(schema.trial_cost(t).epochs_run == 1 and schema.trial_cost(t).device == "cpu" for t in trials)
    assert all(schema.trial_policy_document(t)["version"] == 1 for t in trials)


@pytest.mark.slow
def test_a_run_stores_only_declared_attributes_in_todays_shapes(tmp_path):
    config = RunConfig(dataset="digits", model="tiny-cnn", weights=None, image_size=8, train_size=200, val_size=100,
                       epochs=1, trials=5, device="cpu", storage=f"sqlite:///{tmp_path / 's.db'}",
                       output_dir=str(tmp_path), study="schema", final_seeds=1, target_train_size=200,
                       target_epochs=1, rung_candidates=2, rung_train_size=200, rung_val_size=50, rung_seeds=1)
    outcome = run_search(config, io.StringIO())
    study = optuna.load_study(study_name="schema", storage=config.storage_url)
    assert set(study.user_attrs) == {"settings", "storage", "dataset", "model", "rung", "verdict", "verdict_trial"}
    raw = study.user_attrs["rung"]
    assert list(raw) == ["budget", "scores", "values", "candidates", "pick", "image_epochs"]
    assert json.dumps(StoredRung.from_json(raw).to_json()) == json.dumps(raw)
    assert raw["pick"] == outcome.best_trial == best_trial(study).number == study.user_attrs["verdict_trial"]
    assert schema.read_verdict(study).for_trial(outcome.best_trial) == outcome.verdict
    for trial in study.get_trials():
        assert set(trial.user_attrs) <= set(schema.TRIAL_ATTRIBUTES), trial.number
        assert {"policy", "seconds", "epochs_run", "device", "seed_accuracies", "host", "pid",
                "started"} <= set(trial.user_attrs), trial.number
    results = optuna.load_study(study_name=RESULTS_STUDY, storage=config.storage_url)
    assert results.user_attrs and all(name.startswith("result:") for name in results.user_attrs)
    assert len(schema.read_target_results(results)) == len(results.user_attrs)
    # a second run of the same study resumes through the same accessors
    again = run_search(replace(config, trials=1, final=False), io.StringIO())
    assert again.best_trial == schema.read_rung(study).pick
