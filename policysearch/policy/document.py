"""The frozen :class:`Policy` and its version-1 JSON document.

A policy is what a search finds and what a user imports: an optional
pre-stage (a horizontal flip and a padded random crop, applied to every image
first), RandAugment's number of operations N and magnitude bin M over an
operation set (or TrivialAugmentWide), optional per-op bounds on the bins,
optional batch mixing (CutMix / MixUp), and the transfer-learning
learning-rate split. The
JSON is data only: loading parses it with :mod:`json`, validates every field,
and never executes or unpickles anything.

Example:
    >>> from policysearch.policy import Policy, load_policy
    >>> p = Policy(num_ops=2, magnitude=9)
    >>> load_policy(p.to_json()) == p
    True
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import policysearch._checks as checks
from policysearch._io import write_json_atomic
from policysearch.augment.geometry import INTERPOLATIONS
from policysearch.augment.mixing import MIXING_KINDS, BatchMix
from policysearch.augment.ops import OPS, TORCHVISION_OPS, check_op_bins
from policysearch.augment.prestage import STANDARD_CROP_BIN, Chain, PreStage
from policysearch.augment.randaugment import RandAugment, as_generator
from policysearch.augment.trivialaugment import TrivialAugmentWide
from policysearch.errors import PolicyError
from policysearch.policy import convert, formats, to_albumentations, to_kornia
from policysearch.policy.score import Score

__all__ = [
    "FORMAT",
    "VERSION",
    "APPROACHES",
    "MIXING_KINDS",
    "INTERPOLATIONS",
    "Mixing",
    "Transfer",
    "Distillation",
    "Score",
    "Provenance",
    "Policy",
    "STANDARD_CROP_BIN",
]

FORMAT = "policysearch.policy"
VERSION = 1
APPROACHES = ("linear_probe", "finetune")
# Says in the document itself which scale M is on (timm uses 0-10 instead).
MAGNITUDE_SCALE = "torchvision-bins"
# RandAugment: N ops at bin M. TrivialAugmentWide: one op per image at a uniform bin of the wide table.
AUGMENTATION_KINDS = ("randaugment", "trivialaugment")
WIDE_MAGNITUDE_SCALE = "torchvision-wide"


@dataclass(frozen=True)
class Mixing:
    """Batch mixing: CutMix or MixUp with probability ``prob``, Beta(alpha, alpha)."""

    kind: str = "cutmix"
    prob: float = 0.5
    alpha: float = 1.0

    def __post_init__(self) -> None:
        checks.check_choice("mixing.kind", self.kind, MIXING_KINDS)
        checks.check_number("mixing.prob", self.prob, low=0.0, high=1.0)
        checks.check_number("mixing.alpha", self.alpha, low=0.0, low_open=True)


@dataclass(frozen=True)
class Transfer:
    """The transfer-learning approach and its learning rates.

    ``linear_probe`` freezes the pretrained backbone and trains only the new
    head (``backbone_lr`` is None); ``finetune`` trains both, the backbone at
    its own, usually smaller, learning rate.
    """

    approach: str = "finetune"
    head_lr: float = 1e-3
    backbone_lr: float | None = 1e-4

    def __post_init__(self) -> None:
        checks.check_choice("transfer.approach", self.approach, APPROACHES)
        checks.check_number("transfer.head_lr", self.head_lr, low=0.0, low_open=True)
        if self.approach == "linear_probe":
            if self.backbone_lr is not None:
                raise PolicyError(
                    "transfer.backbone_lr should be null for approach 'linear_probe' "
                    f"(the backbone is frozen), but got {self.backbone_lr!r}"
                )
        else:
            checks.check_number(
                "transfer.backbone_lr", self.backbone_lr, low=0.0, low_open=True
            )


@dataclass(frozen=True)
class Distillation:
    """Knowledge-distillation settings a search found (or a user chose).

    The student's loss is ``alpha * T^2 * KL(teacher_T || student_T)
    + (1 - alpha) * CE``, T the softmax ``temperature``; see
    :func:`policysearch.distill.distillation_loss`.
    """

    temperature: float = 4.0
    alpha: float = 0.9

    def __post_init__(self) -> None:
        checks.check_number("distillation.temperature", self.temperature, low=0.0, low_open=True)
        checks.check_number("distillation.alpha", self.alpha, low=0.0, high=1.0)


@dataclass(frozen=True)
class Provenance:
    """Where a policy came from. Every field is optional."""

    study: str | None = None
    storage: str | None = None  # with any password removed before saving
    trial: int | None = None
    dataset: str | None = None
    model: str | None = None
    image_size: int | None = None
    budget: Mapping[str, Any] = field(default_factory=dict, hash=False)
    versions: Mapping[str, str] = field(default_factory=dict, hash=False)
    created: str | None = None

    def __post_init__(self) -> None:
        for name in ("study", "storage", "dataset", "model", "created"):
            checks.check_optional_str(f"provenance.{name}", getattr(self, name))
        checks.check_optional_int("provenance.trial", self.trial, low=0)
        checks.check_optional_int("provenance.image_size", self.image_size, low=1)
        object.__setattr__(
            self, "budget", checks.check_scalar_map("provenance.budget", self.budget)
        )
        object.__setattr__(
            self, "versions", checks.check_str_map("provenance.versions", self.versions)
        )


@dataclass(frozen=True)
class Policy:
    """An augmentation policy (RandAugment or TrivialAugmentWide) with transfer-learning settings.

    Magnitudes are torchvision's: M is an integer bin in
    ``[0, num_magnitude_bins - 1]``; over torchvision's 14 operations the
    policy equals ``torchvision.transforms.v2.RandAugment(num_ops, magnitude)``.
    ``kind="trivialaugment"`` is ``v2.TrivialAugmentWide``: one op per image at
    a uniformly random bin of the wide ranges (``num_ops``/``magnitude`` unused).

    Before the ops, every image goes through the pre-stage: ``flip`` flips it
    with probability 1/2 (``v2.RandomHorizontalFlip``), ``crop`` (a bin of the
    RandomCrop op, 0 = off) pads and crops it at a uniform offset
    (``v2.RandomCrop(size, padding=p)``, p from the op's table: 4 pixels at 32
    for :data:`STANDARD_CROP_BIN`). ``Policy(num_ops=0, flip=True,
    crop=STANDARD_CROP_BIN)`` is the classic fine-tuning augmentation.

    ``op_bins`` bounds ops' bins, ``{"Rotate": (0, 10)}``: the bin an op is
    applied at is clamped to its bounds (RandAugment: M; TrivialAugmentWide:
    the uniformly drawn bin, so the draws outside the bounds land on them).

    Example:
        >>> p = Policy(num_ops=2, magnitude=9)
        >>> p.to_json()["augmentation"]["num_ops"]
        2
        >>> import numpy as np
        >>> p.transform(rng=0)(np.zeros((32, 32, 3), np.uint8)).shape
        (32, 32, 3)
    """

    num_ops: int = 2
    magnitude: int = 9
    num_magnitude_bins: int = 31
    ops: tuple[str, ...] = TORCHVISION_OPS
    interpolation: str = "nearest"
    fill: int | tuple[int, ...] = 0
    mixing: Mixing | None = None
    transfer: Transfer = field(default_factory=Transfer)
    distillation: Distillation | None = None  # only for a student taught by a teacher
    score: Score | None = None
    provenance: Provenance | None = None
    kind: str = "randaugment"
    # The pre-stage, before the ops: a horizontal flip with probability 1/2, a padded random crop at this bin.
    flip: bool = False
    crop: int = 0
    # Per-op (lo, hi) bins the ops are applied within; JSON ``augmentation.op_bins``.
    op_bins: Mapping[str, tuple[int, int]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        checks.check_choice("augmentation.kind", self.kind, AUGMENTATION_KINDS)
        if self.kind == "trivialaugment":
            # One op per image at a random bin: N and M do not apply; fixed so that equal policies compare equal.
            object.__setattr__(self, "num_ops", 1)
            object.__setattr__(self, "magnitude", 0)
        bins = checks.check_int("augmentation.num_magnitude_bins", self.num_magnitude_bins, low=2)
        checks.check_int("augmentation.num_ops", self.num_ops, low=0)
        checks.check_int("augmentation.magnitude", self.magnitude, low=0, high=bins - 1)
        object.__setattr__(self, "ops", _check_ops(self.ops))
        if not isinstance(self.flip, bool):
            raise PolicyError(f"augmentation.flip should be true or false, but got {self.flip!r}")
        checks.check_int("augmentation.crop", self.crop, low=0, high=bins - 1)
        object.__setattr__(self, "op_bins", check_op_bins("augmentation.op_bins", self.op_bins, self.ops, bins))
        checks.check_choice("augmentation.interpolation", self.interpolation, INTERPOLATIONS)
        object.__setattr__(self, "fill", _check_fill(self.fill))
        for name, kind in (("mixing", Mixing), ("distillation", Distillation), ("score", Score),
                           ("provenance", Provenance)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise PolicyError(f"{name} should be a {kind.__name__} or None, but got {value!r}")
        if not isinstance(self.transfer, Transfer):
            raise PolicyError(f"transfer should be a Transfer, but got {self.transfer!r}")

    @property
    def augments(self) -> bool:
        """Whether the policy changes images at all: a flip, a crop, or ops to apply.

        Example:
            >>> Policy(num_ops=0).augments, Policy(num_ops=0, flip=True).augments
            (False, True)
        """
        return self.flip or self.crop > 0 or self.num_ops > 0

    @property
    def has_prestage(self) -> bool:
        """Whether images are flipped or cropped before the ops."""
        return self.flip or self.crop > 0

    def bin_range(self, name: str) -> tuple[int, int]:
        """The (lo, hi) bins op ``name`` is applied within: its bounds, or every bin.

        Example:
            >>> Policy(op_bins={"Rotate": (0, 10)}).bin_range("Rotate"), Policy().bin_range("Rotate")
            ((0, 10), (0, 30))
        """
        return tuple(self.op_bins.get(name, (0, self.num_magnitude_bins - 1)))  # type: ignore[return-value]

    def op_bin(self, name: str) -> int:
        """The bin RandAugment applies op ``name`` at: M clamped to the op's bounds.

        Example:
            >>> Policy(num_ops=2, magnitude=20, op_bins={"Rotate": (0, 10)}).op_bin("Rotate")
            10
        """
        low, high = self.bin_range(name)
        return min(max(self.magnitude, low), high)

    # -- conversions -----------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The version-1 JSON document as a plain dict (see :func:`load_policy`)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "augmentation": self._augmentation_json(),
            "mixing": None if self.mixing is None else _plain(self.mixing),
            "transfer": _plain(self.transfer),
            # Only in a distilled student's policy: other documents stay as they were.
            **({} if self.distillation is None else {"distillation": _plain(self.distillation)}),
            "score": None if self.score is None else _without_empty_rung(_plain(self.score)),
            "provenance": None if self.provenance is None else _plain(self.provenance),
        }

    def _augmentation_json(self) -> dict[str, Any]:
        strength = ({"num_ops": self.num_ops, "magnitude": self.magnitude} if self.kind == "randaugment" else {})
        return {
            "kind": self.kind,
            **strength,
            "num_magnitude_bins": self.num_magnitude_bins,
            "magnitude_scale": MAGNITUDE_SCALE if self.kind == "randaugment" else WIDE_MAGNITUDE_SCALE,
            "ops": list(self.ops),
            "interpolation": self.interpolation,
            "fill": self.fill if isinstance(self.fill, int) else list(self.fill),
            # Written only when set, so that every document written before them stays byte for byte the same.
            **({"flip": True} if self.flip else {}),
            **({"crop": self.crop} if self.crop else {}),
            **({"op_bins": {name: list(b) for name, b in self.op_bins.items()}} if self.op_bins else {}),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON atomically (temporary file + rename); returns the path.

        Example:
            >>> import tempfile
            >>> path = Policy().save(f"{tempfile.mkdtemp()}/mine/best_policy.json")
            >>> path.name
            'best_policy.json'
        """
        return write_json_atomic(path, self.to_json())

    def transform(self, rng: Any = None) -> Callable[[Any], Any]:
        """The per-image augmentation for numpy HWC/HW uint8, PIL, or torch CHW uint8 (same type out):
        the pre-stage (flip, then crop) and then RandAugment or TrivialAugmentWide, all drawing from ``rng``
        (an int, a ``numpy.random.Generator`` or None). Without a pre-stage it is the RandAugment or
        TrivialAugmentWide itself; with one, a :class:`~policysearch.augment.prestage.Chain`. Either has
        ``state_dict()``/``load_state_dict()`` for its pending draws.

        Example:
            >>> type(Policy(kind="trivialaugment").transform(rng=0)).__name__
            'TrivialAugmentWide'
            >>> Policy(num_ops=0, flip=True, crop=STANDARD_CROP_BIN).transform(rng=0)
            Chain([PreStage(flip=True, crop=15)])
        """
        if not self.has_prestage:
            return self._ops_transform(rng)
        generator = as_generator(rng)  # one generator for both stages
        pre = PreStage(flip=self.flip, crop=self.crop, num_bins=self.num_magnitude_bins, fill=self.fill,
                       rng=generator)
        return Chain([pre] if self.num_ops == 0 else [pre, self._ops_transform(generator)])

    def _ops_transform(self, rng: Any) -> Any:
        settings = dict(ops=self.ops, num_bins=self.num_magnitude_bins, interpolation=self.interpolation,
                        fill=self.fill, rng=rng, op_bins=self.op_bins)
        if self.kind == "trivialaugment":
            return TrivialAugmentWide(**settings)
        return RandAugment(self.num_ops, self.magnitude, **settings)

    def batch_mixer(self, num_classes: int, rng: Any = None) -> Any:
        """The policy's CutMix/MixUp as a batch transform, or None without mixing."""
        if self.mixing is None:
            return None

        return BatchMix(
            self.mixing.kind,
            num_classes=num_classes,
            prob=self.mixing.prob,
            alpha=self.mixing.alpha,
            rng=rng,
        )

    def to_torchvision(self, image_size: int | None = None) -> Any:
        """The torchvision.transforms.v2 equivalent: RandAugment or TrivialAugmentWide, or with a pre-stage, an
        op subset or bounds an exact ``v2.Compose`` (a crop's padding needs ``image_size`` or the policy's own);
        see :mod:`.to_torchvision`."""
        return convert.to_torchvision(self, image_size)

    def to_torchvision_mixing(self, num_classes: int | None = None) -> Any:
        """The batch mixing as torchvision v2 (approximate), or None; see :func:`.convert.to_torchvision_mixing`."""
        return convert.to_torchvision_mixing(self, num_classes)

    def to_albumentations(self) -> Any:
        """An approximate albumentations ``Compose``; see :mod:`.to_albumentations`."""
        return to_albumentations.to_albumentations(self)

    def to_kornia(self, image_size: int | None = None) -> Any:
        """An approximate Kornia ``RandAugment``/``TrivialAugment`` module; see :mod:`.to_kornia`."""
        return to_kornia.to_kornia(self, image_size)

    def export(self, path: str | os.PathLike[str], format: str = "json") -> Path:
        """Write the policy in an export format (json, torchvision, timm, albumentations, kornia), atomically.

        Example:
            >>> import tempfile
            >>> Policy().export(f"{tempfile.mkdtemp()}/ra.py", "kornia").name
            'ra.py'
        """
        return formats.write_export(self, format, path)

    def to_timm(self) -> str:
        """An approximate timm ``rand-...`` config string; see :func:`.convert.to_timm`.

        Example:
            >>> Policy(num_ops=2, magnitude=9).to_timm()
            'rand-m3-n2-mstd0-inc1-p1.0'
        """
        return convert.to_timm(self)

    def param_groups(
        self, backbone_params: Iterable[Any], head_params: Iterable[Any]
    ) -> list[dict[str, Any]]:
        """Optimizer parameter groups with the split learning rates.

        The head always gets ``head_lr``. Under ``finetune`` the backbone gets
        ``backbone_lr``; under ``linear_probe`` it is frozen and gets no group
        (the caller also sets ``requires_grad=False`` on it).

        Example:
            >>> import torch
            >>> from policysearch.models import build_model
            >>> model = build_model("tiny-cnn", 10, weights=None)
            >>> groups = Policy().param_groups(model.backbone.parameters(), model.head.parameters())
            >>> [(g["name"], g["lr"]) for g in torch.optim.AdamW(groups).param_groups]
            [('head', 0.001), ('backbone', 0.0001)]
        """
        groups = [{"params": list(head_params), "lr": self.transfer.head_lr, "name": "head"}]
        if self.transfer.approach == "finetune":
            groups.append(
                {
                    "params": list(backbone_params),
                    "lr": self.transfer.backbone_lr,
                    "name": "backbone",
                }
            )
        return groups

    def with_score(self, score: Score, provenance: Provenance | None = None) -> Policy:
        """A copy carrying a score (and provenance), as the exporter writes it."""
        return replace(self, score=score, provenance=provenance or self.provenance)


