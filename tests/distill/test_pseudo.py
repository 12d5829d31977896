"""Pseudo labels: thresholds, agreement with the truth, several teachers voting, balanced classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from policysearch.distill import (
    PseudoLabels,
    agreement_with_truth,
    balance_classes,
    hard_vote,
    pseudo_label,
    soft_vote,
    vote_pseudo_labels,
)
from policysearch.errors import TrainingError

# --------------------------------------------------------------------------- pseudo labels

PROBS = np.array(
    [
        [0.9, 0.05, 0.05],  # kept
        [0.4, 0.35, 0.25],  # dropped
        [0.2, 0.7, 0.1],  # exactly at the threshold: kept
        [0.1, 0.2, 0.7 - 1e-9],  # just below: dropped
        [0.05, 0.15, 0.8],  # kept
    ]
)


def test_pseudo_label_keeps_exactly_the_rows_at_or_above_the_threshold():
    kept = pseudo_label(PROBS, threshold=0.7)
    assert isinstance(kept, PseudoLabels)
    assert kept.indices.dtype == np.int64 and kept.targets.dtype == np.int64
    assert kept.indices.tolist() == [0, 2, 4]
    assert kept.targets.tolist() == [0, 1, 2]
    assert kept.confidence.tolist() == [0.9, 0.7, 0.8]
    assert len(kept) == 3


def test_pseudo_label_threshold_is_inclusive_in_float32_tensors_too():
    # 0.7 is not exact in float32; the row's 0.7 and the threshold must round alike.
    probs = torch.tensor(PROBS[[0, 1, 2, 4]], dtype=torch.float32)
    kept = pseudo_label(probs, threshold=0.7)
    assert isinstance(kept.indices, torch.Tensor) and kept.indices.dtype == torch.int64
    assert kept.indices.tolist() == [0, 2, 3]


def test_pseudo_label_without_threshold_keeps_all_and_soft_keeps_rows():
    assert pseudo_label(PROBS).indices.tolist() == [0, 1, 2, 3, 4]
    assert pseudo_label(PROBS).targets.tolist() == [0, 0, 1, 2, 2]
    soft = pseudo_label(PROBS, threshold=0.75, soft=True)
    assert soft.indices.tolist() == [0, 4]
    np.testing.assert_array_equal(soft.targets, PROBS[[0, 4]])
    assert soft.soft and soft.labels.tolist() == [0, 2]
    assert len(pseudo_label(PROBS, threshold=1.0)) == 0


@pytest.mark.parametrize(
    "probs, threshold, match",
    [
        (PROBS, 1.5, r"threshold should be .*\[0, 1\], but got 1.5"),
        (PROBS, -0.1, "threshold should be .* but got -0.1"),
        (np.array([[0.6, 0.5], [0.5, 0.5]]), None, "row 0 sums to 1.1"),
        (np.array([[0.5, 0.5], [1.2, -0.2]]), None, "non-negative .* row 1"),
        (np.array([[0.5, np.nan]]), None, "non-negative .* row 0"),
        (np.array([0.5, 0.5]), None, r"shape \(N, K\)"),
        (np.array([[1, 0]]), None, "float array"),
    ],
)
def test_pseudo_label_rejects_bad_input(probs, threshold, match):
    with pytest.raises(TrainingError, match=match):
        pseudo_label(probs, threshold=threshold)


def test_row_sums_within_tolerance_pass():
    assert len(pseudo_label(np.array([[0.5, 0.5005]]))) == 1


def test_agreement_with_truth():
    kept = pseudo_label(PROBS, threshold=0.7)  # rows 0, 2, 4 labelled 0, 1, 2
    assert agreement_with_truth(kept, np.array([0, 9, 1, 9, 0])) == pytest.approx(2 / 3)
    assert agreement_with_truth(pseudo_label(PROBS, threshold=0.7, soft=True), [0, 0, 1, 0, 2]) == 1.0
    assert math.isnan(agreement_with_truth(pseudo_label(PROBS, threshold=1.0), np.zeros(5, dtype=np.int64)))
    with pytest.raises(TrainingError, match="label for row 4, but holds only 3"):
        agreement_with_truth(kept, np.array([0, 1, 2]))


# --------------------------------------------------------------------------- voting

# Three teachers x four images x three classes. Their argmax votes, per image:
# 0,0,0 (unanimous); 1,1,2 (majority 1); 0,1,2 (three-way tie: summed
# probabilities 0.7, 1.1, 1.2 -> 2); 0,2,0 (majority 0, although the summed
# probabilities 0.8, 0.7, 1.5 favour 2: the vote wins).
TEACHERS = [
    np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.5, 0.3, 0.2], [0.4, 0.3, 0.3]]),
    np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.1, 0.5, 0.4], [0.0, 0.05, 0.95]]),
    np.array([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5], [0.1, 0.3, 0.6], [0.4, 0.35, 0.25]]),
]


def test_soft_vote_is_the_mean_of_the_teachers():
    expected = np.array(
        [[0.6, 0.25, 0.15], [0.5 / 3, 1.4 / 3, 1.1 / 3], [0.7 / 3, 1.1 / 3, 1.2 / 3], [0.8 / 3, 0.7 / 3, 1.5 / 3]]
    )
    np.testing.assert_allclose(soft_vote(TEACHERS), expected, atol=1e-12)
    as_tensor = soft_vote([torch.tensor(t, dtype=torch.float32) for t in TEACHERS])
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.dtype == torch.float32
    np.testing.assert_allclose(as_tensor.numpy(), expected, atol=1e-6)


def test_hard_vote_majority_with_summed_probability_tie_break():
    labels, agreement = hard_vote(TEACHERS)
    assert labels.tolist() == [0, 1, 2, 0]
    np.testing.assert_allclose(agreement, [1.0, 2 / 3, 1 / 3, 2 / 3])


def test_hard_vote_two_way_tie_is_independent_of_teacher_order():
    a, b = np.array([[0.6, 0.4, 0.0]]), np.array([[0.3, 0.7, 0.0]])  # summed: 0.9 vs 1.1
    assert hard_vote([a, b])[0].tolist() == [1]
    assert hard_vote([b, a])[0].tolist() == [1]
    assert hard_vote([a, b])[1].tolist() == [0.5]


def test_voting_rejects_mismatched_or_empty_lists():
    with pytest.raises(TrainingError, match=r"prob_list\[1\] should have the shape .* \(4, 3\), but got \(3, 3\)"):
        soft_vote([TEACHERS[0], TEACHERS[1][:3]])
    with pytest.raises(TrainingError, match="non-empty list"):
        hard_vote([])
    with pytest.raises(TrainingError, match=r"prob_list\[0\] rows should sum to 1"):
        hard_vote([TEACHERS[0] * 2])


def test_vote_pseudo_labels_by_hand():
    a = np.array([[0.9, 0.1, 0.0], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7]])
    b = np.array([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    c = np.array([[0.2, 0.7, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    hard = vote_pseudo_labels([a, b, c], mode="hard", threshold=0.5)
    # Votes: row 0 -> 0,0,1 (class 0, mean 0.567); row 1 -> 0,1,1 (class 1, mean 0.633);
    # row 2 -> 2,2,2 (class 2, mean 0.567). All three reach 0.5.
    assert hard.indices.tolist() == [0, 1, 2] and hard.targets.tolist() == [0, 1, 2]
    np.testing.assert_allclose(hard.confidence, [1.7 / 3, 1.9 / 3, 1.7 / 3])
    assert vote_pseudo_labels([a, b, c], mode="hard", threshold=0.6).indices.tolist() == [1]
    soft = vote_pseudo_labels([a, b, c], mode="soft", threshold=0.6)
    assert soft.indices.tolist() == [1] and soft.soft
    np.testing.assert_allclose(soft.targets, [(a[1] + b[1] + c[1]) / 3])
    one = vote_pseudo_labels([a], mode="hard", threshold=0.7)
    assert one.indices.tolist() == pseudo_label(a, threshold=0.7).indices.tolist() == [0, 2]
    with pytest.raises(TrainingError, match="'sideways'"):
        vote_pseudo_labels([a], mode="sideways")


def test_balance_classes_keeps_the_most_confident_and_repeats_the_scarce():
    probs = np.array([
        [0.95, 0.05, 0.0], [0.7, 0.3, 0.0], [0.9, 0.1, 0.0], [0.8, 0.2, 0.0],  # four of class 0
        [0.1, 0.6, 0.3],                                                    # one of class 1
        [0.0, 0.2, 0.8], [0.1, 0.0, 0.9],                                   # two of class 2
    ])
    kept = pseudo_label(probs)
    balanced = balance_classes(kept, 2, seed=0)
    assert balanced.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert balanced.indices.tolist()[:2] == [0, 2]          # class 0: its two most confident rows
    assert balanced.indices.tolist()[2:4] == [4, 4]         # class 1: its only row, repeated
    assert sorted(balanced.indices.tolist()[4:]) == [5, 6]  # class 2: both rows, no repeat needed
    np.testing.assert_allclose(balanced.confidence, probs[balanced.indices].max(axis=1))
    soft = balance_classes(pseudo_label(probs, soft=True), 1)
    assert soft.soft and soft.targets.shape == (3, 3) and soft.indices.tolist() == [0, 4, 6]
    assert len(balance_classes(pseudo_label(probs, threshold=0.99), 3)) == 0  # nothing to balance
    with pytest.raises(TrainingError, match="per_class should be .* but got 0"):
        balance_classes(kept, 0)
