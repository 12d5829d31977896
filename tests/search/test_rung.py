"""The promotion rung: candidates, their training nearer the target, the pick, storage, cost, resume.

Real parts: scikit-learn's digits, the tiny-cnn backbone, Optuna studies on
temporary SQLite files. Where a test needs proxy values in a given order it
adds finished trials to a real study (``study.add_trial``) whose policies are
then really trained by the rung.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import cv2
import numpy as np
import optuna
import pytest

from policysearch import Policy, load_policy
from policysearch.data import make_splits
from policysearch.errors import ConfigError
from policysearch.policy import Transfer
from policysearch.search.configuration.config import RunConfig, load_config
from policysearch.search.outputs.export import best_trial, export_study, search_image_epochs
from policysearch.search.outputs.report import describe_study
from policysearch.search.run import run_search
from policysearch.search.rung.promotion import promote, rung_candidates
from policysearch.search.rung.rung import RungBudget, pick, rung_splits
from policysearch.search.strategy.space import SearchSpace
from policysearch.search.study.storage import open_study
from policysearch.search.trials.inputs import make_model_factory

TINY = dict(dataset="digits", model="tiny-cnn", weights=None, image_size=8, device="cpu", train_size=200,
            val_size=100, target_train_size=300, target_epochs=2, rung_train_size=200, rung_val_size=150,
            rung_candidates=3)


def config_for(tmp_path, **overrides) -> RunConfig:
    values = dict(TINY, trials=1, storage=f"sqlite:///{tmp_path / 'r.db'}", output_dir=str(tmp_path), study="rung")
    return RunConfig(**{**values, **overrides})


def add_trial(study, value: float, policy: Policy) -> int:
    """A finished trial whose stored policy the rung will train (its params only label it)."""
    params = {"head_lr": policy.transfer.head_lr}
    trial = optuna.trial.create_trial(value=value, params=params,
                                      distributions={"head_lr": optuna.distributions.FloatDistribution(1e-6, 1e7,
                                                                                                        log=True)},
                                      user_attrs={"policy": policy.to_json(), "epochs_run": 1})
    study.add_trial(trial)
    return study.trials[-1].number


SANE = Policy(num_ops=0, magnitude=0, transfer=Transfer("finetune", head_lr=1e-2, backbone_lr=1e-2))
# A head learning rate of 1e6 diverges at once: the rung scores it 0 whatever its proxy value said.
DIVERGES = Policy(num_ops=0, magnitude=0, transfer=Transfer("finetune", head_lr=1e6, backbone_lr=1e6))


@pytest.fixture()
def study_with_a_misleading_leader(tmp_path, digits_source):
    config = config_for(tmp_path)
    study = optuna.create_study(storage=config.storage_url, study_name="rung", direction="maximize")
    study.set_user_attr("settings", {"train_size": 200})
    leader = add_trial(study, 0.99, DIVERGES)
    add_trial(study, 0.99, DIVERGES)  # the same policy again: one candidate, not two
    runner_up = add_trial(study, 0.60, SANE)
    add_trial(study, 0.10, Policy(num_ops=1, magnitude=3, transfer=SANE.transfer))
    return config, study, leader, runner_up


def test_candidates_are_the_best_distinct_policies_by_proxy_value(study_with_a_misleading_leader):
    config, study, leader, runner_up = study_with_a_misleading_leader
    candidates = rung_candidates(study, 2)
    assert list(candidates) == [leader, runner_up]  # the duplicate of the leader is skipped
    assert candidates[runner_up] == SANE
    assert len(rung_candidates(study, 10)) == 3


def test_the_rung_trains_the_leaders_and_its_pick_becomes_the_answer(study_with_a_misleading_leader, tmp_path):
    config, study, leader, runner_up = study_with_a_misleading_leader
    assert best_trial(study).number == leader  # before the rung: the best proxy value
    stream = io.StringIO()
    config = replace(config, rung_candidates=2)
    promote(study, config, None, make_model_factory(config, 10), None, stream)
    rung = study.user_attrs["rung"]
    assert rung["budget"] == {"train_size": 200, "val_size": 150, "epochs": 2, "seeds": 2}
    assert rung["values"][str(leader)] == [0.0, 0.0]  # diverged at the rung, on both seeds
    assert rung["scores"][str(runner_up)] > 0.5  # digits at 200 images: far above chance
    # Two paired seeds, each its own draw of images: two different accuracies, and the score is their mean.
    first, second = rung["values"][str(runner_up)]
    assert first != second and rung["scores"][str(runner_up)] == pytest.approx((first + second) / 2)
    assert rung["pick"] == runner_up and best_trial(study).number == runner_up
    assert f"the answer is trial #{runner_up}" in stream.getvalue()
    # The cost counts each rung training: 4 trials x 200 images x 1 epoch, then 2 candidates x 2 seeds x 200 x 2.
    assert search_image_epochs(study) == 4 * 200 * 1 + 2 * 2 * 200 * 2
    policy = load_policy(export_study(study, tmp_path / "best.json"))
    assert policy.transfer == SANE.transfer and policy.provenance.trial == runner_up
    assert policy.score.rung["value"] == rung["scores"][str(runner_up)]
    assert set(policy.score.rung["candidates"]) == {f"#{n}" for n in rung["scores"]}
    assert f"rung (200 images x 2 epochs, 2 seeds, 150 validation images) picked it" in describe_study(study)


AUGMENTS = {1: True, 2: False, 3: True}


@pytest.mark.parametrize("values, expected", [
    # The augmented best mean beats the best unaugmented candidate on every seed, by more than its spread.
    ({1: [0.90, 0.91, 0.92], 2: [0.88, 0.89, 0.90], 3: [0.80, 0.80, 0.80]}, 1),
    # A higher mean that the seeds do not bear out (+0.17 with seeds 0.65 apart, the silhouettes' rung): the simpler.
    ({1: [0.894, 0.8885], 2: [0.889, 0.890], 3: [0.80, 0.80]}, 2),
    # One seed shows no bound: the simpler, however large the gap.
    ({1: [0.95], 2: [0.80], 3: [0.70]}, 2),
    # The best is unaugmented: the mean decides.
    ({1: [0.85, 0.86], 2: [0.90, 0.91], 3: [0.89, 0.92]}, 2),
])
def test_augmentation_is_the_answer_only_when_it_beats_the_simpler_candidate_by_a_bound(values, expected):
    assert pick(values, {}, AUGMENTS) == expected


def test_without_an_unaugmented_candidate_the_best_mean_is_the_answer():
    assert pick({1: [0.90, 0.80], 3: [0.86, 0.85]}, {}, AUGMENTS) == 3
    # equal means: the better proxy value, then the earlier trial
    assert pick({1: [0.9, 0.8], 3: [0.8, 0.9]}, {1: 0.5, 3: 0.6}, AUGMENTS) == 3
    assert pick({1: [0.9, 0.8], 3: [0.8, 0.9]}, {}, AUGMENTS) == 1


def test_a_one_seed_rung_keeps_the_unaugmented_candidate(tmp_path, digits_source):
    """Real trainings: the augmented candidate scores higher (the plain one learns at a rate 100 times too
    low), yet one seed cannot show that its augmentation beats the candidate without."""
    config = replace(config_for(tmp_path), rung_candidates=2, rung_seeds=1)
    study = optuna.create_study(storage=config.storage_url, study_name="rung", direction="maximize")
    study.set_user_attr("settings", {"train_size": 200})
    augmented = add_trial(study, 0.9, Policy(num_ops=1, magnitude=3, transfer=SANE.transfer))
    plain = add_trial(study, 0.5, replace(SANE, transfer=Transfer("finetune", head_lr=1e-4, backbone_lr=1e-4)))
    stream = io.StringIO()
    promote(study, config, None, make_model_factory(config, 10), None, stream)
    rung = study.user_attrs["rung"]
    assert rung["scores"][str(augmented)] > rung["scores"][str(plain)]  # a pick by the mean would be augmented
    assert rung["pick"] == plain and best_trial(study).number == plain
    assert f"#{augmented}'s augmentation does not beat it by a bound" in stream.getvalue()


def test_a_second_promotion_reuses_the_scores_it_has(study_with_a_misleading_leader):
    config, study, leader, runner_up = study_with_a_misleading_leader
    built = []
    factory = make_model_factory(config, 10)

    def counting_factory():
        built.append(1)
        return factory()

    promote(study, config, None, counting_factory, None, io.StringIO())
    first = dict(study.user_attrs["rung"]["values"])
    assert len(built) == 3 * 2  # 3 candidates x 2 seeds
    promote(study, config, None, counting_factory, None, io.StringIO())
    assert len(built) == 6 and study.user_attrs["rung"]["values"] == first  # nothing retrained
    # A third seed adds one training per candidate and keeps the two it has.
    promote(study, replace(config, rung_seeds=3), None, counting_factory, None, io.StringIO())
    assert len(built) == 9 and all(v[:2] == first[n] for n, v in study.user_attrs["rung"]["values"].items())
    # Another budget is another rung: everything is trained again.
    cost = search_image_epochs(study)
    promote(study, replace(config, rung_train_size=180), None, counting_factory, None, io.StringIO())
    assert len(built) == 15 and study.user_attrs["rung"]["budget"]["train_size"] == 180
    assert search_image_epochs(study) == cost + 3 * 2 * 180 * 2  # the earlier rung's trainings stay counted


def test_the_rung_validates_on_images_the_proxy_did_not_pick_its_candidates_with(digits_source):
    proxy = make_splits(digits_source, train_size=300, val_size=200, seed=0)
    data = rung_splits(digits_source, RungBudget(train_size=400, val_size=300, epochs=1), seed=0, avoid=proxy.val)
    assert (len(data.train), len(data.val)) == (len(digits_source.train) - 300, 300)  # the pool it draws from
    assert not set(data.val.indices) & set(proxy.val.indices)
    assert not set(data.val.indices) & set(data.train.indices)
    # With most of the pool to avoid, validation still comes only from what is left.
    most = make_splits(digits_source, train_size=100, val_size=len(digits_source.train) - 300, seed=0).val
    small = rung_splits(digits_source, RungBudget(train_size=400, val_size=300, epochs=1), seed=0, avoid=most)
    assert not set(small.val.indices) & set(most.indices) and len(small.val) == 100  # a third of the 300 left


def test_a_run_without_a_rung_forgets_an_earlier_pick_but_not_its_cost(study_with_a_misleading_leader):
    from policysearch.search.rung.promotion import clear_rung

    config, study, leader, runner_up = study_with_a_misleading_leader
    promote(study, replace(config, rung_candidates=2), None, make_model_factory(config, 10), None, io.StringIO())
    assert best_trial(study).number == runner_up
    cost = search_image_epochs(study)
    clear_rung(study)
    assert best_trial(study).number == leader and search_image_epochs(study) == cost


def test_rung_data_comes_from_the_pool_never_the_test_split(digits_source):
    data = rung_splits(digits_source, RungBudget(train_size=300, val_size=200, epochs=1), seed=0)
    assert len(data.val) == 200 and not set(data.val.indices) & set(data.train.indices)
    pool_rows = {image.tobytes() for image in digits_source.train.images}
    assert all(image.tobytes() in pool_rows for image in [*data.train.images, *data.val.images])
    assert data.test is digits_source.test  # carried along untouched; the rung never scores on it
    # A pool too small for the budget keeps a third for validation and trains on the rest.
    small = rung_splits(digits_source, RungBudget(train_size=10**6, val_size=10**6, epochs=1), seed=0)
    pool = len(digits_source.train)
    assert len(small.val) == pool // 3 and len(small.train) == pool - pool // 3


def test_on_a_folder_with_val_the_rung_never_validates_on_the_proxys_images(tmp_path):
    from policysearch.data import load_source

    root = tmp_path / "folder"
    digits = load_source("digits")
    for part, split in (("train", digits.train.take(np.arange(900))), ("val", digits.train.take(np.arange(900, 1437))),
                        ("test", digits.test)):
        for row, (image, label) in enumerate(zip(split.images, split.labels)):
            folder = root / part / f"class{label}"
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{row}.png"), image)
    source = load_source(f"imagefolder:{root}", image_size=8)
    assert source.val is not None and len(source.val) == 537
    proxy = make_splits(source, train_size=200, val_size=300, seed=0)  # the proxy's validation images: from val/
    data = rung_splits(source, RungBudget(train_size=200, val_size=2000, epochs=1), seed=0, avoid=proxy.val)
    assert len(data.val) == 537 - 300 and not set(data.val.indices) & set(proxy.val.indices)
    # The proxy took nearly all of val/: the rung validates on images of the training pool instead.
    greedy = make_splits(source, train_size=200, val_size=500, seed=0)
    pooled = rung_splits(source, RungBudget(train_size=200, val_size=2000, epochs=1), seed=0, avoid=greedy.val)
    train_pixels = {image.tobytes() for image in source.train.images}
    assert len(pooled.val) == 900 // 3 and all(image.tobytes() in train_pixels for image in pooled.val.images)
    assert not set(pooled.val.indices) & set(pooled.train.indices)


def test_a_run_with_a_rung_exports_its_pick(tmp_path):
    config = config_for(tmp_path, trials=4, final=False, rung_candidates=2)
    log = io.StringIO()
    outcome = run_search(config, log)
    study = optuna.load_study(study_name="rung", storage=config.storage_url)
    rung = study.user_attrs["rung"]
    assert len(rung["scores"]) == 2 and outcome.best_trial == rung["pick"]
    assert json.loads(outcome.policy_path.read_text())["provenance"]["trial"] == rung["pick"]
    assert "rung (200 images x 2 epochs, 2 seeds, 150 validation images)" in log.getvalue()
    assert outcome.image_epochs == search_image_epochs(study) >= 2 * 2 * 200 * 2


def test_no_rung_when_asked_or_for_a_study_of_the_earlier_version(tmp_path):
    config = config_for(tmp_path, trials=3, final=False, rung_candidates=0)
    run_search(config, io.StringIO())
    study = optuna.load_study(study_name="rung", storage=config.storage_url)
    assert "rung" not in study.user_attrs
    assert RunConfig().with_legacy_defaults().rung_candidates == 0
    assert RunConfig(rung_candidates=5, explicit=("rung_candidates",)).with_legacy_defaults().rung_candidates == 5


def test_rung_settings_are_checked():
    with pytest.raises(ConfigError, match="rung_candidates"):
        load_config(None, {"rung_candidates": -1})
    with pytest.raises(ConfigError, match="rung_val_size"):
        load_config(None, {"rung_val_size": 0})
    # Twice the proxy's 500 images (half the default target's 1,000 would be the proxy again), its 3 epochs.
    assert RunConfig().rung_budget == (1000, 2000, 3)
    assert RunConfig(target_train_size=5000, target_epochs=10).rung_budget == (2500, 2000, 10)
    assert RunConfig(target_train_size=1000).rung_budget == (1000, 2000, 3)  # never more than the target's


def test_the_leaders_ablation_runs_unpruned_and_joins_the_rung(tmp_path, digits_source):
    from policysearch.search.rung.promotion import ablation_params, run_ablation
    from policysearch.search.trials.inputs import load_splits
    from policysearch.search.trials.objective import ABLATION_OF
    from policysearch.search.trials.optimize import optimize
    from policysearch.search.trials.progress import Progress

    config = config_for(tmp_path, space=SearchSpace(head_lr=(1e-3, 3e-2)))
    study = optuna.create_study(storage=config.storage_url, study_name="rung", direction="maximize")
    study.set_user_attr("settings", {"train_size": 200})
    leader = Policy(kind="trivialaugment", transfer=Transfer("finetune", head_lr=1e-2, backbone_lr=1e-3))
    params = {"augmentation": "trivialaugment", "approach": "finetune", "head_lr": 1e-2, "backbone_lr_ratio": 0.1}
    distributions = {name: dist for name, dist in space_distributions(config.space).items() if name in params}
    study.add_trial(optuna.trial.create_trial(value=0.99, params=params, distributions=distributions,
                                              user_attrs={"policy": leader.to_json(), "epochs_run": 2}))
    for _ in range(4):  # finished trials whose curves would have the pruner stop any ordinary trial
        study.add_trial(optuna.trial.create_trial(
            value=0.98, params={"head_lr": 1e-2}, distributions={"head_lr": distributions["head_lr"]},
            intermediate_values={1: 0.99, 2: 0.99}, user_attrs={"policy": SANE.to_json(), "epochs_run": 2}))
    number, ablated = ablation_params(study, config.space)
    groups_off = {f"group_{g}": False for g in ("flips", "crop", "geometric", "colour", "histogram", "cutout")}
    assert number == 0 and ablated == {"approach": "finetune", "head_lr": 1e-2, "backbone_lr_ratio": 0.1, **groups_off}
    # With the op set fixed (no groups searched), the ablation is RandAugment at N = 0.
    fixed = SearchSpace(ops=("Rotate", "Identity"))
    assert ablation_params(study, fixed)[1] == {"augmentation": "randaugment", "num_ops": 0, "magnitude": 0,
                                                "approach": "finetune", "head_lr": 1e-2, "backbone_lr_ratio": 0.1}
    splits, factory = load_splits(config), make_model_factory(config, 10)
    ran = run_ablation(study, config, lambda n: optimize(study, config, splits, factory,
                                                         Progress(n, None, io.StringIO()), n))
    trial = study.trials[ran]
    assert trial.user_attrs[ABLATION_OF] == 0 and trial.state == optuna.trial.TrialState.COMPLETE
    assert len(trial.intermediate_values) == config.proxy_epochs  # never pruned
    assert trial_policy_of(trial).num_ops == 0 and trial_policy_of(trial).transfer.head_lr == 1e-2
    # Asked again, the study has it: nothing runs.
    assert run_ablation(study, config, lambda n: pytest.fail("ran again")) == ran
    promote(study, replace(config, rung_candidates=1), None, factory, None, io.StringIO(), ran)
    assert set(study.user_attrs["rung"]["scores"]) == {"0", str(ran)}


def test_no_ablation_when_the_leader_does_not_augment(study_with_a_misleading_leader):
    from policysearch.search.rung.promotion import ablation_params

    config, study, leader, runner_up = study_with_a_misleading_leader
    assert ablation_params(study, config.space) is None  # the leader is no augmentation already


def space_distributions(space):
    """The distributions the space suggests from, read off real sampled trials (some parameters are asked only
    when others take certain values, so several trials)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    found = {}
    for _ in range(30):
        trial = study.ask()
        space.suggest(trial)
        found.update(trial.distributions)
    return found


def trial_policy_of(trial):
    from policysearch.search.outputs.export import trial_policy

    return trial_policy(trial)