def _check_ops(ops: Any) -> tuple[str, ...]:
    if isinstance(ops, (str, bytes)) or not isinstance(ops, (list, tuple)):
        raise PolicyError(f"augmentation.ops should be a list of operation names, but got {ops!r}")
    if not ops:
        raise PolicyError("augmentation.ops should name at least one operation, but got []")
    for name in ops:
        if not isinstance(name, str) or name not in OPS:
            raise PolicyError(
                f"augmentation.ops has an unknown operation {name!r}; known: {sorted(OPS)}"
            )
    if len(set(ops)) != len(ops):
        raise PolicyError(f"augmentation.ops should not repeat an operation, but got {list(ops)}")
    return tuple(ops)


def _check_fill(fill: Any) -> int | tuple[int, ...]:
    if isinstance(fill, (list, tuple)):
        if len(fill) not in (1, 3):
            raise PolicyError(f"augmentation.fill should have 1 or 3 values, but got {list(fill)}")
        for value in fill:
            checks.check_int("augmentation.fill", value, low=0, high=255)
        return tuple(fill)
    return checks.check_int("augmentation.fill", fill, low=0, high=255)


def _without_empty_rung(score: dict[str, Any]) -> dict[str, Any]:
    # ``rung`` came after the first version-1 files: a score without one is written as they were.
    return {k: v for k, v in score.items() if k != "rung" or v is not None}


def _plain(block: Any) -> dict[str, Any]:
    """A dataclass block as JSON-ready data (mappings copied, tuples as lists)."""
    out = {}
    for name in block.__dataclass_fields__:
        value = getattr(block, name)
        out[name] = json.loads(json.dumps(value)) if isinstance(value, Mapping) else value
    return out
