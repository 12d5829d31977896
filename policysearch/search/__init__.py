"""The search: the only layer that knows Optuna. Its subpackages, in the order their imports point:

* :mod:`.strategy`: the space (the only ``trial.suggest_*``), the sampler, the pruner;
* :mod:`.configuration`: the run's configuration, and the plan of a ``--budget``;
* :mod:`.study`: storage, and what a study stores (:mod:`.study.schema`, the only reader and
  writer of study and trial attributes), orphaned trials;
* :mod:`.verdict`: the target-budget verdict, its paired comparisons, stored target results;
* :mod:`.outputs`: export, ``show`` and ``report``, plots, the dashboard's artifacts;
* :mod:`.trials`: what a run loads once, the objective, the trial loop, workers, progress lines;
* :mod:`.rung`: the promotion rung;

and :mod:`.budget` (a ``--budget`` calibrated and re-planned) and :mod:`.run` (one ``run``),
which use them all. The public names are re-exported here.

Example:
    >>> from policysearch.search import load_config
    >>> load_config().trials
    20
"""

from __future__ import annotations

from policysearch.search.configuration.config import (
    HEARTBEAT_INTERVAL,
    PRUNERS,
    RUN_FIELDS,
    SAMPLERS,
    SEARCH_KEYS,
    RunConfig,
    load_config,
)
from policysearch.search.outputs.export import (
    baseline_trials,
    baseline_values,
    best_trial,
    current_final_check,
    current_verdict,
    default_path,
    export_study,
    search_image_epochs,
    trial_policy,
)
from policysearch.search.outputs.report import describe_study
from policysearch.search.run import SearchOutcome, run_search
from policysearch.search.strategy.pruner import make_pruner
from policysearch.search.strategy.sampler import make_sampler
from policysearch.search.strategy.space import (
    BASELINES,
    DEFAULT_BACKBONE_LR_RATIO,
    DEFAULT_HEAD_LR,
    SearchSpace,
    baseline_params,
)
from policysearch.search.study.storage import (
    load_existing_study,
    make_storage,
    open_study,
    redact,
    settled_config,
)
from policysearch.search.trials.inputs import load_splits, load_teaching, make_model_factory, target_spec, train_config
from policysearch.search.trials.objective import Objective, teaching_for
from policysearch.search.trials.optimize import optimize
from policysearch.search.trials.progress import Progress
from policysearch.search.trials.workers import run_workers, split_trials
from policysearch.search.verdict.verdict import (
    STANDARD_BASELINES,
    VERDICT_SEED_OFFSET,
    TargetSpec,
    format_table,
    measure,
    spec_for_policy,
    verdict_line,
)

__all__ = [
    "RunConfig",
    "load_config",
    "SAMPLERS",
    "PRUNERS",
    "SEARCH_KEYS",
    "RUN_FIELDS",
    "HEARTBEAT_INTERVAL",
    "SearchSpace",
    "DEFAULT_HEAD_LR",
    "DEFAULT_BACKBONE_LR_RATIO",
    "baseline_params",
    "BASELINES",
    "Objective",
    "teaching_for",
    "settled_config",
    "redact",
    "make_storage",
    "open_study",
    "load_existing_study",
    "make_sampler",
    "make_pruner",
    "TargetSpec",
    "STANDARD_BASELINES",
    "VERDICT_SEED_OFFSET",
    "measure",
    "verdict_line",
    "format_table",
    "spec_for_policy",
    "load_splits",
    "make_model_factory",
    "load_teaching",
    "train_config",
    "target_spec",
    "Progress",
    "optimize",
    "run_workers",
    "split_trials",
    "best_trial",
    "trial_policy",
    "baseline_trials",
    "baseline_values",
    "current_final_check",
    "current_verdict",
    "search_image_epochs",
    "export_study",
    "default_path",
    "describe_study",
    "run_search",
    "SearchOutcome",
]
