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

from policysearch.search.export import baseline_values, current_final_check, current_verdict, search_image_epochs
from policysearch.search.storage import redact
from policysearch.search.verdict import format_table

__all__ = ["describe_study"]


def describe_study(study: Any) -> str:
    """Trial counts by state, the best value and parameters, baselines, the verdict."""
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
    lines.append(f"search cost: {search_image_epochs(study)} image-epochs")
    lines.extend(_verdict_lines(study))
    return "\n".join(lines)


def _verdict_lines(study: Any) -> list[str]:
    verdict = current_verdict(study)
    if verdict:
        budget = verdict["budget"]
        return [f"verdict at the target ({budget['train_size']} images x {budget['epochs']} epochs), "
                f"held-out test split:", *("  " + line for line in format_table(verdict["table"]).splitlines()),
                f"  {verdict['line']}"]
    table = current_final_check(study)  # studies checked by an earlier version, at the proxy budget
    if table:
        return ["final check at the proxy budget, held-out test split:",
                *("  " + line for line in format_table(table).splitlines())]
    return ["verdict: not run for the current best trial"]


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
