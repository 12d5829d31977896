"""Knowledge distillation and pseudo labels for unlabeled data.

A trained teacher (or several) labels images; a student learns from the
teacher's softened probabilities and, where there are any, the true labels:

* :func:`distillation_loss` / :class:`DistillationLoss`: Hinton et al.'s loss,
  ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(labels, student)``;
  :func:`distillation_loss_from_probs` takes the teacher as probabilities.
* :func:`teacher_probabilities`: a teacher's softmax over numpy uint8 images.
* :class:`Teaching`: one or several teachers teaching a student in training.
* Pseudo labels (:func:`pseudo_label`, :func:`vote_pseudo_labels`,
  :func:`balance_classes`, ...) live in :mod:`policysearch.pseudo` and are
  importable from here too.

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

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from policysearch.errors import TrainingError
from policysearch.policy import Distillation
# The pseudo-label functions are part of this module's interface too.
from policysearch.pseudo import (PseudoLabels, _check_probabilities, agreement_with_truth, balance_classes,
                                 hard_vote, pseudo_label, soft_vote, vote_pseudo_labels)
from policysearch.schema import check_int, check_number, show
from policysearch.train import resolve_device, to_float_batch

__all__ = [
    "PseudoLabels",
    "DistillationLoss",
    "distillation_loss",
    "distillation_loss_from_probs",
    "soften",
    "pseudo_label",
    "vote_pseudo_labels",
    "balance_classes",
    "soft_vote",
    "hard_vote",
    "agreement_with_truth",
    "teacher_probabilities",
    "teacher_logits",
    "at_model_size",
    "Teaching",
    "TEACHER_VIEWS",
]

# "augmented": teachers see the student's augmented (and mixed) batch, a
# consistent view that costs a teacher forward pass per batch; "clean": they
# see each original image once, and their probabilities are cached.
TEACHER_VIEWS = ("augmented", "clean")
# One source for the defaults: the policy JSON's distillation block.
DEFAULT_TEMPERATURE, DEFAULT_ALPHA = Distillation.temperature, Distillation.alpha


# --------------------------------------------------------------------------- checks


def _check_temperature(temperature: Any) -> float:
    return check_number("temperature", temperature, low=0, low_open=True, error=TrainingError)


def _check_alpha(alpha: Any) -> float:
    return check_number("alpha", alpha, low=0, high=1, error=TrainingError)


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
    temperature = _check_temperature(temperature)
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
    temperature, alpha = _check_temperature(temperature), _check_alpha(alpha)
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
    temperature, alpha = _check_temperature(temperature), _check_alpha(alpha)
    if not isinstance(teacher_probs, torch.Tensor):
        raise TrainingError(f"teacher_probs should be a torch tensor, but got {show(teacher_probs)}")
    _check_logits(student_logits, teacher_probs)
    probs = _check_probabilities("teacher_probs", teacher_probs.detach()).float()
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
        self.temperature = _check_temperature(temperature)
        self.alpha = _check_alpha(alpha)

    def forward(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        return distillation_loss(
            student_logits, teacher_logits, labels, temperature=self.temperature, alpha=self.alpha
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"


# --------------------------------------------------------------------------- the teacher


def _check_images(images: Any) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim not in (3, 4):
        detail = (
            f"dtype {images.dtype} and shape {images.shape}" if isinstance(images, np.ndarray) else show(images)
        )
        raise TrainingError(f"images should be a uint8 array of shape NHWC or NHW, but got {detail}")
    if len(images) == 0:
        raise TrainingError("images should hold at least one image, but got 0")
    return images


def at_model_size(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` (float NCHW) resized to the model's working ``image_size``, if it has one and differs.

    A teacher fine-tuned on larger images (EfficientNet at 64 px, say) can
    teach a student that works at 32 px: it sees the same images, enlarged
    bilinearly as the data loader enlarges small images.
    """
    size = getattr(model, "image_size", None)
    if not isinstance(size, int) or tuple(x.shape[-2:]) == (size, size):
        return x
    resized = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    return resized.contiguous(memory_format=torch.channels_last)


