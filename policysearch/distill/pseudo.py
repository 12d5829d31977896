"""Pseudo labels: what teachers say about unlabeled images, and which of it to keep.

* :func:`pseudo_label`: keep the rows a teacher is sure of.
* :func:`soft_vote` / :func:`hard_vote`: several teachers into one answer;
  :func:`vote_pseudo_labels` does both steps for one or several teachers.
* :func:`balance_classes`: the same number of rows for every class.
* :func:`agreement_with_truth`: how often the kept labels are right, for
  held-out experiments where the truth is known.

Probabilities are ``(N, K)`` rows (see
:func:`policysearch.distill.teacher_probabilities`). The functions accept
numpy arrays or torch tensors and answer in the type of their (first) input.
Everything here is also importable from :mod:`policysearch.distill`.

Example:
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> pseudo_label(probs, threshold=0.8).indices.tolist()
    [0, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from policysearch._checks import check_choice, check_int, check_number, show
from policysearch.errors import TrainingError

__all__ = [
    "PSEUDO_MODES",
    "check_probabilities",
    "PseudoLabels",
    "pseudo_label",
    "vote_pseudo_labels",
    "balance_classes",
    "soft_vote",
    "hard_vote",
    "agreement_with_truth",
]

# Rows of float32 softmax over a few thousand classes sum to 1 within ~1e-6;
# 1e-3 lets rounded or half-precision probabilities through and still
# catches logits or percentages passed by mistake.
PSEUDO_MODES = ("hard", "soft")  # a class per kept image, or the probabilities themselves
ROW_SUM_TOLERANCE = 1e-3


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    """A torch view of a numpy array or tensor (no copy), for shared checks."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    raise TrainingError(f"{name} should be a numpy array or a torch tensor, but got {show(value)}")


def _like(result: torch.Tensor, reference: Any) -> Any:
    """Answer in the caller's type: numpy in, numpy out."""
    return result if isinstance(reference, torch.Tensor) else result.cpu().numpy()


def check_probabilities(name: str, value: Any) -> torch.Tensor:
    """``(N, K)`` finite, non-negative rows that sum to 1 within the tolerance."""
    probs = _as_tensor(name, value)
    if probs.ndim != 2 or probs.shape[1] < 1 or not probs.is_floating_point():
        raise TrainingError(
            f"{name} should be a float array of shape (N, K), but got dtype {probs.dtype} "
            f"and shape {tuple(probs.shape)}"
        )
    if probs.shape[0] == 0:
        return probs
    if not bool(torch.isfinite(probs).all()) or bool((probs < 0).any()):
        row = int(torch.nonzero(~torch.isfinite(probs) | (probs < 0))[0, 0])
        raise TrainingError(
            f"{name} should be non-negative probabilities, but row {row} is {show(probs[row].tolist())}"
        )
    # Sum in float64: a float16 row of 1000 classes loses more than the tolerance.
    error = (probs.double().sum(dim=1) - 1.0).abs()
    worst = int(error.argmax())
    if float(error[worst]) > ROW_SUM_TOLERANCE:
        total = float(probs[worst].double().sum())
        raise TrainingError(
            f"{name} rows should sum to 1 (within {ROW_SUM_TOLERANCE}), but row {worst} sums to {total:.6g}"
        )
    return probs



# --------------------------------------------------------------------------- pseudo labels


@dataclass(frozen=True)
class PseudoLabels:
    """The unlabeled rows a teacher is sure of, and what it says they are.

    ``indices``: int64 positions of the kept rows in the probabilities given
    to :func:`pseudo_label`. ``targets``: int64 class labels, or with
    ``soft=True`` the kept probability rows ``(n, K)``. ``confidence``: each
    kept row's largest probability. numpy arrays or tensors, like the input.
    """

    indices: Any
    targets: Any
    confidence: Any

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def soft(self) -> bool:
        """True when ``targets`` holds probability rows rather than labels."""
        return self.targets.ndim == 2

    @property
    def labels(self) -> Any:
        """Hard int64 labels either way (the argmax of soft targets)."""
        return self.targets.argmax(1) if self.soft else self.targets


