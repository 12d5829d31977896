"""A distillation search with the clean teacher view, through the rung and the verdict, to its export.

Real parts: a tiny-cnn teacher trained by ``policysearch train`` on scikit-learn's
digits, a real study on a temporary SQLite file, the real rung and verdict. The
proxy, the rung and the verdict each train on their own images (200, 250 and 300
here), so the teacher's cached outputs for the proxy's images must not be
handed to the other two.
"""

from __future__ import annotations

import json

import optuna
import pytest

from policysearch import Policy, load_policy
from policysearch.cli import main
from policysearch.policy import Transfer
from policysearch.search.outputs.export import best_trial

pytestmark = pytest.mark.slow

SIZES = ["--dataset", "digits", "--image-size", "8"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher")
    policy = Policy(num_ops=0, magnitude=0, transfer=Transfer("finetune", head_lr=3e-3, backbone_lr=3e-3))
    out = folder / "teacher"
    assert main(["train", "--policy", str(policy.save(folder / "policy.json")), "--model", "tiny-cnn",
                 "--weights", "none", *SIZES, "--train-size", "300", "--val-size", "100", "--epochs", "3",
                 "--batch-size", "32", "--device", "cpu", "-o", str(out)]) == 0
    return out


def test_a_clean_view_distillation_study_runs_the_rung_and_the_verdict_and_exports(teacher, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'distill.db'}"
    status = main(["run", "--teacher", str(teacher), "--teacher-view", "clean", "--model", "tiny-cnn",
                   "--weights", "none", *SIZES, "--train-size", "200", "--val-size", "100", "--epochs", "1",
                   "--trials", "3", "--pruner", "none", "--device", "cpu", "--rung-candidates", "2",
                   "--rung-train-size", "250", "--rung-val-size", "150", "--target-train-size", "300",
                   "--target-epochs", "2", "--final-seeds", "2", "--study", "distill", "--storage", url,
                   "--output-dir", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 0, captured.err[-2000:]
    study = optuna.load_study(study_name="distill", storage=url)
    rung, verdict = study.user_attrs["rung"], study.user_attrs["verdict"]
    assert rung["budget"]["train_size"] == 250 and len(rung["scores"]) >= 2
    assert all(0.0 <= score <= 1.0 for score in rung["scores"].values())
    assert verdict["budget"]["train_size"] == 300 and study.user_attrs["verdict_trial"] == rung["pick"]
    # The export: the rung's pick, a student's policy (its temperature and alpha), with the verdict in its score.
    path = tmp_path / "out" / "distill" / "best_policy.json"
    policy = load_policy(path)
    assert policy.provenance.trial == rung["pick"] == best_trial(study).number
    assert policy.distillation is not None
    assert policy.distillation.temperature == best_trial(study).params["temperature"]
    assert json.loads(path.read_text())["score"]["verdict"]["line"] == verdict["line"]
