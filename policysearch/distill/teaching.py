"""Teachers at work: their logits and probabilities over images, and :class:`Teaching` a student in training.

* :func:`teacher_logits` / :func:`teacher_probabilities`: a teacher's outputs over numpy uint8 images.
* :class:`Teaching`: one or several teachers teaching a student, through
  :class:`~policysearch.distill.loss.DistillationLoss`, with either view of the batch;
  the clean view keeps the teachers' outputs by the images they were computed for.

Example:
    >>> import numpy as np
    >>> from policysearch.models import build_model
    >>> teacher = build_model("tiny-cnn", 3, weights=None, image_size=8).eval()
    >>> tuple(teacher_probabilities(teacher, np.zeros((2, 8, 8, 1), np.uint8), device="cpu").shape)
    (2, 3)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from policysearch._checks import check_int, show
from policysearch.distill.loss import (
    DEFAULT_ALPHA,
    DEFAULT_TEMPERATURE,
    check_alpha,
    check_temperature,
    distillation_loss_from_probs,
    soften,
)
from policysearch.errors import TrainingError
from policysearch.training import resolve_device, to_float_batch

__all__ = ["teacher_probabilities", "teacher_logits", "at_model_size", "images_key", "Teaching",
           "TEACHER_VIEWS"]

# "augmented": teachers see the student's augmented (and mixed) batch, a
# consistent view that costs a teacher forward pass per batch; "clean": they
# see each original image once, and their probabilities are cached.
TEACHER_VIEWS = ("augmented", "clean")


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
    temperature = check_temperature(temperature)
    return soften(teacher_logits(model, images, batch_size=batch_size, device=device), temperature)


# --------------------------------------------------------------------------- teaching a student


def images_key(images: np.ndarray) -> tuple[tuple[int, ...], str]:
    """What identifies a set of uint8 images: their shape and a hash of their pixels.

    Cheap next to a teacher's forward pass (SHA-256 runs at about 0.5 GB/s),
    and unlike an array's identity it still holds after a copy, and breaks
    when the pixels change.

    Example:
        >>> a = np.zeros((2, 4, 4, 3), np.uint8)
        >>> images_key(a) == images_key(a.copy()), images_key(a) == images_key(a[::-1] + 1)
        (True, False)
    """
    images = np.ascontiguousarray(_check_images(images))
    return tuple(images.shape), hashlib.sha256(memoryview(images).cast("B")).hexdigest()


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

    The clean view's teacher logits are kept by the images they were
    computed for (:func:`images_key`): a search's trials reuse the proxy's,
    and its rung and verdict, which train on other images, get theirs
    computed once each. ``clean_logits`` (one ``(N, K)`` array per teacher)
    seeds that store for ``clean_images``, when the caller has them already.
    Copies made with :func:`dataclasses.replace` (another temperature, say)
    share the store: teacher logits do not depend on the temperature.

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
    # Each teacher's logits for clean_images, when already computed (for pseudo labels, say).
    clean_logits: tuple[Any, ...] | None = None
    clean_images: np.ndarray | None = None
    # Teacher logits by (the teachers, images_key(images)). Logits are K floats an
    # image, far smaller than the images, and a search meets few image sets (the
    # proxy's, the rung's, one a verdict seed), so nothing is evicted.
    cache: dict[Any, tuple[torch.Tensor, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        teachers = tuple(self.teachers) if isinstance(self.teachers, (list, tuple)) else (self.teachers,)
        if not teachers or not all(isinstance(t, torch.nn.Module) for t in teachers):
            raise TrainingError(f"teachers should be one or more torch modules, but got {show(self.teachers)}")
        object.__setattr__(self, "teachers", teachers)
        object.__setattr__(self, "temperature", check_temperature(self.temperature))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        if self.view not in TEACHER_VIEWS:
            raise TrainingError(f"view should be one of {', '.join(TEACHER_VIEWS)}, but got {show(self.view)}")
        if not isinstance(self.cache, dict):
            raise TrainingError(f"cache should be a dict, but got {show(self.cache)}")
        if self.clean_logits is not None:
            self._remember(self.clean_images, self.clean_logits)

    def _remember(self, images: Any, logits: Any) -> None:
        """Seed the store with ``logits`` given for ``images``, checked against them."""
        if images is None:
            raise TrainingError("clean_logits should come with clean_images, the images they were computed for, "
                                "but got clean_images=None")
        images = _check_images(images)
        logits = tuple(logits) if isinstance(logits, (list, tuple)) else (logits,)
        if len(logits) != len(self.teachers) or any(len(one) != len(images) for one in logits):
            raise TrainingError(
                f"clean_logits should hold one (N, K) array per teacher for the {len(images)} clean_images, "
                f"but got lengths {[len(one) for one in logits]} for {len(self.teachers)} teacher(s)"
            )
        self.cache[self._key(images)] = tuple(torch.as_tensor(one).float() for one in logits)

    def _key(self, images: np.ndarray) -> tuple[Any, ...]:
        # The teachers are part of the key: a copy given other teachers must not reuse these logits.
        return tuple(id(t) for t in self.teachers), images_key(images)

    def clean_logits_for(self, images: np.ndarray, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """Each teacher's logits over ``images`` (uint8 NHWC), computed on ``device`` the first time these
        images are seen and kept for the next.

        Example:
            >>> from policysearch.models import build_model
            >>> teaching = Teaching(build_model("tiny-cnn", 3, image_size=8, weights=None, seed=0), view="clean")
            >>> images = np.zeros((5, 8, 8, 3), np.uint8)
            >>> first = teaching.clean_logits_for(images)
            >>> first[0].shape, teaching.clean_logits_for(images.copy()) is first, len(teaching.cache)
            (torch.Size([5, 3]), True, 1)
        """
        key = self._key(_check_images(images))
        found = self.cache.get(key)
        if found is None:
            found = tuple(teacher_logits(t, images, device=device) for t in self.teachers)
            self.cache[key] = found
        return found

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
        (``view="clean"``) the teachers' probabilities over these very ``images`` ``(N, K)``."""
        targets = np.asarray(targets)
        if targets.ndim == 1:
            targets = np.eye(num_classes, dtype=np.float32)[targets]
        targets = targets.astype(np.float32, copy=False)
        if self.view == "augmented":
            return targets
        probs = [soften(one, self.temperature).numpy() for one in self.clean_logits_for(images, device)]
        cached = probs[0] if len(probs) == 1 else np.mean(probs, axis=0, dtype=np.float32)
        return np.concatenate([targets, cached.astype(np.float32)], axis=1)

    def loss(self, student_logits: torch.Tensor, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The student's loss on a batch ``x`` with its (mixed) training ``rows``."""
        classes = student_logits.shape[1]
        targets = rows[:, :classes]
        teacher = rows[:, classes:] if self.view == "clean" else self.probabilities(x)
        return distillation_loss_from_probs(student_logits, teacher, targets,
                                            temperature=self.temperature, alpha=self.alpha)
