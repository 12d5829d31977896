"""Text summaries of a study, for ``policysearch show``.

Example:
    >>> print(describe_study(tiny_study()))  # doctest: +ELLIPSIS
    study 'doctest' in sqlite:///.../doctest.db
    dataset digits, model tiny-cnn
    trials: ... (complete ..., pruned ..., failed 0, running 0, waiting 0)
    ...
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna

from policysearch.search.export import baseline_values, current_final_check
from policysearch.search.final import format_table
from policysearch.search.storage import redact

__all__ = ["describe_study"]


def describe_study(study: Any) -> str:
    """Trial counts by state, the best value and parameters, baselines, final check."""


    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in trials)
    states = ", ".join(f"{s} {counts.get(s, 0)}" for s in ("complete", "pruned", "fail", "running", "waiting"))
    lines = [
        f"study {study.study_name!r} in {redact(str(study.user_attrs.get('storage', '?')))}",
        f"dataset {study.user_attrs.get('dataset', '?')}, model {study.user_attrs.get('model', '?')}",
        f"trials: {len(trials)} ({states.replace('fail ', 'failed ')})",
    ]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        best = max(complete, key=lambda t: (t.value, -t.number))
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
        lines.append(f"best: trial #{best.number}, val accuracy {best.value:.4f}: {params}")
    else:
        lines.append("best: no completed trial yet")
    for name, value in baseline_values(study).items():
        lines.append(f"baseline {name}: {'not measured yet' if value is None else f'{value:.4f}'}")
    table = current_final_check(study)
    if table:
        lines.append("final check on the held-out test split:")
        lines.extend("  " + line for line in format_table(table).splitlines())
    else:
        lines.append("final check: not run for the current best trial")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
