"""RandAugment over the op registry, CutMix/MixUp on batches, preview grids.

``RandAugment`` draws N operations uniformly with replacement and a random
sign for signed ones, then applies them at magnitude bin M, exactly as
``torchvision.transforms.v2.RandAugment`` does, but on NumPy/OpenCV so that it
is cheap enough to run per sample in a proxy fine-tune.

Example:
    >>> import numpy as np
    >>> from policysearch.augment import RandAugment
    >>> ra = RandAugment(2, 9, rng=0)
    >>> ra(np.zeros((32, 32, 3), np.uint8)).shape
    (32, 32, 3)
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from policysearch import ops as ops_module
from policysearch.errors import DataError, PolicyError
from policysearch.schema import check_choice, check_int, check_number, show

__all__ = ["RandAugment", "BatchMix", "preview_grid", "save_png", "as_generator"]

# Random draws are made in blocks: one Generator call per block instead of
# two per image keeps the per-image overhead at 32x32 negligible.
_DRAW_BLOCK = 1024


def as_generator(rng: Any) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a Generator, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, int) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise PolicyError(f"rng should be an int seed, a numpy Generator or None, but got {show(rng)}")


class RandAugment:
    """RandAugment: N ops drawn uniformly with replacement, each at bin M.

    Accepts a numpy uint8 image (HxW or HxWxC, C in {1, 3}), a PIL image
    (mode ``L`` or ``RGB``) or a torch uint8 tensor (CxHxW) and returns the
    same type. Signed ops are negated with probability 1/2, as torchvision
    does.

    Args:
        num_ops: N, operations applied per image (>= 0).
        magnitude: M, an integer bin in ``[0, num_bins - 1]``.
        ops: operation names from :data:`policysearch.ops.OPS`.
        num_bins: number of magnitude bins (torchvision: 31).
        interpolation: ``"nearest"`` (torchvision's default) or ``"bilinear"``.
        fill: pixel value for areas a geometric op uncovers.
        rng: an int seed, a ``numpy.random.Generator``, or None.

    Example:
        >>> RandAugment(2, 9, ops=("Rotate", "Cutout"), rng=1)(np.ones((8, 8), np.uint8)).dtype
        dtype('uint8')
    """

    def __init__(
        self,
        num_ops: int,
        magnitude: int,
        ops: Sequence[str] = ops_module.TORCHVISION_OPS,
        *,
        num_bins: int = 31,
        interpolation: str = "nearest",
        fill: int | Sequence[int] = 0,
        rng: Any = None,
    ) -> None:
        self.num_bins = check_int("num_bins", num_bins, low=2)
        self.num_ops = check_int("num_ops", num_ops, low=0)
        self.magnitude = check_int("magnitude", magnitude, low=0, high=self.num_bins - 1)
        if isinstance(ops, str) or not ops:
            raise PolicyError(f"ops should be a non-empty list of operation names, but got {show(ops)}")
        self.specs = tuple(ops_module.get_op(name) for name in ops)
        self.interpolation = check_choice("interpolation", interpolation, ("nearest", "bilinear"))
        self.fill = ops_module.as_fill(fill, 3)  # validated once: the hot path does not
        self.rng = as_generator(rng)
        self._values: dict[tuple[int, int], tuple[tuple[Any, Any], ...]] = {}
        self._choices = np.empty(0, np.int64)
        self._signs = np.empty(0, bool)
        self._cursor = 0

    def __repr__(self) -> str:
        names = [spec.name for spec in self.specs]
        return f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, ops={names})"

    def __call__(self, image: Any) -> Any:
        if isinstance(image, np.ndarray):
            return self.apply_numpy(image)
        torch = sys.modules.get("torch")  # no torch import unless the caller has one
        if torch is not None and isinstance(image, torch.Tensor):
            return self._apply_tensor(image)
        if type(image).__module__.startswith("PIL."):
            return self._apply_pil(image)
        raise DataError(
            "RandAugment takes a numpy uint8 image, a PIL image or a torch uint8 CxHxW "
            f"tensor, but got {type(image).__name__}"
        )

    def apply_numpy(self, image: np.ndarray) -> np.ndarray:
        """Augment one numpy uint8 image (HxW or HxWxC); returns a new array."""
        ops_module.check_image(image)
        if self.num_ops == 0:
            return image.copy()
        values = self._values_for(image.shape[0], image.shape[1])
        out = image
        for _ in range(self.num_ops):
            index, negative = self._draw()
            spec = self.specs[index]
            value = values[index][1 if negative and spec.signed else 0]
            out = spec.apply(out, value, self.interpolation, self.fill, self.rng)
        return out if out is not image else image.copy()

    def _values_for(self, height: int, width: int) -> tuple[tuple[Any, Any], ...]:
        """(value, negated value) per op; translate ranges depend on the size."""
        key = (height, width)
        values = self._values.get(key)
        if values is None:
            values = tuple(
                (
                    ops_module.op_value(s.name, self.magnitude, num_bins=self.num_bins,
                                        height=height, width=width, sign=1),
                    ops_module.op_value(s.name, self.magnitude, num_bins=self.num_bins,
                                        height=height, width=width, sign=-1),
                )
                for s in self.specs
            )
            self._values[key] = values
        return values

    def _draw(self) -> tuple[int, bool]:
        if self._cursor >= len(self._choices):
            self._choices = self.rng.integers(0, len(self.specs), size=_DRAW_BLOCK)
            # torchvision negates when rand() <= 0.5: probability one half.
            self._signs = self.rng.random(_DRAW_BLOCK) < 0.5
            self._cursor = 0
        i = self._cursor
        self._cursor += 1
        return int(self._choices[i]), bool(self._signs[i])

    def _apply_tensor(self, tensor: Any) -> Any:
        import torch

        if tensor.dtype != torch.uint8 or tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
            raise DataError(
                "RandAugment takes a torch uint8 tensor of shape CxHxW with C in {1, 3}, "
                f"but got dtype {tensor.dtype} and shape {tuple(tensor.shape)}"
            )
        hwc = tensor.detach().cpu().permute(1, 2, 0).numpy()
        out = self.apply_numpy(hwc)
        if out.ndim == 2:
            out = out[:, :, None]
        return torch.from_numpy(out).permute(2, 0, 1).contiguous().to(tensor.device)

    def _apply_pil(self, image: Any) -> Any:
        from PIL import Image

        if image.mode not in ("L", "RGB"):
            raise DataError(
                f"RandAugment takes PIL images in mode 'L' or 'RGB', but got mode {image.mode!r}; "
                "convert it first, e.g. image.convert('RGB')"
            )
        return Image.fromarray(self.apply_numpy(np.asarray(image)), mode=image.mode)


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
        self.kind = check_choice("mixing.kind", kind, ("cutmix", "mixup"))
        self.num_classes = check_int("num_classes", num_classes, low=1)
        self.prob = check_number("mixing.prob", prob, low=0.0, high=1.0)
        self.alpha = check_number("mixing.alpha", alpha, low=0.0, low_open=True)
        self.rng = as_generator(rng)

    def __call__(self, images: Any, labels: Any) -> tuple[Any, Any]:
        import torch

        soft = labels.ndim == 2 and labels.is_floating_point()
        if images.ndim != 4 or not (labels.ndim == 1 or soft) or labels.shape[0] != images.shape[0]:
            raise DataError(
                "BatchMix takes images NxCxHxW and labels N (or float targets NxD), but got shapes "
                f"{tuple(images.shape)} and {tuple(labels.shape)}"
            )
        # Float rows (soft labels, or a teacher's probabilities beside them)
        # are mixed as they are: mixing is linear, so any columns can ride along.
        targets = labels.float() if soft else torch.nn.functional.one_hot(labels.long(), self.num_classes).float()
        if self.rng.random() >= self.prob or images.shape[0] < 2:
            return images, targets
        lam = float(self.rng.beta(self.alpha, self.alpha))
        perm = torch.from_numpy(self.rng.permutation(images.shape[0])).to(images.device)
        if self.kind == "mixup":
            mixed = images.float() * lam + images[perm].float() * (1.0 - lam)
            images = mixed.round().to(images.dtype) if not images.is_floating_point() else mixed.to(images.dtype)
        else:
            images, lam = self._cutmix(images, perm, lam)
        targets = targets * lam + targets[perm] * (1.0 - lam)
        return images, targets

    def _cutmix(self, images: Any, perm: Any, lam: float) -> tuple[Any, float]:
        height, width = images.shape[-2:]
        cut = math.sqrt(1.0 - lam)  # the box covers (1 - lam) of the area
        box_h, box_w = int(round(height * cut)), int(round(width * cut))
        cy, cx = int(self.rng.integers(height)), int(self.rng.integers(width))
        y0, y1 = max(cy - box_h // 2, 0), min(cy + box_h - box_h // 2, height)
        x0, x1 = max(cx - box_w // 2, 0), min(cx + box_w - box_w // 2, width)
        mixed = images.clone()
        mixed[:, :, y0:y1, x0:x1] = images[perm, :, y0:y1, x0:x1]
        return mixed, 1.0 - (y1 - y0) * (x1 - x0) / float(height * width)


def preview_grid(
    images: Sequence[np.ndarray],
    transform: Callable[[np.ndarray], np.ndarray],
    *,
    draws: int = 6,
    min_tile: int = 96,
    pad: int = 2,
) -> np.ndarray:
    """A grid: one row per image, the original first, then ``draws`` augmentations.

    Tiles are upscaled by an integer factor (nearest) to at least ``min_tile``
    pixels so that 28x28 images stay legible. The result is RGB uint8 of size
    ``rows * (tile_h + pad) + pad`` by ``(draws + 1) * (tile_w + pad) + pad``.

    Example:
        >>> grid = preview_grid([np.zeros((28, 28, 1), np.uint8)], RandAugment(2, 9, rng=0), draws=3)
        >>> grid.shape
        (118, 462, 3)
    """
    if not images:
        raise DataError("preview needs at least one image, but got none")
    check_int("draws", draws, low=1)
    height, width = images[0].shape[:2]
    scale = max(1, math.ceil(min_tile / min(height, width)))
    tile_h, tile_w = height * scale, width * scale
    rows, cols = len(images), draws + 1
    grid = np.full((rows * (tile_h + pad) + pad, cols * (tile_w + pad) + pad, 3), 255, np.uint8)
    for r, image in enumerate(images):
        tiles = [image] + [transform(image) for _ in range(draws)]
        for c, tile in enumerate(tiles):
            y, x = pad + r * (tile_h + pad), pad + c * (tile_w + pad)
            grid[y : y + tile_h, x : x + tile_w] = _to_rgb(_upscale(tile, scale))
    return grid


def _upscale(image: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB (or grayscale) uint8 image as PNG, creating parent folders."""
    path = Path(path)
    bgr = image[:, :, ::-1] if image.ndim == 3 and image.shape[2] == 3 else image
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(bgr))
    if not ok:
        raise DataError(f"cannot encode a PNG from an image of shape {image.shape}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encoded.tobytes())
    except OSError as exc:
        raise DataError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path
