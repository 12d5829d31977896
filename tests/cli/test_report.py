"""`policysearch report`: a real tiny study becomes PNG plots and a summary.md; a missing study is one line."""

from __future__ import annotations

import cv2
import optuna
import pytest

from policysearch.cli import main
from policysearch.search.plots import PLOTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study_url(tmp_path_factory):
    """Four trials (the three baselines and one sampled) of two epochs: enough spread for importances."""
    folder = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{folder}/report.db"
    assert main(["run", "--dataset", "digits", "--model", "tiny-cnn", "--weights", "none", "--image-size", "16",
                 "--train-size", "200", "--val-size", "100", "--epochs", "2", "--trials", "4", "--pruner", "none",
                 "--no-final", "--study", "rep", "--storage", url, "--output-dir", str(folder / "out")]) == 0
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
    best = optuna.load_study(study_name="rep", storage=study_url).best_trial
    assert f"## Best trial: #{best.number}" in summary
    assert f"{best.value:.4f}" in summary and '"format": "policysearch.policy"' in summary  # its policy
    assert all(f"]({name}.png)" in summary for name in PLOTS)
    assert "## Verdict" in summary  # --no-final: says it was not run


def test_report_on_a_study_that_does_not_exist_is_one_line_and_exit_2(study_url, tmp_path, capsys):
    capsys.readouterr()
    assert main(["report", "--study", "nope", "--storage", study_url, "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("policysearch: error: ") and "'nope'" in err, err
    assert not (tmp_path / "r").exists()
