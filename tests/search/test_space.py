"""The search space alone, with Optuna's FixedTrial: parameters, baselines, the grid, bad ranges."""

from __future__ import annotations

import optuna
import pytest

from policysearch.errors import ConfigError
from policysearch.search.space import BASELINES, SearchSpace, baseline_params


def test_finetune_trial_builds_the_split_learning_rates():
    trial = optuna.trial.FixedTrial(
        {"augmentation": "randaugment", "num_ops": 3, "magnitude": 17, "approach": "finetune", "head_lr": 0.002,
         "backbone_lr_ratio": 0.05}
    )
    policy = SearchSpace().suggest(trial)
    assert (policy.num_ops, policy.magnitude) == (3, 17)
    assert policy.transfer.approach == "finetune"
    assert policy.transfer.head_lr == 0.002
    assert policy.transfer.backbone_lr == pytest.approx(0.0001)
    assert policy.mixing is None


def test_linear_probe_trial_has_no_backbone_rate_and_asks_no_ratio():
    trial = optuna.trial.FixedTrial({"augmentation": "randaugment", "num_ops": 0, "magnitude": 0,
                                     "approach": "linear_probe", "head_lr": 0.01})
    policy = SearchSpace(approaches=("linear_probe", "finetune")).suggest(trial)
    assert policy.transfer.backbone_lr is None
    # FixedTrial raises if a parameter it was not given is suggested: none was.


def test_cutmix_probability_is_searched_only_when_enabled():
    params = {"augmentation": "randaugment", "num_ops": 1, "magnitude": 5, "approach": "linear_probe",
              "head_lr": 0.01, "cutmix_prob": 0.3}
    both = ("linear_probe", "finetune")
    policy = SearchSpace(cutmix=True, approaches=both).suggest(optuna.trial.FixedTrial(params))
    assert policy.mixing.kind == "cutmix" and policy.mixing.prob == 0.3
    assert SearchSpace(cutmix=False, approaches=both).suggest(optuna.trial.FixedTrial(params)).mixing is None


def test_parameters_are_named_as_the_contract_says():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = SearchSpace(cutmix=True, approaches=("linear_probe", "finetune"))
    study.optimize(lambda t: float(space.suggest(t).num_ops), n_trials=20)
    names = set().union(*(t.params for t in study.trials))
    assert names == {"augmentation", "num_ops", "magnitude", "approach", "head_lr", "backbone_lr_ratio",
                     "cutmix_prob"}
    # A RandAugment-only space (every study made before TrivialAugment) asks no kind.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    only = SearchSpace(kinds=("randaugment",))
    study.optimize(lambda t: float(only.suggest(t).num_ops), n_trials=10)
    assert "augmentation" not in set().union(*(t.params for t in study.trials))


def test_baselines_are_no_augmentation_torchvision_default_and_trivialaugment():
    params = baseline_params(SearchSpace())
    assert set(params) == set(BASELINES)
    assert (params["no_augmentation"]["num_ops"], params["randaugment_n2_m9"]["num_ops"]) == (0, 2)
    assert params["randaugment_n2_m9"]["magnitude"] == 9
    assert params["trivialaugment_wide"]["augmentation"] == "trivialaugment"
    assert SearchSpace().suggest(optuna.trial.FixedTrial(params["trivialaugment_wide"])).kind == "trivialaugment"
    for p in params.values():
        policy = SearchSpace().suggest(optuna.trial.FixedTrial(p))
        assert policy.transfer.head_lr == 1e-3 and policy.transfer.backbone_lr == pytest.approx(1e-4)


def test_grid_is_every_n_by_every_third_m_at_default_rates():
    grid = SearchSpace(num_ops=(1, 3)).grid(magnitude_step=3)
    assert grid["num_ops"] == [1, 2, 3]
    assert grid["magnitude"] == list(range(0, 31, 3))
    assert grid["approach"] == ["finetune"] and grid["head_lr"] == [1e-3]
    assert grid["augmentation"] == ["randaugment"]  # the RandAugment paper's grid


@pytest.mark.parametrize("kwargs,pattern", [
    ({"num_ops": (3, 1)}, "low <= high"),
    ({"magnitude": (0, 31)}, "magnitude.*31"),
    ({"head_lr": (0, 0.1)}, "head_lr.*0"),
    ({"approaches": ("distill",)}, "approaches.*distill"),
    ({"ops": ("Rotate", "Smudge")}, "Smudge"),
])
def test_bad_space_is_a_config_error(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        SearchSpace(**kwargs)


def test_the_default_space_fine_tunes_within_the_measured_learning_rates():
    space = SearchSpace()
    assert space.approaches == ("finetune",)
    assert space.head_lr == (3e-4, 2e-2) and space.backbone_lr_ratio == (1e-2, 1.0)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: space.suggest(t).transfer.head_lr, n_trials=30)
    rates = [space.suggest(optuna.trial.FixedTrial(t.params)).transfer for t in study.trials]
    assert all(r.approach == "finetune" and 3e-4 <= r.head_lr <= 2e-2 for r in rates)
    assert all(1e-2 <= r.backbone_lr / r.head_lr <= 1.0 + 1e-9 for r in rates)
