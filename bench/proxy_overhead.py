"""One proxy fine-tune against its compute floor, in one process.

The proxy: EfficientNet-Lite0 (shipped ImageNet weights) at 32x32, 1,000
Fashion-MNIST training images, 3 epochs, RandAugment N=2 M=9, the default
fine-tune learning-rate split, validation after every epoch. The floor: the
same model and the same number of optimizer steps (AdamW, cosine schedule) on
pre-made float tensors, with no augmentation, no data loading and no
validation. The ratio proxy / floor is the price of everything that is not
the optimizer steps themselves. Target: at most 1.15 on the CPU.

    python bench/proxy_overhead.py
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from policysearch import Policy
from policysearch.data import load_source, make_splits
from policysearch.models import build_model
from policysearch.training import TrainConfig, build_optimizer, evaluate, proxy_finetune, set_train_mode, to_float_batch

MODEL, IMAGE_SIZE = "efficientnet-lite0", 32
TRAIN_SIZE, VAL_SIZE, EPOCHS, BATCH = 1000, 200, 3, 64
TARGET_RATIO = 1.15


def floor_seconds(policy: Policy, factory, splits, device: torch.device, epochs: int = EPOCHS) -> float:
    """The same optimizer steps on tensors made before the clock starts."""
    torch.manual_seed(0)
    model = factory().to(device, memory_format=torch.channels_last)  # as the proxy runs it
    optimizer = build_optimizer(model, policy)
    steps = epochs * math.ceil(TRAIN_SIZE / BATCH)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    batches = [
        (to_float_batch(splits.train.images[i : i + BATCH], device),
         torch.from_numpy(splits.train.labels[i : i + BATCH]).long().to(device))
        for i in range(0, TRAIN_SIZE, BATCH)
    ]
    set_train_mode(model, policy.transfer.approach)  # the same layers train as in the proxy
    start = time.perf_counter()
    for step in range(steps):
        x, y = batches[step % len(batches)]
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss.item()  # the proxy reads every loss to catch divergence; so does the floor
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs each")
    args = parser.parse_args()
    device = torch.device("cpu")
    source = load_source("fashion-mnist", image_size=IMAGE_SIZE)
    splits = make_splits(source, train_size=TRAIN_SIZE, val_size=VAL_SIZE, seed=0)
    factory = lambda: build_model(MODEL, source.num_classes, image_size=IMAGE_SIZE)  # noqa: E731
    policy = Policy(num_ops=2, magnitude=9)
    config = TrainConfig(epochs=EPOCHS, batch_size=BATCH, device="cpu")
    floor_seconds(policy, factory, splits, device)  # warm-up: allocator, kernels, weights in page cache
    floors, proxies, evals = [], [], []
    for _ in range(args.repeats):
        floors.append(floor_seconds(policy, factory, splits, device))
        result = proxy_finetune(policy, factory, splits.train, splits.val, config)
        proxies.append(result.seconds)
        model = factory()
        start = time.perf_counter()
        evaluate(model, splits.val, device=device)
        evals.append(time.perf_counter() - start)
    floor, proxy = min(floors), min(proxies)
    ratio = proxy / floor
    print(f"{MODEL} {IMAGE_SIZE}x{IMAGE_SIZE}, {TRAIN_SIZE} train / {VAL_SIZE} val images, "
          f"{EPOCHS} epochs, batch {BATCH}, N=2 M=9, {torch.get_num_threads()} threads, "
          f"best of {args.repeats}")
    print(f"  compute floor (optimizer steps on pre-made tensors): {floor:7.2f} s")
    print(f"  proxy fine-tune (augment, batches, model build, val): {proxy:7.2f} s")
    print(f"    of which validation passes ({EPOCHS} x {VAL_SIZE} images): ~{EPOCHS * min(evals):.2f} s")
    verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
    print(f"  ratio proxy / floor: {ratio:.3f}  (target <= {TARGET_RATIO}) {verdict}")


if __name__ == "__main__":
    main()
