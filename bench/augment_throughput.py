"""Images per second of Policy.transform() against torchvision v2 RandAugment.

Both run on one thread in this process, N=2, M=9, over the same random RGB
images at 32x32 and 224x224. torchvision is timed on PIL images and on uint8
CxHxW tensors; the faster of the two is the reference. Warm-up runs are kept
out of the timings, and each figure is the best of a few repeats.

    python bench/augment_throughput.py            # about a minute
    python bench/augment_throughput.py --quick    # a few seconds, rough figures
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from policysearch import Policy

NUM_OPS, MAGNITUDE = 2, 9
SIZES = (32, 224)
TARGET_RATIO = 3.0


def images_per_second(transform: Callable[[Any], Any], inputs: Sequence[Any], repeats: int) -> float:
    for item in inputs[: max(len(inputs) // 10, 1)]:  # warm-up: caches, LUTs, allocator
        transform(item)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in inputs:
            transform(item)
        best = min(best, time.perf_counter() - start)
    return len(inputs) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, rough figures")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    torch.manual_seed(0)
    repeats = 2 if args.quick else 5
    ours = Policy(num_ops=NUM_OPS, magnitude=MAGNITUDE).transform(rng=0)
    theirs = v2.RandAugment(num_ops=NUM_OPS, magnitude=MAGNITUDE)
    print(f"RandAugment N={NUM_OPS} M={MAGNITUDE}, one thread, images/second (best of {repeats})")
    print(f"{'size':>9} {'policysearch':>13} {'tv PIL':>9} {'tv tensor':>10} {'ratio':>7}  target")
    for size in SIZES:
        count = (200 if args.quick else 2000) if size == 32 else (40 if args.quick else 300)
        rng = np.random.default_rng(size)
        arrays = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]
        pils = [Image.fromarray(a) for a in arrays]
        tensors = [torch.from_numpy(a).permute(2, 0, 1).contiguous() for a in arrays]
        ips_ours = images_per_second(ours, arrays, repeats)
        ips_pil = images_per_second(theirs, pils, repeats)
        ips_tensor = images_per_second(theirs, tensors, repeats)
        ratio = ips_ours / max(ips_pil, ips_tensor)
        verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
        print(f"{size:>4}x{size:<4} {ips_ours:>13,.0f} {ips_pil:>9,.0f} {ips_tensor:>10,.0f} "
              f"{ratio:>6.1f}x  >= {TARGET_RATIO:.0f}x {verdict}")


if __name__ == "__main__":
    main()
