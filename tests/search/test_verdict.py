"""The target budget: the verdict, ``verify``, TrivialAugment in the search, and older studies resuming.

Real parts throughout: scikit-learn's digits, the tiny-cnn backbone, Optuna
studies on temporary SQLite files, the real command line.
"""

from __future__ import annotations

import json
from dataclasses import replace

import optuna
import pytest

from policysearch import Policy, load_policy
from policysearch.policy import APPROACHES
from policysearch.cli import main
from policysearch.errors import ConfigError
from policysearch.search.config import RunConfig, load_config
from policysearch.search.report import describe_study
from policysearch.search.run import run_search
from policysearch.search.space import SearchSpace, baseline_params
from policysearch.search.storage import load_existing_study, open_study
from policysearch.search.verdict import STANDARD_BASELINES, TargetSpec, measure, verdict_line

TINY = dict(dataset="digits", model="tiny-cnn", weights=None, image_size=8, device="cpu")


def tiny_config(tmp_path, **overrides) -> RunConfig:
    values = dict(TINY, train_size=200, val_size=100, trials=4, target_train_size=300, target_epochs=2,
                  storage=f"sqlite:///{tmp_path / 'v.db'}", output_dir=str(tmp_path), study="verdict")
    return RunConfig(**{**values, **overrides})


def test_the_verdict_needs_the_difference_to_exceed_its_spread():
    table = {"best": {"values": [0.90, 0.80]}, "no_augmentation": {"values": [0.84, 0.84]},
             "randaugment_n2_m9": {"values": [0.5, 0.5]}, "trivialaugment_wide": {"values": [0.5, 0.5]}}
    verdict = verdict_line(table, "best")
    assert verdict["best_baseline"] == "no_augmentation" and not verdict["beats"]
    assert verdict["difference"] == pytest.approx(1.0) and verdict["spread"] == pytest.approx(7.0711, abs=1e-3)
    assert verdict["line"] == "does not beat no_augmentation (+1.00 ± 7.07 points)"


def test_measure_trains_each_recipe_once_per_seed_and_is_seeded():
    spec = TargetSpec(**TINY, train_size=150, epochs=1, seeds=2)
    first = measure({"mine": Policy(num_ops=0, magnitude=0)}, spec)
    assert set(first["table"]) == {"mine", *STANDARD_BASELINES}
    # "mine" is no augmentation at the default rates: the same recipe, measured once.
    assert first["table"]["mine"] is first["table"]["no_augmentation"]
    assert first["difference"] == 0.0 or first["best_baseline"] != "no_augmentation"
    again = measure({"mine": Policy(num_ops=0, magnitude=0)}, spec)
    assert again["table"]["randaugment_n2_m9"]["values"] == first["table"]["randaugment_n2_m9"]["values"]
    assert first["budget"]["train_size"] == 150 and first["budget"]["epochs"] == 1


def test_a_run_ends_with_the_verdict_stored_in_the_study_and_the_json(tmp_path):
    outcome = run_search(tiny_config(tmp_path), stream=open(tmp_path / "log.txt", "w"))
    assert outcome.verdict["budget"]["train_size"] == 300 and outcome.verdict["budget"]["epochs"] == 2
    assert set(outcome.verdict["table"]) == {"best", *STANDARD_BASELINES}
    assert all(len(row["values"]) == 2 for row in outcome.verdict["table"].values())
    policy = load_policy(outcome.policy_path)
    assert policy.score.verdict["line"] == outcome.verdict["line"]
    study = load_existing_study("verdict", f"sqlite:///{tmp_path / 'v.db'}")
    assert study.user_attrs["verdict"]["line"] == outcome.verdict["line"]
    # New studies measure three baselines, TrivialAugmentWide among them, under the proxy.
    assert [t.user_attrs.get("baseline") for t in study.trials[:3]] == list(STANDARD_BASELINES)
    assert study.trials[2].params["augmentation"] == "trivialaugment"
    assert load_policy(study.trials[2].user_attrs["policy"]).kind == "trivialaugment"
    # The proxy trains for the target's epochs unless told otherwise, and the cost is counted.
    assert study.user_attrs["settings"]["epochs"] == 2
    rung = study.user_attrs["rung"]  # the rung's trainings are part of the search's cost
    rung_cost = len(rung["scores"]) * rung["budget"]["train_size"] * rung["budget"]["epochs"]
    assert outcome.image_epochs == sum(t.user_attrs["epochs_run"] for t in study.trials) * 200 + rung_cost
    text = describe_study(study)
    assert "verdict at the target (300 images x 2 epochs)" in text and outcome.verdict["line"] in text


