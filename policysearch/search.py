"""One ``policysearch run``: open the study, load data once, optimize, check, export.

Data flows one way: storage (open or resume the study) -> data (loaded once)
-> ``study.optimize(Objective)`` -> final check on the test split -> export.

Example:
    >>> from policysearch.config import RunConfig
    >>> outcome = run_search(RunConfig(trials=4))  # doctest: +SKIP
    >>> outcome.policy_path  # doctest: +SKIP
    PosixPath('studies/fashion-mnist-efficientnet-lite0/best_policy.json')
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from policysearch.config import RunConfig

__all__ = ["run_search", "SearchOutcome", "make_model_factory", "load_splits", "load_teaching"]


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


def load_splits(config: RunConfig) -> Any:
    """The dataset, loaded once, and its fixed-seed train/val/test splits."""
    from policysearch.data import load_source, make_splits

    source = load_source(config.dataset, image_size=config.image_size)
    return make_splits(source, train_size=config.train_size, val_size=config.val_size,
                       test_size=config.test_size, seed=config.seed)


def make_model_factory(config: RunConfig, num_classes: int) -> Callable[[], Any]:
    """Build the backbone once; each call returns a copy with a freshly drawn head.

    Copying beats reloading the weights every trial; the head is re-initialised
    from torch's (seeded) generator, so seeds still vary it.
    """
    from policysearch.models import build_model

    pristine = build_model(config.model, num_classes, image_size=config.image_size, weights=config.weights)

    def factory() -> Any:
        model = copy.deepcopy(pristine)
        model.head.reset_parameters()
        return model

    return factory


def load_teaching(config: RunConfig, splits: Any) -> Any:
    """The teacher of a distillation study (``config.teacher``), checked against the data; else None."""
    if config.teacher is None:
        return None
    from policysearch.distill import Teaching, teacher_logits
    from policysearch.runs import check_teacher, load_teacher
    from policysearch.train import resolve_device

    model, info = load_teacher(config.teacher)
    check_teacher(info, config.teacher, splits.classes)
    if config.teacher_view != "clean":
        return Teaching((model,), view=config.teacher_view)
    # The clean view's teacher outputs are the same in every trial: compute them once.
    device = resolve_device(config.device)
    logits = teacher_logits(model.to(device), splits.train.images, device=device)
    return Teaching((model,), view="clean", clean_logits=(logits,))


class Progress:
    """One line per finished trial: count, state, current best, elapsed and time left."""

    def __init__(self, total: int, timeout: float | None, stream: TextIO, label: str = "") -> None:
        self.total, self.timeout, self.stream, self.label = total, timeout, stream, label
        self.start = time.perf_counter()
        self.done = 0

    def __call__(self, study: Any, trial: Any) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        if self.timeout is not None:
            left = min(left, max(self.timeout - elapsed, 0.0))
        state = trial.state.name.lower()
        value = f" {trial.value:.4f}" if trial.value is not None else ""
        label = trial.user_attrs.get("baseline") or trial.user_attrs.get("failure")
        try:
            best = f"best {study.best_value:.4f} (#{study.best_trial.number})"
        except ValueError:
            best = "no best yet"
        print(
            f"{self.label}[{self.done:>3}/{self.total}] trial #{trial.number} {state}{value}"
            f"{' (' + label + ')' if label else ''} | {best} | "
            f"{_clock(elapsed)} elapsed, ~{_clock(left)} left",
            file=self.stream,
            flush=True,
        )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"


def run_search(config: RunConfig, stream: TextIO | None = None) -> SearchOutcome:
    """Run (or resume) the study described by ``config`` and export its best policy.

    With ``config.jobs > 1`` the trials run in that many worker processes
    sharing the study (see :mod:`policysearch.workers`); the final check and
    the export run here once they are done.
    """
    import optuna

    from policysearch.export import baseline_values, best_trial, export_study
    from policysearch.final import final_check, format_table
    from policysearch.storage import open_study
    from policysearch.train import ProxyConfig

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
        from policysearch.workers import run_workers

        run_workers(config, stream)
    else:
        optimize(study, config, splits, factory, Progress(config.trials, config.timeout, stream), config.trials,
                 teaching)
    table = None
    if config.final:
        proxy = ProxyConfig(epochs=config.epochs, batch_size=config.batch_size, seed=config.seed, device=config.device)
        table = final_check(study, splits, factory, proxy, seeds=config.final_seeds,
                            progress=lambda m: print(f"      {m}", file=stream, flush=True), teaching=teaching)
        print(format_table(table), file=stream, flush=True)
    path = export_study(study, output_dir=config.output_dir)
    trial = best_trial(study)
    return SearchOutcome(study.study_name, float(trial.value), trial.number, baseline_values(study),
                         table, path, time.perf_counter() - start)


def optimize(study: Any, config: RunConfig, splits: Any, factory: Callable[[], Any],
             progress: Callable[[Any, Any], None], n_trials: int, teaching: Any = None) -> None:
    """``n_trials`` trials of the objective in this process (students of ``teaching``, if given)."""
    from policysearch.objective import Objective
    from policysearch.train import ProxyConfig

    proxy = ProxyConfig(epochs=config.epochs, batch_size=config.batch_size, seed=config.seed, device=config.device)
    objective = Objective(config.space, splits, factory, proxy, seeds=config.seeds, teaching=teaching)
    # A failing trial (an exception, CUDA out of memory) is recorded as failed
    # with its reason, and the study carries on.
    study.optimize(objective, n_trials=n_trials, timeout=config.timeout, callbacks=[progress],
                   catch=(Exception,), gc_after_trial=False)
