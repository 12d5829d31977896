"""``policysearch train`` and ``distill`` end to end: real data, real weights, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from policysearch import Policy
from policysearch.cli import main
from policysearch.data import make_splits
from policysearch.data.unlabeled import load_unlabeled
from policysearch.distill import teacher_probabilities
from policysearch.policy import Transfer
from policysearch.training import load_teacher

# Random-init students want one learning rate for all their layers.
STUDENT = Policy(num_ops=1, magnitude=5, transfer=Transfer("finetune", head_lr=3e-3, backbone_lr=3e-3))
DIGITS = ["--dataset", "digits", "--image-size", "16", "--train-size", "300", "--val-size", "100"]


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    return str(STUDENT.save(tmp_path_factory.mktemp("policy") / "policy.json"))


@pytest.fixture(scope="module")
def digits_teacher(tmp_path_factory, policy_file):
    out = tmp_path_factory.mktemp("teachers") / "teacher"
    status = main(["train", "--policy", policy_file, "--model", "tiny-cnn", "--weights", "none", *DIGITS,
                   "--epochs", "4", "--batch-size", "32", "-o", str(out)])
    assert status == 0
    return out


def metrics_of(run_dir) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_distill_from_a_pretrained_teacher_with_pseudo_labels(tmp_path, policy_file, fashion32, capsys):
    # The teacher: real ImageNet weights fine-tuned on real Fashion-MNIST.
    sizes = ["--train-size", "200", "--val-size", "100", "--test-size", "300"]
    teacher_policy = Policy(num_ops=1, magnitude=5, transfer=Transfer("finetune", head_lr=3e-3, backbone_lr=3e-4))
    assert main(["train", "--policy", str(teacher_policy.save(tmp_path / "teacher.json")), "--model",
                 "efficientnet-lite0", "--dataset", "fashion-mnist", *sizes, "--epochs", "3", "--batch-size", "16",
                 "-o", str(tmp_path / "teacher")]) == 0
    assert main(["distill", "--teacher", str(tmp_path / "teacher"), "--student", "tiny-cnn", "--weights", "none",
                 "--policy", policy_file, *sizes, "--epochs", "2", "--temperature", "3", "--alpha", "0.7",
                 "--unlabeled", "fashion-mnist", "--unlabeled-size", "400", "--threshold", "0.5",
                 "-o", str(tmp_path / "student")]) == 0
    out = capsys.readouterr()
    assert "test accuracy" in out.out and "kept" in out.err
    run = json.loads((tmp_path / "student" / "run.json").read_text())["description"]
    assert (run["kind"], run["model"], run["temperature"], run["alpha"]) == ("distill", "tiny-cnn", 3.0, 0.7)
    assert run["dataset"] == "fashion-mnist" and run["image_size"] == 32  # both from the teacher's run
    # Recount independently: the same unlabeled rows, the teacher's own probabilities.
    teacher, _ = load_teacher(tmp_path / "teacher")
    splits = make_splits(fashion32, train_size=200, val_size=100, test_size=300, seed=0)
    unlabeled = load_unlabeled("fashion-mnist", image_size=32, size=400, exclude=(splits.train, splits.val))
    probs = teacher_probabilities(teacher, unlabeled.images)
    confident = probs.max(1).values >= 0.5
    expected_agreement = (probs.argmax(1)[confident].numpy() == unlabeled.truth[confident.numpy()]).mean()
    pseudo = metrics_of(tmp_path / "student")["pseudo_labels"]
    assert pseudo["offered"] == 400 and pseudo["kept"] == int(confident.sum()) > 0
    assert pseudo["agreement_with_truth"] == pytest.approx(float(expected_agreement))
    assert len(metrics_of(tmp_path / "student")["val_accuracy"]) == 2


@pytest.mark.slow
def test_train_killed_mid_run_resumes_to_the_uninterrupted_weights(tmp_path, policy_file):
    args = ["train", "--policy", policy_file, "--model", "tiny-cnn", "--weights", "none", "--dataset",
            "fashion-mnist", "--train-size", "1500", "--val-size", "100", "--test-size", "200", "--epochs", "5"]
    command = [sys.executable, "-m", "policysearch", *args, "-o", str(tmp_path / "killed")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "model.pt").exists(), "killed too late: the run had finished"
    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stderr
    straight = subprocess.run([sys.executable, "-m", "policysearch", *args, "-o", str(tmp_path / "straight")],
                              capture_output=True, text=True, env=env, timeout=300)
    assert straight.returncode == 0, straight.stderr
    a = torch.load(tmp_path / "killed" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert metrics_of(tmp_path / "killed")["train_loss"] == metrics_of(tmp_path / "straight")["train_loss"]


def test_self_training_trains_its_own_teacher_first(tmp_path, policy_file, digits_source):
    out = tmp_path / "self"
    assert main(["train", "--policy", policy_file, "--model", "tiny-cnn", "--weights", "none", *DIGITS,
                 "--epochs", "3", "--batch-size", "32", "--unlabeled", "digits", "--pseudo", "soft",
                 "-o", str(out)]) == 0
    assert (out / "teacher" / "model.pt").is_file()
    pseudo = metrics_of(out)["pseudo_labels"]
    # Soft pseudo labels keep every unlabeled image: the digits pool less train and val.
    assert pseudo["kept"] == pseudo["offered"] == len(digits_source.train) - 400
    assert pseudo["mode"] == "soft" and pseudo["teachers"] == 1
    assert 0.3 < pseudo["agreement_with_truth"] <= 1.0


def test_two_teachers_vote(tmp_path, policy_file, digits_teacher):
    other = tmp_path / "other"
    assert main(["train", "--policy", policy_file, "--model", "tiny-cnn", "--weights", "none", *DIGITS,
                 "--epochs", "3", "--batch-size", "32", "--seed", "0", "-o", str(other)]) == 0
    out = tmp_path / "student"
    assert main(["distill", "--teacher", str(digits_teacher), "--teacher", str(other), "--student", "tiny-cnn",
                 "--weights", "none", "--policy", policy_file, *DIGITS, "--epochs", "2", "--unlabeled", "digits",
                 "--threshold", "0.2", "--teacher-view", "clean", "-o", str(out)]) == 0
    pseudo = metrics_of(out)["pseudo_labels"]
    assert pseudo["teachers"] == 2 and 0 < pseudo["kept"] <= pseudo["offered"]
    # Balanced: 40 rows of every class that has any, made of the images kept above.
    balanced = tmp_path / "balanced"
    assert main(["distill", "--teacher", str(digits_teacher), "--teacher", str(other), "--student", "tiny-cnn",
                 "--weights", "none", "--policy", policy_file, *DIGITS, "--epochs", "1", "--unlabeled", "digits",
                 "--threshold", "0.2", "--per-class", "40", "-o", str(balanced)]) == 0
    stats = metrics_of(balanced)["pseudo_labels"]
    assert stats["rows"] == 40 * stats["classes"] and stats["per_class"] == 40 and stats["kept"] <= pseudo["kept"]
    assert 2 <= stats["classes"] <= 10
    assert len(json.loads((out / "run.json").read_text())["description"]["teachers"]) == 2


def _fails(capsys, argv, pattern):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("policysearch: error:"), err
    assert pattern in err, err


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, policy_file, digits_teacher, capsys):
    out = tmp_path / "out"
    distill = ["distill", "--student", "tiny-cnn", "--weights", "none", "--policy", policy_file, "-o", str(out)]
    _fails(capsys, [*distill, "--teacher", str(tmp_path)], "is not a run directory")
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "run.json").write_text("{}")
    _fails(capsys, [*distill, "--teacher", str(tmp_path / "unfinished")], "has not finished training")
    _fails(capsys, [*distill, "--teacher", str(digits_teacher), "--dataset", "fashion-mnist"], "knows classes")
    _fails(capsys, [*distill, "--teacher", str(digits_teacher), "--pseudo", "maybe"], "'maybe'")
    _fails(capsys, [*distill, "--teacher", str(digits_teacher), "--threshold", "1.5"], "1.5")
    _fails(capsys, [*distill, "--teacher", str(digits_teacher), "--teacher-view", "sideways"], "'sideways'")
    _fails(capsys, [*distill, "--teacher", str(digits_teacher), "--unlabeled", f"images:{tmp_path / 'none'}"],
           "does not exist")
    _fails(capsys, ["train", "--policy", str(tmp_path / "missing.json"), "-o", str(out)], "missing.json")
    assert not out.exists()
    # A run directory holding another run is refused and left as it was.
    before = {p.name: p.read_bytes() for p in digits_teacher.iterdir() if p.is_file()}
    _fails(capsys, ["train", "--policy", policy_file, "--model", "tiny-cnn", "--weights", "none", *DIGITS,
                    "--epochs", "9", "-o", str(digits_teacher)], "holds another run")
    assert {p.name: p.read_bytes() for p in digits_teacher.iterdir() if p.is_file()} == before


def test_a_teacher_at_another_image_size_teaches_through_resizing(tmp_path, policy_file, digits_teacher):
    out = tmp_path / "small"
    assert main(["distill", "--teacher", str(digits_teacher), "--student", "tiny-cnn", "--weights", "none",
                 "--policy", policy_file, *DIGITS[:2], "--image-size", "12", *DIGITS[4:], "--epochs", "1",
                 "--unlabeled", "digits", "--threshold", "0.5", "-o", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())["description"]
    assert run["image_size"] == 12 and metrics_of(out)["pseudo_labels"]["kept"] > 0


def test_load_teacher_gives_the_trained_model(digits_teacher, digits_splits):
    model, info = load_teacher(digits_teacher)
    splits = digits_splits(train_size=300, val_size=100)
    probs = teacher_probabilities(model, splits.test.images)
    accuracy = float((probs.argmax(1).numpy() == splits.test.labels).mean())
    assert accuracy == pytest.approx(metrics_of(digits_teacher)["test_accuracy"])
    assert info["classes"] == list(splits.classes) and not model.training
    assert np.isclose(probs.sum(1).numpy(), 1.0, atol=1e-5).all()


# --------------------------------------------------------------------------- a search that tunes T and alpha


@pytest.mark.slow
def test_a_study_with_a_teacher_searches_temperature_and_alpha(tmp_path, policy_file, digits_teacher, capsys):
    from dataclasses import replace

    import optuna

    from policysearch.policy import load_policy
    from policysearch.search import SearchSpace, baseline_params, best_trial, trial_policy

    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    search = ["run", "--teacher", str(digits_teacher), "--model", "tiny-cnn", "--weights", "none", *DIGITS,
              "--epochs", "2", "--target-epochs", "2", "--trials", "6", "--final-seeds", "1",
              "--study", "kd", "--storage", storage, "--output-dir", str(tmp_path)]
    assert main(search) == 0
    study = optuna.load_study(study_name="kd", storage=storage)
    trials = study.get_trials()
    assert all({"temperature", "alpha"} <= t.params.keys() for t in trials)
    assert len([t for t in trials if "ablation_of" not in t.user_attrs]) == 6  # the rung may add an ablation
    baselines = [t for t in trials if t.user_attrs.get("baseline")]
    assert {t.user_attrs["baseline"] for t in baselines} == set(baseline_params(SearchSpace()))
    assert all((t.params["temperature"], t.params["alpha"]) == (4.0, 0.9) for t in baselines)
    assert study.user_attrs["settings"]["teacher"] == str(digits_teacher)
    # The export is the search's answer, the rung's pick: not study.best_trial, the proxy leader.
    answer = best_trial(study)
    assert answer.number == study.user_attrs["rung"]["pick"]
    exported = load_policy(tmp_path / "kd" / "best_policy.json")
    assert exported.provenance.trial == answer.number
    assert replace(exported, score=None, provenance=None) == trial_policy(answer)
    # However this run's numbers fell, a trial leading the proxy by construction (value 1.0, another
    # trial's policy) must not change what export writes: the answer stays the rung's pick.
    other = next(t for t in trials if t.number != answer.number)
    study.add_trial(optuna.trial.create_trial(value=1.0, params=other.params, distributions=other.distributions,
                                              user_attrs={k: v for k, v in other.user_attrs.items()
                                                          if k != "baseline"}))
    assert study.best_trial.number == len(study.trials) - 1 != answer.number
    assert main(["export", "--study", "kd", "--storage", storage, "-o", str(tmp_path / "again.json")]) == 0
    assert load_policy(tmp_path / "again.json").provenance.trial == answer.number
    best = answer.params
    assert exported.distillation.temperature == pytest.approx(best["temperature"])
    assert exported.distillation.alpha == pytest.approx(best["alpha"])
    # distill takes T and alpha from the policy unless flags say otherwise.
    out = tmp_path / "student"
    assert main(["distill", "--teacher", str(digits_teacher), "--student", "tiny-cnn", "--weights", "none",
                 "--policy", str(tmp_path / "kd" / "best_policy.json"), *DIGITS, "--epochs", "1",
                 "-o", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())["description"]
    assert run["temperature"] == pytest.approx(best["temperature"]) and run["alpha"] == pytest.approx(best["alpha"])
    # A bad teacher fails before any study is made.
    capsys.readouterr()
    bad = [a if a != str(digits_teacher) else str(tmp_path / "nowhere") for a in search]
    assert main([*bad[:-6], "--study", "kd2", "--storage", storage, "--output-dir", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert "kd2" not in [s.study_name for s in optuna.get_all_study_summaries(storage)]
