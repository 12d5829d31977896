"""The promotion rung: the proxy's best few policies trained again, closer to the target, to pick the winner.

A proxy trial is cheap and noisy: 1,000 images and 500 validation images
rank whole regions of the space well, but differences of a point between
the leaders are within one trial's noise (a validation set of 500 has a
standard error of about 1.5 points at 85%). Successive halving's answer
(Hyperband, ASHA, BOHB) is a last rung at a higher fidelity for the few
best: here the top ``candidates`` distinct completed trials are each trained
on more images (by default half the target's, at least twice the proxy's) for
the target's epochs on at least two paired seeds (each its own draw of
training images, the same for every candidate: one seed's spread exceeded
the margins the rung picked by), and scored on a larger validation split
drawn from the training pool (never the test split, which only the verdict
sees, nor the proxy's validation images, which chose the candidates). The rung's best
is the search's answer, where an augmented candidate has to beat the best one
without augmentation by a paired bound (:func:`pick`).

This module trains; what it stores and where lives with the study
(:func:`policysearch.search.outputs.export.best_trial` reads the pick).

Example:
    >>> from policysearch.data import load_source
    >>> source = load_source("digits")
    >>> data = rung_splits(source, RungBudget(train_size=100, val_size=50, epochs=1), seed=0)
    >>> len(data.val), len(data.train) == len(source.train) - 50
    (50, True)
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from policysearch._checks import COUNT, check_fields
from policysearch.data import Source, Split, Splits, stratified_indices
from policysearch.errors import ConfigError
from policysearch.policy import Policy
from policysearch.search.verdict.paired import compare
from policysearch.training import TrainConfig, train_and_score

__all__ = ["RungBudget", "RUNG_SEED_OFFSET", "MIN_VAL_IMAGES", "rung_splits", "seed_draw", "score_candidates",
           "pick"]

# Rung seeds differ from the proxy's (0, 1, ...) and the verdict's: a fresh draw.
RUNG_SEED_OFFSET = 500
# The fewest of a folder's own val/ images (after the proxy's) worth validating on; fewer: the training pool.
MIN_VAL_IMAGES = 200


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


def rung_splits(source: Source, budget: RungBudget, *, seed: int, avoid: Any = None) -> Splits:
    """The rung's validation images, and the pool (``train``) its trainings draw their images from.

    ``avoid`` (the proxy's validation split) is kept out of the rung's
    validation images: the candidates were chosen for scoring well on it, so
    scoring them there again would favour luck. A dataset with its own
    validation split (a folder's ``val/``) validates on the rest of it when
    at least :data:`MIN_VAL_IMAGES` remain, else like any other dataset on
    images of the training pool. A pool too small for both keeps a third for
    validation and trains on the rest, so small datasets still get a rung (the
    budget stored says so).
    """
    if source.val is not None:
        rest = _without(source.val, avoid)
        if len(rest) >= min(MIN_VAL_IMAGES, budget.val_size):
            val = rest.take(stratified_indices(rest.labels, [min(budget.val_size, len(rest))], seed)[0])
            return Splits(source.name, source.classes, source.train, val, source.test)
        avoid = None  # the proxy validated on val/: no image of the training pool was its
    pool = _without(source.train, avoid)
    val_size = min(budget.val_size, max(len(pool) // 3, 1))
    val = pool.take(stratified_indices(pool.labels, [val_size], seed)[0])
    return Splits(source.name, source.classes, _without(source.train, val), val, source.test)


def _without(split: Split, other: Any) -> Split:
    """``split`` less the rows of ``other`` (a split of the same images), by their original indices."""
    if other is None:
        return split
    return split.take(np.flatnonzero(~np.isin(split.indices, other.indices)))


def seed_draw(seed: int, index: int) -> tuple[int, int]:
    """Rung seed ``index``'s (training-image draw, training seed), derived from the run's ``seed``.

    Example:
        >>> seed_draw(0, 0) != seed_draw(0, 1), seed_draw(0, 0) == seed_draw(0, 0)
        (True, True)
    """
    state = np.random.SeedSequence([RUNG_SEED_OFFSET, seed, index]).generate_state(2)
    return int(state[0]), int(state[1])


def score_candidates(candidates: Mapping[int, Policy], data: Any, factory: Callable[[], Any], budget: RungBudget,
                     config: TrainConfig, *, seeds: int = 2, known: Mapping[int, list[float]] | None = None,
                     progress: Callable[[str], None] | None = None,
                     teaching_for: Callable[[Policy], Any] | None = None) -> dict[int, list[float]]:
    """Validation accuracies of each candidate (trial number -> policy), one per paired seed, at the rung's budget.

    Seed ``k`` draws ``budget.train_size`` training images from ``data.train``
    and a training seed, both from ``config.seed`` (:func:`seed_draw`), and
    every candidate trains on that same draw: the comparison is paired.
    ``known`` values (from an earlier run of the same rung) are kept, not
    retrained. A run that diverges scores 0: it failed at the budget that
    matters.
    """
    scores = {number: list(values) for number, values in (known or {}).items()}
    size = min(budget.train_size, len(data.train))
    for k in range(seeds):
        draw, seed = seed_draw(config.seed, k)
        train = data.train.take(stratified_indices(data.train.labels, [size], draw)[0])
        for number, policy in candidates.items():
            values = scores.setdefault(number, [])
            if len(values) > k:
                continue
            if progress is not None:
                progress(f"rung: seed {k + 1}/{seeds}, trial #{number} ({size} images x {budget.epochs} epochs)")
            teaching = teaching_for(policy) if teaching_for is not None else None
            run = replace(config, epochs=budget.epochs, seed=seed)
            values.append(train_and_score(factory, policy, train, data.val, run, teaching=teaching))
    return scores


def pick(values: Mapping[int, Sequence[float]], proxy_values: Mapping[int, float],
         augments: Mapping[int, bool]) -> int:
    """The rung's answer: the best mean over the paired seeds, unless it augments and does not beat the best
    candidate without augmentation by a paired bound; then that simpler candidate.

    Augmentation costs a user every epoch and a reason to doubt the answer, so
    it has to earn its place: the augmented leader is kept only when the rung's
    paired comparison against the best unaugmented candidate says "beats" (its
    one-sided 90% lower bound is above 0, :func:`~policysearch.search.verdict.paired.compare`).
    A mean alone picked augmentation on the silhouettes by 0.17 points with
    seeds 0.65 points apart. One seed never shows a bound, so with one seed an
    unaugmented candidate is kept. Ties of the mean go to the better proxy
    value, then the earlier trial.

    Example:
        >>> plain = {3: False, 7: True, 9: True}
        >>> pick({3: [0.88, 0.88], 7: [0.89, 0.89], 9: [0.90, 0.88]}, {3: 0.84, 7: 0.82, 9: 0.83}, plain)
        3
        >>> pick({3: [0.88, 0.87], 7: [0.90, 0.89]}, {3: 0.84, 7: 0.82}, plain)
        7
    """
    means = {n: statistics.fmean(v) for n, v in values.items()}

    def best(numbers: Iterable[int]) -> int:
        return max(numbers, key=lambda n: (means[n], proxy_values.get(n, 0.0), -n))

    leader = best(values)
    plain = [n for n in values if not augments[n]]
    if not augments[leader] or not plain:
        return leader
    simpler = best(plain)
    seeds = min(len(values[leader]), len(values[simpler]))
    beats = compare(values[leader][:seeds], values[simpler][:seeds]).outcome == "beats"
    return leader if beats else simpler
