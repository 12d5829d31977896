"""Samplers whose draws no two workers of one study share.

Every worker of a study (a process of ``--jobs``, or a ``run`` on another
host) opens the study with the same ``--seed``. Seeded alike, their samplers
draw alike: four workers that opened together drew the same start-up points.
:class:`WorkerSampler` keys its random draws to the trial it samples
instead. The study's trial numbers are handed out by the storage, once each,
across processes and hosts; so before a trial whose number is not the one
that follows its own last trial (another worker ran the numbers between),
the sampler is rebuilt with a seed derived from the study's seed and that
trial number, and no other worker can hold that seed. A worker alone in its
study runs consecutive numbers and keeps its first seed, so it draws exactly
what the seeded sampler drew before workers were kept apart.

TPE's constant liar still counts the trials other workers are running as
poor results, which spreads TPE's later proposals; it never separated the
random start-up draws, and different seeds do.

:func:`make_sampler` builds a study's sampler from the run's settings: TPE
or random as a :class:`WorkerSampler`, or grid.

Example:
    >>> trial_seed(0, 5) == trial_seed(0, 5) != trial_seed(0, 6)
    True
"""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:  # annotations only: the configuration imports the strategy, not the reverse
    from policysearch.search.configuration.config import RunConfig

__all__ = ["WorkerSampler", "trial_seed", "make_sampler", "quiet_optuna"]


def trial_seed(seed: int, number: int) -> int:
    """The seed of the draws for trial ``number`` of a study seeded with ``seed``.

    Hashed (numpy's SeedSequence), so that it collides neither with another
    trial's nor with ``seed + k``, the seeds a worker starts from.

    Example:
        >>> 0 <= trial_seed(3, 17) < 2**32
        True
    """
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class WorkerSampler(BaseSampler):
    """A sampler built by ``make(seed)``, rebuilt per :func:`trial_seed` when another worker took trials.

    ``make(seed + offset)`` is the sampler while the trials this worker runs
    are numbered ``offset, offset + 1, ...``, in the order the study would
    hand them to a worker alone (``offset`` is the number of trials in the
    study when the worker opened it). Rebuilding reseeds all of a sampler's
    random state at once (TPE's own generator and its start-up random
    sampler); what else a sampler holds is a cache of the study, rebuilt
    from the storage.

    Example:
        >>> sampler = WorkerSampler(lambda s: optuna.samplers.RandomSampler(seed=s), seed=0)
        >>> study = optuna.create_study(sampler=sampler)
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        >>> sampler.reseeds  # a worker alone: its numbers follow one another
        0
    """

    def __init__(self, make: Callable[[int], BaseSampler], seed: int, offset: int = 0) -> None:
        self._make = make
        self._seed = seed
        self._next = offset
        self._sampler = make(seed + offset)
        self.reseeds = 0  # how often another worker's trials came between two of ours

    def before_trial(self, study: Any, trial: FrozenTrial) -> None:
        if trial.number != self._next:
            self._sampler = self._make(trial_seed(self._seed, trial.number))
            self.reseeds += 1
        self._next = trial.number + 1
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: Any, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Any, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._sampler.reseed_rng()


def make_sampler(config: RunConfig, offset: int = 0) -> Any:
    """TPE (multivariate, seeded, constant liar for parallel workers), random, or grid.

    ``offset`` (the number of trials already in the study) shifts the seed, so
    a resumed run does not replay the random draws of the first one. TPE and
    random draw as a :class:`WorkerSampler`: another worker's trials between
    two of this one's reseed it from the trial number, so that workers opening
    the study together never draw the same points. Grid takes the study's seed
    unshifted: every worker must shuffle the grid alike, since it runs the grid
    point numbered as its trial.

    Example:
        >>> from policysearch.search import RunConfig
        >>> type(make_sampler(RunConfig(sampler="random"), offset=3)).__name__
        'WorkerSampler'
    """

    if config.sampler == "grid":
        return optuna.samplers.GridSampler(config.space.grid(distill=config.teacher is not None), seed=config.seed)
    make = _random_sampler if config.sampler == "random" else _tpe_sampler
    return WorkerSampler(make, config.seed, offset)


def _random_sampler(seed: int) -> Any:
    return optuna.samplers.RandomSampler(seed=seed)


def _tpe_sampler(seed: int) -> Any:
    with quiet_optuna():
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=8
        )


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's experimental-feature warnings: we chose those features."""

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield
