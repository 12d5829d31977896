"""The distillation loss: Hinton et al.'s soft targets beside the true labels.

``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(labels, student)``;
:func:`distillation_loss_from_probs` takes the teacher as probabilities (an
ensemble's soft vote).

Example:
    >>> import torch
    >>> student = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    >>> teacher = torch.tensor([[3.0, 0.5, -2.0]])
    >>> loss = distillation_loss(student, teacher, torch.tensor([0]), temperature=2.0, alpha=0.5)
    >>> loss.backward()
    >>> round(loss.item(), 4), student.grad is not None
    (0.1615, True)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from policysearch._checks import Rule, show
from policysearch.distill.pseudo import check_probabilities
from policysearch.errors import TrainingError
from policysearch.policy import Distillation

__all__ = ["DistillationLoss", "distillation_loss", "distillation_loss_from_probs", "soften", "check_temperature",
           "check_alpha", "TEMPERATURE", "ALPHA", "DEFAULT_TEMPERATURE",
           "DEFAULT_ALPHA"]

# One source for the defaults: the policy JSON's distillation block.
DEFAULT_TEMPERATURE, DEFAULT_ALPHA = Distillation.temperature, Distillation.alpha


TEMPERATURE = Rule("number", low=0, low_open=True)  # the one rule for T, wherever it is configured
ALPHA = Rule("number", low=0, high=1)


def check_temperature(temperature: Any) -> float:
    return TEMPERATURE.check("temperature", temperature, error=TrainingError)


def check_alpha(alpha: Any) -> float:
    return ALPHA.check("alpha", alpha, error=TrainingError)


def _check_logits(student: torch.Tensor, teacher: torch.Tensor) -> None:
    for name, value in (("student_logits", student), ("teacher_logits", teacher)):
        if not isinstance(value, torch.Tensor) or value.ndim != 2:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else show(value)
            raise TrainingError(f"{name} should be a tensor of shape (N, K), but got {shape}")
    if student.shape != teacher.shape:
        raise TrainingError(
            f"teacher_logits should have the student's shape {tuple(student.shape)}, "
            f"but got {tuple(teacher.shape)}"
        )


def _check_labels(labels: Any, shape: torch.Size) -> torch.Tensor:
    """Class indices ``(N,)`` in ``[0, K)`` or soft targets ``(N, K)``."""
    if not isinstance(labels, torch.Tensor):
        raise TrainingError(f"labels should be a torch tensor, but got {show(labels)}")
    count, classes = shape
    if labels.is_floating_point():
        if tuple(labels.shape) != (count, classes):
            raise TrainingError(
                f"soft labels should have shape {(count, classes)}, but got {tuple(labels.shape)}"
            )
        return labels
    if labels.dtype == torch.bool or labels.is_complex() or tuple(labels.shape) != (count,):
        raise TrainingError(
            f"labels should be class indices of shape ({count},) or soft targets of shape "
            f"{(count, classes)}, but got dtype {labels.dtype} and shape {tuple(labels.shape)}"
        )
    # Checked here because on CUDA an index out of range is a device-side
    # assert that poisons the whole process, not a catchable error.
    if count and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise TrainingError(f"labels should be class indices in [0, {classes - 1}], but got {int(bad)}")
    return labels.long()


# --------------------------------------------------------------------------- the loss


def soften(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``softmax(logits / temperature)`` over the last dimension.

    A temperature above 1 flattens the distribution, exposing how the teacher
    ranks the wrong classes ("dark knowledge"); below 1 sharpens it.

    Example:
        >>> soften(torch.tensor([[2.0, 0.0]]), temperature=2.0).round(decimals=4)
        tensor([[0.7311, 0.2689]])
    """
    temperature = check_temperature(temperature)
    if not isinstance(logits, torch.Tensor) or logits.ndim < 1:
        raise TrainingError(f"logits should be a tensor with a class dimension, but got {show(logits)}")
    return torch.softmax(logits.float() / temperature, dim=-1)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    alpha: float = DEFAULT_ALPHA,
) -> torch.Tensor:
    """Hinton et al.'s distillation loss, a scalar averaged over the batch.

    ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
    + (1 - alpha) * CE(labels, student)``, the KL summed over classes and
    averaged over rows. ``labels`` are class indices ``(N,)`` or soft targets
    ``(N, K)`` (cross-entropy against probabilities, e.g. pseudo labels). The
    teacher's logits are detached: gradients reach the student only. The T^2
    factor keeps the soft term's gradient roughly independent of T, so alpha
    means the same at every temperature.

    Example:
        >>> student = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> distillation_loss(student, teacher, torch.tensor([0, 1]), alpha=1.0).item()
        0.0
    """
    temperature, alpha = check_temperature(temperature), check_alpha(alpha)
    _check_logits(student_logits, teacher_logits)
    labels = _check_labels(labels, student_logits.shape)
    # float32 even under autocast: a bf16 log-softmax difference is mostly noise.
    teacher_log_probs = F.log_softmax(teacher_logits.detach().float() / temperature, dim=1)
    return _combined(student_logits, teacher_log_probs.exp(), teacher_log_probs, labels, temperature, alpha)


