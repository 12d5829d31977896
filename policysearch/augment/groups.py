"""Op groups: the units a search switches on and off, as data.

Two groups are the pre-stage (:mod:`.prestage`): ``flips`` (a horizontal flip
with probability 1/2) and ``crop`` (a padded random crop at
:data:`~.prestage.STANDARD_CROP_BIN`). Four are sets of operations that
RandAugment and TrivialAugmentWide draw from: ``geometric``, ``colour``,
``histogram`` and ``cutout``. Identity joins the op list whenever one of those
four is chosen, so geometric + colour + histogram is exactly torchvision's 14
operations (an exact torchvision export), and all four add Cutout.

Ops that do nothing on the data are left out: Color (saturation) on grey
images, one channel or three equal ones (:func:`is_grey`).

Example:
    >>> ops_for_groups(("geometric", "colour", "histogram")) == TORCHVISION_OPS
    True
    >>> ops_for_groups(("colour", "flips"), grey=True)
    ('Identity', 'Brightness', 'Contrast', 'Sharpness')
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np

from policysearch.augment.ops import OPS, TORCHVISION_OPS

__all__ = ["OP_GROUPS", "PRESTAGE_GROUPS", "GROUPS", "GREY_NO_OPS", "ops_for_groups", "is_grey"]

# group -> the operations RandAugment / TrivialAugmentWide draw from when it is chosen.
OP_GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "geometric": ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"),
    "colour": ("Brightness", "Color", "Contrast", "Sharpness"),
    "histogram": ("Posterize", "Solarize", "AutoContrast", "Equalize"),
    "cutout": ("Cutout",),
})  # fmt: skip
# The groups that switch the pre-stage's flip and crop on (a policy's ``flip`` and ``crop``).
PRESTAGE_GROUPS = ("flips", "crop")
GROUPS = (*PRESTAGE_GROUPS, *OP_GROUPS)
# Operations that leave a grey image (one channel, or three equal ones) as it was.
GREY_NO_OPS = ("Color",)


def ops_for_groups(groups: Iterable[str], *, grey: bool = False) -> tuple[str, ...]:
    """The op list of the chosen groups, in the registry's order, Identity first; () when none of the four
    op groups is chosen. ``grey`` leaves out the ops that do nothing on grey images.

    Example:
        >>> ops_for_groups(("cutout",)), ops_for_groups(("flips", "crop"))
        (('Identity', 'Cutout'), ())
    """
    chosen = {op for group in groups for op in OP_GROUPS.get(group, ())}
    if grey:
        chosen -= set(GREY_NO_OPS)
    if not chosen:
        return ()
    return ("Identity", *(name for name in OPS if name in chosen))


def is_grey(images: np.ndarray) -> bool:
    """Whether uint8 images (NxHxW, or NxHxWxC with C in {1, 3}) are grey: one channel, or three equal ones.

    Example:
        >>> rgb = np.zeros((2, 4, 4, 3), np.uint8)
        >>> is_grey(rgb), is_grey(rgb + np.arange(3, dtype=np.uint8))
        (True, False)
    """
    if images.ndim < 4 or images.shape[-1] == 1:
        return True
    first = images[..., :1]
    return bool((images == first).all())
