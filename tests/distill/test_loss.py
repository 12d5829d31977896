"""Knowledge distillation: the loss against hand computations, pseudo labels, voting, the teacher."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from policysearch.distill import (
    DistillationLoss,
    PseudoLabels,
    Teaching,
    agreement_with_truth,
    balance_classes,
    distillation_loss,
    distillation_loss_from_probs,
    hard_vote,
    pseudo_label,
    soft_vote,
    soften,
    teacher_probabilities,
    vote_pseudo_labels,
)
from policysearch.errors import TrainingError
from policysearch.models import build_model

STUDENT = [[2.0, -1.0, 0.5], [0.0, 1.5, -0.5], [-2.0, 0.3, 1.0]]
TEACHER = [[3.0, -2.0, 1.0], [0.5, 0.5, -1.0], [-1.0, -1.0, 2.5]]
INT_LABELS = [0, 2, 2]
SOFT_LABELS = [[0.8, 0.1, 0.1], [0.0, 0.5, 0.5], [0.2, 0.2, 0.6]]


# --------------------------------------------------------------------------- hand computation, numpy float64


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _hand_loss(student, teacher, labels, temperature, alpha) -> float:
    s, t = np.array(student, dtype=np.float64), np.array(teacher, dtype=np.float64)
    log_pt, log_ps = _log_softmax(t / temperature), _log_softmax(s / temperature)
    kl = (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=1).mean()
    log_p = _log_softmax(s)
    labels = np.array(labels)
    if labels.ndim == 1:
        ce = -log_p[np.arange(len(labels)), labels].mean()
    else:
        ce = -(labels * log_p).sum(axis=1).mean()
    return alpha * temperature**2 * kl + (1 - alpha) * ce


# --------------------------------------------------------------------------- the loss


@pytest.mark.parametrize("temperature, alpha", [(2.0, 0.5), (4.0, 0.9)])
@pytest.mark.parametrize("labels", [INT_LABELS, SOFT_LABELS], ids=["int", "soft"])
def test_loss_matches_hand_computation(temperature, alpha, labels):
    got = distillation_loss(
        torch.tensor(STUDENT), torch.tensor(TEACHER), torch.tensor(labels), temperature=temperature, alpha=alpha
    )
    assert got.ndim == 0
    assert got.item() == pytest.approx(_hand_loss(STUDENT, TEACHER, labels, temperature, alpha), rel=1e-5)


def test_module_wrapper_holds_temperature_and_alpha():
    criterion = DistillationLoss(temperature=3.0, alpha=0.25)
    got = criterion(torch.tensor(STUDENT), torch.tensor(TEACHER), torch.tensor(INT_LABELS))
    assert got.item() == pytest.approx(_hand_loss(STUDENT, TEACHER, INT_LABELS, 3.0, 0.25), rel=1e-5)
    assert "temperature=3.0, alpha=0.25" in repr(criterion)


def test_loss_is_zero_only_when_student_matches_teacher_at_alpha_one():
    logits = torch.tensor(STUDENT)
    labels = torch.tensor(INT_LABELS)
    assert distillation_loss(logits, logits.clone(), labels, alpha=1.0).item() == pytest.approx(0.0, abs=1e-6)
    # The KL ignores a constant shift of either side's logits.
    assert distillation_loss(logits, logits + 5.0, labels, alpha=1.0).item() == pytest.approx(0.0, abs=1e-5)
    assert distillation_loss(logits, torch.tensor(TEACHER), labels, alpha=1.0).item() > 1e-3
    # With a hard-label share, agreeing with the teacher is not enough.
    assert distillation_loss(logits, logits.clone(), labels, alpha=0.5).item() > 1e-3


def test_gradient_reaches_the_student_only():
    student = torch.tensor(STUDENT, requires_grad=True)
    teacher = torch.tensor(TEACHER, requires_grad=True)
    distillation_loss(student, teacher, torch.tensor(INT_LABELS)).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum().item() > 1e-4


def test_t_squared_keeps_the_soft_gradient_scale_at_high_temperature():
    def grad_norm(temperature: float) -> float:
        student = torch.tensor(STUDENT, requires_grad=True)
        distillation_loss(student, torch.tensor(TEACHER), torch.tensor(INT_LABELS),
                          temperature=temperature, alpha=1.0).backward()
        return student.grad.norm().item()

    # Without the T^2 factor the gradient would shrink ~1/T^2 (4x from T=10 to T=20).
    assert grad_norm(20.0) / grad_norm(10.0) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0}, "temperature should be .* but got 0"),
        ({"temperature": -1.0}, "temperature should be .* but got -1.0"),
        ({"alpha": 1.5}, r"alpha should be .*\[0, 1\], but got 1.5"),
        ({"alpha": -0.1}, "alpha should be .* but got -0.1"),
    ],
)
def test_bad_temperature_or_alpha_is_a_training_error(kwargs, match):
    logits = torch.tensor(STUDENT)
    with pytest.raises(TrainingError, match=match):
        distillation_loss(logits, logits, torch.tensor(INT_LABELS), **kwargs)
    with pytest.raises(TrainingError, match=match):
        DistillationLoss(**kwargs)


def test_mismatched_shapes_and_bad_labels_are_training_errors():
    logits = torch.tensor(STUDENT)
    with pytest.raises(TrainingError, match=r"teacher_logits .* \(3, 3\), but got \(3, 2\)"):
        distillation_loss(logits, logits[:, :2], torch.tensor(INT_LABELS))
    with pytest.raises(TrainingError, match=r"shape \(3,\)"):
        distillation_loss(logits, logits, torch.tensor([0, 1]))
    with pytest.raises(TrainingError, match=r"soft labels should have shape \(3, 3\), but got \(3, 2\)"):
        distillation_loss(logits, logits, torch.tensor(SOFT_LABELS)[:, :2])
    with pytest.raises(TrainingError, match=r"class indices in \[0, 2\], but got 3"):
        distillation_loss(logits, logits, torch.tensor([0, 3, 1]))


def test_soften_divides_by_temperature():
    logits = torch.tensor([[2.0, 0.0, -2.0]])
    hand = np.exp([1.0, 0.0, -1.0]) / np.exp([1.0, 0.0, -1.0]).sum()
    np.testing.assert_allclose(soften(logits, 2.0).numpy()[0], hand, rtol=1e-6)
    with pytest.raises(TrainingError, match="but got 0"):
        soften(logits, 0)


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


# --------------------------------------------------------------------------- the teacher


@pytest.fixture(scope="module")
def tiny_teacher():
    return build_model("tiny-cnn", 3, image_size=16, weights=None, seed=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(7, 16, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize("training", [True, False])
def test_teacher_probabilities_rows_mode_and_no_grad(tiny_teacher, images, training):
    tiny_teacher.train(training)
    probs = teacher_probabilities(tiny_teacher, images, temperature=2.0, batch_size=3)
    assert tiny_teacher.training is training
    assert probs.shape == (7, 3) and probs.dtype == torch.float32
    assert not probs.requires_grad
    np.testing.assert_allclose(probs.sum(dim=1).numpy(), 1.0, atol=1e-5)
    # Same answer as one eval-mode batch by hand: batching and temperature are right.
    tiny_teacher.eval()
    with torch.no_grad():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        hand = torch.softmax(tiny_teacher(x) / 2.0, dim=1)
    np.testing.assert_allclose(probs.numpy(), hand.numpy(), atol=1e-5)


def test_teacher_probabilities_feed_a_student_loss(tiny_teacher, images):
    # Tensors made under inference_mode cannot be saved for backward; the
    # teacher's output must still work as soft labels for a student.
    soft = teacher_probabilities(tiny_teacher, images)
    student = torch.zeros(7, 3, requires_grad=True)
    distillation_loss(student, torch.log(soft), soft, alpha=0.5).backward()
    assert student.grad is not None


def test_teacher_probabilities_rejects_bad_arguments(tiny_teacher, images):
    with pytest.raises(TrainingError, match="temperature should be .* but got 0"):
        teacher_probabilities(tiny_teacher, images, temperature=0)
    with pytest.raises(TrainingError, match="batch_size should be .* but got 0"):
        teacher_probabilities(tiny_teacher, images, batch_size=0)
    with pytest.raises(TrainingError, match="uint8 array .* float32"):
        teacher_probabilities(tiny_teacher, images.astype(np.float32))


# --------------------------------------------------------------------------- teachers as probabilities


def _softmax(x: np.ndarray) -> np.ndarray:
    return np.exp(_log_softmax(x))


def test_loss_from_probs_equals_the_logit_form():
    for temperature, alpha in [(1.0, 0.3), (4.0, 0.9)]:
        a = distillation_loss(torch.tensor(STUDENT), torch.tensor(TEACHER), torch.tensor(INT_LABELS),
                              temperature=temperature, alpha=alpha)
        b = distillation_loss_from_probs(torch.tensor(STUDENT), soften(torch.tensor(TEACHER), temperature),
                                         torch.tensor(INT_LABELS), temperature=temperature, alpha=alpha)
        assert b.item() == pytest.approx(a.item(), rel=1e-5)


def test_loss_from_an_ensemble_matches_hand_computation():
    # Two teachers' softened probabilities averaged (the soft vote), then
    # KL(mean || student) by hand in float64; a zero probability counts 0.
    t, alpha = 2.0, 0.6
    other = [[0.0, 4.0, -1.0], [2.0, -1.0, 0.0], [1.0, 1.0, 1.0]]
    mean = (_softmax(np.array(TEACHER) / t) + _softmax(np.array(other) / t)) / 2
    mean[0] = [1.0, 0.0, 0.0]  # a certain row: xlogy must give 0 * log 0 = 0
    log_ps = _log_softmax(np.array(STUDENT) / t)
    kl = (mean * (np.log(np.where(mean > 0, mean, 1.0)) - log_ps)).sum(axis=1).mean()
    ce = -_log_softmax(np.array(STUDENT))[np.arange(3), INT_LABELS].mean()
    got = distillation_loss_from_probs(torch.tensor(STUDENT), torch.tensor(mean, dtype=torch.float32),
                                       torch.tensor(INT_LABELS), temperature=t, alpha=alpha)
    assert got.item() == pytest.approx(alpha * t * t * kl + (1 - alpha) * ce, rel=1e-5)


def test_loss_from_probs_rejects_logits_passed_by_mistake():
    with pytest.raises(TrainingError, match="teacher_probs rows should sum to 1"):
        distillation_loss_from_probs(torch.tensor(STUDENT), torch.tensor(TEACHER).abs(), torch.tensor(INT_LABELS))


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


@pytest.mark.parametrize("view", ["clean", "augmented"])
def test_teaching_gradient_reaches_the_student_only(tiny_teacher, images, view):
    teaching = Teaching((tiny_teacher,), temperature=2.0, alpha=0.5, view=view)
    teaching.prepare("cpu")
    student = build_model("tiny-cnn", 3, image_size=16, weights=None, seed=1)
    rows = torch.from_numpy(teaching.rows(images, np.array([0, 1, 2, 0, 1, 2, 0]), 3))
    assert rows.shape == ((7, 6) if view == "clean" else (7, 3))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    loss = teaching.loss(student(x), x, rows)
    loss.backward()
    assert all(p.grad is None for p in tiny_teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())
    # Both views see the same clean images here, so they give the same loss.
    with torch.no_grad():
        expected = distillation_loss(student(x), tiny_teacher(x), rows[:, :3], temperature=2.0, alpha=0.5)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_teaching_rejects_bad_settings(tiny_teacher):
    with pytest.raises(TrainingError, match="torch modules"):
        Teaching(())
    with pytest.raises(TrainingError, match="'sideways'"):
        Teaching((tiny_teacher,), view="sideways")
    with pytest.raises(TrainingError, match="alpha should be .* but got 2"):
        Teaching((tiny_teacher,), alpha=2)


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


def test_a_teacher_sees_images_at_its_own_size(tiny_teacher, images):
    # tiny_teacher works at 16 px; 8 px images are enlarged for it, bilinearly.
    small = images[:, ::2, ::2]
    probs = teacher_probabilities(tiny_teacher, small)
    tiny_teacher.eval()
    with torch.no_grad():
        x = torch.from_numpy(small).permute(0, 3, 1, 2).float() / 255.0
        x = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
        hand = torch.softmax(tiny_teacher(x), dim=1)
    np.testing.assert_allclose(probs.numpy(), hand.numpy(), atol=1e-5)


def test_teaching_uses_given_clean_logits_without_running_the_teacher(tiny_teacher, images):
    labels = np.array([0, 1, 2, 0, 1, 2, 0])
    computed = Teaching((tiny_teacher,), temperature=2.0, view="clean").rows(images, labels, 3)

    class Refuses(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("the teacher should not run: its logits were given")

    from policysearch.distill import teacher_logits

    given = Teaching((Refuses(),), temperature=2.0, view="clean",
                     clean_logits=(teacher_logits(tiny_teacher, images),))
    np.testing.assert_allclose(given.rows(images, labels, 3), computed, atol=1e-6)
    with pytest.raises(TrainingError, match="clean_logits should hold one"):
        given.rows(images[:5], labels[:5], 3)
