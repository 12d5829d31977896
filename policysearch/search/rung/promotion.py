"""A study's promotion rung: choose its candidates, train them (:mod:`.rung`), store the pick.

The candidates are the best distinct policies by proxy value and, when the
proxy's leader augments, its ablation: the same learning rates without
augmentation, run once at the proxy (to the end, unpruned) so that it is a
trial like any other. The proxy trains on fewer images than the target, and
how much augmentation pays depends on how much data there is (RandAugment's
finding, and ours: TrivialAugmentWide led no augmentation by 0.7 points at
1,000 images and trailed it by 0.7 at 5,000); the ablation lets the rung, nearer
the target, decide whether the leader's augmentation holds: an augmented
candidate is the answer only when it beats the best one without augmentation
by a paired bound (:func:`.rung.pick`).

The rung's result is stored in the study (:class:`.schema.StoredRung`): its budget,
each candidate's validation accuracy by trial number, and the pick, which
:func:`policysearch.search.outputs.export.best_trial` returns from then on. A resumed
study runs the rung again over its new leaders, reusing the scores of
candidates already trained at the same budget.

Example:
    >>> import io
    >>> from dataclasses import replace
    >>> from policysearch.search.run import run_search
    >>> from policysearch.search.study.storage import load_existing_study
    >>> config = replace(tiny_config(), study="doctest-rung", trials=3, final=False, rung_candidates=2,
    ...                  rung_train_size=100, rung_val_size=50)
    >>> outcome = run_search(config, io.StringIO())
    >>> rung = read_rung(load_existing_study("doctest-rung", config.storage_url))
    >>> len(rung.scores), rung.pick == outcome.best_trial
    (2, True)
"""

from __future__ import annotations

import json
import statistics
from typing import Any, Callable, TextIO

import optuna

from policysearch.data import Source, load_source
from policysearch.search.configuration.config import RunConfig
from policysearch.search.outputs.export import best_proxy_trial, trial_policy
from policysearch.search.rung.rung import RungBudget, pick, rung_splits, score_candidates
from policysearch.search.strategy.space import SearchSpace
from policysearch.search.study.schema import StoredRung, ablated_trial, enqueue_ablation, read_rung, write_rung
from policysearch.search.trials.inputs import train_config
from policysearch.search.trials.objective import teaching_for
from policysearch.search.verdict.paired import compare

__all__ = ["promote", "rung_candidates", "ablation_params", "run_ablation", "clear_rung"]


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


def ablation_params(study: Any, space: SearchSpace) -> tuple[int, dict[str, Any]] | None:
    """The proxy leader's number and its parameters without augmentation (every op group off, or with the op
    set fixed RandAugment at N = 0); None when it has none to remove (or a fixed-op space cannot say "none")."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    leader = best_proxy_trial(complete)
    if not trial_policy(leader).augments:
        return None
    if not space.searches_groups and ("randaugment" not in space.kinds or space.num_ops[0] > 0):
        return None
    return leader.number, space.ablation_params(leader.params)


def run_ablation(study: Any, config: RunConfig, run_trials: Callable[[int], None]) -> int | None:
    """Enqueue and run (through ``run_trials(n)``) the leader's ablation unless the study has it; its number.

    Trials still waiting (baselines a short run did not reach, retried failures)
    run first, in order, so that the ablation is the one trial run last.
    """
    found = ablation_params(study, config.space)
    if found is None:
        return None
    leader, params = found
    for trial in study.get_trials(deepcopy=False):
        if trial.params == params and trial.state == optuna.trial.TrialState.COMPLETE:
            return trial.number
    waiting = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))
    enqueue_ablation(study, leader, params)
    run_trials(waiting + 1)
    done = [t for t in study.get_trials(deepcopy=False) if ablated_trial(t) == leader
            and t.state == optuna.trial.TrialState.COMPLETE]
    return done[-1].number if done else None


def promote(study: Any, config: RunConfig, source: Source | None, factory: Callable[[], Any], teaching: Any,
            stream: TextIO, ablation: int | None = None, avoid: Any = None) -> None:
    """Train the study's leaders (and ``ablation``, a trial number) at the rung budget; store the pick.

    ``avoid`` is the proxy's validation split: the rung validates elsewhere.
    With fewer than two candidates there is nothing to choose: the stored
    rung is cleared and the best proxy value is the answer.
    """
    candidates = rung_candidates(study, config.rung_candidates)
    if ablation is not None and ablation not in candidates:
        candidates[ablation] = trial_policy(study.trials[ablation])
    if len(candidates) < 2:
        clear_rung(study)
        return
    source = source or load_source(config.dataset, image_size=config.image_size)
    data = rung_splits(source, RungBudget(*config.rung_budget), seed=config.seed, avoid=avoid)
    # what the pool allowed
    budget = RungBudget(min(config.rung_budget[0], len(data.train)), len(data.val), config.target_epochs)
    stored = read_rung(study)
    # Values are reused from a rung of the same budget that kept them per seed (older rungs kept one score);
    # more seeds than it ran add to them.
    earlier = {k: v for k, v in (stored.budget or {}).items() if k != "seeds"}
    known = {n: list(v) for n, v in stored.values.items()} if earlier == budget.describe() else {}
    values = score_candidates(candidates, data, factory, budget, train_config(config), seeds=config.rung_seeds,
                              known=known, progress=lambda m: print(f"      {m}", file=stream, flush=True),
                              teaching_for=(lambda p: teaching_for(teaching, p)) if teaching is not None else None)
    trained = sum(len(v) for v in values.values()) - sum(len(v) for v in known.values())
    scores = {n: statistics.fmean(v[:config.rung_seeds]) for n, v in values.items()}
    proxy = {t.number: t.value for t in study.get_trials(deepcopy=False) if t.value is not None}
    seeded = {n: values[n][:config.rung_seeds] for n in candidates}
    chosen = pick(seeded, proxy, {n: policy.augments for n, policy in candidates.items()})
    write_rung(study, StoredRung(
        budget={**budget.describe(), "seeds": config.rung_seeds}, scores=scores, values=values,
        candidates=tuple(sorted(candidates)), pick=chosen,
        # every rung training this study paid for, at any budget: part of the search's cost
        image_epochs=stored.image_epochs + trained * budget.image_epochs,
    ))
    ranked = ", ".join(f"#{n} {scores[n]:.4f}" for n in sorted(candidates, key=lambda n: -scores[n]))
    print(f"rung ({budget.train_size} images x {budget.epochs} epochs, {config.rung_seeds} seeds, {budget.val_size} "
          f"validation images): {ranked}; the answer is trial #{chosen}{_why(seeded, scores, chosen)}",
          file=stream, flush=True)


def _why(values: dict[int, list[float]], scores: dict[int, float], chosen: int) -> str:
    """Why the rung did not take its best mean (an augmented one that did not beat ``chosen`` by a bound), or ''."""
    leader = max(scores, key=lambda n: scores[n])
    if scores[leader] <= scores[chosen]:
        return ""
    seeds = min(len(values[leader]), len(values[chosen]))
    gain = compare(values[leader][:seeds], values[chosen][:seeds])
    return (f" (without augmentation: #{leader}'s augmentation does not beat it by a bound, "
            f"{gain.describe()})")


def clear_rung(study: Any) -> None:
    """Forget a stored rung pick (its cost stays counted): the best proxy value is the answer again."""
    stored = read_rung(study)
    if stored.pick is not None:
        write_rung(study, stored.cleared())
