"""The objective on real Optuna studies: reports, pruning, divergence and failures."""

from __future__ import annotations

import optuna
import pytest
import torch

from policysearch.search.strategy.space import SearchSpace, baseline_params
from policysearch.search.trials.objective import Objective
from policysearch.training import TrainConfig, resolve_device


@pytest.fixture(scope="module")
def splits(digits_splits):
    return digits_splits(train_size=120, val_size=60)


def _study(params):
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(params)
    return study


def test_each_epoch_is_reported_and_attributes_stored(splits, tiny_cnn):
    study = _study(baseline_params(SearchSpace())["randaugment_n2_m9"])
    study.optimize(Objective(SearchSpace(), splits, tiny_cnn, TrainConfig(epochs=2), seeds=2), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [1, 2]
    assert trial.user_attrs["epochs_run"] == 4  # 2 seeds x 2 epochs
    assert len(trial.user_attrs["seed_accuracies"]) == 2
    assert trial.value == pytest.approx(sum(trial.user_attrs["seed_accuracies"]) / 2)
    assert trial.user_attrs["device"] == resolve_device("auto").type and trial.user_attrs["seconds"] > 0


def test_a_diverged_run_is_pruned_with_its_reason(splits, tiny_cnn):
    def broken():
        model = tiny_cnn()
        with torch.no_grad():
            model.head.bias.fill_(float("nan"))
        return model

    study = _study(baseline_params(SearchSpace())["no_augmentation"])
    study.optimize(Objective(SearchSpace(), splits, broken, TrainConfig(epochs=2)), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert "nan" in trial.user_attrs["failure"]


def test_an_exception_fails_the_trial_with_its_reason_and_the_study_goes_on(splits, tiny_cnn):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory (simulated by a failing factory)")
        return tiny_cnn()

    study = _study(baseline_params(SearchSpace())["no_augmentation"])
    study.optimize(Objective(SearchSpace(), splits, flaky, TrainConfig(epochs=1)), n_trials=2,
                   catch=(Exception,))
    first, second = study.trials
    assert first.state == optuna.trial.TrialState.FAIL
    assert first.user_attrs["failure"].startswith("RuntimeError: CUDA out of memory")
    assert second.state == optuna.trial.TrialState.COMPLETE


def test_a_pruned_trial_is_not_recorded_as_a_failure(splits, tiny_cnn):
    # Every value is below 1.1, so this pruner stops the trial at its first report.
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.1))
    study.enqueue_trial(baseline_params(SearchSpace())["no_augmentation"])
    study.optimize(Objective(SearchSpace(), splits, tiny_cnn, TrainConfig(epochs=2)), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED and trial.user_attrs["epochs_run"] == 1
    assert "failure" not in trial.user_attrs


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_cuda_out_of_memory_fails_that_trial_only(splits, tiny_cnn):
    calls = []

    def greedy():
        calls.append(1)
        if len(calls) == 1:  # far more than any GPU has: a real torch.cuda.OutOfMemoryError
            torch.empty(1 << 50, dtype=torch.uint8, device="cuda")
        return tiny_cnn()

    study = _study(baseline_params(SearchSpace())["no_augmentation"])
    study.optimize(Objective(SearchSpace(), splits, greedy, TrainConfig(epochs=1, device="cuda")), n_trials=2,
                   catch=(Exception,))
    first, second = study.trials
    assert first.state == optuna.trial.TrialState.FAIL
    assert first.user_attrs["failure"].startswith("OutOfMemoryError")
    assert second.state == optuna.trial.TrialState.COMPLETE and second.user_attrs["device"] == "cuda"
