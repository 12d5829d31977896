"""A policy in torchvision v2's terms, exactly: the pre-stage, an op subset, per-op bounds, Cutout.

A policy over torchvision's 14 operations, without pre-stage or bounds, is
``v2.RandAugment`` / ``v2.TrivialAugmentWide`` itself. Anything else is built
from :data:`TORCHVISION_CODE`, the very code the torchvision export file
carries (so the object and the file cannot drift apart): ``restricted()``
makes a subclass of ``v2.RandAugment`` or ``v2.TrivialAugmentWide`` whose
``_AUGMENTATION_SPACE`` holds only the policy's ops, each op's table read at
its bin clamped to its bounds (torchvision indexes the table by M, or by a
uniform bin for TrivialAugmentWide: the clamped table applies the clamped
bin), and Cutout applied as policysearch applies it (a square of side
``round(v * min(H, W))`` at a uniform centre, clipped at the border). The
pre-stage is ``v2.RandomHorizontalFlip()`` and ``v2.RandomCrop(size,
padding=p, fill=fill)``, whose padding depends on the image size: the
policy's own (``provenance.image_size``) or the caller's.

Example:
    >>> from policysearch.policy import Policy
    >>> tv = to_torchvision(Policy(num_ops=1, magnitude=9, ops=("Identity", "Rotate"), flip=True), 32)
    >>> [type(t).__name__ for t in tv.transforms]
    ['RandomHorizontalFlip', 'RandAugmentSubset']
"""

from __future__ import annotations

import functools
from typing import Any, Optional

from policysearch._checks import check_int
from policysearch.augment.ops import TORCHVISION_OPS
from policysearch.augment.prestage import crop_padding
from policysearch.errors import PolicyError

__all__ = ["to_torchvision", "TORCHVISION_CODE", "EXACT_OPS", "is_plain", "image_size_of", "stage_texts"]

EXACT_OPS = (*TORCHVISION_OPS, "Cutout")  # the ops a torchvision subset holds exactly

# Written into the export file as it stands, and run by to_torchvision: one definition of the subset.
TORCHVISION_CODE = '''\
import torch
import PIL.Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


def _clamped(table, low, high):
    """The op's table read at each bin clamped to [low, high]: the bin the op is applied at."""
    def clamped(num_bins, height, width):
        values = table(num_bins, height, width)
        return None if values is None else values[torch.arange(num_bins).clamp(low, high)]
    return clamped


def _cutout_sides(num_bins, height, width):
    return torch.linspace(0.0, 0.5, num_bins, dtype=torch.float64)  # the side over the shorter side


class _WithCutout:
    """Cutout as policysearch applies it: a square of side round(v * min(H, W)) at a uniform centre, clipped."""

    cutout_fill = 0

    def _apply_image_or_video_transform(self, image, transform_id, magnitude, interpolation, fill):
        if transform_id != "Cutout":
            return super()._apply_image_or_video_transform(image, transform_id, magnitude, interpolation, fill)
        pil = isinstance(image, PIL.Image.Image)
        tensor = F.pil_to_tensor(image) if pil else image
        height, width = tensor.shape[-2:]
        side = int(torch.round(torch.tensor(magnitude * min(height, width), dtype=torch.float64)))
        if side:
            top, left = (int(torch.randint(size, ())) - side // 2 for size in (height, width))
            tensor = tensor.clone()
            fill = torch.tensor(self.cutout_fill, dtype=tensor.dtype).reshape(-1, 1, 1)
            tensor[..., max(0, top):max(0, top + side), max(0, left):max(0, left + side)] = \\
                fill if fill.numel() == 1 or tensor.shape[-3] == fill.numel() else fill[:1]
        return F.to_pil_image(tensor) if pil else tensor


def restricted(base, ops, op_bins, cutout_fill=0):
    """base (v2.RandAugment or v2.TrivialAugmentWide) drawing only from ops, each op's bin clamped to op_bins."""
    space = {}
    for name in ops:
        table, signed = (_cutout_sides, False) if name == "Cutout" else base._AUGMENTATION_SPACE[name]
        if name in op_bins:
            table = _clamped(table, *op_bins[name])
        space[name] = (table, signed)
    attributes = {"_AUGMENTATION_SPACE": space, "cutout_fill": cutout_fill}
    return type(base.__name__ + "Subset", (_WithCutout, base), attributes)
'''


