"""A policy in torchvision's terms (exact; its batch mixing approximate) and timm's (approximate).

Functions take the policy's fields (any object with the :class:`~policysearch.policy.Policy`
attributes), so the document module can call them without an import cycle.

Example:
    >>> from policysearch.policy import Policy
    >>> to_torchvision(Policy(kind="trivialaugment")).__class__.__name__
    'TrivialAugmentWide'
"""

from __future__ import annotations

from typing import Any

from policysearch.errors import PolicyError
from policysearch.policy import to_torchvision as to_torchvision_module

__all__ = ["to_torchvision", "to_torchvision_mixing", "to_timm"]


def to_torchvision(policy: Any, image_size: int | None = None) -> Any:
    """``torchvision.transforms.v2.RandAugment`` (or ``TrivialAugmentWide``) with the same settings; with a
    pre-stage, an op subset or bounds, the exact ``v2.Compose`` of :mod:`.to_torchvision`.

    ``image_size`` (else the policy's ``provenance.image_size``) sets a crop's
    padding. Ops torchvision has no counterpart for raise :class:`PolicyError`.
    Batch mixing is not part of it (use ``torchvision.transforms.v2.CutMix``/``MixUp``
    or ``Policy.batch_mixer``).
    """
    return to_torchvision_module.to_torchvision(policy, image_size)


def to_torchvision_mixing(policy: Any, num_classes: int | None = None) -> Any:
    """The policy's CutMix/MixUp as a torchvision v2 batch transform, or None without mixing.

    Approximate: ``v2.RandomApply([v2.CutMix(...)], p=prob)``. Where ours pairs
    a batch by a random permutation, torchvision pairs each image with its
    neighbour (``roll(1)``), which is the same in distribution for a shuffled
    batch; a batch left unmixed keeps its class-index labels, which
    ``nn.CrossEntropyLoss`` takes as readily as the mixed soft labels.

    Example:
        >>> from policysearch.policy import Mixing, Policy
        >>> to_torchvision_mixing(Policy(mixing=Mixing("mixup", prob=0.5)), 10).__class__.__name__
        'RandomApply'
    """
    if policy.mixing is None:
        return None
    from torchvision.transforms import v2

    mixer = {"cutmix": v2.CutMix, "mixup": v2.MixUp}[policy.mixing.kind]
    return v2.RandomApply([mixer(alpha=policy.mixing.alpha, num_classes=num_classes)], p=policy.mixing.prob)


def to_timm(policy: Any) -> str:
    """An approximate timm ``rand-...`` config string, for RandAugment policies.

    This is an approximation, not an equivalent: timm's magnitude is on a
    0-10 integer scale (M is rescaled and rounded), its op set differs (it has no Identity but
    has Invert, SolarizeAdd...), and timm's per-op probability is set to
    1.0 here (``p1.0``; timm's default skips each op with p=0.5). ``inc1``
    picks timm's ops whose strength increases with M, as torchvision's do.

    Example:
        >>> from policysearch.policy import Policy
        >>> to_timm(Policy(num_ops=2, magnitude=9))
        'rand-m3-n2-mstd0-inc1-p1.0'
    """
    if policy.kind != "randaugment":
        raise PolicyError(f"augmentation.kind {policy.kind!r} has no timm config string; timm's "
                          f"'rand-...' strings describe RandAugment only")
    # timm parses the level as an integer (int("6.67") fails): the nearest of its 0-10 levels.
    m = round(policy.magnitude * 10.0 / (policy.num_magnitude_bins - 1))
    return f"rand-m{m}-n{policy.num_ops}-mstd0-inc1-p1.0"
