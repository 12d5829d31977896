"""The search space alone, with Optuna's FixedTrial: parameters, groups, baselines, the grid, bad ranges."""

from __future__ import annotations

import optuna
import pytest

from policysearch.augment.ops import TORCHVISION_OPS
from policysearch.errors import ConfigError
from policysearch.policy import STANDARD_CROP_BIN, Policy
from policysearch.search.strategy.space import BASELINES, SearchSpace, baseline_params

# A space as every study made before op groups searched it: torchvision's 14 ops, fixed.
FIXED = SearchSpace(ops=TORCHVISION_OPS)
NO_GROUPS = {f"group_{g}": False for g in ("flips", "crop", "geometric", "colour", "histogram", "cutout")}


def test_finetune_trial_builds_the_split_learning_rates():
    trial = optuna.trial.FixedTrial(
        {"augmentation": "randaugment", "num_ops": 3, "magnitude": 17, "approach": "finetune", "head_lr": 0.002,
         "backbone_lr_ratio": 0.05}
    )
    policy = FIXED.suggest(trial)
    assert (policy.num_ops, policy.magnitude) == (3, 17)
    assert policy.transfer.approach == "finetune"
    assert policy.transfer.head_lr == 0.002
    assert policy.transfer.backbone_lr == pytest.approx(0.0001)
    assert policy.mixing is None


def test_linear_probe_trial_has_no_backbone_rate_and_asks_no_ratio():
    trial = optuna.trial.FixedTrial({"augmentation": "randaugment", "num_ops": 0, "magnitude": 0,
                                     "approach": "linear_probe", "head_lr": 0.01})
    policy = SearchSpace(approaches=("linear_probe", "finetune"), ops=TORCHVISION_OPS).suggest(trial)
    assert policy.transfer.backbone_lr is None
    # FixedTrial raises if a parameter it was not given is suggested: none was.


def test_cutmix_probability_is_searched_only_when_enabled():
    params = {"augmentation": "randaugment", "num_ops": 1, "magnitude": 5, "approach": "linear_probe",
              "head_lr": 0.01, "cutmix_prob": 0.3}
    both = ("linear_probe", "finetune")
    policy = SearchSpace(cutmix=True, approaches=both, groups=()).suggest(optuna.trial.FixedTrial(params))
    assert policy.mixing.kind == "cutmix" and policy.mixing.prob == 0.3
    assert SearchSpace(cutmix=False, approaches=both, groups=()).suggest(optuna.trial.FixedTrial(params)).mixing is None


def test_parameters_are_named_as_the_contract_says():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = SearchSpace(cutmix=True, approaches=("linear_probe", "finetune"), ops=TORCHVISION_OPS)
    study.optimize(lambda t: float(space.suggest(t).num_ops), n_trials=20)
    names = set().union(*(t.params for t in study.trials))
    assert names == {"augmentation", "num_ops", "magnitude", "approach", "head_lr", "backbone_lr_ratio",
                     "cutmix_prob"}
    # A RandAugment-only space (every study made before TrivialAugment) asks no kind.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    only = SearchSpace(kinds=("randaugment",), ops=TORCHVISION_OPS)
    study.optimize(lambda t: float(only.suggest(t).num_ops), n_trials=10)
    assert "augmentation" not in set().union(*(t.params for t in study.trials))
    # The default space searches the op groups under names of their own.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: float(SearchSpace().suggest(t).num_ops), n_trials=30)
    names = set().union(*(t.params for t in study.trials))
    assert names == {*NO_GROUPS, "augmentation", "num_ops", "magnitude", "approach", "head_lr", "backbone_lr_ratio"}


def test_baselines_are_no_augmentation_standard_torchvision_default_and_trivialaugment():
    params = baseline_params(SearchSpace())
    assert list(params) == list(BASELINES) == ["no_augmentation", "standard", "randaugment_n2_m9",
                                               "trivialaugment_wide"]
    policies = {name: SearchSpace().suggest(optuna.trial.FixedTrial(p)) for name, p in params.items()}
    assert policies["no_augmentation"] == Policy(num_ops=0, magnitude=0, transfer=policies["no_augmentation"].transfer)
    assert not policies["no_augmentation"].augments
    standard = policies["standard"]
    assert (standard.flip, standard.crop, standard.num_ops) == (True, STANDARD_CROP_BIN, 0)
    ra = policies["randaugment_n2_m9"]
    assert (ra.kind, ra.num_ops, ra.magnitude, ra.ops, ra.flip, ra.crop) == ("randaugment", 2, 9, TORCHVISION_OPS,
                                                                            False, 0)
    ta = policies["trivialaugment_wide"]
    assert ta.kind == "trivialaugment" and ta.ops == TORCHVISION_OPS
    for policy in policies.values():
        assert policy.transfer.head_lr == 1e-3 and policy.transfer.backbone_lr == pytest.approx(1e-4)


