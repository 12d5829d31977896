"""Text summaries of a study: ``policysearch show``'s lines, and ``policysearch report``'s folder
(the plots of :mod:`policysearch.search.outputs.plots` and a ``summary.md``).

Example:
    >>> print(describe_study(tiny_study()))  # doctest: +ELLIPSIS
    study 'doctest' in sqlite:///.../doctest.db
    dataset digits, model tiny-cnn
    trials: ... (complete ..., pruned ..., failed 0, running 0, waiting 0)
    ...
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Mapping

import optuna

from policysearch._io import atomic_path
from policysearch.search.outputs.export import (
    baseline_values,
    best_trial,
    current_final_check,
    current_rung,
    current_verdict,
    search_image_epochs,
    trial_policy,
)
from policysearch.search.outputs.plots import PLOTS, write_plots
from policysearch.search.study.schema import baseline_name, read_identity, trial_policy_document
from policysearch.search.study.storage import redact
from policysearch.search.verdict.verdict import format_table

__all__ = ["describe_study", "summary_markdown", "write_report", "SUMMARY_FILE"]

SUMMARY_FILE = "summary.md"


def describe_study(study: Any) -> str:
    """Trial counts by state, the best value and parameters, baselines, the verdict."""
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in trials)
    states = ", ".join(f"{s} {counts.get(s, 0)}" for s in ("complete", "pruned", "fail", "running", "waiting"))
    identity = read_identity(study)
    lines = [
        f"study {study.study_name!r} in {redact(str(_known(identity.storage)))}",
        f"dataset {_known(identity.dataset)}, model {_known(identity.model)}",
        f"trials: {len(trials)} ({states.replace('fail ', 'failed ')})",
    ]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        best = best_trial(study)
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
        lines.append(f"best: trial #{best.number}, val accuracy {best.value:.4f}: {params}")
        lines.extend(_rung_lines(study))
    else:
        lines.append("best: no completed trial yet")
    for name, value in baseline_values(study).items():
        lines.append(f"baseline {name}: {'not measured yet' if value is None else f'{value:.4f}'}")
    lines.append(f"search cost: {search_image_epochs(study)} image-epochs")
    lines.extend(_verdict_lines(study))
    return "\n".join(lines)


def _rung_lines(study: Any) -> list[str]:
    rung = current_rung(study)
    if rung is None:
        return []
    budget = rung["budget"]
    ranked = ", ".join(f"{n} {v:.4f}" for n, v in sorted(rung["candidates"].items(), key=lambda kv: -kv[1]))
    seeds = f"{budget['seeds']} seeds, " if "seeds" in budget else ""  # rungs before paired seeds ran one
    return [f"rung ({budget['train_size']} images x {budget['epochs']} epochs, {seeds}{budget['val_size']} "
            f"validation images) picked it: {ranked}"]


def _verdict_lines(study: Any) -> list[str]:
    verdict = current_verdict(study)
    if verdict:
        budget = verdict["budget"]
        return [f"verdict at the target ({budget['train_size']} images x {budget['epochs']} epochs), "
                f"held-out test split:", *("  " + line for line in format_table(verdict["table"]).splitlines()),
                f"  {verdict['line']}", *([f"  {verdict['augmentation']['line']}"] if verdict.get("augmentation")
                                          else [])]
    table = current_final_check(study)  # studies checked by an earlier version, at the proxy budget
    if table:
        return ["final check at the proxy budget, held-out test split:",
                *("  " + line for line in format_table(table).splitlines())]
    return ["verdict: not run for the current best trial"]


def _verdict_markdown(study: Any) -> list[str]:
    found = _verdict_lines(study)  # a heading line, then the table (indented), or one "not run" line
    if len(found) == 1:
        return ["Not run for the current best trial."]
    return [found[0], "", "```", *(line.strip() for line in found[1:]), "```"]


def _known(value: Any) -> Any:
    return "?" if value is None else value


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def write_report(study: Any, folder: str | Path) -> dict[str, Path | str]:
    """The plots and ``summary.md`` in ``folder``: each file's path, or why a plot was not drawn.

    Example:
        >>> import tempfile
        >>> written = write_report(tiny_study(), tempfile.mkdtemp())
        >>> written["summary"].name
        'summary.md'
    """
    plots = write_plots(study, folder)
    with atomic_path(Path(folder) / SUMMARY_FILE) as tmp:
        tmp.write_text(summary_markdown(study, plots), encoding="utf-8")
    return {**plots, "summary": Path(folder) / SUMMARY_FILE}


def summary_markdown(study: Any, plots: Mapping[str, Path | str] | None = None) -> str:
    """The search's answer (the rung's pick, else the best proxy value), its policy, the baselines, the verdict
    and the plots, as Markdown.

    Example:
        >>> print(summary_markdown(tiny_study()))  # doctest: +ELLIPSIS
        # Study `doctest`
        ...
        ## Best trial: #...
        ...
    """
    lines = [f"# Study `{study.study_name}`", "", *(f"- {line}" for line in describe_study(study).splitlines()[1:3])]
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if complete:
        # The search's answer, as `show` and `export` name it: the rung's pick when the study ran a
        # rung (the verdict below was measured for it), else the best proxy value.
        best = best_trial(study)
        baseline = baseline_name(best)
        rung = _rung_lines(study)
        lines += ["", f"## Best trial: #{best.number}", "",
                  f"Validation accuracy {best.value:.4f} at the proxy"
                  + (f" (the `{baseline}` baseline)." if baseline else "."),
                  *(["", f"The promotion {rung[0]}."] if rung else []),
                  "", "| parameter | value |", "| --- | --- |",
                  *(f"| `{k}` | {_fmt(v)} |" for k, v in best.params.items()), ""]
        if trial_policy_document(best) is not None:
            lines += ["Its policy:", "", "```json", json.dumps(trial_policy(best).to_json(), indent=2), "```"]
    else:
        lines += ["", "## Best trial", "", "No completed trial yet."]
    lines += ["", "## Baselines", ""]
    lines += [f"- `{name}`: {'not measured yet' if value is None else f'{value:.4f}'}"
              for name, value in baseline_values(study).items()]
    lines += ["", "## Verdict", "", *_verdict_markdown(study)]
    if plots:
        lines += ["", "## Plots"]
        for name, found in plots.items():  # a blank line before each: images on one line would share a row
            title = PLOTS[name][0] if name in PLOTS else name
            lines += ["", f"![{title}]({found.name})" if isinstance(found, Path) else f"{title}: not drawn ({found})"]
    return "\n".join(lines) + "\n"
