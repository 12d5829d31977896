"""The promotion rung: the proxy's best few policies trained again, closer to the target, to pick the winner.

A proxy trial is cheap and noisy: 1,000 images and 500 validation images
rank whole regions of the space well, but differences of a point between
the leaders are within one trial's noise (a validation set of 500 has a
standard error of about 1.5 points at 85%). Successive halving's answer
(Hyperband, ASHA, BOHB) is a last rung at a higher fidelity for the few
best: here the top ``candidates`` distinct completed trials are each trained
on more images (by default half the target's, at least twice the proxy's) for
the target's epochs with a fresh seed, and scored on a larger validation split
drawn from the training pool (never the test split, which only the verdict
sees, nor the proxy's validation images, which chose the candidates). The rung's best
is the search's answer.

This module trains; what it stores and where lives with the study
(:func:`policysearch.search.export.best_trial` reads the pick).

Example:
    >>> from policysearch.data import load_source
    >>> data = rung_splits(load_source("digits"), RungBudget(train_size=100, val_size=50, epochs=1), seed=0)
    >>> len(data.train), len(data.val)
    (100, 50)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Mapping

import numpy as np

from policysearch._checks import COUNT, check_fields
from policysearch.data import Source, Splits, make_splits, stratified_indices
from policysearch.errors import ConfigError
from policysearch.policy import Policy
from policysearch.training import TrainConfig, train_and_score

__all__ = ["RungBudget", "RUNG_SEED_OFFSET", "rung_splits", "score_candidates", "pick"]

# Rung seeds differ from the proxy's (0, 1, ...) and the verdict's (1000, ...): a fresh draw.
RUNG_SEED_OFFSET = 500


@dataclass(frozen=True)
class RungBudget:
    """What one rung training costs: training images, validation images, epochs."""

    train_size: int
    val_size: int
    epochs: int

    def __post_init__(self) -> None:
        check_fields(self, {"train_size": COUNT, "val_size": COUNT, "epochs": COUNT}, error=ConfigError)

    @property
    def image_epochs(self) -> int:
        return self.train_size * self.epochs

    def describe(self) -> dict[str, int]:
        return asdict(self)


def rung_splits(source: Source, budget: RungBudget, *, seed: int, avoid: Any = None) -> Any:
    """Training and validation images for the rung, from the pool only.

    ``avoid`` (a split of the same pool, the proxy's validation images) is
    kept out of the rung's validation images: the candidates were chosen for
    scoring well on it, so scoring them there again would favour luck. A
    pool too small for both keeps a third for validation and trains on the
    rest, so small datasets still get a rung (the budget stored says so). A
    dataset with its own validation split (a folder's ``val/``) scores on it.
    """
    if source.val is not None:
        return make_splits(source, train_size=min(budget.train_size, len(source.train)),
                           val_size=min(budget.val_size, len(source.val)), seed=seed)
    pool = source.train
    if avoid is not None:
        pool = pool.take(np.flatnonzero(~np.isin(pool.indices, avoid.indices)))
    val_size = min(budget.val_size, max(len(pool) // 3, 1))
    train_size = min(budget.train_size, len(source.train) - val_size)
    val_rows = stratified_indices(pool.labels, [val_size], seed)[0]
    val = pool.take(val_rows)
    rest = source.train.take(np.flatnonzero(~np.isin(source.train.indices, val.indices)))
    train = rest.take(stratified_indices(rest.labels, [min(train_size, len(rest))], seed)[0])
    return Splits(source.name, source.classes, train, val, source.test)


def score_candidates(candidates: Mapping[int, Policy], data: Any, factory: Callable[[], Any], budget: RungBudget,
                     config: TrainConfig, *, known: Mapping[int, float] | None = None,
                     progress: Callable[[str], None] | None = None,
                     teaching_for: Callable[[Policy], Any] | None = None) -> dict[int, float]:
    """Validation accuracy of each candidate (trial number -> policy) trained at the rung's budget.

    ``known`` scores (from an earlier run of the same rung) are kept, not
    retrained. A run that diverges scores 0: it failed at the budget that
    matters.
    """
    scores = dict(known or {})
    for number, policy in candidates.items():
        if number in scores:
            continue
        if progress is not None:
            progress(f"rung: trial #{number}, {len(data.train)} images x {budget.epochs} epochs")
        teaching = teaching_for(policy) if teaching_for is not None else None
        run = replace(config, epochs=budget.epochs, seed=config.seed + RUNG_SEED_OFFSET)
        scores[number] = train_and_score(factory, policy, data.train, data.val, run, teaching=teaching)
    return scores


def pick(scores: Mapping[int, float], proxy_values: Mapping[int, float]) -> int:
    """The candidate with the best rung score; ties go to the better proxy value, then the earlier trial.

    Example:
        >>> pick({3: 0.88, 7: 0.89, 9: 0.89}, {3: 0.84, 7: 0.82, 9: 0.83})
        9
    """
    return max(scores, key=lambda n: (scores[n], proxy_values.get(n, 0.0), -n))
