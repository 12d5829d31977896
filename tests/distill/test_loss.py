"""The distillation loss against hand computations in float64, with the teacher as logits or as probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policysearch.distill import DistillationLoss, distillation_loss, distillation_loss_from_probs, soften
from policysearch.errors import TrainingError

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