@functools.lru_cache(maxsize=1)
def _namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "policysearch_torchvision_export"}
    exec(compile(TORCHVISION_CODE, "<policysearch torchvision export>", "exec"), namespace)  # our own constant
    return namespace


def is_plain(policy: Any) -> bool:
    """Whether ``policy`` is exactly ``v2.RandAugment`` / ``v2.TrivialAugmentWide`` (torchvision's 14 ops,
    no pre-stage, no bounds).

    Example:
        >>> from policysearch.policy import Policy
        >>> is_plain(Policy()), is_plain(Policy(flip=True))
        (True, False)
    """
    return set(policy.ops) == set(TORCHVISION_OPS) and not policy.op_bins and not (policy.flip or policy.crop)


def image_size_of(policy: Any, image_size: Optional[int]) -> Optional[int]:
    """The image size a crop's padding is for: ``image_size``, else the policy's own (provenance)."""
    if image_size is not None:
        return check_int("image_size", image_size, low=1)
    return policy.provenance.image_size if policy.provenance is not None else None


def _crop_size(policy: Any, image_size: Optional[int]) -> int:
    size = image_size_of(policy, image_size)
    if size is None:
        raise PolicyError(f"augmentation.crop {policy.crop} pads by a share of the image size, which this policy "
                          "does not record: pass image_size (export: the policy's provenance.image_size)")
    return size


def stage_texts(policy: Any, image_size: Optional[int] = None) -> list[str]:
    """The torchvision v2 expressions of the policy's stages, in order (the export file's list).

    Example:
        >>> from policysearch.policy import Policy
        >>> stage_texts(Policy(num_ops=0, flip=True, crop=15), 32)
        ['v2.RandomHorizontalFlip()', 'v2.RandomCrop(32, padding=4, fill=0)']
    """
    bad = [name for name in policy.ops if name not in EXACT_OPS]
    if bad and (policy.kind == "trivialaugment" or policy.num_ops > 0):
        raise PolicyError(f"augmentation.ops has no torchvision equivalent for {bad}; it holds "
                          f"{list(EXACT_OPS)}")
    texts = ["v2.RandomHorizontalFlip()"] if policy.flip else []
    fill = policy.fill if isinstance(policy.fill, int) else list(policy.fill)
    if policy.crop:
        size = _crop_size(policy, image_size)
        pad = crop_padding(policy.crop, policy.num_magnitude_bins, size, size)
        texts.append(f"v2.RandomCrop({size}, padding={pad}, fill={fill!r})")
    if policy.kind == "randaugment" and policy.num_ops == 0 and texts:
        return texts  # nothing after the pre-stage
    mode = f"v2.InterpolationMode.{policy.interpolation.upper()}"
    settings = f"num_magnitude_bins={policy.num_magnitude_bins}, interpolation={mode}, fill={fill!r}"
    if policy.kind == "randaugment":
        settings = f"num_ops={policy.num_ops}, magnitude={policy.magnitude}, {settings}"
    base = "v2.RandAugment" if policy.kind == "randaugment" else "v2.TrivialAugmentWide"
    if is_plain(policy) or (policy.kind == "randaugment" and policy.num_ops == 0):
        return [*texts, f"{base}({settings})"]
    bounds = {name: list(b) for name, b in policy.op_bins.items()}
    return [*texts, f"restricted({base}, {list(policy.ops)!r}, {bounds!r}, {fill!r})({settings})"]


def to_torchvision(policy: Any, image_size: Optional[int] = None) -> Any:
    """The policy's per-image augmentation as torchvision v2 (see the module docstring): exact.

    ``v2.RandAugment``/``v2.TrivialAugmentWide`` for a plain policy, else a
    ``v2.Compose`` of the pre-stage and the restricted subclass. Raises
    :class:`PolicyError` for an op torchvision has no counterpart for
    (HorizontalFlip, RandomCrop, Perspective, Invert as ops), and for a crop
    when the image size is unknown. Batch mixing is not part of it.
    """
    texts = stage_texts(policy, image_size)
    namespace = _namespace()
    stages = [eval(text, namespace) for text in texts]  # noqa: S307 - expressions built above from checked fields
    return stages[0] if len(stages) == 1 and not (policy.flip or policy.crop) else namespace["v2"].Compose(stages)
