"""The target budget: the verdict, ``verify``, TrivialAugment in the search, and older studies resuming.

Real parts throughout: scikit-learn's digits, the tiny-cnn backbone, Optuna
studies on temporary SQLite files, the real command line.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import optuna
import pytest

from policysearch import Policy, load_policy
from policysearch.augment.ops import TORCHVISION_OPS
from policysearch.cli import main
from policysearch.errors import ConfigError
from policysearch.policy import APPROACHES
from policysearch.search.configuration.config import RunConfig, load_config
from policysearch.search.outputs.report import describe_study
from policysearch.search.run import run_search
from policysearch.search.strategy.space import SearchSpace, baseline_params
from policysearch.search.study.storage import load_existing_study, open_study
from policysearch.search.verdict.target_results import TargetResults
from policysearch.search.verdict.verdict import (
    STANDARD_BASELINES,
    TargetSpec,
    measure,
    result_budget,
    seed_draw,
    seed_test_split,
    verdict_line,
)

TINY = dict(dataset="digits", model="tiny-cnn", weights=None, image_size=8, device="cpu")


def tiny_config(tmp_path, **overrides) -> RunConfig:
    values = dict(TINY, train_size=200, val_size=100, trials=4, target_train_size=300, target_epochs=2,
                  storage=f"sqlite:///{tmp_path / 'v.db'}", output_dir=str(tmp_path), study="verdict")
    return RunConfig(**{**values, **overrides})


def test_the_verdict_says_beats_only_when_the_lower_bound_is_above_zero():
    table = {"best": {"values": [0.90, 0.80, 0.85]}, "no_augmentation": {"values": [0.84, 0.84, 0.84]},
             "standard": {"values": [0.5, 0.5, 0.5]}, "randaugment_n2_m9": {"values": [0.5, 0.5, 0.5]}}
    verdict = verdict_line(table, "best")
    assert verdict["best_baseline"] == "no_augmentation" and verdict["outcome"] == "no clear difference"
    assert not verdict["beats"] and verdict["lower"] < 0 < verdict["upper"]
    assert verdict["line"].startswith("no clear difference from the best standard baseline, no_augmentation: +1.00")
    table["best"] = {"values": [0.86, 0.855, 0.865]}
    assert verdict_line(table, "best")["outcome"] == "beats" and verdict_line(table, "best")["beats"]
    table["best"] = {"values": [0.80, 0.81, 0.805]}
    assert verdict_line(table, "best")["line"].startswith("loses to the best standard baseline, no_augmentation")
    one_seed = {"best": {"values": [0.99]}, "no_augmentation": {"values": [0.5]}}
    assert verdict_line(one_seed, "best")["outcome"] == "no claim" and not verdict_line(one_seed, "best")["beats"]


def test_the_augmentations_own_gain_is_against_the_ablation():
    table = {"best": {"values": [0.86, 0.87, 0.88]}, "ablation": {"values": [0.85, 0.85, 0.86]},
             "no_augmentation": {"values": [0.84, 0.84, 0.84]}}
    gain = verdict_line(table, "best")["augmentation"]
    assert gain["difference"] == pytest.approx(5 / 3) and gain["outcome"] == "beats"
    assert gain["line"].startswith("augmentation's own gain at the same learning rates: +1.67 points")
    assert gain["line"].endswith("beats its ablation")
    table["ablation"] = table["best"]  # a policy without augmentation is its own ablation
    assert verdict_line(table, "best")["augmentation"]["line"].endswith("none: the policy has no augmentation")


def test_each_seed_draws_its_own_training_images_from_the_seed():
    spec = TargetSpec(**TINY, train_size=150, epochs=1, seeds=3)
    draws = [seed_draw(spec, k) for k in range(3)]
    assert len(set(draws)) == 3 and draws == [seed_draw(spec, k) for k in range(3)]
    assert seed_draw(replace(spec, seed=1), 0) != draws[0]  # --seed changes the draws


def test_each_seed_scores_on_its_own_draw_of_test_images_when_a_test_size_is_set(digits_source):
    spec = TargetSpec(**TINY, train_size=150, epochs=1, seeds=3, test_size=120)
    draws = [seed_test_split(digits_source.test, spec, seed_draw(spec, k)[0]) for k in range(3)]
    assert [len(d) for d in draws] == [120] * 3 and len({tuple(sorted(d.indices)) for d in draws}) == 3
    counts = [np.bincount(d.labels, minlength=10) for d in draws]
    assert all(c.max() - c.min() <= 1 for c in counts)  # stratified: every class about equally
    again = seed_test_split(digits_source.test, spec, seed_draw(spec, 0)[0])
    assert again.indices.tolist() == draws[0].indices.tolist()
    # Results stored before per-seed draws (one subset for every seed) are not this budget's.
    assert result_budget(spec)["test_draw"] == "per seed"
    assert "test_draw" not in result_budget(replace(spec, test_size=None))


def test_measure_trains_each_recipe_once_per_seed_reuses_stored_results_and_is_seeded():
    spec = TargetSpec(**TINY, train_size=150, epochs=1, seeds=2)
    results = TargetResults(None)
    first = measure({"mine": Policy(num_ops=0, magnitude=0)}, spec, results=results)
    assert list(first["table"]) == ["mine", *STANDARD_BASELINES]
    # "mine" is no augmentation at the default rates: the same recipe, measured once per seed.
    assert first["table"]["mine"]["values"] == first["table"]["no_augmentation"]["values"]
    assert len(results) == 2 * len(STANDARD_BASELINES)
    assert all(row["cached"] == 0 for row in first["table"].values())
    again = measure({"mine": Policy(num_ops=0, magnitude=0)}, spec, results=results)
    assert all(row["cached"] == 2 for row in again["table"].values())
    assert again["table"] == {k: {**v, "cached": 2} for k, v in first["table"].items()}
    fresh = measure({"mine": Policy(num_ops=0, magnitude=0)}, spec)  # nothing stored: trained again, same values
    assert fresh["table"]["randaugment_n2_m9"]["values"] == first["table"]["randaugment_n2_m9"]["values"]
    assert first["budget"]["train_size"] == 150 and first["budget"]["epochs"] == 1 and first["seeds"] == 2


def test_a_run_ends_with_the_verdict_stored_in_the_study_and_the_json(tmp_path):
    outcome = run_search(tiny_config(tmp_path), stream=open(tmp_path / "log.txt", "w"))
    assert outcome.verdict["budget"]["train_size"] == 300 and outcome.verdict["budget"]["epochs"] == 2
    assert set(outcome.verdict["table"]) == {"best", "ablation", *STANDARD_BASELINES}
    assert all(len(row["values"]) == 3 for row in outcome.verdict["table"].values())  # 3 paired seeds by default
    assert outcome.verdict["seeds"] == 3 and "augmentation" in outcome.verdict
    policy = load_policy(outcome.policy_path)
    assert policy.score.verdict["line"] == outcome.verdict["line"]
    study = load_existing_study("verdict", f"sqlite:///{tmp_path / 'v.db'}")
    assert study.user_attrs["verdict"]["line"] == outcome.verdict["line"]
    # New studies measure the four standard baselines under the proxy, flip + crop and TrivialAugmentWide among them.
    assert [t.user_attrs.get("baseline") for t in study.trials[:4]] == list(STANDARD_BASELINES)
    assert load_policy(study.trials[3].user_attrs["policy"]).kind == "trivialaugment"
    standard = load_policy(study.trials[1].user_attrs["policy"])
    assert standard.flip and standard.crop > 0 and not standard.num_ops
    # The proxy trains for the target's epochs unless told otherwise, and the cost is counted.
    assert study.user_attrs["settings"]["epochs"] == 2
    rung = study.user_attrs["rung"]  # the rung's trainings are part of the search's cost
    rung_cost = len(rung["scores"]) * rung["budget"]["seeds"] * rung["budget"]["train_size"] * rung["budget"]["epochs"]
    assert outcome.image_epochs == sum(t.user_attrs["epochs_run"] for t in study.trials) * 200 + rung_cost
    text = describe_study(study)
    assert "verdict at the target (300 images x 2 epochs)" in text and outcome.verdict["line"] in text


def test_target_results_are_reused_across_studies_and_retrained_when_budget_or_seed_change(tmp_path):
    def verdict_log(name, **overrides):
        config = tiny_config(tmp_path, study=name, trials=2, rung_candidates=0, final_seeds=2, **overrides)
        run_search(config, stream=open(tmp_path / f"{name}.txt", "w"))
        return (tmp_path / f"{name}.txt").read_text()

    first = verdict_log("first")
    assert "(cached)" not in first
    # Another study on the same data and target (and the same seeded trials, so the same answer): every
    # training of its verdict is known, each recipe once per seed.
    second = verdict_log("second")
    trainings = [line for line in second.splitlines() if "verdict: seed" in line]
    assert len(trainings) == len([line for line in first.splitlines() if "verdict: seed" in line]) >= 2 * 4
    assert all(line.endswith("(300 images x 2 epochs) (cached)") for line in trainings), trainings
    table = second[second.index("policy                test acc"):].splitlines()[1:]
    assert all(row.endswith("(cached)") for row in table if row.startswith(tuple(STANDARD_BASELINES)))
    longer = verdict_log("longer", target_epochs=3)
    assert "(cached)" not in longer
    reseeded = verdict_log("reseeded", seed=1)
    assert "(cached)" not in reseeded


def test_a_study_made_before_the_target_budget_resumes_with_its_defaults(tmp_path):
    # What the earlier version created: settings without a format, a RandAugment-only
    # space, 3 proxy epochs, and its two baselines.
    old = tiny_config(tmp_path, epochs=3, space=SearchSpace(kinds=("randaugment",), approaches=APPROACHES, ops=TORCHVISION_OPS,
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
    geometric = {f"group_{g}": g == "geometric" for g in ("flips", "crop", "geometric", "colour", "histogram",
                                                            "cutout")}
    trial = optuna.trial.FixedTrial({**geometric, "augmentation": "trivialaugment", "approach": "finetune",
                                     "head_lr": 0.01, "backbone_lr_ratio": 0.1})
    policy = SearchSpace().suggest(trial)
    assert policy.kind == "trivialaugment" and policy.transfer.backbone_lr == pytest.approx(0.001)
    assert policy.ops == ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
    only_ra = SearchSpace(kinds=("randaugment",))
    assert SearchSpace(kinds=["randaugment"], approaches=APPROACHES).suggest(optuna.trial.FixedTrial(
        {**geometric, "num_ops": 1, "magnitude": 3, "approach": "linear_probe", "head_lr": 0.01})).num_ops == 1
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
             "--target-train-size", "150", "--target-epochs", "1", "--device", "cpu",
             "--storage", f"sqlite:///{tmp_path / 'results.db'}"]
    assert main(["verify", "--policy", str(source), *flags, "-o", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "verdict at the target (150 images x 1 epochs, 3 seeds): " in out
    verdict = load_policy(tmp_path / "out.json").score.verdict
    assert verdict["line"] in out and set(verdict["table"]) == {"policy", "ablation", *STANDARD_BASELINES}
    assert verdict["augmentation"]["line"] in out
    # the policy is TrivialAugmentWide at the default rates: it is that baseline, measured once
    assert verdict["table"]["policy"] == verdict["table"]["trivialaugment_wide"]
    assert verdict["table"]["ablation"] == verdict["table"]["no_augmentation"]
    # A second verify on the same data reuses every training from the storage, and says so.
    assert main(["verify", "--policy", str(source), *flags]) == 0
    assert capsys.readouterr().out.count("(cached)") == len(STANDARD_BASELINES) + 2


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
