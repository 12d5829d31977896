"""A policy as Kornia's ``kornia.augmentation.auto`` RandAugment or TrivialAugment: approximate.

Kornia's RandAugment scales every op's range by one ``m`` strictly inside
(0, 30) and has no Identity and no sign for its colour ops, so the export pins
each op's range to torchvision's value at bin M instead (a range ``(v, v)``,
or ``(-2v, 2v)`` for the ops Kornia signs itself, read at ``m = 15``):

- Identity is Brightness at factor 1; a signed colour op (Brightness, Color,
  Contrast, Sharpness) is two entries, one per sign; every other op is listed
  twice, so each op keeps torchvision's 1-in-14 chance per draw;
- Kornia draws the N entries without replacement and one op for the whole
  batch (values and geometric signs are per image), where torchvision draws
  per image with replacement;
- Kornia's kernels differ: it has no contrast about the mean (Contrast
  becomes its plain scaling), Color works in HSV, shears are about the centre.
  Brightness is Kornia's ``contrast``, which multiplies as torchvision's
  brightness does (its own ``brightness`` adds). ``bench/export_fidelity.py``
  measures each op against ours.

Kornia's geometric ops sample bilinearly and fill with zeros: the policy's
``interpolation`` and ``fill`` do not carry over.

TrivialAugmentWide becomes ``TrivialAugment`` over the wide ranges with
continuous values; its 32-pixel translation is a fraction of ``image_size``
(the policy's own, else 224), at most the whole side.

Example:
    >>> from policysearch.policy import Policy
    >>> kornia_policy(Policy(num_ops=2, magnitude=9, ops=("Rotate", "Posterize")))
    [[('rotate', -18.0, 18.0)], [('rotate', -18.0, 18.0)], [('posterize', 7.0, 7.0)], [('posterize', 7.0, 7.0)]]
"""

from __future__ import annotations

import math
from typing import Any, Optional

from policysearch._checks import check_int
from policysearch.augment.ops import get_op
from policysearch.augment.prestage import crop_padding
from policysearch.augment.trivialaugment import WIDE_MAGNITUDES
from policysearch.errors import PolicyError
from policysearch.policy.to_torchvision import image_size_of

__all__ = ["to_kornia", "kornia_policy", "KORNIA_OPS", "KORNIA_M", "DEFAULT_IMAGE_SIZE"]

KORNIA_M = 15  # any m in (0, 30) would do: the ranges are pinned; at 15 a symmetric range reads half its end
DEFAULT_IMAGE_SIZE = 224  # for TrivialAugment's pixel translation when the policy does not name its size

# op name -> Kornia's name for it. Identity is Brightness at factor 1.
KORNIA_OPS: dict[str, str] = {
    "Identity": "brightness", "ShearX": "shear_x", "ShearY": "shear_y", "TranslateX": "translate_x",
    "TranslateY": "translate_y", "Rotate": "rotate",
    "Brightness": "contrast",  # Kornia's contrast multiplies by the factor: torchvision's brightness, within a level
    "Color": "color",
    "Contrast": "contrast", "Sharpness": "sharpness", "Posterize": "posterize", "Solarize": "solarize",
    "AutoContrast": "auto_contrast", "Equalize": "equalize", "Invert": "invert",
}  # fmt: skip
_FACTORS = ("Brightness", "Color", "Contrast", "Sharpness")  # Kornia takes the factor 1 + value
_SYMMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")  # Kornia draws their sign


def _kornia_name(name: str) -> str:
    if name not in KORNIA_OPS:
        raise PolicyError(f"augmentation.ops has no Kornia equivalent for {name!r}; it maps {sorted(KORNIA_OPS)}")
    return KORNIA_OPS[name]


def _kornia_value(name: str, value: float, side: int) -> float:
    """torchvision's real value in Kornia's unit: shear in degrees / 180, translate as a fraction of the side."""
    if name.startswith("Shear"):
        return math.degrees(math.atan(value)) / 180.0
    if name.startswith("Translate"):
        return value / side
    return value


