"""The final check: does the found policy beat the baselines on unseen data?

The best policy and the two baselines are retrained with the same proxy
budget on the train split, with several seeds each, and scored on the
held-out test split the search never saw. The table (mean and spread per
policy) is stored in the study and in the exported JSON.

Example:
    >>> from policysearch.training import TrainConfig
    >>> table = final_check(tiny_study(), tiny_splits(), tiny_factory(), TrainConfig(epochs=1, device="cpu"), seeds=1)
    >>> print(format_table(table).splitlines()[0])
    policy                test acc   ± std  runs
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any, Callable

from policysearch.search.export import baseline_trials, best_trial, trial_policy
from policysearch.search.objective import teaching_for
from policysearch.training import TrainConfig, proxy_finetune

__all__ = ["final_check", "format_table", "FINAL_SEED_OFFSET"]

# Final-check seeds differ from the search's, so the check is a fresh draw.
FINAL_SEED_OFFSET = 1000


def final_check(
    study: Any,
    splits: Any,
    model_factory: Callable[[], Any],
    proxy: TrainConfig,
    *,
    seeds: int = 2,
    progress: Callable[[str], None] | None = None,
    teaching: Any = None,
) -> dict[str, dict[str, Any]]:
    """Test accuracy (mean, std, values) of the best policy and each baseline
    (students of ``teaching`` in a distillation study)."""

    candidates = {"best": trial_policy(best_trial(study))}
    candidates.update({name: trial_policy(t) for name, t in baseline_trials(study).items()})
    table: dict[str, dict[str, Any]] = {}
    measured: list[tuple[Any, dict[str, Any]]] = []
    for label, policy in candidates.items():
        # The best policy may be a baseline: measure each distinct policy once.
        same = next((row for p, row in measured if p == policy), None)
        if same is None:
            values = []
            for k in range(seeds):
                if progress is not None:
                    progress(f"final check: {label}, seed {k + 1}/{seeds}")
                config = replace(proxy, seed=FINAL_SEED_OFFSET + k)
                result = proxy_finetune(policy, model_factory, splits.train, splits.val, config, test=splits.test,
                                        teaching=teaching_for(teaching, policy))
                values.append(float("nan") if result.test_accuracy is None else result.test_accuracy)
            same = _summary(values)
            measured.append((policy, same))
        table[label] = same
    study.set_user_attr("final_check", table)
    study.set_user_attr("final_check_trial", best_trial(study).number)
    return table


def _summary(values: list[float]) -> dict[str, Any]:
    finite = [v for v in values if v == v]
    mean = statistics.fmean(finite) if finite else 0.0
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return {"mean": mean, "std": std, "values": finite}


def format_table(table: dict[str, dict[str, Any]]) -> str:
    """A small text table: policy, mean test accuracy, spread, runs."""
    lines = [f"{'policy':<20} {'test acc':>9} {'± std':>7} {'runs':>5}"]
    for label, row in table.items():
        lines.append(f"{label:<20} {row['mean']:>9.4f} {row['std']:>7.4f} {len(row['values']):>5}")
    return "\n".join(lines)
