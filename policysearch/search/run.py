"""One ``policysearch run``: open the study, load data once, optimize, check, export.

Data flows one way: storage (open or resume the study) -> data (loaded once)
-> ``study.optimize(Objective)`` -> the promotion rung (the proxy's best few
trained again nearer the target; its best is the answer) -> the verdict at the
target budget on the test split -> export.

With a time budget (``config.budget``), a calibration and the plan
(:mod:`.budget`, :mod:`.plan`) come before the study is opened: a budget too
small fails there, with nothing written; otherwise the plan is printed and
sets the trials, the trial phase's timeout and the rung.

Example:
    >>> import io
    >>> from dataclasses import replace
    >>> outcome = run_search(replace(tiny_config(), study="doctest-run", trials=2, final=False), io.StringIO())
    >>> outcome.policy_path.parts[-2:], sorted(outcome.baselines)
    (('doctest-run', 'best_policy.json'), ['no_augmentation', 'randaugment_n2_m9', 'standard', 'trivialaugment_wide'])
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, TextIO

import optuna
from optuna.trial import TrialState

from policysearch.data import Source, load_source
from policysearch.errors import ConfigError
from policysearch.search.budget import apply_plan, budgeted_trials, plan_budget, rung_after_trials, training_pace
from policysearch.search.configuration.config import RunConfig
from policysearch.search.configuration.plan import Plan, make_plan
from policysearch.search.outputs.artifacts import save_verdict_note
from policysearch.search.outputs.export import baseline_values, best_trial, export_study, search_image_epochs, trial_policy
from policysearch.search.rung.promotion import clear_rung, promote, run_ablation
from policysearch.search.study.schema import write_verdict
from policysearch.search.study.storage import load_existing_study, make_storage, open_study, settled_config
from policysearch.search.trials.inputs import load_splits, load_teaching, make_model_factory, target_spec
from policysearch.search.trials.objective import teaching_for
from policysearch.search.trials.optimize import optimize
from policysearch.search.trials.progress import Progress
from policysearch.search.trials.workers import check_gpus, run_workers
from policysearch.search.verdict.target_results import TargetResults
from policysearch.search.verdict.verdict import ABLATION, ANSWER, format_table, measure, verdict_text, without_augmentation

__all__ = ["run_search", "SearchOutcome"]


@dataclass(frozen=True)
class SearchOutcome:
    """What a run produced."""

    study_name: str
    best_value: float
    best_trial: int
    baselines: dict[str, float | None]
    verdict: dict[str, Any] | None  # the target-budget table and verdict line (None with --no-final)
    policy_path: Path
    seconds: float
    image_epochs: int  # what the search cost in training images seen: trials (pruned ones their part) and rung
    plan: Plan | None = None  # the plan the run followed (with a budget)


def run_search(config: RunConfig, stream: TextIO | None = None, *, source: Source | None = None,
               clock: Callable[[], float] = time.perf_counter, started: float | None = None) -> SearchOutcome:
    """Run (or resume) the study described by ``config`` and export its best policy.

    With ``config.jobs > 1`` (or GPUs chosen with ``config.devices``) the
    trials run in that many worker processes sharing the study (see :mod:`policysearch.search.trials.workers`); the final check and
    the export run here once they are done. ``source`` searches a dataset
    already in memory (say :func:`policysearch.data.from_arrays`) instead of
    ``config.dataset``, whose name it takes; it runs in this process only.
    ``clock`` times the run and its budget (tests pass a fake one); ``started``
    (on that clock) is when the budget began, if before this call (the command
    line's imports).
    """
    stream = stream or sys.stderr  # looked up per call, not at import: callers may swap sys.stderr
    start = clock() if started is None else started
    if config.trials == 0:
        _check_finishing(config)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our progress lines say what failed
    # Data and model first: a bad dataset or backbone fails before the study
    # is created or touched.
    if source is not None:
        config = _in_memory(config, source)
    source = source or load_source(config.dataset, image_size=config.image_size)
    splits = load_splits(config, source)
    factory = make_model_factory(config, splits.num_classes)
    teaching = load_teaching(config, splits)
    check_gpus(config)
    # With a budget: calibrate and plan before the study is opened (a budget too small writes nothing).
    plan = plan_budget(config, source, splits, factory, teaching, clock=clock, start=start) if config.budget else None
    study = open_study(config)
    config, plan = _settle(config, study, plan, clock() - start)
    own = config  # the run's settings before the plan: the rung is sized again from them after the trials
    deadline = None if plan is None else start + plan.budget
    if plan is not None:
        began = datetime.now() - timedelta(seconds=clock() - start)
        print("\n".join(plan.lines(config, began)), file=stream, flush=True)
        config = apply_plan(config, plan)
    finished = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    phase_start = clock()
    print(f"study {study.study_name!r}: {len(finished)} trials finished so far; running {config.trials} more "
          f"({config.dataset}, {config.model}, {config.train_size}/{config.val_size} train/val images, "
          f"{config.proxy_epochs} epochs{f', {config.jobs} workers' if config.jobs > 1 else ''})",
          file=stream, flush=True)
    _trials(study, config, own, splits, factory, teaching, stream, plan, finished, deadline, clock)
    if plan is not None:
        plan, line = rung_after_trials(study, own, plan, before=finished, seconds=clock() - phase_start,
                                       left=start + plan.budget - clock())
        print(line, file=stream, flush=True)
        config = apply_plan(config, plan)
    if config.rung_candidates > 0:
        ablation = run_ablation(study, config, lambda n: optimize(
            study, config, splits, factory, Progress(n, None, stream, "ablation ", deadline=deadline, clock=clock),
            n, teaching))
        promote(study, config, source, factory, teaching, stream, ablation, avoid=splits.val)
    else:
        clear_rung(study)  # a pick made by an earlier run's rung is not this run's answer
    verdict = _verdict(study, config, source, factory, teaching, stream) if config.final else None
    path = export_study(study, output_dir=config.output_dir)
    trial = best_trial(study)
    return SearchOutcome(study.study_name, float(trial.value), trial.number, baseline_values(study),
                         verdict, path, clock() - start, search_image_epochs(study), plan)


def _trials(study: Any, config: RunConfig, own: RunConfig, splits: Any, factory: Any, teaching: Any,
            stream: TextIO, plan: Plan | None, before: set[int], deadline: float | None,
            clock: Callable[[], float]) -> None:
    """The trial phase: in worker processes, or here; with a plan, its count planned again after the first
    trials from what they really took (``own``: the run's settings before the plan; ``before``: the trials
    finished before the phase)."""
    if config.trials == 0:  # an interrupted study's trials are done: its rung and verdict follow
        return
    if config.jobs > 1 or config.devices:  # a chosen GPU is given to a worker process, even one
        run_workers(config, stream)
        return
    progress = Progress(config.trials, config.timeout, stream, deadline=deadline, clock=clock)
    if plan is None:
        optimize(study, config, splits, factory, progress, config.trials, teaching)
        return

    def run(n: int, timeout: float) -> None:
        optimize(study, replace(config, timeout=timeout), splits, factory, progress, n, teaching)

    pace = lambda: training_pace(study, own, plan, before)[0]  # noqa: E731
    budgeted_trials(plan, run, progress, limit=own.timeout, pace=pace, clock=clock,
                    say=lambda line: print(line, file=stream, flush=True))


def _check_finishing(config: RunConfig) -> None:
    """``--trials 0`` finishes a study that holds finished trials; anything else is a one-line error."""
    if config.budget is not None:
        raise ConfigError("--trials 0 runs no trials, but --budget sizes them: give one or the other")
    if not [t for t in load_existing_study(config.study_name, config.storage_url).get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]:
        raise ConfigError(f"--trials 0 finishes a study's rung and verdict, but study {config.study_name!r} "
                          "holds no finished trial")


def _settle(config: RunConfig, study: Any, plan: Plan | None, spent: float) -> tuple[RunConfig, Plan | None]:
    """``config`` as the study runs it, and the plan made again if that changed what a trial or the rung costs
    (a study made by an earlier release keeps its defaults): the same rates and facts, the time spent so far."""
    settled = settled_config(config, study)
    if plan is None or settled == config:
        return settled, plan
    return settled, make_plan(settled, plan.rates, plan.target_rates, budget=plan.budget, spent=spent,
                              facts=plan.facts)


def _in_memory(config: RunConfig, source: Source) -> RunConfig:
    """``config`` for a source given as an object: its name, its images' size, and only this process."""
    if config.jobs > 1 or config.devices:
        raise ConfigError(f"a dataset given in memory is searched in this process only: jobs should be 1 and "
                          f"devices empty, but got jobs={config.jobs}, devices={list(config.devices)}")
    size = source.train.image_shape[0]
    if config.target_image_size not in (None, size):
        raise ConfigError(f"target_image_size should be the in-memory dataset's image size {size} or unset, "
                          f"but got {config.target_image_size}")
    return replace(config, dataset=source.name, image_size=size)


def _verdict(study: Any, config: RunConfig, source: Any, factory: Any, teaching: Any, stream: TextIO) -> dict:
    """The answer, its ablation and the standard baselines trained at the target budget; stored in the study."""
    spec = target_spec(config)
    same_data = spec.image_size == config.image_size
    answer = trial_policy(best_trial(study))
    results = TargetResults(make_storage(config.storage_url, config.heartbeat))
    result = measure({ANSWER: answer, ABLATION: without_augmentation(answer)}, spec,
                     source=source if same_data else None,
                     factory=factory if same_data and spec.model == config.model else None,
                     progress=lambda m: print(f"      {m}", file=stream, flush=True),
                     teaching_for=(lambda p: teaching_for(teaching, p)) if teaching is not None else None,
                     results=results)
    write_verdict(study, result, best_trial(study).number)
    save_verdict_note(study, result, best_trial(study).number)  # the dashboard shows it on the study's page
    print(format_table(result["table"]), file=stream, flush=True)
    print(verdict_text(result), file=stream, flush=True)
    return result