def _randaugment_entries(name: str, policy: Any) -> list[list[tuple[str, float, float]]]:
    kname, spec = _kornia_name(name), get_op(name)
    side = 331  # torchvision's translate is 150/331 of the side at the top bin: read it as a fraction
    value = spec.value(policy.op_bin(name), policy.num_magnitude_bins, side, side)  # M within the bounds
    value = None if value is None else round(value, 6)  # torchvision's float32 table, without its noise
    if name == "Identity":
        entry = (kname, 1.0, 1.0)
    elif value is None:
        entry = (kname, 0.0, 1.0)  # no magnitude: Kornia ignores the range
    elif name in _SYMMETRIC:
        end = round(_kornia_value(name, value, side) * 30 / KORNIA_M, 10)  # read as m / 30 of the end
        entry = (kname, -end, end)
    elif name in _FACTORS:
        return [[(kname, 1.0 + value, 1.0 + value)], [(kname, 1.0 - value, 1.0 - value)]]
    else:
        entry = (kname, value, value)
    return [[entry], [entry]]


def _trivialaugment_entry(name: str, policy: Any, side: int) -> list[tuple[str, float, float]]:
    kname = _kornia_name(name)
    wide = WIDE_MAGNITUDES.get(name) or get_op(name).magnitudes
    if name == "Identity":
        return [(kname, 1.0, 1.0)]
    if wide is None:
        return [(kname, 0.0, 1.0)]
    low_bin, high_bin = policy.bin_range(name)  # a uniform value within the bounds' values
    table = wide(policy.num_magnitude_bins, side, side)[low_bin:high_bin + 1]
    low, high = round(min(table), 6), round(max(table), 6)
    if name in _SYMMETRIC:
        # Kornia takes at most a whole side; 32 pixels on a smaller image moves it out of view either way.
        end = min(round(_kornia_value(name, high, side), 10), 1.0) if name.startswith("Translate") else \
            round(_kornia_value(name, high, side), 10)
        return [(kname, -end, end)]
    if name in _FACTORS:
        return [(kname, 1.0 - high, 1.0 + high)]
    return [(kname, low, high)]


def kornia_policy(policy: Any, image_size: Optional[int] = None) -> list[list[tuple[str, float, float]]]:
    """The ``policy`` argument for Kornia's ``RandAugment`` (at ``m=KORNIA_M``) or ``TrivialAugment``."""
    if image_size is not None:
        check_int("image_size", image_size, low=1)
    if policy.kind == "trivialaugment":
        side = image_size or (policy.provenance and policy.provenance.image_size) or DEFAULT_IMAGE_SIZE
        return [_trivialaugment_entry(name, policy, int(side)) for name in policy.ops]
    entries = [entry for name in policy.ops for entry in _randaugment_entries(name, policy)]
    if policy.num_ops > len(entries):  # Kornia draws without replacement
        raise PolicyError(f"augmentation.num_ops {policy.num_ops} is more than Kornia's RandAugment can draw "
                          f"from {len(entries)} entries without replacement")
    return entries


def to_kornia(policy: Any, image_size: Optional[int] = None) -> Any:
    """Kornia's ``RandAugment``/``TrivialAugment`` module for float images in [0, 1], shape (B, C, H, W).

    A policy with N = 0 becomes ``torch.nn.Identity()`` (Kornia needs n >= 1). A pre-stage comes first,
    ``RandomHorizontalFlip`` and ``RandomCrop`` (its padding needs ``image_size``, else the policy's own), in
    a ``torch.nn.Sequential``; bounded ops take their value at the bounded bin (TrivialAugment: a uniform value
    within the bounds).
    Raises :class:`PolicyError` for an op Kornia has no counterpart for, and
    when Kornia is not installed.
    """
    entries = kornia_policy(policy, image_size)
    size = image_size_of(policy, image_size)
    if policy.crop and size is None:
        raise PolicyError(f"augmentation.crop {policy.crop} pads by a share of the image size, which this policy "
                          "does not record: pass image_size")
    try:
        import kornia.augmentation as K
        import torch
        from kornia.augmentation.auto import RandAugment, TrivialAugment
    except ImportError:
        raise PolicyError("exporting to Kornia needs it: pip install 'policysearch[export]'") from None
    if policy.kind == "trivialaugment":
        ops = TrivialAugment(policy=entries)
    elif policy.num_ops == 0:
        ops = torch.nn.Identity()
    else:
        ops = RandAugment(n=policy.num_ops, m=KORNIA_M, policy=entries)
    if not policy.has_prestage:
        return ops
    fill = float(policy.fill if isinstance(policy.fill, int) else policy.fill[0]) / 255.0  # images in [0, 1]
    pre = [K.RandomHorizontalFlip(p=0.5)] if policy.flip else []
    if policy.crop:
        pad = crop_padding(policy.crop, policy.num_magnitude_bins, size, size)
        pre.append(K.RandomCrop((size, size), padding=pad, fill=fill))
    return torch.nn.Sequential(*pre, ops)
