"""A policy as an albumentations pipeline: approximate, saved with albumentations' own ``A.save``.

RandAugment becomes ``A.SomeOf(ops, n=N, replace=True)`` over one entry per
op at bin M; a signed op is ``A.OneOf`` of its two signs. TrivialAugmentWide
becomes ``A.OneOf(ops)``, each op drawing its value uniformly over the wide
range. Where the two libraries differ (measured per op in
``bench/export_fidelity.py``):

- ``A.SomeOf`` applies the chosen ops in list order, not in the order drawn;
- TrivialAugmentWide's value is continuous rather than one of 31 bins;
- albumentations shears about the image centre (torchvision about the top-left
  corner); RandAugment's shears add the shift that makes up for it on a square
  image, to within a pixel (albumentations truncates the shift to whole pixels);
  TrivialAugmentWide's stay about the centre;
- Equalize and AutoContrast use albumentations' kernels ("cv" and "pil");
- a negative Sharpness (torchvision blends towards a 3x3 smoothing) is a 3x3
  box blur applied with probability 9/13 of the blend weight: equal in
  expectation inside the border, not per image;
- Cutout's hole stays inside the image and its sides are fractions of each
  side (ours: of the shorter side, clipped at the border).

Rotate, TranslateX/Y, Posterize and Solarize give torchvision's pixels;
Brightness, Color and Contrast are ColorJitter at torchvision's factors (within
a level: it rounds where torchvision truncates); the positive Sharpness is
``A.Sharpen`` with lightness 1 and alpha ``(factor - 1) / 13``, torchvision's
kernel inside the border.

Example:
    >>> from policysearch.policy import Policy
    >>> pipeline = to_albumentations(Policy(num_ops=2, magnitude=9))
    >>> type(pipeline).__name__, type(pipeline.transforms[0]).__name__, pipeline.transforms[0].n
    ('Compose', 'SomeOf', 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import cv2

from policysearch.augment.ops import get_op
from policysearch.augment.prestage import crop_padding
from policysearch.augment.trivialaugment import WIDE_MAGNITUDES
from policysearch.errors import PolicyError
from policysearch.policy.to_torchvision import image_size_of

__all__ = ["to_albumentations", "ALBUMENTATIONS_OPS", "import_albumentations"]

# torchvision's translate is a fraction of the side (150/331 at the top bin); albumentations takes the fraction.
_REFERENCE_SIDE = 331


@dataclass(frozen=True)
class _Context:
    """What every op builder needs: the library, the geometric settings, the translate unit."""

    A: Any
    interpolation: int
    fill: Any
    translate_in_pixels: bool  # TrivialAugmentWide translates whole pixels; RandAugment a fraction of the side


def import_albumentations() -> Any:
    """The albumentations module, or one clear line on how to install it."""
    try:
        import albumentations
    except ImportError:
        raise PolicyError("exporting to albumentations needs it: pip install 'policysearch[export]'") from None
    return albumentations


def _jitter(which: str) -> Callable[[_Context, float, float], Any]:
    def build(ctx: _Context, low: float, high: float) -> Any:
        factors = {"brightness": (1.0, 1.0), "contrast": (1.0, 1.0), "saturation": (1.0, 1.0)}
        factors[which] = (1.0 + low, 1.0 + high)
        return ctx.A.ColorJitter(**factors, hue=(0.0, 0.0), p=1.0)
    return build


def _shear(axis: str) -> Callable[[_Context, float, float], Any]:
    def build(ctx: _Context, low: float, high: float) -> Any:
        # torchvision's value is the tangent of the shear angle; albumentations takes degrees.
        degrees = (math.degrees(math.atan(low)), math.degrees(math.atan(high)))
        shear = {"x": (0.0, 0.0), "y": (0.0, 0.0), axis: degrees}
        # albumentations shears about the centre, torchvision about the top-left corner: on a square image the
        # difference is a shift of half the tangent along the same axis. A drawn range (TrivialAugment) cannot
        # pair each shear with its own shift, so it shears about the centre.
        shift = -low / 2.0 if low == high else 0.0
        move = {"x": (0.0, 0.0), "y": (0.0, 0.0), axis: (shift, shift)}
        return ctx.A.Affine(shear=shear, translate_percent=move, interpolation=ctx.interpolation, fill=ctx.fill,
                            p=1.0)
    return build


def _translate(axis: str) -> Callable[[_Context, float, float], Any]:
    def build(ctx: _Context, low: float, high: float) -> Any:
        if ctx.translate_in_pixels:
            shift = {"x": (0, 0), "y": (0, 0), axis: (int(low), int(high))}
            return ctx.A.Affine(translate_px=shift, interpolation=ctx.interpolation, fill=ctx.fill, p=1.0)
        shift = {"x": (0.0, 0.0), "y": (0.0, 0.0), axis: (low, high)}
        return ctx.A.Affine(translate_percent=shift, interpolation=ctx.interpolation, fill=ctx.fill, p=1.0)
    return build


def _rotate(ctx: _Context, low: float, high: float) -> Any:
    return ctx.A.Rotate(limit=(low, high), interpolation=ctx.interpolation, border_mode=cv2.BORDER_CONSTANT,
                        fill=ctx.fill, p=1.0)


def _sharpness(ctx: _Context, low: float, high: float) -> Any:
    A = ctx.A
    sharpen = A.Sharpen(alpha=(max(low, 0.0) / 13.0, max(high, 0.0) / 13.0), lightness=(1.0, 1.0), p=1.0)
    if low >= 0:
        return sharpen
    # A blend of weight w towards torchvision's smoothing kernel (centre 5/13, the rest 1/13) moves a pixel
    # 9/13 as far as a 3x3 box blur does: the box blur is applied with probability 9w/13 (w averaged over the
    # range), which is equal in expectation inside the border.
    weight = (-low if high <= 0 else -low / 2.0) * 9.0 / 13.0
    blur = A.Sequential([A.Blur(blur_limit=(3, 3), p=weight)], p=1.0)
    return blur if high <= 0 else A.OneOf([sharpen, blur], p=1.0)


# op name -> builder(ctx, low, high) of a transform drawing the op's real value in [low, high].
ALBUMENTATIONS_OPS: dict[str, Callable[[_Context, float, float], Any]] = {
    "Identity": lambda ctx, low, high: ctx.A.NoOp(p=1.0),
    "ShearX": _shear("x"), "ShearY": _shear("y"),
    "TranslateX": _translate("x"), "TranslateY": _translate("y"),
    "Rotate": _rotate,
    "Brightness": _jitter("brightness"), "Color": _jitter("saturation"), "Contrast": _jitter("contrast"),
    "Sharpness": _sharpness,
    "Posterize": lambda ctx, low, high: ctx.A.Posterize(num_bits=(int(low), int(high)), p=1.0),
    "Solarize": lambda ctx, low, high: ctx.A.Solarize(threshold_range=(low, high), p=1.0),
    "AutoContrast": lambda ctx, low, high: ctx.A.AutoContrast(method="pil", p=1.0),
    "Equalize": lambda ctx, low, high: ctx.A.Equalize(mode="cv", p=1.0),
    "HorizontalFlip": lambda ctx, low, high: ctx.A.HorizontalFlip(p=1.0),
    "Invert": lambda ctx, low, high: ctx.A.InvertImg(p=1.0),
    "Cutout": lambda ctx, low, high: ctx.A.CoarseDropout(
        num_holes_range=(1, 1), hole_height_range=(low, high), hole_width_range=(low, high), fill=ctx.fill, p=1.0),
}  # fmt: skip


def _builder(name: str) -> Callable[[_Context, float, float], Any]:
    if name not in ALBUMENTATIONS_OPS:
        raise PolicyError(f"augmentation.ops has no albumentations equivalent for {name!r}; "
                          f"it maps {sorted(ALBUMENTATIONS_OPS)}")
    return ALBUMENTATIONS_OPS[name]


def _randaugment_entry(ctx: _Context, name: str, policy: Any) -> Any:
    spec = get_op(name)
    side = _REFERENCE_SIDE
    value = spec.value(policy.op_bin(name), policy.num_magnitude_bins, side, side)  # M within the bounds
    value = None if value is None else round(value, 6)  # torchvision's float32 table, without its noise
    if value is not None and name.startswith("Translate"):
        value /= side
    value = 0.0 if value is None else value
    build = _builder(name)
    if not spec.signed:
        return build(ctx, value, value)
    # One transform per sign, each drawn with probability 1/2 (OneOf weighs its children equally here).
    return ctx.A.OneOf([build(ctx, value, value), build(ctx, -value, -value)], p=1.0)


def _trivialaugment_entry(ctx: _Context, name: str, policy: Any) -> Any:
    wide = WIDE_MAGNITUDES.get(name) or get_op(name).magnitudes
    build = _builder(name)
    if wide is None:
        return build(ctx, 0.0, 0.0)
    low_bin, high_bin = policy.bin_range(name)  # a uniform value within the bounds' values
    table = wide(policy.num_magnitude_bins, _REFERENCE_SIDE, _REFERENCE_SIDE)[low_bin:high_bin + 1]
    low, high = round(min(table), 6), round(max(table), 6)
    return build(ctx, -high, high) if get_op(name).signed else build(ctx, low, high)


def _prestage(ctx: _Context, policy: Any, image_size: int | None) -> list[Any]:
    """The flip (``A.HorizontalFlip``) and the padded crop (``A.PadIfNeeded`` then ``A.RandomCrop``: a
    uniform offset, as torchvision's RandomCrop), which needs the image size."""
    A, stages = ctx.A, ([ctx.A.HorizontalFlip(p=0.5)] if policy.flip else [])
    if policy.crop:
        size = image_size_of(policy, image_size)
        if size is None:
            raise PolicyError(f"augmentation.crop {policy.crop} pads by a share of the image size, which this "
                              "policy does not record: pass image_size")
        pad = crop_padding(policy.crop, policy.num_magnitude_bins, size, size)
        stages += [A.PadIfNeeded(min_height=size + 2 * pad, min_width=size + 2 * pad, position="center",
                                 border_mode=cv2.BORDER_CONSTANT, fill=ctx.fill, p=1.0),
                   A.RandomCrop(size, size, p=1.0)]
    return stages


def to_albumentations(policy: Any, image_size: int | None = None) -> Any:
    """An ``A.Compose`` pipeline approximating the policy's per-image augmentation (no batch mixing): the
    pre-stage first (a crop's padding needs ``image_size``, else the policy's own), then the ops, each at its
    bounded bin (TrivialAugment: a value drawn uniformly within the bounds).

    Raises :class:`PolicyError` for an op albumentations has no counterpart for
    (RandomCrop, Perspective) and when albumentations is not installed.
    """
    A = import_albumentations()
    interpolation = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR}[policy.interpolation]
    fill = policy.fill if isinstance(policy.fill, int) else tuple(policy.fill)
    trivial = policy.kind == "trivialaugment"
    ctx = _Context(A, interpolation, fill, translate_in_pixels=trivial)
    pre = _prestage(ctx, policy, image_size)
    if trivial:
        return A.Compose([*pre, A.OneOf([_trivialaugment_entry(ctx, name, policy) for name in policy.ops], p=1.0)])
    entries = [_randaugment_entry(ctx, name, policy) for name in policy.ops]
    if policy.num_ops == 0:
        return A.Compose(pre or [A.NoOp(p=1.0)])
    return A.Compose([*pre, A.SomeOf(entries, n=policy.num_ops, replace=True, p=1.0)])
