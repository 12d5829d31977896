"""End to end: `policysearch run` on real (small) data into a temporary SQLite file."""

from __future__ import annotations

import json
import runpy

import optuna
import pytest

from policysearch import load_policy
from policysearch.cli import main
from policysearch.policy.to_kornia import kornia_policy
from policysearch.search.outputs.export import best_trial, trial_policy
from policysearch.search.study.schema import read_verdict
from policysearch.search.trials.objective import ABLATION_OF

pytestmark = pytest.mark.slow


def _run_args(tmp_path, trials, *extra):
    return [
        "run", "--dataset", "digits", "--model", "tiny-cnn", "--weights", "none", "--image-size", "16",
        "--train-size", "200", "--val-size", "100", "--epochs", "2", "--batch-size", "32",
        "--trials", str(trials), "--final-seeds", "1", "--study", "e2e", "--target-train-size", "300",
        "--target-epochs", "1",
        "--storage", f"sqlite:///{tmp_path}/e2e.db", "--output-dir", str(tmp_path / "out"), *extra,
    ]


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("search")
    assert main(_run_args(tmp_path, 5)) == 0
    return tmp_path


def _study(tmp_path):
    return optuna.load_study(study_name="e2e", storage=f"sqlite:///{tmp_path}/e2e.db")


def _sampled(trials):
    """The trials ``--trials`` counts: all but the one the promotion rung may add (the leader's ablation)."""
    return [t for t in trials if ABLATION_OF not in t.user_attrs]


def test_trials_hold_intermediate_values_and_user_attributes(searched):
    trials = _study(searched).get_trials()
    assert len(_sampled(trials)) == 5 and len(trials) <= 6
    finished = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(finished) == len(trials)
    for trial in finished:
        assert trial.intermediate_values, f"trial {trial.number} reported no epoch"
        assert set(trial.intermediate_values) <= {1, 2}
        for key in ("policy", "seconds", "epochs_run", "device", "seed_accuracies"):
            assert key in trial.user_attrs, (trial.number, key)
        policy = load_policy(trial.user_attrs["policy"])
        if "augmentation" in trial.params:  # asked only when an op group was chosen
            assert policy.kind == trial.params["augmentation"]
            assert policy.kind == "trivialaugment" or policy.num_ops == trial.params["num_ops"]
        else:
            assert policy.num_ops == 0 and "num_ops" not in trial.params and "magnitude" not in trial.params
        assert policy.flip == trial.params["group_flips"] and (policy.crop > 0) == trial.params["group_crop"]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) >= 2  # the median pruner never stops its first trials (the two baselines among them)
    for trial in complete:
        assert trial.user_attrs["epochs_run"] == 2
        assert trial.value == pytest.approx(trial.user_attrs["seed_accuracies"][0])


def test_baselines_were_enqueued_once_and_ran_first(searched):
    trials = _study(searched).get_trials()
    baselines = {t.number: t.user_attrs.get("baseline") for t in trials if t.user_attrs.get("baseline")}
    assert baselines == {0: "no_augmentation", 1: "standard", 2: "randaugment_n2_m9", 3: "trivialaugment_wide"}
    groups = {n: {k[len("group_"):] for k, v in trials[n].params.items() if k.startswith("group_") and v}
              for n in range(4)}
    assert groups == {0: set(), 1: {"flips", "crop"}, 2: {"geometric", "colour", "histogram"},
                      3: {"geometric", "colour", "histogram"}}
    assert (trials[2].params["num_ops"], trials[2].params["magnitude"]) == (2, 9)
    assert trials[3].params["augmentation"] == "trivialaugment" and "num_ops" not in trials[3].params


def test_exported_json_reads_back_with_score_and_provenance(searched):
    path = searched / "out" / "e2e" / "best_policy.json"
    policy = load_policy(path)
    study = _study(searched)
    answer = best_trial(study)  # the rung's pick
    assert policy.score.value == pytest.approx(answer.value)
    assert set(policy.score.baselines) == {"no_augmentation", "standard", "randaugment_n2_m9", "trivialaugment_wide"}
    # the verdict at the target budget replaced the proxy-budget final check
    assert policy.score.final_check is None
    assert set(policy.score.verdict["table"]) == {"best", "ablation", "no_augmentation", "standard",
                                                  "randaugment_n2_m9", "trivialaugment_wide"}
    assert policy.score.verdict["outcome"] == "no claim"  # --final-seeds 1: one seed claims nothing
    assert policy.provenance.study == "e2e" and policy.provenance.trial == answer.number
    assert policy.score.rung["value"] == study.user_attrs["rung"]["scores"][str(answer.number)]
    assert policy.provenance.dataset == "digits" and policy.provenance.budget["epochs"] == 2
    assert "torch" in policy.provenance.versions


