"""`policysearch report`: a real tiny study becomes PNG plots and a summary.md; a missing study is one line.

The summary names the search's answer. Where the promotion rung overturned the
proxy's leader, that is the rung's pick, whose policy and verdict it shows:
finished trials with misleading proxy values (``study.add_trial``, the way
tests/search/test_rung.py makes them) lead the proxy, and the real rung, verdict
and export then run on them.
"""

from __future__ import annotations

import json
import shutil

import cv2
import optuna
import pytest

from policysearch import Policy
from policysearch.cli import main
from policysearch.policy import Transfer
from policysearch.search.outputs.export import best_proxy_trial, best_trial, trial_policy
from policysearch.search.outputs.plots import PLOTS

pytestmark = pytest.mark.slow

TINY = ["--dataset", "digits", "--model", "tiny-cnn", "--weights", "none", "--image-size", "16", "--train-size", "200",
        "--val-size", "100", "--epochs", "2", "--pruner", "none", "--device", "cpu"]
# A head learning rate of 1e6 diverges at once: the rung scores it at chance at best, whatever its proxy
# value says; SANE learns digits well past chance in two epochs, so the rung picks it.
DIVERGES = Policy(num_ops=0, magnitude=0, transfer=Transfer("finetune", head_lr=1e6, backbone_lr=1e6))
SANE = Policy(num_ops=0, magnitude=0, transfer=Transfer("finetune", head_lr=1e-2, backbone_lr=1e-2))


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """Four trials (the baselines, then sampled ones) of two epochs: enough spread for importances."""
    folder = tmp_path_factory.mktemp("report")
    assert main(["run", *TINY, "--trials", "4", "--no-final", "--rung-candidates", "0", "--study", "rep",
                 "--storage", f"sqlite:///{folder}/report.db", "--output-dir", str(folder / "out")]) == 0
    return folder


@pytest.fixture(scope="module")
def study_url(searched):
    return f"sqlite:///{searched}/report.db"


@pytest.fixture(scope="module")
def overturned(searched):
    """A copy of the study whose proxy leader the rung overturns, then measured by the verdict; its URL."""
    shutil.copy(searched / "report.db", searched / "overturned.db")
    url = f"sqlite:///{searched}/overturned.db"
    study = optuna.load_study(study_name="rep", storage=url)
    head_lr = optuna.distributions.FloatDistribution(1e-6, 1e7, log=True)
    for value, policy in ((0.999, DIVERGES), (0.998, SANE)):  # the proxy's two leaders, far above the others
        study.add_trial(optuna.trial.create_trial(value=value, params={"head_lr": policy.transfer.head_lr},
                                                  distributions={"head_lr": head_lr},
                                                  user_attrs={"policy": policy.to_json(), "epochs_run": 2}))
    assert main(["run", *TINY, "--trials", "1", "--rung-candidates", "2", "--rung-train-size", "200",
                 "--rung-val-size", "150", "--target-train-size", "200", "--target-epochs", "2", "--final-seeds", "2",
                 "--study", "rep", "--storage", url, "--output-dir", str(searched / "out2")]) == 0
    return url


def test_report_writes_every_plot_and_a_summary_naming_the_best_trial(study_url, tmp_path, capsys):
    import matplotlib

    style = dict(matplotlib.rcParams)
    capsys.readouterr()
    assert main(["report", "--study", "rep", "--storage", study_url, "-o", str(tmp_path / "rep")]) == 0
    assert dict(matplotlib.rcParams) == style  # Optuna's ggplot style does not leak into later drawings
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'rep'}: ")
    for name in PLOTS:
        image = cv2.imread(str(tmp_path / "rep" / f"{name}.png"))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 100, name
    summary = (tmp_path / "rep" / "summary.md").read_text()
    study = optuna.load_study(study_name="rep", storage=study_url)
    best = best_trial(study)  # no rung ran: the best proxy value
    assert best.number == study.best_trial.number
    assert f"## Best trial: #{best.number}\n" in summary and f"Validation accuracy {best.value:.4f}" in summary
    assert json.dumps(trial_policy(best).to_json(), indent=2) in summary  # its policy
    assert all(f"]({name}.png)" in summary for name in PLOTS)
    assert "Not run for the current best trial." in summary.split("## Verdict")[1]  # --no-final


def test_the_summary_names_the_rungs_pick_with_its_policy_and_its_verdict(overturned, tmp_path):
    study = optuna.load_study(study_name="rep", storage=overturned)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    leader, pick = best_proxy_trial(complete), best_trial(study)
    assert trial_policy(leader) == DIVERGES and trial_policy(pick) == SANE  # the rung overturned the leader
    assert study.user_attrs["verdict_trial"] == pick.number
    assert main(["report", "--study", "rep", "--storage", overturned, "-o", str(tmp_path / "rep")]) == 0
    summary = (tmp_path / "rep" / "summary.md").read_text()
    answer = summary.split("## Best trial: ")[1].split("## Baselines")[0]
    assert answer.startswith(f"#{pick.number}\n") and f"Validation accuracy {pick.value:.4f}" in answer
    assert json.dumps(trial_policy(pick).to_json(), indent=2) in answer
    assert "1000000.0" not in answer and "1e+06" not in answer  # nothing of the leader's policy or parameters
    rung = answer.split("The promotion rung (200 images x 2 epochs")[1].split("\n")[0]
    assert f"picked it: #{pick.number} " in rung and f"#{leader.number} " in rung  # ranked by the rung
    # The verdict rows: each policy measured, on its own line with its mean test accuracy, and the verdict's line.
    verdict = study.user_attrs["verdict"]
    shown = summary.split("## Verdict")[1].splitlines()
    assert len(verdict["table"]) >= 4
    for label, row in verdict["table"].items():
        assert any(line.split()[:2] == [label, f"{row['mean']:.4f}"] for line in shown if line.strip()), label
    assert verdict["line"] in summary


def test_report_on_a_study_that_does_not_exist_is_one_line_and_exit_2(study_url, tmp_path, capsys):
    capsys.readouterr()
    assert main(["report", "--study", "nope", "--storage", study_url, "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("policysearch: error: ") and "'nope'" in err, err
    assert not (tmp_path / "r").exists()
