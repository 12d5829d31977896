"""One ``policysearch run``: open the study, load data once, optimize, check, export.

Data flows one way: storage (open or resume the study) -> data (loaded once)
-> ``study.optimize(Objective)`` -> final check on the test split -> export.

Example:
    >>> import io
    >>> from dataclasses import replace
    >>> outcome = run_search(replace(tiny_config(), study="doctest-run", trials=2, final=False), io.StringIO())
    >>> outcome.policy_path.parts[-2:], sorted(outcome.baselines)
    (('doctest-run', 'best_policy.json'), ['no_augmentation', 'randaugment_n2_m9'])
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import optuna

from policysearch.search.config import RunConfig
from policysearch.search.export import baseline_values, best_trial, export_study
from policysearch.search.final import final_check, format_table
from policysearch.search.inputs import load_splits, load_teaching, make_model_factory, train_config
from policysearch.search.optimize import optimize
from policysearch.search.progress import Progress
from policysearch.search.storage import open_study
from policysearch.search.workers import run_workers

__all__ = ["run_search", "SearchOutcome"]


@dataclass(frozen=True)
class SearchOutcome:
    """What a run produced."""

    study_name: str
    best_value: float
    best_trial: int
    baselines: dict[str, float | None]
    final_check: dict[str, dict[str, Any]] | None
    policy_path: Path
    seconds: float


def run_search(config: RunConfig, stream: TextIO | None = None) -> SearchOutcome:
    """Run (or resume) the study described by ``config`` and export its best policy.

    With ``config.jobs > 1`` the trials run in that many worker processes
    sharing the study (see :mod:`policysearch.search.workers`); the final check and
    the export run here once they are done.
    """
    stream = stream or sys.stderr  # looked up per call, not at import: callers may swap sys.stderr
    start = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our progress lines say what failed
    # Data and model first: a bad dataset or backbone fails before the study
    # is created or touched.
    splits = load_splits(config)
    factory = make_model_factory(config, splits.num_classes)
    teaching = load_teaching(config, splits)
    study = open_study(config)
    finished = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
    print(f"study {study.study_name!r}: {finished} trials finished so far; running {config.trials} more "
          f"({config.dataset}, {config.model}, {config.train_size}/{config.val_size} train/val images, "
          f"{config.epochs} epochs{f', {config.jobs} workers' if config.jobs > 1 else ''})",
          file=stream, flush=True)
    if config.jobs > 1:
        run_workers(config, stream)
    else:
        optimize(study, config, splits, factory, Progress(config.trials, config.timeout, stream), config.trials,
                 teaching)
    table = None
    if config.final:
        table = final_check(study, splits, factory, train_config(config), seeds=config.final_seeds,
                            progress=lambda m: print(f"      {m}", file=stream, flush=True), teaching=teaching)
        print(format_table(table), file=stream, flush=True)
    path = export_study(study, output_dir=config.output_dir)
    trial = best_trial(study)
    return SearchOutcome(study.study_name, float(trial.value), trial.number, baseline_values(study),
                         table, path, time.perf_counter() - start)


