"""Trial previews as Optuna artifacts (completed trials only, never at a trial's cost) and the verdict note."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
import optuna
import pytest

from policysearch.policy import Policy
from policysearch.search.outputs.artifacts import (
    artifact_dir,
    artifact_store,
    preview_images,
    save_verdict_note,
    verdict_markdown,
    with_previews,
)

IMAGES = [np.full((16, 16, 1), 40 * i, np.uint8) for i in range(3)]
VERDICT = {"budget": {"train_size": 100, "epochs": 1}, "line": "beats no_augmentation (+1.00 ± 0.50 points)",
           "table": {"best": {"mean": 0.9, "std": 0.0, "values": [0.9]}}}


def _objective(trial: optuna.Trial) -> float:
    """Completes, is pruned or fails by trial number: 0 and 3 complete, 1 is pruned, 2 fails."""
    trial.set_user_attr("policy", Policy(num_ops=2, magnitude=9).to_json())
    if trial.number == 1:
        raise optuna.TrialPruned()
    if trial.number == 2:
        raise RuntimeError("boom")
    return 0.5


def _metas(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> list:
    return optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)


def test_only_completed_trials_get_a_png_preview_of_the_expected_size(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/a.db", direction="maximize")
    study.optimize(with_previews(_objective, tmp_path / "artifacts", IMAGES), n_trials=4, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                      optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]
    assert [len(_metas(study, t)) for t in study.trials] == [1, 0, 0, 1]
    meta = _metas(study, study.trials[3])[0]
    assert (meta.filename, meta.mimetype) == ("preview-trial-3.png", "image/png")
    with artifact_store(tmp_path / "artifacts").open_reader(meta.artifact_id) as reader:
        image = cv2.imdecode(np.frombuffer(reader.read(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape == (3 * 98 + 2, 6 * 98 + 2, 3)  # 3 rows x (original + 5 draws), 96 px tiles


def test_a_preview_that_cannot_be_written_warns_and_the_trial_still_completes(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the artifact folder should be")
    stream = io.StringIO()
    study = optuna.create_study(direction="maximize")
    study.optimize(with_previews(lambda t: _objective(t) if t.number != 1 else 0.7, blocker, IMAGES, stream=stream),
                   n_trials=2)
    assert [(t.state, t.value) for t in study.trials] == [(optuna.trial.TrialState.COMPLETE, 0.5),
                                                          (optuna.trial.TrialState.COMPLETE, 0.7)]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith("policysearch: warning: no preview for trial ") for line in lines)
    assert "not-a-folder" in lines[0]


def test_a_non_finite_value_gets_no_preview(tmp_path):
    study = optuna.create_study()
    study.optimize(with_previews(lambda t: float("nan"), tmp_path, IMAGES), n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL and _metas(study, study.trials[0]) == []


@pytest.mark.parametrize("url, folder", [
    ("sqlite:///studies/policysearch.db", "studies/artifacts"),
    ("sqlite:////tmp/x/y.db", "/tmp/x/artifacts"),
    ("journal:/data/run.log", "/data/artifacts"),
    ("postgresql://user:pw@host/db", "out/artifacts"),
    ("sqlite:///:memory:", "out/artifacts"),
])
def test_the_artifact_folder_sits_beside_the_database_file(url, folder):
    assert artifact_dir(url, "out") == Path(folder)


@pytest.mark.parametrize("shape", [(6, 5, 5), (6, 5, 5, 3)])
def test_preview_images_take_one_image_of_each_class_in_turn(shape):
    images = np.arange(np.prod(shape), dtype=np.int64).reshape(shape).astype(np.uint8)
    chosen = preview_images(images, np.array([3, 3, 1, 0, 1, 2]), count=3)
    assert [c.shape for c in chosen] == [shape[1:]] * 3
    np.testing.assert_array_equal(np.stack(chosen), images[[0, 2, 3]])
    assert len(preview_images(images, None, count=4)) == 4


def test_the_verdict_note_is_saved_for_the_dashboard():
    from optuna_dashboard import get_note

    study = optuna.create_study()
    assert save_verdict_note(study, VERDICT, 4)
    assert get_note(study) == verdict_markdown(VERDICT, 4)
    assert get_note(study).startswith("## Verdict: trial 4 at the target (100 images x 1 epochs)")


def test_without_optuna_dashboard_the_note_is_skipped_quietly(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # import optuna_dashboard now raises ImportError
    study = optuna.create_study()
    assert save_verdict_note(study, VERDICT) is False
    assert study._storage.get_study_system_attrs(study._study_id) == {}  # no note written