def pseudo_label(probabilities: Any, *, threshold: float | None = None, soft: bool = False) -> PseudoLabels:
    """Keep exactly the rows whose largest probability is ``>= threshold``.

    ``threshold=None`` keeps every row. Hard targets are each row's argmax
    (the first class on a tie); ``soft=True`` keeps the probability rows
    themselves, for :func:`distillation_loss`'s soft labels.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
        >>> kept = pseudo_label(probs, threshold=0.8)
        >>> kept.indices.tolist(), kept.targets.tolist(), kept.confidence.tolist()
        ([0, 2], [0, 1], [0.9, 0.8])
    """
    if threshold is not None:
        threshold = check_number("threshold", threshold, low=0, high=1, error=TrainingError)
    probs = check_probabilities("probabilities", probabilities)
    confidence, argmax = probs.max(dim=1)
    keep = torch.ones_like(confidence, dtype=torch.bool) if threshold is None else confidence >= threshold
    indices = torch.nonzero(keep).flatten().long()
    targets = probs[indices].clone() if soft else argmax[indices].long()
    return PseudoLabels(
        indices=_like(indices, probabilities),
        targets=_like(targets, probabilities),
        confidence=_like(confidence[indices], probabilities),
    )


def agreement_with_truth(pseudo: PseudoLabels, true_labels: Any) -> float:
    """Fraction of the kept pseudo labels that equal the true labels; nan when none were kept.

    ``true_labels`` has one label for every row :func:`pseudo_label` saw; it is
    indexed by ``pseudo.indices``. Soft targets count by their argmax.

    Example:
        >>> kept = pseudo_label(np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8]]))
        >>> agreement_with_truth(kept, np.array([0, 0, 1]))
        0.6666666666666666
    """
    if not isinstance(pseudo, PseudoLabels):
        raise TrainingError(f"pseudo should be PseudoLabels, but got {show(pseudo)}")
    if isinstance(true_labels, (list, tuple)):
        true_labels = np.asarray(true_labels)
    truth = _as_tensor("true_labels", true_labels)
    indices = torch.as_tensor(pseudo.indices).long().cpu()
    if truth.ndim != 1 or truth.is_floating_point():
        raise TrainingError(
            f"true_labels should be integer labels of shape (N,), but got dtype {truth.dtype} "
            f"and shape {tuple(truth.shape)}"
        )
    if len(indices) == 0:
        return float("nan")
    if int(indices.max()) >= len(truth):
        raise TrainingError(
            f"true_labels should have a label for row {int(indices.max())}, but holds only {len(truth)}"
        )
    predicted = torch.as_tensor(pseudo.labels).long().cpu()
    return float((predicted == truth.cpu().long()[indices]).double().mean())


# --------------------------------------------------------------------------- several teachers


def _stack(prob_list: Sequence[Any]) -> torch.Tensor:
    """``(teachers, N, K)`` from a non-empty list of same-shape probability arrays."""
    if isinstance(prob_list, (str, bytes)) or not isinstance(prob_list, Sequence) or len(prob_list) == 0:
        raise TrainingError(
            f"prob_list should be a non-empty list of (N, K) probabilities, but got {show(prob_list)}"
        )
    checked = [check_probabilities(f"prob_list[{i}]", p) for i, p in enumerate(prob_list)]
    first = checked[0]
    for i, probs in enumerate(checked[1:], start=1):
        if probs.shape != first.shape:
            raise TrainingError(
                f"prob_list[{i}] should have the shape of prob_list[0] {tuple(first.shape)}, "
                f"but got {tuple(probs.shape)}"
            )
    return torch.stack([p.to(first.device, torch.float64) for p in checked])


def soft_vote(prob_list: Sequence[Any]) -> Any:
    """The teachers' mean probability rows (an ensemble's soft prediction).

    Example:
        >>> soft_vote([np.array([[0.8, 0.2]]), np.array([[0.4, 0.6]])]).tolist()
        [[0.6000000000000001, 0.4]]
    """
    stacked = _stack(prob_list)
    return _like(stacked.mean(dim=0).to(_as_tensor("prob_list[0]", prob_list[0]).dtype), prob_list[0])


def hard_vote(prob_list: Sequence[Any]) -> tuple[Any, Any]:
    """Majority vote of the teachers' argmax: ``(labels, agreement)``.

    Ties between classes with the same number of votes go to the tied class
    with the highest probability summed over all teachers (the soft vote's
    choice among them); an exact tie there too goes to the lowest class index.
    ``agreement`` is the fraction of teachers that voted for the winner.

    Example:
        >>> a, b, c = np.array([[0.7, 0.3]]), np.array([[0.1, 0.9]]), np.array([[0.6, 0.4]])
        >>> labels, agreement = hard_vote([a, b, c])
        >>> labels.tolist(), agreement.round(3).tolist()
        ([0], [0.667])
    """
    stacked = _stack(prob_list)
    teachers, _, classes = stacked.shape
    votes = F.one_hot(stacked.argmax(dim=2), classes).sum(dim=0)  # (N, K) vote counts
    summed = stacked.sum(dim=0)
    most = votes.max(dim=1, keepdim=True).values
    # Only classes with the most votes compete on summed probability.
    labels = summed.masked_fill(votes < most, float("-inf")).argmax(dim=1)
    agreement = most.squeeze(1).double() / teachers
    return _like(labels.long(), prob_list[0]), _like(agreement, prob_list[0])


