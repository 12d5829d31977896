"""A run's time budget, wired: calibrate on this machine, count what is stored, plan (:mod:`.plan`), apply.

Everything here runs before the study is opened, and writes nothing: a
budget too small is refused with the storage as it was (a SQLite or journal
file that does not exist yet is not created to look for stored results).

Example:
    >>> import io
    >>> from dataclasses import replace
    >>> from policysearch.data import load_source
    >>> config = replace(tiny_config(), budget=600.0, study="doctest-budget")
    >>> ticks = iter(range(10_000))  # a fake clock: one second a reading
    >>> plan = plan_budget(config, load_source("digits", image_size=8), tiny_splits(), tiny_factory(), None,
    ...                    clock=lambda: float(next(ticks)), start=0.0)
    >>> plan.rates.train_seconds_per_image == 1 / (4 * config.batch_size), plan.trials > 0
    (True, True)
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Collection

import numpy as np

from policysearch.data import Source
from policysearch.models import model_factory
from policysearch.search.configuration.config import RunConfig, format_duration
from policysearch.search.configuration.plan import Facts, Plan, Rates, make_plan, replan_rung, trial_estimate
from policysearch.search.strategy.space import baseline_params
from policysearch.search.study.schema import trial_cost, trial_epochs_run
from policysearch.search.study.storage import make_storage
from policysearch.search.trials.inputs import target_spec, train_config
from policysearch.search.verdict.target_results import RESULTS_STUDY, TargetResults, result_key
from policysearch.search.verdict.verdict import STANDARD_BASELINES, result_budget
from policysearch.training import time_training

__all__ = ["plan_budget", "calibrate", "stored_baselines", "apply_plan", "budgeted_trials", "training_pace",
           "rung_after_trials", "CALIBRATION_POLICY", "FIRST_TRIALS"]

# Calibration trains under an augmenting policy: what a typical trial pays for its augmentation is in the rate.
CALIBRATION_POLICY = STANDARD_BASELINES["randaugment_n2_m9"]
# Trials run before the count is planned again from what they really took: a new study's four baselines.
FIRST_TRIALS = 4


def plan_budget(config: RunConfig, source: Source, splits: Any, factory: Callable[[], Any], teaching: Any, *,
                clock: Callable[[], float] = time.perf_counter, start: float) -> Plan:
    """Calibrate, then plan ``config`` within ``config.budget`` seconds counted from ``start`` (on ``clock``).

    Raises :class:`policysearch.errors.ConfigError` when the budget is too small (see :func:`.make_plan`).
    """
    rates, target_rates = calibrate(config, source, splits, factory, teaching, clock=clock)
    test = len(source.test) if config.test_size is None else min(config.test_size, len(source.test))
    facts = Facts(pool=len(source.train), test_images=test, cached=stored_baselines(config, len(source.train)),
                  baselines=len(baseline_params(config.space, distill=config.teacher is not None)))
    return make_plan(config, rates, target_rates, budget=config.budget, spent=clock() - start, facts=facts)


def calibrate(config: RunConfig, source: Source, splits: Any, factory: Callable[[], Any], teaching: Any, *,
              clock: Callable[[], float] = time.perf_counter) -> tuple[Rates, Rates]:
    """The search's rates (its model and image size, on the proxy's images) and the target's: the same when the
    target trains the same model at the same size, else measured on its own model on images of its size."""
    run = train_config(config)
    rates = Rates.from_timing(time_training(factory, CALIBRATION_POLICY, splits.train.images, splits.train.labels,
                                            run, teaching=teaching, clock=clock))
    spec = target_spec(config)
    if spec.model == config.model and spec.image_size == config.image_size:
        return rates, rates
    target_factory = model_factory(spec.model, source.num_classes, image_size=spec.image_size, weights=spec.weights,
                                   seed=spec.seed)
    labels = splits.train.labels[:64]  # repeated to fill the batches
    shape = (len(labels), spec.image_size, spec.image_size, splits.train.images.shape[-1])
    images = np.random.default_rng(config.seed).integers(0, 256, shape, dtype=np.uint8)  # a step's cost ignores pixels
    return rates, Rates.from_timing(time_training(target_factory, CALIBRATION_POLICY, images, labels, run,
                                                  clock=clock))


def stored_baselines(config: RunConfig, pool: int) -> int:
    """How many of the verdict's standard-baseline trainings the storage already holds (they are free).

    The keys are the verdict's own (:func:`policysearch.search.verdict.verdict.measure`).
    A storage file that does not exist, or has no stored results, holds none;
    nothing is created to find out. Results with a teacher are never stored.
    """
    if config.teacher is not None or not _may_hold_results(config.storage_url):
        return 0
    storage = make_storage(config.storage_url, config.heartbeat)
    try:
        storage.get_study_id_from_name(RESULTS_STUDY)
    except KeyError:
        return 0
    results = TargetResults(storage)
    spec = target_spec(config)
    spec = replace(spec, train_size=min(spec.train_size, pool))  # as measure fits the budget to the pool
    budget = result_budget(spec)  # the verdict's own keys
    return sum(results.get(result_key(policy, budget, seed_index=k)) is not None
               for k in range(spec.seeds) for policy in STANDARD_BASELINES.values())


def _may_hold_results(url: str) -> bool:
    """False for a storage file not there yet (opening it would create it); True for anything else."""
    for prefix in ("journal:", "sqlite:///"):
        if url.startswith(prefix):
            return Path(url[len(prefix):]).is_file()
    return url != "sqlite://"  # in memory: a new empty database


def apply_plan(config: RunConfig, plan: Plan) -> RunConfig:
    """``config`` as the plan runs it: its trials, the trial phase's timeout (with ``--timeout``, the sooner),
    and its rung."""
    timeout = plan.trial_timeout if config.timeout is None else min(config.timeout, plan.trial_timeout)
    rung_size = config.rung_train_size if plan.rung_train_size is None else plan.rung_train_size
    return replace(config, trials=plan.trials, timeout=timeout, rung_candidates=plan.rung_candidates,
                   rung_train_size=rung_size)


def budgeted_trials(plan: Plan, run: Callable[[int, float], None], progress: Any, *, limit: float | None,
                    pace: Callable[[], float] = lambda: 1.0, say: Callable[[str], None] = lambda line: None,
                    clock: Callable[[], float] = time.perf_counter) -> tuple[int, str]:
    """Run the plan's trials through ``run(n_trials, timeout)``: :data:`FIRST_TRIALS` of them, then as many
    more as their real time per trial leaves room for (never more than planned); the trials run and a line
    saying what the first ones showed (also handed to ``say`` before the rest run).

    A trial costs more than its training (the sampler, the storage, the
    previews): on a busy 2-core machine a tiny-cnn trial calibrated at 0.5 s
    took 3.5 s. And when the first trials trained slower than calibrated
    (``pace()``: their training time over its estimate, above 1), the verdict
    will too: the trial phase gives up the verdict's extra time, which is
    never cut. ``progress`` (the lines' :class:`.Progress`) counts the trials
    done and is told the new total; ``limit`` is ``--timeout``, if given.
    """
    began = clock()
    first = min(plan.trials, FIRST_TRIALS)
    run(first, plan.trial_timeout if limit is None else min(limit, plan.trial_timeout))
    spent, done, measured = clock() - began, progress.done, pace()
    slower = max(measured, 1.0)  # a faster machine adds no trials: the plan's count is the most
    per_trial = spent / max(done, 1)
    room = plan.trial_phase - spent - (slower - 1.0) * plan.verdict.seconds
    more = max(min(plan.trials - done, int(room // per_trial) if per_trial > 0 else 0), 0)
    timeout = max(room - per_trial, 1e-3)
    if limit is not None:
        timeout = max(min(timeout, limit - spent), 1e-3)
    progress.total = done + more
    line = (f"after {done} trials: {per_trial:.1f} s a trial here, {plan.trial_seconds:.1f} s calibrated, "
            f"training at {measured:.2f}x the calibrated time: {more} more (of {plan.trials - done} planned)")
    say(line)
    if more:
        run(more, timeout)
    return done + more, line


def training_pace(study: Any, config: RunConfig, plan: Plan, before: Collection[int]) -> tuple[float, float, int]:
    """The trials finished since ``before`` (trial numbers): their training time over what the calibration
    expected of the epochs they ran (pruned ones ran fewer; 1 when none ran), that time, and how many."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and t.number not in before]
    expected = sum(trial_estimate(config, plan.rates, trial_epochs_run(t)) for t in trials)
    trained = sum(trial_cost(t).seconds for t in trials)
    return (trained / expected if expected > 0 and trained > 0 else 1.0), trained, len(trials)


def rung_after_trials(study: Any, config: RunConfig, plan: Plan, *, before: Collection[int], seconds: float,
                      left: float) -> tuple[Plan, str]:
    """The plan with its rung sized again from the trial phase's pace (:func:`.replan_rung`), and a line saying so.

    ``config`` is the run's own (before :func:`apply_plan`); the phase ran the
    trials finished since (those not numbered in ``before``) in ``seconds``, and ``left`` seconds of the
    budget remain. The pace is the trials' training time (each trial's stored
    seconds) over what the calibration expected of the epochs they ran (pruned
    ones ran fewer); the rest of the phase's time, per trial, is what a trial
    adds to its training (the rung's one proxy trial pays it too).
    """
    pace, trained, count = training_pace(study, config, plan, before)
    overhead = max(seconds - trained, 0.0) / max(count, 1)
    plan = replan_rung(config, plan, pace=pace, left=left, overhead=overhead)
    rung = (f"{plan.rung_candidates} candidates, {plan.rung.trainings} trainings" if plan.rung_candidates else "none")
    return plan, (f"after the trials: they trained at {pace:.2f}x the calibrated time, {overhead:.1f} s a trial "
                  f"besides; {format_duration(max(left, 0))} of the budget left; rung: {rung}")
