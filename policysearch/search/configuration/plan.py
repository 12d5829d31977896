"""A run within a time budget: what fits, from training rates measured on this machine.

``policysearch run --budget 5m`` times a few training steps first
(:func:`policysearch.training.time_training`), and this module turns the
rates into a plan: the verdict's trainings (never fewer than the spec asks:
the answer, its ablation and the four standard baselines, times
``final_seeds``, less the baselines' results already stored), the promotion
rung's (its candidates and the leader's ablation, times ``rung_seeds``, plus
the ablation's one proxy trial), a safety margin, and the proxy trials in
what is left. Everything here is arithmetic on frozen data, so it is tested
against made-up rates and a fake clock.

The rules, in order:

* a margin of :data:`SAFETY` of the budget is kept back (the rates come from
  a few steps; trials also write previews and talk to the storage);
* the trial phase gets the rest; the trials that fit in it run, at most
  ``--trials`` when that is given too (the smaller wins), and Optuna's
  ``timeout`` stops starting them one trial's time before the phase ends, so
  the last one started still ends in it;
* the rung is the largest that leaves room for :data:`PREFERRED_TRIALS`
  trials: fewer candidates first, then (for the default size) half its
  training images, down to the proxy's; failing that, no rung;
* with no rung, at least the baselines' trials (:data:`MIN_TRIALS` by
  default, the four a new study enqueues) must fit, or the budget is too
  small: one :class:`ConfigError` saying what it needs;
* the count is planned again after the first trials (a new study's
  baselines), from what a trial really took, which adds what the
  calibration cannot see (the sampler, the storage, previews); it never
  grows past the plan's;
* after the trial phase the rung is sized again (:func:`replan_rung`): the
  trials' training pace against the calibrated one (a busy machine's speed
  can change several-fold within a minute; a phase of trials measures it
  far better than a few steps did) scales the rung's and the verdict's
  trainings, the trials' overhead outside training is added to the rung's
  one proxy trial, and the largest rung that fits in the time left runs.

A proxy trial is planned as if it ran every epoch (pruned ones end sooner:
the run then ends early, never late).

Example:
    >>> from policysearch.search.configuration.config import RunConfig
    >>> rates = Rates(setup_seconds=1.0, train_seconds_per_image=0.001, eval_seconds_per_image=0.0001)
    >>> facts = Facts(pool=60000, test_images=2000, cached=0, baselines=4)
    >>> plan = make_plan(RunConfig(), rates, rates, budget=600, spent=10, facts=facts)
    >>> plan.trials, round(plan.trial_seconds, 1), plan.rung_candidates, plan.verdict.trainings
    (160, 2.6, 2, 18)
    >>> make_plan(RunConfig(trials=20, explicit=("trials",)), rates, rates, budget=600, spent=10,
    ...           facts=facts).trials
    20
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from policysearch.errors import ConfigError
from policysearch.search.configuration.config import RunConfig, format_duration

__all__ = ["Rates", "Facts", "Phase", "Plan", "make_plan", "replan_rung", "trial_estimate", "SAFETY", "PREFERRED_TRIALS", "MIN_TRIALS",
           "VERDICT_POLICIES"]

SAFETY = 0.10  # of the budget, kept back for what the rates miss
PREFERRED_TRIALS = 8  # the rung shrinks before the search has fewer trials than this: the baselines and four more
MIN_TRIALS = 4  # the fewest a search runs within a budget: a new study's enqueued baselines
VERDICT_POLICIES = 2  # the answer and its ablation, beside the standard baselines, in every verdict seed
STANDARD_BASELINE_COUNT = 4


@dataclass(frozen=True)
class Rates:
    """What training costs on one model, image size and device, in seconds."""

    setup_seconds: float  # building a model and a training session
    train_seconds_per_image: float  # one image through one training step (an image-epoch)
    eval_seconds_per_image: float

    @classmethod
    def from_timing(cls, timing: Any) -> Rates:
        """Rates from a :class:`policysearch.training.Timing`."""
        return cls(timing.setup_seconds, timing.train_seconds / max(timing.train_images, 1),
                   timing.eval_seconds / max(timing.eval_images, 1))

    @property
    def images_per_second(self) -> float:
        """Training images per second (what README quotes for a machine)."""
        return 1.0 / self.train_seconds_per_image if self.train_seconds_per_image > 0 else math.inf

    def training(self, images: int, epochs: int, evaluated: int, evaluations: int = 1) -> float:
        """Seconds of one training: set up, ``images`` x ``epochs`` trained, ``evaluated`` images scored
        ``evaluations`` times.

        Example:
            >>> Rates(2.0, 0.01, 0.001).training(100, 3, evaluated=50, evaluations=3)
            5.15
        """
        return (self.setup_seconds + images * epochs * self.train_seconds_per_image
                + evaluated * evaluations * self.eval_seconds_per_image)


@dataclass(frozen=True)
class Facts:
    """What the plan needs to know of the data and the storage besides the configuration."""

    pool: int  # training images the rung and the verdict draw from
    test_images: int  # the verdict scores each training on this many
    cached: int = 0  # the verdict's baseline trainings already stored (free)
    baselines: int = MIN_TRIALS  # the baselines' trials a new study enqueues: the least search there is


@dataclass(frozen=True)
class Phase:
    """Trainings of one phase and their expected seconds."""

    trainings: int
    seconds: float
    cached: int = 0  # trainings the phase needs but finds stored


@dataclass(frozen=True)
class Plan:
    """The run sized to its budget (all times in seconds from the run's start)."""

    budget: float
    spent: float  # already gone when planned: loading, calibration
    margin: float
    trial_seconds: float  # one proxy trial
    trials: int
    trials_fit: int  # trials the phase has room for (``trials`` is fewer when --trials caps it)
    trial_phase: float  # seconds the trial phase may take
    trial_timeout: float  # Optuna's timeout: no trial starts after it (the first always starts)
    rung_candidates: int  # 0: no rung
    rung_train_size: int | None  # None: the configuration's
    rung: Phase
    verdict: Phase
    rates: Rates
    target_rates: Rates
    facts: Facts
    pace: float = 1.0  # the trials' real time over their calibrated estimate (1 until the trials have run)

    @property
    def expected_end(self) -> float:
        """When the run should end, in seconds from its start."""
        return self.spent + self.trials * self.trial_seconds + self.rung.seconds + self.verdict.seconds

    def lines(self, config: RunConfig, started: datetime) -> list[str]:
        """What ``run`` prints before the first trial; ``started`` is the wall-clock time the run began."""
        end = (started + timedelta(seconds=self.expected_end)).strftime("%H:%M:%S")
        cap = (f"; --trials {config.trials} caps the {self.trials_fit} that fit"
               if self.trials < self.trials_fit else "")
        rung = ("none" if not self.rung_candidates else
                f"{self.rung_candidates} candidates + the leader's ablation x {config.rung_seeds} seeds, "
                f"{self.rung.trainings} trainings of {self._rung_size(config)} images x {config.target_epochs} "
                f"epochs, and the ablation's proxy trial: ~{_secs(self.rung.seconds)}")
        cached = f", {self.verdict.cached} baseline trainings stored" if self.verdict.cached else ""
        verdict = (f"{self.verdict.trainings} trainings of {min(config.target_train_size, self.facts.pool)} images "
                   f"x {config.target_epochs} epochs ({VERDICT_POLICIES + STANDARD_BASELINE_COUNT} policies x "
                   f"{config.final_seeds} seeds{cached}), each scored on {self.facts.test_images} test images: "
                   f"~{_secs(self.verdict.seconds)}") if config.final else "none (--no-final)"
        return [
            f"budget {format_duration(self.budget)}: {self.rates.images_per_second:,.0f} training images/s "
            f"measured ({config.model}, {config.image_size} px, {config.batch_size} a batch; "
            f"{_secs(self.rates.setup_seconds)} to set a training up)" + self._target_rate(config),
            f"  trials:  {self.trials} x ~{_secs(self.trial_seconds)} = ~{_secs(self.trials * self.trial_seconds)} "
            f"(none starts after {_secs(self.trial_timeout)}{cap})",
            f"  rung:    {rung}",
            f"  verdict: {verdict}",
            f"  so far {_secs(self.spent)} (data, calibration), margin {_secs(self.margin)}; expected end "
            f"{end} (~{format_duration(self.expected_end)} of {format_duration(self.budget)})",
        ]

    def _rung_size(self, config: RunConfig) -> int:
        return min(self.rung_train_size or config.rung_budget[0], self.facts.pool)

    def _target_rate(self, config: RunConfig) -> str:
        if self.target_rates == self.rates:
            return ""
        return (f"; the target's {config.target_model or config.model} at "
                f"{config.target_image_size or config.image_size} px: "
                f"{self.target_rates.images_per_second:,.0f} images/s")


def make_plan(config: RunConfig, rates: Rates, target_rates: Rates, *, budget: float, spent: float,
              facts: Facts) -> Plan:
    """The plan for ``config`` within ``budget`` seconds, ``spent`` of them gone (see the module docstring).

    ``rates`` are the search's (the proxy and the rung train its model at its
    image size), ``target_rates`` the verdict's. Raises :class:`ConfigError`
    when not even the verdict and the baselines' trials fit.
    """
    margin = SAFETY * budget
    trial = config.seeds * rates.training(config.train_size, config.proxy_epochs, config.val_size,
                                          evaluations=config.proxy_epochs)
    verdict = verdict_phase(config, target_rates, facts)
    cap = config.trials if "trials" in config.explicit else None
    left = budget - spent - margin - verdict.seconds
    for candidates, size in _rung_options(config):
        rung = rung_phase(config, rates, facts, candidates, size, trial)
        fit = _fit(left - rung.seconds, trial)
        if fit >= min(PREFERRED_TRIALS, cap or PREFERRED_TRIALS) or (candidates == 0 and fit >= _least(config, facts)):
            phase = left - rung.seconds
            trials = fit if cap is None else min(fit, cap)
            return Plan(budget, spent, margin, trial, trials, fit, phase, max(phase - trial, 1e-3), candidates,
                        size, rung, verdict, rates, target_rates, facts)
    needed = spent + margin + verdict.seconds + _least(config, facts) * trial
    raise ConfigError(
        f"budget {format_duration(budget)} is too small for this run: the verdict alone needs "
        f"~{_secs(verdict.seconds)} ({verdict.trainings} trainings), {_least(config, facts)} trials "
        f"~{_secs(_least(config, facts) * trial)}, loading and calibration took {_secs(spent)} and the margin is "
        f"{_secs(margin)}; give --budget {format_duration(_round_up(needed / (1 - SAFETY)))} or more, or a smaller "
        f"target (--target-train-size, --target-epochs, --final-seeds)")


def replan_rung(config: RunConfig, plan: Plan, *, pace: float, left: float, overhead: float = 0.0) -> Plan:
    """``plan`` with its rung sized again after the trials: the largest rung of ``config`` (the run's own
    settings, before any plan) whose trainings and the verdict's, at ``pace`` times their calibrated estimates
    (and ``overhead`` seconds for the rung's proxy trial), fit with the margin in the ``left`` seconds of the
    budget; none if even the smallest does not.

    Example:
        >>> from policysearch.search.configuration.config import RunConfig
        >>> rates = Rates(setup_seconds=1.0, train_seconds_per_image=0.001, eval_seconds_per_image=0.0001)
        >>> facts = Facts(pool=60000, test_images=2000)
        >>> plan = make_plan(RunConfig(), rates, rates, budget=600, spent=10, facts=facts)
        >>> [(p.rung_candidates, p.rung_train_size) for p in
        ...  (replan_rung(RunConfig(), plan, pace=pace, left=250) for pace in (1.0, 2.0, 2.5, 3.0))]
        [(2, None), (1, 500), (0, None), (0, None)]
    """
    for candidates, size in _rung_options(config):
        rung = rung_phase(config, plan.rates, plan.facts, candidates, size, plan.trial_seconds)
        if candidates == 0 or pace * (rung.seconds + plan.verdict.seconds) + overhead + plan.margin <= left:
            return replace(plan, rung_candidates=candidates, rung_train_size=size, rung=rung, pace=pace)
    raise AssertionError("unreachable: the last option is no rung")


def trial_estimate(config: RunConfig, rates: Rates, epochs_run: int) -> float:
    """The calibrated seconds of a proxy trial that ran ``epochs_run`` epochs over all its seeds (a pruned one
    ran fewer): a setup per seed begun, each epoch's training and validation.

    Example:
        >>> from policysearch.search.configuration.config import RunConfig
        >>> trial_estimate(RunConfig(train_size=100, val_size=50, epochs=2), Rates(1.0, 0.01, 0.002), 1)
        2.1
    """
    seeds = max(math.ceil(epochs_run / config.proxy_epochs), 1)
    epoch = config.train_size * rates.train_seconds_per_image + config.val_size * rates.eval_seconds_per_image
    return seeds * rates.setup_seconds + epochs_run * epoch


def verdict_phase(config: RunConfig, rates: Rates, facts: Facts) -> Phase:
    """The verdict's trainings at the target: the answer, its ablation and the standard baselines per seed,
    less the stored ones (never fewer seeds than ``final_seeds``); none with ``--no-final``.

    Example:
        >>> from policysearch.search.configuration.config import RunConfig
        >>> verdict_phase(RunConfig(target_train_size=100, target_epochs=2), Rates(1.0, 0.01, 0.001),
        ...               Facts(pool=50, test_images=1000, cached=4))
        Phase(trainings=14, seconds=42.0, cached=4)
    """
    if not config.final:
        return Phase(0, 0.0)
    wanted = (VERDICT_POLICIES + STANDARD_BASELINE_COUNT) * config.final_seeds
    cached = min(facts.cached, STANDARD_BASELINE_COUNT * config.final_seeds)
    one = rates.training(min(config.target_train_size, facts.pool), config.target_epochs, facts.test_images)
    return Phase(wanted - cached, (wanted - cached) * one, cached)


def rung_phase(config: RunConfig, rates: Rates, facts: Facts, candidates: int, size: int | None,
               trial_seconds: float) -> Phase:
    """The rung of ``candidates`` (and the leader's ablation, which also runs one proxy trial) at ``size``
    training images (None: the configuration's), on ``rung_seeds`` seeds.

    Example:
        >>> from policysearch.search.configuration.config import RunConfig
        >>> rung_phase(RunConfig(rung_val_size=100, target_epochs=2), Rates(1.0, 0.01, 0.001),
        ...            Facts(pool=500, test_images=0), 2, 200, trial_seconds=5.0).trainings
        6
    """
    if candidates == 0:
        return Phase(0, 0.0)
    images = min(size or config.rung_budget[0], facts.pool)
    validation = min(config.rung_val_size, max(facts.pool // 3, 1))  # a small pool validates on a third of it
    trainings = (candidates + 1) * config.rung_seeds
    return Phase(trainings, trial_seconds + trainings * rates.training(images, config.target_epochs, validation))


def _rung_options(config: RunConfig) -> list[tuple[int, int | None]]:
    """Rungs to try, largest first: (candidates, training images or None for the configuration's).

    Example:
        >>> from policysearch.search.configuration.config import RunConfig
        >>> _rung_options(RunConfig(rung_candidates=2, train_size=250, target_train_size=2000))
        [(2, None), (1, None), (1, 500), (1, 250), (0, None)]
    """
    if config.rung_candidates == 0:
        return [(0, None)]
    options: list[tuple[int, int | None]] = [(k, None) for k in range(config.rung_candidates, 0, -1)]
    size = config.rung_budget[0]
    if config.rung_train_size is None:  # the default size shrinks; one the user chose stays or goes whole
        while size // 2 >= config.train_size:
            size //= 2
            options.append((1, size))
    return [*options, (0, None)]


def _least(config: RunConfig, facts: Facts) -> int:
    """The fewest trials a budgeted search runs: the baselines' (or ``--trials``, when fewer)."""
    return min(facts.baselines, config.trials) if "trials" in config.explicit else facts.baselines


def _fit(seconds: float, trial: float) -> int:
    return max(int(seconds // trial), 0) if trial > 0 else 0


def _round_up(seconds: float) -> float:
    """Up to the next 10 seconds below 2 minutes, else the next minute: a budget a user would type."""
    step = 10 if seconds < 120 else 60
    return math.ceil(seconds / step) * step


def _secs(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