def test_a_fixed_op_set_keeps_the_three_old_baselines():
    params = baseline_params(FIXED)
    assert list(params) == ["no_augmentation", "randaugment_n2_m9", "trivialaugment_wide"]
    assert (params["no_augmentation"]["num_ops"], params["randaugment_n2_m9"]["num_ops"]) == (0, 2)
    assert params["randaugment_n2_m9"]["magnitude"] == 9
    assert params["trivialaugment_wide"]["augmentation"] == "trivialaugment"
    assert not any(k.startswith("group_") for p in params.values() for k in p)


def test_grid_is_every_n_by_every_third_m_at_default_rates():
    grid = SearchSpace(num_ops=(1, 3), ops=TORCHVISION_OPS).grid(magnitude_step=3)
    assert grid["num_ops"] == [1, 2, 3]
    assert grid["magnitude"] == list(range(0, 31, 3))
    assert grid["approach"] == ["finetune"] and grid["head_lr"] == [1e-3]
    assert grid["augmentation"] == ["randaugment"]  # the RandAugment paper's grid
    # With groups: torchvision's three groups on, the others off, N from 1.
    grouped = SearchSpace().grid()
    assert grouped["group_geometric"] == grouped["group_colour"] == grouped["group_histogram"] == [True]
    assert grouped["group_flips"] == grouped["group_crop"] == grouped["group_cutout"] == [False]
    assert grouped["num_ops"] == [1, 2, 3, 4]
    policy = SearchSpace().suggest(optuna.trial.FixedTrial({k: v[0] for k, v in grouped.items()}))
    assert policy.ops == TORCHVISION_OPS


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


# ---------------------------------------------------------------- op groups
def _groups(*chosen: str, **more) -> optuna.trial.FixedTrial:
    return optuna.trial.FixedTrial({**NO_GROUPS, **{f"group_{g}": True for g in chosen}, "approach": "finetune",
                                    "head_lr": 1e-3, "backbone_lr_ratio": 0.1, **more})


def test_no_group_is_no_augmentation_and_asks_neither_n_nor_m():
    policy = SearchSpace().suggest(_groups())  # FixedTrial raises if num_ops or magnitude were asked
    assert not policy.augments and policy.num_ops == 0


def test_flips_and_crop_are_the_pre_stage_and_ask_no_op():
    policy = SearchSpace().suggest(_groups("flips", "crop"))
    assert (policy.flip, policy.crop, policy.num_ops) == (True, STANDARD_CROP_BIN, 0) and policy.augments


def test_an_op_group_draws_from_its_ops_with_identity_and_n_from_one():
    policy = SearchSpace().suggest(_groups("cutout", augmentation="randaugment", num_ops=1, magnitude=4))
    assert policy.ops == ("Identity", "Cutout") and (policy.num_ops, policy.magnitude) == (1, 4)
    # N = 0 is "no group": with an op group chosen, N starts at 1 (the sampler never asks 0)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    study.optimize(lambda t: float(SearchSpace().suggest(t).num_ops), n_trials=40)
    assert all(t.params["num_ops"] >= 1 for t in study.trials if "num_ops" in t.params)
    assert any("num_ops" not in t.params for t in study.trials)  # trials with no op group


def test_grey_data_leaves_color_out():
    trial = _groups("colour", augmentation="trivialaugment")
    assert SearchSpace().suggest(trial, grey=True).ops == ("Identity", "Brightness", "Contrast", "Sharpness")
    assert "Color" in SearchSpace().suggest(trial).ops
    # A fixed op set stays as given (a study stored before groups must mean what it meant).
    assert FIXED.suggest(optuna.trial.FixedTrial(
        {"augmentation": "randaugment", "num_ops": 1, "magnitude": 3, "approach": "finetune", "head_lr": 1e-3,
         "backbone_lr_ratio": 0.1}), grey=True).ops == TORCHVISION_OPS