def test_second_run_resumes_and_adds_trials_then_show_and_export(searched, capsys, tmp_path):
    assert main(_run_args(searched, 3, "--no-final")) == 0
    trials = _study(searched).get_trials()
    assert len(_sampled(trials)) == 8 and len(trials) <= 10
    assert sum(1 for t in trials if t.user_attrs.get("baseline")) == 4
    capsys.readouterr()
    storage = f"sqlite:///{searched}/e2e.db"
    assert main(["show", "--study", "e2e", "--storage", storage]) == 0
    shown = capsys.readouterr().out
    assert f"trials: {len(trials)}" in shown and "baseline no_augmentation" in shown and "best: trial #" in shown
    out = tmp_path / "exported.json"
    assert main(["export", "--study", "e2e", "--storage", storage, "-o", str(out)]) == 0
    assert load_policy(out).provenance.study == "e2e"
    assert json.loads(out.read_text())["format"] == "policysearch.policy"


def test_export_writes_each_format_beside_the_json_and_converts_a_policy_file(searched, capsys, tmp_path):
    pytest.importorskip("albumentations")
    pytest.importorskip("kornia")
    storage = f"sqlite:///{searched}/e2e.db"
    out = tmp_path / "out"
    for fmt, name in (("albumentations", "best_policy_albumentations.json"), ("kornia", "best_policy_kornia.py")):
        args = ["export", "--study", "e2e", "--storage", storage, "--format", fmt, "-o", str(out / name)]
        assert main(args) == 0
        assert f"({fmt}, approximate)" in capsys.readouterr().out
    best = trial_policy(best_trial(_study(searched)))
    module = runpy.run_path(str(out / "best_policy_kornia.py"))
    assert module["POLICY"] == kornia_policy(best) and module["HEAD_LR"] == best.transfer.head_lr
    policy_file = out / "best.json"
    assert main(["export", "--study", "e2e", "--storage", storage, "-o", str(policy_file)]) == 0
    assert main(["export", "--policy", str(policy_file), "--format", "torchvision", "-o", str(out / "tv.py")]) == 0
    assert "from torchvision.transforms import v2" in (out / "tv.py").read_text()
    capsys.readouterr()
    assert main(["export", "--policy", str(policy_file), "--format", "onnx", "-o", str(out / "x")]) == 2
    err = capsys.readouterr().err
    assert "--format should be one of" in err and "'onnx'" in err and err.count("\n") == 1
    assert not (out / "x").exists()


def test_resume_with_other_settings_is_refused_and_changes_nothing(searched, capsys):
    before = len(_study(searched).get_trials())
    assert main(_run_args(searched, 2, "--epochs", "3")) == 2
    err = capsys.readouterr().err
    assert "epochs=2" in err and "epochs=3" in err and err.count("\n") == 1
    assert len(_study(searched).get_trials()) == before


def test_show_and_export_of_a_missing_study_are_one_line_errors(searched, capsys):
    storage = f"sqlite:///{searched}/e2e.db"
    for command in (["show"], ["export"]):
        assert main([*command, "--study", "nope", "--storage", storage]) == 2
        err = capsys.readouterr().err
        assert "no study named 'nope'" in err and "e2e" in err


def test_trials_zero_finishes_an_interrupted_study_with_its_rung_and_verdict(tmp_path, capsys):
    # A study whose trials finished but whose verdict never ran (say the process was stopped after the trials).
    args = [a.replace("e2e", "finish") for a in _run_args(tmp_path, 4)]
    assert main([*args, "--no-final"]) == 0
    study = optuna.load_study(study_name="finish", storage=f"sqlite:///{tmp_path}/finish.db")
    before = [t.number for t in study.get_trials()]
    assert read_verdict(study) is None
    capsys.readouterr()
    assert main([a if a != "4" else "0" for a in args]) == 0
    assert "running 0 more" in capsys.readouterr().err
    assert [t.number for t in study.get_trials()] == before  # no trial sampled
    assert set(read_verdict(study).value["table"]) >= {"no_augmentation", "standard", "best"}


def test_trials_zero_on_a_missing_study_or_with_a_budget_is_one_line_and_writes_nothing(tmp_path, capsys):
    args = _run_args(tmp_path, 0)
    for extra, said in (((), "e2e"), (("--budget", "5m"), "give one or the other")):
        assert main([*args, *extra]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err
    assert not list(tmp_path.glob("*.db")) or "e2e" not in optuna.get_all_study_names(f"sqlite:///{tmp_path}/e2e.db")
