"""Samplers of workers sharing one study: real studies on SQLite, sampled through the real space.

No training here: each worker asks for a trial, the search space samples it,
and a made-up score of its learning rate is told back, so that TPE's
model-based proposals (after its 8 start-up trials) take part too. The runs
with workers in processes, on SQLite and PostgreSQL, are in test_reliability.py.
"""

from __future__ import annotations

import collections
import itertools
import math

import optuna
import pytest

from policysearch.search.configuration.config import RunConfig
from policysearch.search.strategy.sampler import WorkerSampler, make_sampler, trial_seed
from policysearch.search.strategy.space import SearchSpace, baseline_params
from policysearch.search.study.storage import open_study

# The workers here ask for trials (ask/tell) from studies whose storage beats: Optuna's warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")

# What make_sampler built before workers were kept apart, given seed + offset.
SEEDED_ALIKE = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                                   n_startup_trials=8),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


@pytest.fixture(autouse=True)
def _quiet():
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def _config(tmp_path, sampler="tpe", seed=7, study="s", space=None):
    return RunConfig(storage=f"sqlite:///{tmp_path / 'studies.db'}", study=study, sampler=sampler, seed=seed,
                     **({"space": space} if space else {}))


def _score(params):
    """A made-up proxy score: best at a head rate of 3e-3, so that TPE has something to model."""
    return -abs(math.log(params["head_lr"] / 3e-3))


def _run_rounds(workers, space, rounds):
    """Each round, every worker asks for a trial before any tells: they run at the same time."""
    for _ in range(rounds):
        running = []
        for study in workers:
            trial = study.ask()
            space.suggest(trial)
            running.append((study, trial))
        for study, trial in running:
            study.tell(trial, _score(trial.params))


def _sampled(study):
    """Parameters of the trials the sampler drew (not the enqueued baselines), in trial order."""
    return [t.params for t in study.get_trials(deepcopy=False) if "fixed_params" not in t.system_attrs]


def _repeats(params):
    counts = collections.Counter(tuple(sorted(p.items())) for p in params)
    return sum(n for n in counts.values() if n > 1)


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_four_workers_opening_together_never_draw_the_same_point(tmp_path, sampler):
    config = _config(tmp_path, sampler)
    workers = [open_study(config) for _ in range(4)]  # the creator at offset 0, the others after the baselines
    _run_rounds(workers, config.space, rounds=5)
    sampled = _sampled(workers[0])
    assert len(sampled) == 20 - len(baseline_params(config.space))
    assert _repeats(sampled) == 0, sampled
    assert all(isinstance(study.sampler, WorkerSampler) for study in workers)
    assert all(study.sampler.reseeds > 0 for study in workers)  # each saw another worker's trials


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_the_same_workers_seeded_alike_repeat_each_other(tmp_path, sampler):
    # The check above can fail: with the samplers made before (seed + offset), the three workers that
    # opened after the creator had enqueued the baselines drew the same start-up points.
    config = _config(tmp_path, sampler)
    baselines = len(baseline_params(config.space))
    workers = []
    for offset in (0, baselines, baselines, baselines):  # as open_study found them above
        study = open_study(config)
        study.sampler = SEEDED_ALIKE[sampler](config.seed + offset)
        workers.append(study)
    _run_rounds(workers, config.space, rounds=5)
    assert _repeats(_sampled(workers[0])) >= 3


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_worker_alone_draws_what_the_seeded_sampler_drew_before(tmp_path, sampler):
    """Same --seed, one worker: the same trials as before workers were kept apart, fresh and resumed."""
    ours = _config(tmp_path, sampler, study="ours")
    before = _config(tmp_path, sampler, study="before")
    # A run of 14 trials, then a resumed run: open_study read 0 trials (the baselines are
    # enqueued after the read), then 14, and shifted the seed by that many.
    for rounds, offset in ((14, 0), (6, 14)):
        study = open_study(ours)
        reference = open_study(before)
        reference.sampler = SEEDED_ALIKE[sampler](before.seed + offset)
        _run_rounds([study], ours.space, rounds)
        _run_rounds([reference], before.space, rounds)
        assert study.sampler.reseeds == 0
    assert len(study.get_trials()) == 20
    assert _sampled(study) == _sampled(reference)
    assert len(_sampled(study)) == 20 - len(baseline_params(ours.space))


def test_the_baselines_enqueued_after_opening_keep_a_lone_worker_consecutive(tmp_path):
    # open_study reads the offset before the creator enqueues the baselines: the first trials are the
    # baselines and the next ones draws, all this worker's, so its first seed stands.
    study = open_study(_config(tmp_path))
    _run_rounds([study], SearchSpace(), rounds=6)
    assert len(_sampled(study)) == 6 - len(baseline_params(SearchSpace())) > 0
    assert study.sampler.reseeds == 0


def test_trial_seeds_differ_from_each_other_and_from_the_start_seeds():
    seeds = {trial_seed(seed, number) for seed in range(4) for number in range(500)}
    assert len(seeds) == 2000
    assert not seeds & set(range(600))  # seed + offset, where workers alone start


def test_grid_workers_opening_at_different_offsets_share_one_grid(tmp_path):
    # The grid sampler runs grid point number n (of its seeded shuffle) as trial n: workers
    # must shuffle alike. Seeded with seed + offset, the creator (offset 0) and a worker
    # that joined after the baselines shuffled differently and ran points twice.
    space = SearchSpace(kinds=("randaugment",), num_ops=(1, 2), magnitude=(0, 6))
    config = _config(tmp_path, "grid", space=space)
    workers = [open_study(config), open_study(config)]
    grid = space.grid()
    points = sorted(itertools.product(*grid.values()))

    def objective(trial):
        space.suggest(trial)
        return _score(trial.params)

    for turn in range(len(baseline_params(space)) + len(points)):  # the baselines, then the grid, in turns
        workers[turn % 2].optimize(objective, n_trials=1)
    sampled = sorted(tuple(p[key] for key in grid) for p in _sampled(workers[0]))
    assert len(points) == 6 and sampled == points


def test_make_sampler_keys_tpe_and_random_to_trials_and_grid_to_the_study_seed():
    assert isinstance(make_sampler(RunConfig(sampler="tpe"), offset=5), WorkerSampler)
    assert isinstance(make_sampler(RunConfig(sampler="random")), WorkerSampler)
    assert isinstance(make_sampler(RunConfig(sampler="grid"), offset=5), optuna.samplers.GridSampler)