def test_user_bounds_reach_every_policy_that_has_the_op():
    space = SearchSpace(op_bins={"Rotate": [0, 10], "Posterize": [20, 30]})
    geometric = space.suggest(_groups("geometric", augmentation="randaugment", num_ops=2, magnitude=25))
    assert geometric.op_bins == {"Rotate": (0, 10)} and geometric.op_bin("Rotate") == 10
    both = space.suggest(_groups("geometric", "histogram", augmentation="randaugment", num_ops=1, magnitude=5))
    assert both.op_bins == {"Rotate": (0, 10), "Posterize": (20, 30)}
    assert space.suggest(_groups("colour", augmentation="trivialaugment")).op_bins == {}


def test_a_fixed_op_set_searches_no_op_group_but_may_search_the_pre_stage():
    space = SearchSpace(ops=("Identity", "Rotate"), groups=("flips",))
    policy = space.suggest(optuna.trial.FixedTrial({"group_flips": True, "augmentation": "randaugment",
                                                    "num_ops": 0, "magnitude": 0, "approach": "finetune",
                                                    "head_lr": 1e-3, "backbone_lr_ratio": 0.1}))
    assert policy.flip and policy.ops == ("Identity", "Rotate") and policy.num_ops == 0
    assert SearchSpace(ops=("Identity", "Rotate")).groups == ()


def test_ablation_params_switch_the_augmentation_off_and_keep_the_rates():
    params = {**NO_GROUPS, "group_geometric": True, "augmentation": "randaugment", "num_ops": 2, "magnitude": 9,
              "approach": "finetune", "head_lr": 0.005, "backbone_lr_ratio": 0.3}
    ablated = SearchSpace().ablation_params(params)
    policy = SearchSpace().suggest(optuna.trial.FixedTrial(ablated))
    assert not policy.augments and policy.transfer.head_lr == 0.005
    fixed = FIXED.ablation_params({"augmentation": "trivialaugment", "head_lr": 0.005, "approach": "finetune",
                                   "backbone_lr_ratio": 0.3})
    assert (fixed["augmentation"], fixed["num_ops"]) == ("randaugment", 0)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"groups": ("flips", "warps")}, "space.groups has an unknown group 'warps'"),
    ({"groups": ("flips", "flips")}, r"space.groups should not repeat a group, but got \['flips', 'flips'\]"),
    ({"groups": "flips"}, "space.groups should be a list of op groups, but got 'flips'"),
    ({"ops": ("Identity", "Rotate"), "groups": ("geometric",)}, r"space.ops fixes the op set.*\['geometric'\]"),
    ({"op_bins": {"Rotate": [10, 2]}}, r"space.op_bins.Rotate should be \[low, high\].*\[10, 2\]"),
    ({"op_bins": {"Rotate": [0, 40]}}, r"space.op_bins.Rotate .*\[0, 40\]"),
    ({"op_bins": {"Warp": [0, 4]}}, "space.op_bins bounds 'Warp', which is not among the operations"),
    ({"groups": ("colour",), "op_bins": {"Rotate": [0, 4]}}, "space.op_bins bounds 'Rotate', which is not among"),
    ({"ops": ("Identity", "Warp")}, "space.ops.*Warp"),
])
def test_bad_groups_ops_and_bounds_are_one_line_errors(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        SearchSpace(**kwargs)
    assert "\n" not in str(info.value)


def test_the_space_round_trips_through_its_stored_form():
    for space in (SearchSpace(), FIXED, SearchSpace(groups=("flips", "colour"), op_bins={"Color": [0, 3]})):
        assert SearchSpace.from_dict(space.to_dict()) == space and space.to_dict()["op_bins"] == {
            k: list(v) for k, v in space.op_bins.items()}


def test_groups_on_a_real_study_reach_every_group_and_store_policies_that_load(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=storage, study_name="groups",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for params in baseline_params(SearchSpace()).values():
        study.enqueue_trial(params)

    def objective(trial):
        policy = SearchSpace().suggest(trial, grey=True)
        trial.set_user_attr("policy", policy.to_json())
        return float(policy.num_ops)

    study.optimize(objective, n_trials=30)
    again = optuna.load_study(study_name="groups", storage=storage)
    from policysearch import load_policy

    policies = [load_policy(t.user_attrs["policy"]) for t in again.trials]
    assert policies[1].flip and policies[1].crop == STANDARD_CROP_BIN and policies[2].num_ops == 2
    assert any(p.flip for p in policies[4:]) and any(p.crop for p in policies[4:])
    assert any("Cutout" in p.ops for p in policies) and not any("Color" in p.ops and p.num_ops > 0 for p in policies)
    for trial, policy in zip(again.trials, policies):  # the stored parameters give back the stored policy
        assert SearchSpace().suggest(optuna.trial.FixedTrial(trial.params), grey=True) == policy
