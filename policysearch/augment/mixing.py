"""CutMix and MixUp on batches of torch images, mixing the labels with them.

Example:
    >>> import torch
    >>> from policysearch.augment.mixing import BatchMix
    >>> mix = BatchMix("mixup", num_classes=3, prob=1.0, rng=0)
    >>> mix(torch.zeros(2, 1, 4, 4), torch.tensor([0, 2]))[1].sum(1).tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from policysearch._checks import check_choice, check_int, check_number
from policysearch.augment.randaugment import as_generator
from policysearch.errors import DataError

__all__ = ["BatchMix", "MixDraw", "MIXING_KINDS"]

MIXING_KINDS = ("cutmix", "mixup")


@dataclass(frozen=True)
class MixDraw:
    """One batch's random mixing choices: whether to mix, lam, the pairing, CutMix's box centre."""

    applied: bool
    lam: float = 1.0
    perm: Optional[np.ndarray] = None
    centre: tuple[int, int] = (0, 0)


class BatchMix:
    """CutMix or MixUp on a batch of torch images, mixing the labels too.

    With probability ``prob`` per batch, draws lam ~ Beta(alpha, alpha) and a
    random pairing of the batch; MixUp blends whole images, CutMix pastes a
    box covering a fraction 1 - lam of the image (lam is then corrected to the
    box actually pasted after clipping at the borders). Targets come back as
    soft labels of shape (N, num_classes) summing to 1; float targets of shape
    (N, D) (soft labels, pseudo labels, a teacher's probabilities) are mixed
    with the same pairing and weight.

    Example:
        >>> import torch
        >>> mix = BatchMix("cutmix", num_classes=10, prob=1.0, alpha=1.0, rng=0)
        >>> x, y = mix(torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
        >>> y.shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        kind: str,
        *,
        num_classes: int,
        prob: float = 1.0,
        alpha: float = 1.0,
        rng: Any = None,
    ) -> None:
        self.kind = check_choice("mixing.kind", kind, MIXING_KINDS)
        self.num_classes = check_int("num_classes", num_classes, low=1)
        self.prob = check_number("mixing.prob", prob, low=0.0, high=1.0)
        self.alpha = check_number("mixing.alpha", alpha, low=0.0, low_open=True)
        self.rng = as_generator(rng)

    def draw(self, batch_size: int, height: int, width: int) -> MixDraw:
        """The random choices for one batch, without touching it.

        A producer thread can draw them in batch order while the model trains
        on an earlier batch; :meth:`apply` then mixes with them. The generator
        calls are those :meth:`__call__` makes, in its order.

        Example:
            >>> BatchMix("mixup", num_classes=2, prob=0.0, rng=0).draw(4, 8, 8).applied
            False
        """
        if self.rng.random() >= self.prob or batch_size < 2:
            return MixDraw(False)
        lam = float(self.rng.beta(self.alpha, self.alpha))
        perm = self.rng.permutation(batch_size)
        if self.kind == "mixup":
            return MixDraw(True, lam, perm)
        cy, cx = int(self.rng.integers(height)), int(self.rng.integers(width))
        return MixDraw(True, lam, perm, (cy, cx))

    def __call__(self, images: Any, labels: Any) -> tuple[Any, Any]:
        _check_batch(images, labels)  # before drawing: bad input leaves the generator where it was
        return self.apply(images, labels, self.draw(images.shape[0], *images.shape[-2:]))

    def apply(self, images: Any, labels: Any, draw: MixDraw) -> tuple[Any, Any]:
        """Mix a batch with the choices :meth:`draw` made for it."""
        import torch

        soft = _check_batch(images, labels)
        # Float rows (soft labels, or a teacher's probabilities beside them)
        # are mixed as they are: mixing is linear, so any columns can ride along.
        targets = labels.float() if soft else torch.nn.functional.one_hot(labels.long(), self.num_classes).float()
        if not draw.applied:
            return images, targets
        lam = draw.lam
        perm = torch.from_numpy(draw.perm).to(images.device)
        if self.kind == "mixup":
            mixed = images.float() * lam + images[perm].float() * (1.0 - lam)
            images = mixed.round().to(images.dtype) if not images.is_floating_point() else mixed.to(images.dtype)
        else:
            images, lam = _cutmix(images, perm, lam, draw.centre)
        targets = targets * lam + targets[perm] * (1.0 - lam)
        return images, targets


def _check_batch(images: Any, labels: Any) -> bool:
    """Validate a batch and its rows; True when the rows are float targets (N, D)."""
    soft = labels.ndim == 2 and labels.is_floating_point()
    if images.ndim != 4 or not (labels.ndim == 1 or soft) or labels.shape[0] != images.shape[0]:
        raise DataError(
            "BatchMix takes images NxCxHxW and labels N (or float targets NxD), but got shapes "
            f"{tuple(images.shape)} and {tuple(labels.shape)}"
        )
    return bool(soft)


def _cutmix(images: Any, perm: Any, lam: float, centre: tuple[int, int]) -> tuple[Any, float]:
    height, width = images.shape[-2:]
    cut = math.sqrt(1.0 - lam)  # the box covers (1 - lam) of the area
    box_h, box_w = int(round(height * cut)), int(round(width * cut))
    cy, cx = centre
    y0, y1 = max(cy - box_h // 2, 0), min(cy + box_h - box_h // 2, height)
    x0, x1 = max(cx - box_w // 2, 0), min(cx + box_w - box_w // 2, width)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[perm, :, y0:y1, x0:x1]
    return mixed, 1.0 - (y1 - y0) * (x1 - x0) / float(height * width)
