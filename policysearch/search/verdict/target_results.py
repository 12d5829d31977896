"""Target trainings already paid for: their test accuracies, kept in the study storage and reused.

A training at the target budget depends only on what goes into it: the
policy's recipe, the data (dataset, test subset, the seed that draws the
training images and the seed index), the model and its weights, the image
size, the budget, the device kind and the version of the training code. The
standard baselines in particular are the same in every study on that data and
budget, so a second search or ``verify`` reuses them instead of training them
again. Each result is one user attribute of a dedicated study,
``policysearch-target-results``, in the same storage as the studies: keyed by
a hash of everything above, with the key itself stored beside the accuracy.

Example:
    >>> from policysearch.policy import Policy
    >>> results = TargetResults(None)  # in memory only
    >>> key = result_key(Policy(num_ops=0), {"dataset": "digits", "train_size": 100}, seed_index=0)
    >>> results.get(key) is None
    True
    >>> results.put(key, 0.9); results.get(key)
    0.9
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import optuna
import torch

from policysearch.policy import Policy
from policysearch.search.study.schema import read_target_results, write_target_result
from policysearch.training import TRAINING_VERSION

__all__ = ["TargetResults", "result_key", "recipe", "RESULTS_STUDY"]

RESULTS_STUDY = "policysearch-target-results"


def recipe(policy: Policy) -> dict[str, Any]:
    """What of a policy decides how it trains: its JSON without score and provenance.

    Example:
        >>> from policysearch.policy import Score
        >>> recipe(Policy()) == recipe(Policy().with_score(Score(value=0.5)))
        True
    """
    return {k: v for k, v in policy.to_json().items() if k not in ("score", "provenance")}


def result_key(policy: Policy, budget: Mapping[str, Any], *, seed_index: int) -> dict[str, Any]:
    """Everything a target result depends on: the recipe, the budget's fields, the seed index, the code."""
    return {"recipe": recipe(policy), "budget": dict(budget), "seed_index": seed_index,
            "training_version": TRAINING_VERSION, "torch": torch.__version__}


def _digest(key: Mapping[str, Any]) -> str:
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class TargetResults:
    """Stored target results of one storage (``None``: this process only).

    Reads every stored result once, when opened; writes each new one at once,
    so an interrupted verdict keeps what it finished.
    """

    def __init__(self, storage: Any) -> None:
        self._study = None
        self._found: dict[str, float] = {}  # accuracy by the digest of its key
        if storage is not None:
            self._study = optuna.create_study(study_name=RESULTS_STUDY, storage=storage, load_if_exists=True)
            self._found = read_target_results(self._study)

    def get(self, key: Mapping[str, Any]) -> float | None:
        """The stored accuracy for ``key``, or None."""
        return self._found.get(_digest(key))

    def put(self, key: Mapping[str, Any], accuracy: float) -> None:
        """Keep ``accuracy`` for ``key`` (in the storage too, when there is one)."""
        digest = _digest(key)
        self._found[digest] = float(accuracy)
        if self._study is not None:
            write_target_result(self._study, digest, key, accuracy)

    def __len__(self) -> int:
        return len(self._found)