def vote_pseudo_labels(prob_list: Sequence[Any], *, mode: str = "hard",
                       threshold: float | None = None) -> PseudoLabels:
    """Pseudo labels from one or several teachers' probabilities.

    ``mode="soft"``: the soft vote's rows are the targets. ``mode="hard"``:
    the label is the majority vote (:func:`hard_vote`; a single teacher's
    argmax). Either way a row is kept when the soft vote's probability of
    its label is ``>= threshold`` (``None`` keeps every row), so with one
    teacher this is exactly :func:`pseudo_label`.

    Example:
        >>> a = np.array([[0.9, 0.1], [0.6, 0.4]])
        >>> b = np.array([[0.7, 0.3], [0.2, 0.8]])
        >>> kept = vote_pseudo_labels([a, b], mode="hard", threshold=0.6)
        >>> kept.indices.tolist(), kept.targets.tolist(), kept.confidence.round(2).tolist()
        ([0, 1], [0, 1], [0.8, 0.6])
    """
    check_choice("mode", mode, PSEUDO_MODES, error=TrainingError)
    if threshold is not None:
        threshold = check_number("threshold", threshold, low=0, high=1, error=TrainingError)
    if isinstance(prob_list, Sequence) and not isinstance(prob_list, (str, bytes)) and len(prob_list) == 1:
        return pseudo_label(prob_list[0], threshold=threshold, soft=mode == "soft")
    mean = torch.as_tensor(soft_vote(prob_list))
    if mode == "soft":
        kept = pseudo_label(mean, threshold=threshold, soft=True)
    else:
        labels = torch.as_tensor(hard_vote(prob_list)[0])
        confidence = mean.gather(1, labels.view(-1, 1)).squeeze(1)
        keep = torch.ones_like(labels, dtype=torch.bool) if threshold is None else confidence >= threshold
        indices = torch.nonzero(keep).flatten().long()
        kept = PseudoLabels(indices, labels[indices], confidence[indices])
    first = prob_list[0]
    return PseudoLabels(_like(torch.as_tensor(kept.indices), first), _like(torch.as_tensor(kept.targets), first),
                        _like(torch.as_tensor(kept.confidence), first))


def balance_classes(pseudo: PseudoLabels, per_class: int, *, seed: int = 0) -> PseudoLabels:
    """Exactly ``per_class`` rows of every class that has any: the most confident ones.

    A teacher is sure of some classes far more often than of others
    (Fashion-MNIST: ~1,800 confident "trouser" rows to 1 "shirt"), and a
    student trained on that mix learns the skew. As in Noisy Student, a
    class with more rows keeps its ``per_class`` most confident; a class
    with fewer has its rows repeated (drawn with ``seed``) up to
    ``per_class``. Rows are then grouped by class. Classes with no row stay
    absent: nothing can be invented for them.

    Example:
        >>> kept = pseudo_label(np.array([[0.9, 0.1], [0.8, 0.2], [0.95, 0.05], [0.3, 0.7]]))
        >>> balanced = balance_classes(kept, 2)
        >>> balanced.indices.tolist(), balanced.labels.tolist()
        ([2, 0, 3, 3], [0, 0, 1, 1])
    """
    if not isinstance(pseudo, PseudoLabels):
        raise TrainingError(f"pseudo should be PseudoLabels, but got {show(pseudo)}")
    per_class = check_int("per_class", per_class, low=1, error=TrainingError)
    labels = torch.as_tensor(pseudo.labels).long().cpu()
    confidence = torch.as_tensor(pseudo.confidence).cpu()
    rng = np.random.default_rng(seed)
    chosen = []
    for c in torch.unique(labels).tolist():
        rows = torch.nonzero(labels == c).flatten()
        # Most confident first; a stable sort keeps ties in their original order.
        rows = rows[torch.sort(confidence[rows], descending=True, stable=True).indices]
        if len(rows) < per_class:
            extra = torch.from_numpy(rng.choice(len(rows), per_class - len(rows), replace=True))
            rows = torch.cat([rows, rows[extra]])
        chosen.append(rows[:per_class])
    order = torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.long)

    def pick(values: Any) -> Any:
        return _like(torch.as_tensor(values)[order.to(torch.as_tensor(values).device)], values)

    return PseudoLabels(pick(pseudo.indices), pick(pseudo.targets), pick(pseudo.confidence))
