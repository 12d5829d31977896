"""A study's promotion rung: choose its candidates, train them (:mod:`.rung`), store the pick.

The rung's result lives in the study's ``rung`` user attribute: its budget,
each candidate's validation accuracy by trial number, and the pick, which
:func:`policysearch.search.export.best_trial` returns from then on. A resumed
study runs the rung again over its new leaders, reusing the scores of
candidates already trained at the same budget.

Example:
    >>> import io
    >>> from dataclasses import replace
    >>> from policysearch.search.run import run_search
    >>> from policysearch.search.storage import load_existing_study
    >>> config = replace(tiny_config(), study="doctest-rung", trials=3, final=False, rung_candidates=2,
    ...                  rung_train_size=100, rung_val_size=50)
    >>> outcome = run_search(config, io.StringIO())
    >>> rung = load_existing_study("doctest-rung", config.storage_url).user_attrs["rung"]
    >>> len(rung["scores"]), rung["pick"] == outcome.best_trial
    (2, True)
"""

from __future__ import annotations

import json
from typing import Any, Callable, TextIO

import optuna

from policysearch.data import Source, load_source
from policysearch.search.config import RunConfig
from policysearch.search.export import trial_policy
from policysearch.search.inputs import train_config
from policysearch.search.objective import teaching_for
from policysearch.search.rung import RungBudget, pick, rung_splits, score_candidates

__all__ = ["promote", "rung_candidates"]


def rung_candidates(study: Any, count: int) -> dict[int, Any]:
    """The ``count`` best completed trials by proxy value whose policies differ, best first: number -> policy."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    chosen: dict[int, Any] = {}
    recipes: set[str] = set()
    for trial in sorted(complete, key=lambda t: (-t.value, t.number)):
        policy = trial_policy(trial)
        recipe = json.dumps(policy.to_json(), sort_keys=True)
        if recipe not in recipes:
            recipes.add(recipe)
            chosen[trial.number] = policy
        if len(chosen) == count:
            break
    return chosen


def promote(study: Any, config: RunConfig, source: Source | None, factory: Callable[[], Any], teaching: Any,
            stream: TextIO) -> None:
    """Train the study's leaders at the rung budget and store the pick (see the module docstring)."""
    candidates = rung_candidates(study, config.rung_candidates)
    if len(candidates) < 2:  # nothing to choose between
        return
    source = source or load_source(config.dataset, image_size=config.image_size)
    data = rung_splits(source, RungBudget(*config.rung_budget), seed=config.seed)
    budget = RungBudget(len(data.train), len(data.val), config.target_epochs)  # what the pool allowed
    stored = study.user_attrs.get("rung") or {}
    known = ({int(n): v for n, v in stored.get("scores", {}).items()}
             if stored.get("budget") == budget.describe() else {})
    scores = score_candidates(candidates, data, factory, budget, train_config(config), known=known,
                              progress=lambda m: print(f"      {m}", file=stream, flush=True),
                              teaching_for=(lambda p: teaching_for(teaching, p)) if teaching is not None else None)
    values = {t.number: t.value for t in study.get_trials(deepcopy=False) if t.value is not None}
    chosen = pick({n: scores[n] for n in candidates}, values)
    study.set_user_attr("rung", {"budget": budget.describe(), "scores": {str(n): v for n, v in scores.items()},
                                 "pick": chosen})
    ranked = ", ".join(f"#{n} {scores[n]:.4f}" for n in sorted(candidates, key=lambda n: -scores[n]))
    print(f"rung ({budget.train_size} images x {budget.epochs} epochs, {budget.val_size} validation images): "
          f"{ranked}; the answer is trial #{chosen}", file=stream, flush=True)
