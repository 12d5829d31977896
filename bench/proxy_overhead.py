"""One proxy fine-tune against its compute floor, in one process.

The proxy: EfficientNet-Lite0 (shipped ImageNet weights) at 32x32, 1,000
Fashion-MNIST training images, 3 epochs, RandAugment N=2 M=9, the default
fine-tune learning-rate split, validation after every epoch, its model from
the search's factory (the backbone loaded once, a fresh copy per trial). The
compute floor: the same model doing the same optimizer steps (AdamW, cosine
schedule) and the same validation forward passes, all on float tensors made
before the clock starts: no augmentation, no data handling, no bookkeeping.
The floor computes the fastest correct way this hardware allows, as the rule
in ``policysearch.training.devices`` chooses it (memory format, autocast
precision for training and for evaluation; ``bench/train_speed.py`` measures
the alternatives), so the ratio also shows any speed the loop leaves unused.
The ratio proxy / floor is the price of everything that is not compute;
target: at most 1.05 on the CPU. For comparison with earlier figures it also
prints the ratio against the optimizer steps alone (validation then counts as
overhead: about 4% of the steps here).

    python bench/proxy_overhead.py
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

from policysearch import Policy
from policysearch.data import load_source, make_splits
from policysearch.models import model_factory
from policysearch.training import (TrainConfig, build_optimizer, proxy_finetune, set_train_mode, start_session,
                                  to_float_batch)
from policysearch.training.devices import autocast, recipe

MODEL, IMAGE_SIZE = "efficientnet-lite0", 32
TRAIN_SIZE, VAL_SIZE, EPOCHS, BATCH = 1000, 200, 3, 64
TARGET_RATIO = 1.05


class Floor:
    """The compute floor, an epoch at a time: the proxy's optimizer steps and validation passes on pre-made tensors."""

    def __init__(self, policy: Policy, factory, splits, device: torch.device, epochs: int = EPOCHS,
                 eval_batch: int = TrainConfig().eval_batch_size) -> None:
        torch.manual_seed(0)
        self.model = factory().to(device, memory_format=recipe(device).memory_format)  # the rule's layout
        self.device = device
        self.optimizer = build_optimizer(self.model, policy)
        self.steps = epochs * math.ceil(TRAIN_SIZE / BATCH)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.steps)
        self.batches = [
            (to_float_batch(splits.train.images[i : i + BATCH], device),
             torch.from_numpy(splits.train.labels[i : i + BATCH]).long().to(device))
            for i in range(0, TRAIN_SIZE, BATCH)
        ]
        self.val = [to_float_batch(splits.val.images[i : i + eval_batch], device)
                    for i in range(0, len(splits.val.labels), eval_batch)]
        self.approach = policy.transfer.approach

    def train_epoch(self) -> None:
        set_train_mode(self.model, self.approach)  # the same layers train as in the proxy
        for x, y in self.batches:
            with autocast(self.device, purpose="train"):  # the rule's training precision
                logits = self.model(x)
            loss = F.cross_entropy(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            loss.item()  # the proxy reads every loss to catch divergence; so does the floor

    @torch.inference_mode()
    def validate(self) -> None:
        self.model.eval()
        for x in self.val:
            with autocast(self.device, purpose="eval"):  # the rule's evaluation precision
                self.model(x).argmax(1).sum().item()  # the proxy reads its counts back, so the floor does too


def floor_seconds(policy: Policy, factory, splits, device: torch.device, epochs: int = EPOCHS) -> float:
    """The whole compute floor at once: every epoch's steps and validation (``bench/gpu_proxy.py``, on the device)."""
    floor = Floor(policy, factory, splits, device, epochs)
    start = time.perf_counter()
    for _ in range(epochs):
        floor.train_epoch()
        floor.validate()  # both end on .item(): the device has finished when the clock stops
    return time.perf_counter() - start


def interleaved(policy: Policy, factory, splits, config: TrainConfig, device: torch.device) -> dict[str, float]:
    """One proxy fine-tune and its floor, epoch by epoch in turn, so a slow spell of the machine hits both.

    The proxy side is :func:`proxy_finetune`'s own steps (``start_session``,
    then per epoch ``train_epoch`` and ``evaluate``), timed from the session's
    start: the model copy, shuffling, augmentation and batching all count.
    """
    floor = Floor(policy, factory, splits, device)
    seconds = {"steps": 0.0, "validation": 0.0, "proxy": 0.0}
    clock = time.perf_counter()
    session = start_session(factory, policy, splits.train.images, splits.train.labels, config)
    seconds["proxy"] += time.perf_counter() - clock
    turns = [("steps", floor.train_epoch), ("validation", floor.validate),
             ("proxy", lambda: (session.train_epoch(), session.evaluate(splits.val)))]
    for epoch in range(EPOCHS):
        for name, work in (turns if epoch % 2 == 0 else turns[::-1]):  # neither side always goes first
            clock = time.perf_counter()
            work()
            seconds[name] += time.perf_counter() - clock
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11, help="interleaved (floor, proxy) runs (default 11)")
    args = parser.parse_args()
    device = torch.device("cpu")
    source = load_source("fashion-mnist", image_size=IMAGE_SIZE)
    splits = make_splits(source, train_size=TRAIN_SIZE, val_size=VAL_SIZE, seed=0)
    factory = model_factory(MODEL, source.num_classes, image_size=IMAGE_SIZE)  # as a search builds its models
    policy = Policy(num_ops=2, magnitude=9)
    config = TrainConfig(epochs=EPOCHS, batch_size=BATCH, device="cpu")
    proxy_finetune(policy, factory, splits.train, splits.val, config)  # warm-up: allocator, kernels
    runs = [interleaved(policy, factory, splits, config, device) for _ in range(args.repeats)]
    ratios = sorted(r["proxy"] / (r["steps"] + r["validation"]) for r in runs)
    ratio = statistics.median(ratios)
    median = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
    print(f"{MODEL} {IMAGE_SIZE}x{IMAGE_SIZE}, {TRAIN_SIZE} train / {VAL_SIZE} val images, "
          f"{EPOCHS} epochs, batch {BATCH}, N=2 M=9, {torch.get_num_threads()} threads, "
          f"{args.repeats} interleaved runs (medians)")
    print(f"  floor and proxy compute as the rule chooses here: {recipe(device)}")
    print(f"  optimizer steps on pre-made tensors:                 {median['steps']:7.2f} s")
    print(f"  validation passes on pre-made tensors ({EPOCHS} x {VAL_SIZE}):   {median['validation']:7.2f} s")
    print(f"  proxy fine-tune (model copy, augment, batches, val): {median['proxy']:7.2f} s")
    verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
    print(f"  ratio proxy / compute floor: {ratio:.3f} (runs {ratios[0]:.3f} to {ratios[-1]:.3f})  "
          f"target <= {TARGET_RATIO}: {verdict}")
    alone = statistics.median(r["proxy"] / r["steps"] for r in runs)
    print(f"  ratio proxy / optimizer steps alone: {alone:.3f}")

if __name__ == "__main__":
    main()