def teacher_logits(
    model: torch.nn.Module,
    images: np.ndarray,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """``model(images)`` as a float32 ``(N, K)`` tensor on the CPU.

    ``images`` are numpy uint8 NHWC (or NHW), resized to the model's own
    image size if it has another (:func:`at_model_size`). The model runs in
    eval mode (no dropout, batch-norm running statistics) under
    ``torch.inference_mode``, and gets its previous train/eval mode back
    afterwards, even on an error. ``device``: a torch device or one of
    ``auto``, ``cpu``, ``cuda``, ``mps``; the model is expected to be there already.

    Example:
        >>> from policysearch.models import build_model
        >>> model = build_model("tiny-cnn", 3, image_size=16, weights=None, seed=0)
        >>> teacher_logits(model, np.zeros((5, 16, 16, 3), dtype=np.uint8)).shape
        torch.Size([5, 3])
    """
    batch_size = check_int("batch_size", batch_size, low=1, error=TrainingError)
    images = _check_images(images)
    device = resolve_device(device) if isinstance(device, str) else device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            chunks = [
                model(at_model_size(model, to_float_batch(images[start : start + batch_size], device))).float().cpu()
                for start in range(0, len(images), batch_size)
            ]
    finally:
        model.train(was_training)
    return torch.cat(chunks)


def teacher_probabilities(
    model: torch.nn.Module,
    images: np.ndarray,
    *,
    temperature: float = 1.0,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """``softmax(model(images) / temperature)`` as a float32 ``(N, K)`` tensor on the CPU.

    The model runs as :func:`teacher_logits` runs it.

    Example:
        >>> from policysearch.models import build_model
        >>> model = build_model("tiny-cnn", 3, image_size=16, weights=None, seed=0)
        >>> images = np.zeros((5, 16, 16, 3), dtype=np.uint8)
        >>> teacher_probabilities(model, images, temperature=2.0).shape
        torch.Size([5, 3])
    """
    temperature = _check_temperature(temperature)
    return soften(teacher_logits(model, images, batch_size=batch_size, device=device), temperature)


# --------------------------------------------------------------------------- teaching a student


@dataclass(frozen=True, eq=False)
class Teaching:
    """How one or several trained teachers teach a student during training.

    The student's loss is :func:`distillation_loss_from_probs` against the
    soft vote of the teachers' probabilities at ``temperature``. With
    ``view="clean"`` the teachers see the un-augmented images once, and
    their probabilities are cached beside the targets (CutMix/MixUp then
    blends them with the same weights as the images); with ``"augmented"``
    they see exactly the batch the student sees. Teachers always run in eval
    mode without gradients.

    Example:
        >>> from policysearch.models import build_model
        >>> teacher = build_model("tiny-cnn", 3, image_size=16, weights=None, seed=0)
        >>> teaching = Teaching((teacher,), temperature=2.0, alpha=0.5, view="clean")
        >>> rows = teaching.rows(np.zeros((4, 16, 16, 3), np.uint8), np.array([0, 1, 2, 0]), 3)
        >>> rows.shape  # one-hot targets, then the cached teacher probabilities
        (4, 6)
    """

    teachers: tuple[torch.nn.Module, ...]
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA
    view: str = "augmented"
    # Each teacher's logits for the training images (view "clean"), when
    # already computed: for pseudo labels, or once for all trials of a search.
    clean_logits: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        teachers = tuple(self.teachers) if isinstance(self.teachers, (list, tuple)) else (self.teachers,)
        if not teachers or not all(isinstance(t, torch.nn.Module) for t in teachers):
            raise TrainingError(f"teachers should be one or more torch modules, but got {show(self.teachers)}")
        object.__setattr__(self, "teachers", teachers)
        object.__setattr__(self, "temperature", _check_temperature(self.temperature))
        object.__setattr__(self, "alpha", _check_alpha(self.alpha))
        if self.view not in TEACHER_VIEWS:
            raise TrainingError(f"view should be one of {', '.join(TEACHER_VIEWS)}, but got {show(self.view)}")

    def prepare(self, device: torch.device | str) -> None:
        """Move the teachers to ``device``, frozen and in eval mode."""
        for teacher in self.teachers:
            teacher.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Soft vote of the teachers' ``softmax(logits / T)`` on a float NCHW batch.

        ``no_grad`` rather than ``inference_mode``: the result is saved by
        the student's loss for its backward pass, which inference tensors forbid.
        """
        with torch.no_grad():
            probs = [soften(teacher.eval()(at_model_size(teacher, x)), self.temperature) for teacher in self.teachers]
        return probs[0] if len(probs) == 1 else torch.stack(probs).mean(dim=0)

    def rows(self, images: np.ndarray, targets: np.ndarray, num_classes: int,
             device: torch.device | str = "cpu") -> np.ndarray:
        """Float training rows: the targets as ``(N, K)`` probabilities, then
        (``view="clean"``) the teachers' cached probabilities ``(N, K)``."""
        targets = np.asarray(targets)
        if targets.ndim == 1:
            targets = np.eye(num_classes, dtype=np.float32)[targets]
        targets = targets.astype(np.float32, copy=False)
        if self.view == "augmented":
            return targets
        logits = self.clean_logits
        if logits is None:
            logits = [teacher_logits(t, images, device=device) for t in self.teachers]
        elif len(logits) != len(self.teachers) or any(len(one) != len(images) for one in logits):
            raise TrainingError(
                f"clean_logits should hold one (N, K) array per teacher for the {len(images)} training images, "
                f"but got lengths {[len(one) for one in logits]} for {len(self.teachers)} teacher(s)"
            )
        probs = [soften(torch.as_tensor(one), self.temperature).numpy() for one in logits]
        cached = probs[0] if len(probs) == 1 else np.mean(probs, axis=0, dtype=np.float32)
        return np.concatenate([targets, cached.astype(np.float32)], axis=1)

    def loss(self, student_logits: torch.Tensor, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The student's loss on a batch ``x`` with its (mixed) training ``rows``."""
        classes = student_logits.shape[1]
        targets = rows[:, :classes]
        teacher = rows[:, classes:] if self.view == "clean" else self.probabilities(x)
        return distillation_loss_from_probs(student_logits, teacher, targets,
                                            temperature=self.temperature, alpha=self.alpha)
