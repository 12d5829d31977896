"""The search: configuration, the space (the only ``trial.suggest_*``), the objective, study storage,
workers, the final check and export. The only layer that knows Optuna.

Example:
    >>> from policysearch.search import load_config
    >>> load_config().trials
    24
"""

from __future__ import annotations

from policysearch.search.config import PRUNERS, SAMPLERS, SEARCH_KEYS, RunConfig, load_config
from policysearch.search.export import (
    baseline_trials,
    baseline_values,
    best_trial,
    current_final_check,
    default_path,
    export_study,
    trial_policy,
)
from policysearch.search.final import FINAL_SEED_OFFSET, final_check, format_table
from policysearch.search.inputs import load_splits, load_teaching, make_model_factory, train_config
from policysearch.search.objective import Objective, teaching_for
from policysearch.search.optimize import optimize
from policysearch.search.progress import Progress
from policysearch.search.report import describe_study
from policysearch.search.run import SearchOutcome, run_search
from policysearch.search.space import (
    BASELINES,
    DEFAULT_BACKBONE_LR_RATIO,
    DEFAULT_HEAD_LR,
    SearchSpace,
    baseline_params,
)
from policysearch.search.storage import (
    HEARTBEAT_INTERVAL,
    load_existing_study,
    make_pruner,
    make_sampler,
    make_storage,
    open_study,
    redact,
)
from policysearch.search.workers import run_workers, split_trials

__all__ = ["RunConfig", "load_config", "SAMPLERS", "PRUNERS", "SEARCH_KEYS", "SearchSpace", "DEFAULT_HEAD_LR", "DEFAULT_BACKBONE_LR_RATIO", "baseline_params", "BASELINES", "Objective", "teaching_for", "redact", "make_storage", "open_study", "load_existing_study", "make_sampler", "make_pruner", "HEARTBEAT_INTERVAL", "load_splits", "make_model_factory", "load_teaching", "train_config", "Progress", "optimize", "run_workers", "split_trials", "best_trial", "trial_policy", "baseline_trials", "baseline_values", "current_final_check", "export_study", "default_path", "final_check", "format_table", "FINAL_SEED_OFFSET", "describe_study", "run_search", "SearchOutcome"]