def distillation_loss_from_probs(
    student_logits: torch.Tensor,
    teacher_probs: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    alpha: float = DEFAULT_ALPHA,
) -> torch.Tensor:
    """:func:`distillation_loss` with the teacher given as probabilities at temperature T.

    For teachers that are not one set of logits: an ensemble's soft vote
    (the mean of each teacher's ``soften(logits, T)``), or probabilities that
    CutMix/MixUp blended along with the images. Rows must sum to 1.

    Example:
        >>> student = torch.tensor([[2.0, 0.0, -1.0]])
        >>> teacher = torch.tensor([[3.0, 0.5, -2.0]])
        >>> a = distillation_loss(student, teacher, torch.tensor([0]), temperature=2.0, alpha=0.5)
        >>> b = distillation_loss_from_probs(student, soften(teacher, 2.0), torch.tensor([0]),
        ...                                  temperature=2.0, alpha=0.5)
        >>> torch.allclose(a, b)
        True
    """
    temperature, alpha = check_temperature(temperature), check_alpha(alpha)
    if not isinstance(teacher_probs, torch.Tensor):
        raise TrainingError(f"teacher_probs should be a torch tensor, but got {show(teacher_probs)}")
    _check_logits(student_logits, teacher_probs)
    probs = check_probabilities("teacher_probs", teacher_probs.detach()).float()
    labels = _check_labels(labels, student_logits.shape)
    return _combined(student_logits, probs, None, labels, temperature, alpha)


def _combined(student_logits: torch.Tensor, teacher_probs: torch.Tensor, teacher_log_probs: torch.Tensor | None,
              labels: torch.Tensor, temperature: float, alpha: float) -> torch.Tensor:
    """``alpha * T^2 * KL(teacher || student) + (1 - alpha) * CE(labels, student)``, batch means."""
    student = student_logits.float()
    student_log_probs = F.log_softmax(student / temperature, dim=1)
    # KL = sum p (log p - log q); xlogy makes 0 * log 0 = 0 for classes a
    # confident (or mixed) teacher gives no mass at all.
    own = torch.special.xlogy(teacher_probs, teacher_probs) if teacher_log_probs is None else (
        teacher_probs * teacher_log_probs)
    soft = (own - teacher_probs * student_log_probs).sum(dim=1).mean()
    hard = F.cross_entropy(student, labels.float() if labels.is_floating_point() else labels)
    return alpha * temperature**2 * soft + (1.0 - alpha) * hard


class DistillationLoss(torch.nn.Module):
    """:func:`distillation_loss` with its temperature and alpha held, for any training loop.

    Example:
        >>> criterion = DistillationLoss(temperature=2.0, alpha=0.5)
        >>> logits = torch.tensor([[2.0, 0.0, -1.0]])
        >>> round(criterion(logits, logits, torch.tensor([0])).item(), 4)
        0.0849
    """

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.alpha = check_alpha(alpha)

    def forward(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        return distillation_loss(
            student_logits, teacher_logits, labels, temperature=self.temperature, alpha=self.alpha
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"
