"""The GPU path, measured: batched augmentation, one proxy trial against its floor, workers per device.

Runs on the CPU as well (every figure then comes from the CPU) and prints,
side by side in one process:

1. images per second of RandAugment N=2 M=9 at 32x32 and 224x224: the batched
   path (``policysearch.augment.batched``) on the device, against the
   numpy/OpenCV path on one CPU thread and torchvision v2 RandAugment applied
   image by image to uint8 tensors on the same device. Target on a GPU: the
   batched path at least 20x the one-thread OpenCV path at 224x224.
2. one proxy trial (EfficientNet-Lite0, 32x32, 1,000 Fashion-MNIST images,
   3 epochs, N=2 M=9) with the data and augmentation on the device, against
   its compute floor (the same optimizer steps and validation passes on
   pre-made device tensors). Target on a GPU: at most 1.2x.
3. trials per hour of ``policysearch run --jobs K`` on one device for K = 1, 2,
   4, 8. Target on a GPU: 4 workers at least 2.5x one.

    python bench/gpu_proxy.py              # the whole table
    python bench/gpu_proxy.py --quick      # smaller counts, rough figures (CPU smoke run)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from torchvision.transforms import v2

from policysearch import Policy
from policysearch.augment.batched import BatchedRandAugment
from policysearch.data import load_source, make_splits
from policysearch.models import model_factory
from policysearch.training import TrainConfig, proxy_finetune, resolve_device

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_overhead import floor_seconds  # noqa: E402 - the same floor as the CPU benchmark

NUM_OPS, MAGNITUDE = 2, 9
TARGETS = {"batched_vs_opencv_224": 20.0, "proxy_vs_floor": 1.2, "four_vs_one_worker": 2.5}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(run: Callable[[], None], images: int, device: torch.device, repeats: int) -> float:
    run()  # warm-up: kernels, tables, allocator
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return images / best


def throughput(size: int, count: int, device: torch.device, repeats: int) -> dict[str, float]:
    """Images per second of the three paths on ``count`` RGB images of ``size`` pixels."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    images = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR) for im in small])
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
    batched = BatchedRandAugment(NUM_OPS, MAGNITUDE, generator=torch.Generator(device=device).manual_seed(0))
    opencv = Policy(num_ops=NUM_OPS, magnitude=MAGNITUDE).transform(rng=0)
    reference = v2.RandAugment(num_ops=NUM_OPS, magnitude=MAGNITUDE)
    chunk = 256 if size <= 64 else 64  # the batch a proxy would augment at once

    def run_batched() -> None:
        for start in range(0, count, chunk):
            batched(batch[start : start + chunk])

    def run_opencv() -> None:
        for image in images:
            opencv(image)

    def run_torchvision() -> None:
        for image in batch:
            reference(image)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the OpenCV reference is one thread; cv2 follows its own setting
    cv2.setNumThreads(1)
    try:
        opencv_rate = _rate(run_opencv, count, torch.device("cpu"), repeats)
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(-1)
    return {"batched": _rate(run_batched, count, device, repeats), "opencv": opencv_rate,
            "torchvision": _rate(run_torchvision, count, device, repeats)}


def proxy_against_floor(device: torch.device, epochs: int) -> tuple[float, float]:
    """Seconds of one device-path proxy trial and of its compute floor, steps and validation (best of two each)."""
    source = load_source("fashion-mnist", image_size=32)
    splits = make_splits(source, train_size=1000, val_size=200, seed=0)
    factory = model_factory("efficientnet-lite0", source.num_classes, image_size=32)  # as a search builds models
    policy = Policy(num_ops=NUM_OPS, magnitude=MAGNITUDE)
    config = TrainConfig(epochs=epochs, batch_size=64, device=device.type, augment_on="device")
    floor_seconds(policy, factory, splits, device, epochs=epochs)  # warm-up
    floor = min(floor_seconds(policy, factory, splits, device, epochs=epochs) for _ in range(2))
    proxy = min(proxy_finetune(policy, factory, splits.train, splits.val, config).seconds for _ in range(2))
    return proxy, floor


def trials_per_hour(jobs: int, trials: int, device: torch.device, folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "policysearch", "run", "--train-size", "500", "--val-size", "200",
               "--epochs", "2", "--trials", str(trials), "--jobs", str(jobs), "--no-final",
               "--rung-candidates", "0", "--device", device.type, "--study", f"jobs{jobs}",
               "--storage", f"sqlite:///{folder}/workers.db", "--output-dir", str(folder)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return trials / (time.perf_counter() - start) * 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}), {torch.get_num_threads()} CPU threads for torch")
    counts = {32: 512, 224: 64} if args.quick else {32: 4096, 224: 512}
    print(f"\nRandAugment N={NUM_OPS} M={MAGNITUDE}, images per second:")
    print(f"{'size':>9} {'batched':>10} {'opencv 1t':>10} {'tv v2 per image':>16} {'batched/opencv':>15}")
    for size, count in counts.items():
        rates = throughput(size, count, device, repeats=1 if args.quick else 3)
        print(f"{size:>4}x{size:<4} {rates['batched']:>10,.0f} {rates['opencv']:>10,.0f} "
              f"{rates['torchvision']:>16,.0f} {rates['batched'] / rates['opencv']:>14.1f}x", flush=True)
    proxy, floor = proxy_against_floor(device, epochs=1 if args.quick else 3)
    print(f"\none proxy trial on {device.type} (data and augmentation there): {proxy:.2f} s; compute floor "
          f"{floor:.2f} s; ratio {proxy / floor:.3f} (GPU target <= {TARGETS['proxy_vs_floor']})", flush=True)
    workers = (1, 2) if args.quick else (1, 2, 4, 8)
    trials = 4 if args.quick else 16
    print(f"\ntrials per hour, `policysearch run --jobs K` on one {device.type} device ({trials} trials, "
          f"500/200 images, 2 epochs; includes start-up):")
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        trials_per_hour(1, 1, device, Path(folder) / "warm-up")  # imports, weights and data into the page cache
        for jobs in workers:
            rates[jobs] = trials_per_hour(jobs, trials, device, Path(folder))
            print(f"  {jobs} worker{'s' if jobs > 1 else ' '} {rates[jobs]:8.0f}  ({rates[jobs] / rates[1]:.2f}x one)",
                  flush=True)


if __name__ == "__main__":
    main()