def test_a_study_made_before_the_target_budget_resumes_with_its_defaults(tmp_path):
    # What the earlier version created: settings without a format, a RandAugment-only
    # space, 3 proxy epochs, and its two baselines.
    old = tiny_config(tmp_path, epochs=3, space=SearchSpace(kinds=("randaugment",), approaches=APPROACHES,
                                                            head_lr=(1e-4, 3e-2), backbone_lr_ratio=(1e-3, 1.0)))
    study = optuna.create_study(storage=old.storage_url, study_name=old.study_name, direction="maximize")
    study.set_user_attr("settings", json.loads(json.dumps(old.legacy_settings())))
    for name, params in baseline_params(old.space).items():
        study.enqueue_trial(params, user_attrs={"baseline": name})
    # Resumed with the new defaults (no epochs, both kinds): accepted, and run as before.
    config = replace(tiny_config(tmp_path, trials=3), final=False)
    outcome = run_search(config, stream=open(tmp_path / "log.txt", "w"))
    trials = load_existing_study(old.study_name, old.storage_url).trials
    assert len(trials) == 3 and sorted(outcome.baselines) == ["no_augmentation", "randaugment_n2_m9"]
    assert all("augmentation" not in t.params for t in trials)
    assert all(t.user_attrs["epochs_run"] <= 3 for t in trials)
    # What it does not accept: a setting the user gives explicitly that differs.
    with pytest.raises(Exception, match="epochs=3, but this run has epochs=2"):
        open_study(load_config(None, {**TINY, "train_size": 200, "val_size": 100, "epochs": 2,
                                      "target_train_size": 300, "target_epochs": 2, "storage": old.storage_url,
                                      "study": old.study_name, "output_dir": str(tmp_path)}))


def test_the_space_chooses_the_kind_and_trivialaugment_has_no_n_or_m():
    trial = optuna.trial.FixedTrial({"augmentation": "trivialaugment", "approach": "finetune", "head_lr": 0.01,
                                     "backbone_lr_ratio": 0.1})
    policy = SearchSpace().suggest(trial)
    assert policy.kind == "trivialaugment" and policy.transfer.backbone_lr == pytest.approx(0.001)
    only_ra = SearchSpace(kinds=("randaugment",))
    assert SearchSpace(kinds=["randaugment"], approaches=APPROACHES).suggest(optuna.trial.FixedTrial(
        {"num_ops": 1, "magnitude": 3, "approach": "linear_probe", "head_lr": 0.01})).num_ops == 1
    assert "trivialaugment_wide" not in baseline_params(only_ra)
    assert all("augmentation" not in p for p in baseline_params(only_ra).values())
    with pytest.raises(ConfigError, match="space.kinds should be one of"):
        SearchSpace(kinds=("autoaugment",))


def test_the_target_table_and_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[target]\ntrain_size = 5000\nepochs = 10\nmodel = "tiny-cnn"\n')
    config = load_config(path)
    assert (config.target_train_size, config.target_epochs, config.target_model) == (5000, 10, "tiny-cnn")
    assert config.proxy_epochs == 10 and load_config(path, {"epochs": 3}).proxy_epochs == 3
    path.write_text("[target]\nimages = 5\n")
    with pytest.raises(ConfigError, match=r"target has unknown keys \['images'\]"):
        load_config(path)
    with pytest.raises(ConfigError, match="target_epochs should be an integer >= 1, but got 0"):
        load_config(None, {"target_epochs": 0})


def test_verify_checks_a_policy_file_and_writes_the_verdict(tmp_path, capsys):
    source = Policy(kind="trivialaugment").save(tmp_path / "p.json")
    flags = ["--dataset", "digits", "--model", "tiny-cnn", "--weights", "none", "--image-size", "8",
             "--target-train-size", "150", "--target-epochs", "1", "--device", "cpu"]
    assert main(["verify", "--policy", str(source), *flags, "-o", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "verdict at 150 images x 1 epochs (2 seeds): " in out
    verdict = load_policy(tmp_path / "out.json").score.verdict
    assert verdict["line"] in out and set(verdict["table"]) == {"policy", *STANDARD_BASELINES}
    # the policy is TrivialAugmentWide at the default rates: it is that baseline, measured once
    assert verdict["table"]["policy"] == verdict["table"]["trivialaugment_wide"]


@pytest.mark.parametrize("flag, value, message", [
    ("--target-epochs", "0", "epochs should be an integer >= 1, but got 0"),
    ("--target-train-size", "-5", "train_size should be an integer >= 1, but got -5"),
    ("--image-size", "4", "image_size should be an integer >= 8, but got 4"),
])
def test_verify_refuses_bad_budgets_in_one_line(tmp_path, capsys, flag, value, message):
    source = Policy().save(tmp_path / "p.json")
    assert main(["verify", "--policy", str(source), "--dataset", "digits", flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
