"""How closely each export format reproduces each operation: per op, against our ops (torchvision's, bit for bit).

For every torchvision op at bins 9 and 20, a one-op policy is exported to
albumentations and Kornia, and the op is run through timm's ``AugmentOp`` at
the rescaled magnitude that the timm export's config string carries, and
applied to real photographs
(random 64x64 crops of scikit-learn's two sample images); each output is
compared with ``apply_op`` at the sign closer to it (the exports draw the sign
themselves). Printed per op and format: the mean absolute difference in
intensity levels and the share of pixels identical in every channel. The
torchvision export needs no column: ``tests/augment/test_ops.py`` shows our
ops are torchvision's, bit for bit.

    python bench/export_fidelity.py [--crops 16]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from sklearn.datasets import load_sample_images

from policysearch import Policy
from policysearch.augment.ops import TORCHVISION_OPS, apply_op

FORMATS = ("timm", "albumentations", "kornia")
# Our op -> timm's name for it in its increasing-strength set (the timm export's ``inc1``); timm has no Identity.
TIMM_OPS = {"ShearX": "ShearX", "ShearY": "ShearY", "TranslateX": "TranslateXRel", "TranslateY": "TranslateYRel",
            "Rotate": "Rotate", "Brightness": "BrightnessIncreasing", "Color": "ColorIncreasing",
            "Contrast": "ContrastIncreasing", "Sharpness": "SharpnessIncreasing", "Posterize": "PosterizeIncreasing",
            "Solarize": "SolarizeIncreasing", "AutoContrast": "AutoContrast", "Equalize": "Equalize"}


def photo_crops(count: int, side: int = 64, seed: int = 0) -> list[np.ndarray]:
    """``count`` random crops from each of scikit-learn's sample photographs (china, flower)."""
    rng = np.random.default_rng(seed)
    crops = []
    for photo in load_sample_images().images:
        for _ in range(count):
            y, x = rng.integers(photo.shape[0] - side), rng.integers(photo.shape[1] - side)
            crops.append(np.ascontiguousarray(photo[y:y + side, x:x + side]))
    return crops


def exported(policy: Policy, fmt: str):
    """A function uint8 HWC -> uint8 HWC applying the policy through format ``fmt``."""
    if fmt == "timm":
        return _timm_op(policy)
    if fmt == "albumentations":
        pipeline = policy.to_albumentations()
        return lambda img: pipeline(image=img)["image"]
    module = policy.to_kornia(image_size=64)

    def apply(img: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
        out = module(batch)[0].permute(1, 2, 0).numpy()
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    return apply


def _timm_op(policy: Policy):
    from PIL import Image
    from timm.data.auto_augment import AugmentOp

    name = TIMM_OPS.get(policy.ops[0])
    if name is None:
        return None
    hparams = {"img_mean": (0, 0, 0), "interpolation": 0, "translate_pct": 150 / 331}
    op = AugmentOp(name, prob=1.0, magnitude=policy.magnitude * 10 / 30, hparams=hparams)
    return lambda img: np.asarray(op(Image.fromarray(img)))


def agreement(fmt: str, op: str, magnitude: int, images: list[np.ndarray]) -> tuple[float, float]:
    """(mean |difference| in levels, share of identical pixels) over ``images``, at the closer sign; NaN: no such op."""
    apply = exported(Policy(num_ops=1, magnitude=magnitude, ops=(op,)), fmt)
    if apply is None:
        return float("nan"), float("nan")
    diffs, same = [], []
    for image in images:
        out = apply(image).astype(np.int16)
        best = None
        for sign in (1, -1):
            ref = apply_op(image, op, magnitude, sign=sign).astype(np.int16)
            score = (float(np.abs(out - ref).mean()), float((out == ref).all(-1).mean()))
            best = score if best is None or score[0] < best[0] else best
        diffs.append(best[0])
        same.append(best[1])
    return float(np.mean(diffs)), float(np.mean(same))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=16, help="crops per sample photograph (default 16)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    images = photo_crops(args.crops)
    print(f"{len(images)} photo crops, 64x64; reference: policysearch's ops (= torchvision v2)")
    print(f"{'op':<13}{'M':>3}  " + "  ".join(f"{fmt:>20}" for fmt in FORMATS))
    print(f"{'':<16} " + "  ".join(f"{'|diff|   identical':>20}" for _ in FORMATS))
    for op in TORCHVISION_OPS:
        for magnitude in (9, 20):
            cells = [agreement(fmt, op, magnitude, images) for fmt in FORMATS]
            print(f"{op:<13}{magnitude:>3}  " + "  ".join(f"{d:8.2f} {s:10.1%}" for d, s in cells))


if __name__ == "__main__":
    main()
