"""RandAugment and TrivialAugmentWide on whole uint8 NxCxHxW torch batches, on the batch's device.

The GPU path of DESIGN.md: each image gets its own op, sign and (TrivialAugment)
bin, drawn from a ``torch.Generator`` on the batch's device, and each op runs once
per step on the images that drew it (a loop over the ops, never over the images).
The values come from the registry's tables (:meth:`.ops.OpSpec.value`,
:func:`.trivialaugment.wide_value`) and the kernels (:mod:`._batched_color`,
:mod:`._batched_geometric`) reproduce the numpy ones, which stay the reference:
colour ops bit for bit, warps on the same source pixel almost everywhere.

This module imports torch, so :mod:`policysearch.augment` does not import it:
``from policysearch.augment.batched import BatchedRandAugment``.

Example:
    >>> import torch
    >>> batch = torch.full((2, 1, 2, 2), 100, dtype=torch.uint8)
    >>> apply_batched_op(batch, "Brightness", torch.tensor([0.5, -0.5]))[:, 0, 0, 0].tolist()
    [150, 50]
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, Optional, Sequence

import torch

from policysearch._checks import check_choice, check_int, show
from policysearch.augment._batched_color import (autocontrast, brightness, color, contrast, equalize, invert,
                                                  posterize, sharpness, solarize)
from policysearch.augment._batched_geometric import (PLACEMENT_WIDTH, BatchedKernel, affine, cutout,
                                                     horizontal_flip, perspective, random_crop, translate)
from policysearch.augment._batched_geometric import draw_placement as place
from policysearch.augment.geometry import INTERPOLATIONS
from policysearch.augment.ops import TORCHVISION_OPS, OpSpec, as_fill, bin_bounds, check_op_bins, get_op
from policysearch.augment.prestage import crop_padding
from policysearch.augment.trivialaugment import wide_value
from policysearch.errors import DataError, PolicyError

__all__ = ["BatchedRandAugment", "BatchedTrivialAugmentWide", "BatchedPreStage", "BatchedChain", "apply_batched_op",
           "draw_placement", "check_batch", "new_generator", "PLACED_OPS"]

PLACED_OPS = tuple(PLACEMENT_WIDTH)  # ops placed by per-image random draws


def _colour(kernel):
    return lambda batch, values, interpolation, fill, placement: kernel(batch, values)


# op name -> kernel(batch, values, interpolation, fill, placement); the registry's names.
KERNELS: Mapping[str, BatchedKernel] = MappingProxyType({
    "Identity": lambda batch, *_: batch.clone(),
    "ShearX": affine("ShearX"), "ShearY": affine("ShearY"),
    "TranslateX": translate(0), "TranslateY": translate(1), "Rotate": affine("Rotate"),
    "Brightness": _colour(brightness), "Color": _colour(color), "Contrast": _colour(contrast),
    "Sharpness": _colour(sharpness), "Posterize": _colour(posterize), "Solarize": _colour(solarize),
    "AutoContrast": _colour(autocontrast), "Equalize": _colour(equalize),
    "HorizontalFlip": horizontal_flip, "RandomCrop": random_crop, "Perspective": perspective,
    "Cutout": cutout, "Invert": _colour(invert),
})  # fmt: skip


# ---------------------------------------------------------------- validation
def check_batch(batch: object) -> int:
    """Validate a uint8 NxCxHxW tensor (C in {1, 3}, H and W >= 1); return C. Raises DataError.

    Example:
        >>> check_batch(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
        3
    """
    if not isinstance(batch, torch.Tensor):
        raise DataError(f"batch should be a torch.Tensor, but got {type(batch).__name__}")
    if batch.dtype != torch.uint8:
        raise DataError(f"batch dtype should be torch.uint8, but got {batch.dtype}")
    if batch.ndim != 4:
        raise DataError(f"batch should be NxCxHxW, but got shape {tuple(batch.shape)}")
    if batch.shape[1] not in (1, 3):
        raise DataError(f"batch should have 1 or 3 channels (NxCxHxW), but got {batch.shape[1]}")
    if batch.shape[2] == 0 or batch.shape[3] == 0:
        raise DataError(f"batch images should not be empty, but got shape {tuple(batch.shape)}")
    return int(batch.shape[1])


def new_generator(generator: Any, device: torch.device) -> torch.Generator:
    """A torch.Generator on ``device`` from a Generator (checked), an int seed, or None (fresh entropy).

    Example:
        >>> new_generator(0, torch.device("cpu")).initial_seed()
        0
    """
    if isinstance(generator, torch.Generator):
        if generator.device.type != device.type or generator.device.index not in (None, device.index):
            raise DataError(f"batch should be on the generator's device {generator.device}, but got {device}")
        return generator
    made = torch.Generator(device=device)
    if generator is None:
        made.seed()
    elif isinstance(generator, int) and not isinstance(generator, bool) and generator >= 0:
        made.manual_seed(generator)
    else:
        raise PolicyError(f"generator should be a torch.Generator, an int seed >= 0 or None, but got {show(generator)}")
    return made


def _fill_tensor(fill: tuple[int, ...], channels: int, device: torch.device) -> torch.Tensor:
    """C fill values; a grayscale batch takes the first, as the numpy kernels do."""
    values = fill * channels if len(fill) == 1 else fill[:channels]
    return torch.tensor(values, dtype=torch.uint8, device=device)


def _check_values(name: str, spec: OpSpec, values: Any, n: int, device: torch.device) -> Optional[torch.Tensor]:
    if spec.magnitudes is None and values is None:
        return None
    tensor = torch.as_tensor(values, dtype=torch.float64, device=device) if values is not None else None
    if tensor is None or tensor.shape != (n,) or not bool(torch.isfinite(tensor).all()):
        shown = None if values is None else tuple(getattr(values, "shape", ())) or show(values)
        raise PolicyError(f"values for {name} should be a 1-D tensor of {n} finite numbers (one per image), "
                          f"but got {shown}")
    return tensor


# ---------------------------------------------------------------- one op on a batch
def draw_placement(name: str, values: Any, height: int, width: int, *,
                   generator: Any = None) -> Optional[torch.Tensor]:
    """The per-image integers that place a RandomCrop, Perspective or Cutout (None for other ops).

    Shape Nx2 (RandomCrop: the (row, column) crop offset in ``[0, 2 * pad]``;
    Cutout: the square's (row, column) centre) or Nx8 (Perspective: the corners'
    ``x0, x1, x2, x3, y0, y1, y2, y3``, drawn as the numpy kernel draws them), on
    the device of ``values`` (or of ``generator``).

    Example:
        >>> draw_placement("Cutout", torch.tensor([0.5, 0.5]), 8, 8, generator=0).shape
        torch.Size([2, 2])
    """
    spec = get_op(name)
    device = generator.device if isinstance(generator, torch.Generator) else torch.as_tensor(values).device
    values = _check_values(name, spec, values, len(values), device)
    for label, size in (("height", height), ("width", width)):
        check_int(label, size, low=1)
    return place(name, values, height, width, new_generator(generator, device))


def apply_batched_op(batch: torch.Tensor, name: str, values: Any = None, *, interpolation: str = "nearest",
                     fill: int | Sequence[int] = 0, generator: Any = None,
                     placement: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Apply op ``name`` to every image of a uint8 NxCxHxW batch, image i at real value ``values[i]``.

    ``values`` are the registry's real values (:meth:`.ops.OpSpec.value`), one per
    image; ops without a magnitude take None. RandomCrop, Perspective and Cutout
    are placed by ``placement`` (see :func:`draw_placement`), drawn from
    ``generator`` (a torch.Generator on the batch's device, an int seed or None)
    when it is None. Returns a new tensor; the batch is not modified.

    Example:
        >>> batch = torch.arange(4, dtype=torch.uint8).view(1, 1, 1, 4)
        >>> apply_batched_op(batch, "TranslateX", [-1.0]).tolist()
        [[[[1, 2, 3, 0]]]]
    """
    channels = check_batch(batch)
    spec = get_op(name)
    n = batch.shape[0]
    tensor = _check_values(name, spec, values, n, batch.device)
    check_choice("interpolation", interpolation, tuple(INTERPOLATIONS))
    fills = _fill_tensor(as_fill(fill, channels), channels, batch.device)
    if name in PLACED_OPS:
        width = PLACEMENT_WIDTH[name]
        if placement is None:
            placement = place(name, tensor, *batch.shape[2:],
                                                 new_generator(generator, batch.device))
        elif (not isinstance(placement, torch.Tensor) or placement.shape != (n, width)
              or placement.dtype.is_floating_point or placement.dtype == torch.bool):
            shown = tuple(placement.shape) if isinstance(placement, torch.Tensor) else show(placement)
            raise PolicyError(f"placement for {name} should be an integer tensor of shape ({n}, {width}), "
                              f"but got {shown}")
        placement = placement.to(device=batch.device, dtype=torch.int64)
    if n == 0:
        return batch.clone()
    return KERNELS[name](batch, tensor, interpolation, fills, placement)


# ---------------------------------------------------------------- the augmenters
class _BatchedAugment:
    """What BatchedRandAugment and BatchedTrivialAugmentWide share: settings, draws, grouped application."""

    def __init__(self, ops: Sequence[str], *, num_bins: int, interpolation: str, fill: Any, generator: Any,
                 op_bins: Optional[Mapping[str, Sequence[int]]] = None) -> None:
        self.num_bins = check_int("num_bins", num_bins, low=2)
        if isinstance(ops, str) or not isinstance(ops, Sequence) or not ops:
            raise PolicyError(f"ops should be a non-empty list of operation names, but got {show(ops)}")
        self.specs = tuple(get_op(name) for name in ops)
        names = tuple(spec.name for spec in self.specs)
        # Each op's (lo, hi) bins: the tables below read the clamped bin, as the per-image path applies it.
        self.op_bins = check_op_bins("op_bins", op_bins or {}, names, self.num_bins)
        self.bounds = bin_bounds(names, self.op_bins, self.num_bins)
        self.interpolation = check_choice("interpolation", interpolation, tuple(INTERPOLATIONS))
        self.fill = as_fill(fill, 3)  # validated once; a grayscale batch takes the first value
        if not (generator is None or isinstance(generator, torch.Generator)
                or (isinstance(generator, int) and not isinstance(generator, bool) and generator >= 0)):
            raise PolicyError(f"generator should be a torch.Generator, an int seed >= 0 or None, "
                              f"but got {show(generator)}")
        self._seed = generator
        self._generators: dict[torch.device, torch.Generator] = {}  # one stream per device
        self._tables: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def _steps(self) -> int:
        raise NotImplementedError

    def _bins(self, shape: tuple[int, int], generator: torch.Generator, device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    def _value(self, spec: OpSpec, bin_index: int, height: int, width: int, negate: bool) -> Optional[float]:
        raise NotImplementedError

    def generator(self, device: torch.device | str = "cpu") -> torch.Generator:
        """The generator this augmenter draws from on ``device`` (made on first use from the seed)."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if device not in self._generators:
            self._generators[device] = new_generator(self._seed, device)
        return self._generators[device]

    def draw(self, batch_size: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """The random choices for ``batch_size`` images: ``op``, ``bin`` (int64) and ``negate`` (bool),
        each of shape steps x batch_size (RandAugment: N steps; TrivialAugment: 1)."""
        batch_size = check_int("batch_size", batch_size, low=0)
        generator = self.generator(device)
        device = generator.device
        shape = (self._steps(), batch_size)
        # This order of generator calls is part of every seeded result: keep it.
        op = torch.randint(len(self.specs), shape, generator=generator, device=device)
        bins = self._bins(shape, generator, device)
        negate = torch.rand(shape, generator=generator, device=device) < 0.5  # torchvision: probability 1/2
        return {"op": op, "bin": bins, "negate": negate}

    def _table(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """ops x 2 (sign) x num_bins real values, NaN for ops without a magnitude; cached per size."""
        key = (height, width, device)
        if key not in self._tables:
            values = [[[self._value(spec, min(max(b, low), high), height, width, negate) for b in range(self.num_bins)]
                       for negate in (False, True)] for spec, (low, high) in zip(self.specs, self.bounds)]
            rows = [[[float("nan") if v is None else v for v in row] for row in rows] for rows in values]
            self._tables[key] = torch.tensor(rows, dtype=torch.float64, device=device)
        return self._tables[key]

    def apply_draws(self, batch: torch.Tensor, draws: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Augment ``batch`` with the choices of :meth:`draw`; placements come from :meth:`generator`."""
        channels = check_batch(batch)
        height, width = batch.shape[2:]
        table = self._table(height, width, batch.device)
        fill = _fill_tensor(self.fill, channels, batch.device)
        generator = self.generator(batch.device)
        out = batch.clone()
        for op, bins, negate in zip(draws["op"], draws["bin"], draws["negate"]):
            values = table[op, negate.to(torch.int64), bins]
            # One host sync per step: how many images drew each op. Sorting groups them.
            counts = torch.bincount(op, minlength=len(self.specs)).tolist()
            order = torch.argsort(op, stable=True)
            for index, members in zip(range(len(self.specs)), torch.split(order, counts)):
                name = self.specs[index].name
                if not members.numel() or name == "Identity":
                    continue
                sub = out.index_select(0, members)
                sub_values = None if self.specs[index].magnitudes is None else values[members]
                placement = place(name, sub_values, height, width, generator)
                result = KERNELS[name](sub, sub_values, self.interpolation, fill, placement)
                out.index_copy_(0, members, result)
        return out

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        check_batch(batch)
        return self.apply_draws(batch, self.draw(batch.shape[0], batch.device))


class BatchedRandAugment(_BatchedAugment):
    """RandAugment on a uint8 NxCxHxW batch: per image, N ops drawn uniformly with replacement at bin M.

    Each image draws its own ops and, for signed ops, its own sign (negated with
    probability 1/2); same seed and same input give the same output.

    Args:
        num_ops: N, operations applied per image (>= 0).
        magnitude: M, an integer bin in ``[0, num_bins - 1]``.
        ops: operation names from :data:`policysearch.augment.ops.OPS`.
        num_bins: number of magnitude bins (torchvision: 31).
        interpolation: ``"nearest"`` (torchvision's default) or ``"bilinear"``.
        fill: pixel value (or one per channel) for areas a geometric op uncovers.
        generator: a torch.Generator on the batches' device, an int seed, or None.
        op_bins: per-op ``(lo, hi)`` bins; an op is applied at M clamped to its bounds.

    Example:
        >>> ra = BatchedRandAugment(2, 9, generator=0)
        >>> out = ra(torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
        >>> tuple(out.shape), out.dtype
        ((4, 3, 8, 8), torch.uint8)
    """

    def __init__(self, num_ops: int, magnitude: int, ops: Sequence[str] = TORCHVISION_OPS, *, num_bins: int = 31,
                 interpolation: str = "nearest", fill: int | Sequence[int] = 0, generator: Any = None,
                 op_bins: Optional[Mapping[str, Sequence[int]]] = None) -> None:
        super().__init__(ops, num_bins=num_bins, interpolation=interpolation, fill=fill, generator=generator,
                         op_bins=op_bins)
        self.num_ops = check_int("num_ops", num_ops, low=0)
        self.magnitude = check_int("magnitude", magnitude, low=0, high=self.num_bins - 1)

    def __repr__(self) -> str:
        names = [spec.name for spec in self.specs]
        return f"BatchedRandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, ops={names})"

    def _steps(self) -> int:
        return self.num_ops

    def _bins(self, shape, generator, device):
        return torch.full(shape, self.magnitude, dtype=torch.int64, device=device)

    def _value(self, spec, bin_index, height, width, negate):
        return spec.value(bin_index, self.num_bins, height, width, -1 if negate else 1)


class BatchedTrivialAugmentWide(_BatchedAugment):
    """TrivialAugmentWide on a uint8 NxCxHxW batch: per image, one op at a uniformly random bin.

    Each image draws its own op, bin in ``[0, num_bins)`` and sign, from
    torchvision's wide ranges (:data:`.trivialaugment.WIDE_MAGNITUDES`).

    Args:
        ops: operation names from :data:`policysearch.augment.ops.OPS` (torchvision's 14 by default).
        num_bins: number of magnitude bins (torchvision: 31).
        interpolation: ``"nearest"`` (torchvision's default) or ``"bilinear"``.
        fill: pixel value (or one per channel) for areas a geometric op uncovers.
        generator: a torch.Generator on the batches' device, an int seed, or None.
        op_bins: per-op ``(lo, hi)`` bins; the drawn bin is clamped to them.

    Example:
        >>> ta = BatchedTrivialAugmentWide(generator=0)
        >>> ta(torch.zeros(4, 1, 8, 8, dtype=torch.uint8)).shape
        torch.Size([4, 1, 8, 8])
    """

    def __init__(self, ops: Sequence[str] = TORCHVISION_OPS, *, num_bins: int = 31, interpolation: str = "nearest",
                 fill: int | Sequence[int] = 0, generator: Any = None,
                 op_bins: Optional[Mapping[str, Sequence[int]]] = None) -> None:
        super().__init__(ops, num_bins=num_bins, interpolation=interpolation, fill=fill, generator=generator,
                         op_bins=op_bins)

    def __repr__(self) -> str:
        return f"BatchedTrivialAugmentWide(num_bins={self.num_bins}, ops={[spec.name for spec in self.specs]})"

    def _steps(self) -> int:
        return 1

    def _bins(self, shape, generator, device):
        return torch.randint(self.num_bins, shape, generator=generator, device=device)

    def _value(self, spec, bin_index, height, width, negate):
        return wide_value(spec.name, bin_index, self.num_bins, height, width, negate)


class BatchedPreStage(_BatchedAugment):
    """The pre-stage (:mod:`.prestage`) on a uint8 NxCxHxW batch: per image a flip with probability 1/2, then a
    padded random crop at the RandomCrop op's bin ``crop``, each image with its own draws.

    The offsets are drawn as the per-image path draws them (a uniform number per axis, offset
    ``min(int(u * (2p + 1)), 2p)``), so the same draws give the same pixels.

    Example:
        >>> pre = BatchedPreStage(flip=True, crop=15, generator=0)
        >>> pre(torch.zeros(4, 3, 32, 32, dtype=torch.uint8)).shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(self, *, flip: bool = False, crop: int = 0, num_bins: int = 31, fill: int | Sequence[int] = 0,
                 generator: Any = None) -> None:
        super().__init__(("HorizontalFlip", "RandomCrop"), num_bins=num_bins, interpolation="nearest", fill=fill,
                         generator=generator)
        if not isinstance(flip, bool):
            raise PolicyError(f"flip should be true or false, but got {show(flip)}")
        self.flip = flip
        self.crop = check_int("crop", crop, low=0, high=self.num_bins - 1)

    def __repr__(self) -> str:
        return f"BatchedPreStage(flip={self.flip}, crop={self.crop})"

    def draw(self, batch_size: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """Per image: ``flip`` (bool) and ``crop`` (two uniform float64 numbers, the offsets' draws)."""
        batch_size = check_int("batch_size", batch_size, low=0)
        generator = self.generator(device)
        # This order of generator calls is part of every seeded result: keep it.
        flip = torch.rand(batch_size, generator=generator, device=generator.device) < 0.5  # torchvision: rand < p
        crop = torch.rand((batch_size, 2), dtype=torch.float64, generator=generator, device=generator.device)
        return {"flip": flip, "crop": crop}

    def apply_draws(self, batch: torch.Tensor, draws: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Flip and crop ``batch`` with the choices of :meth:`draw`; returns a new tensor."""
        channels = check_batch(batch)
        out = batch
        if self.flip:
            out = torch.where(draws["flip"].view(-1, 1, 1, 1), batch.flip(-1), batch)
        pad = crop_padding(self.crop, self.num_bins, *batch.shape[2:])
        if pad:
            offsets = torch.clamp((draws["crop"] * (2 * pad + 1)).to(torch.int64), max=2 * pad)
            pads = torch.full((batch.shape[0],), float(pad), dtype=torch.float64, device=batch.device)
            out = KERNELS["RandomCrop"](out, pads, "nearest", _fill_tensor(self.fill, channels, batch.device),
                                        offsets)
        return out if out is not batch else batch.clone()


class BatchedChain:
    """Batched stages applied in turn (the pre-stage, then the ops), drawing from their generators.

    Example:
        >>> chain = BatchedChain([BatchedPreStage(flip=True, generator=0), BatchedRandAugment(1, 5, generator=0)])
        >>> chain(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(self, stages: Sequence[Any]) -> None:
        if not stages:
            raise PolicyError("a chain should have at least one stage, but got none")
        self.stages = tuple(stages)

    def __repr__(self) -> str:
        return f"BatchedChain({list(self.stages)})"

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            batch = stage(batch)
        return batch
