"""How training batches reach the model.

* :class:`HostFeed` (the CPU path, and the reference): numpy batches,
  augmented image by image with the OpenCV ops. Where a core is free for it
  (the model trains on a GPU, or torch's threads leave a core over), a
  producer thread prepares the next batch (shuffle order, augmentation, the
  batch's mixing draws) while the model trains on this one; OpenCV and torch
  both release the GIL, so the two overlap. Where torch computes on every
  core, the batch is prepared inline: a producer there only takes a core from
  torch (:func:`~policysearch.training.devices.spare_core`). The producer is
  the only user of the run's generator during an epoch and draws in batch
  order, so a seed gives the same run either way.
* :class:`DeviceFeed` (the GPU path, after airbench): the training split
  lives on the device as one uint8 NxCxHxW tensor; shuffling, batching and
  augmentation (:mod:`policysearch.augment.batched`, a fresh op, sign and bin
  per image) run there, and nothing is copied per batch. Its draws come from
  a torch generator on the device, seeded by one draw from the run's numpy
  generator, so a seed still gives the same run on the same device.

Evaluation splits reach the device path the same way: a :class:`ResidentSplit`
is copied there once and cut into batches there (the session keeps the
validation split's for the whole run).

:func:`make_feed` chooses: ``augment_on="auto"`` is the device path on CUDA
and MPS and the host path on the CPU; ``"host"`` and ``"device"`` force one
(``"device"`` on the CPU runs the batched ops there, as the tests do).

Example:
    >>> import numpy as np, torch
    >>> rows = np.arange(6) % 2
    >>> feed = HostFeed(np.zeros((6, 8, 8, 3), np.uint8), rows, 4, np.random.default_rng(0), None, None,
    ...                 torch.device("cpu"))
    >>> [tuple(x.shape) for x, _ in feed.epoch()]
    [(4, 3, 8, 8), (2, 3, 8, 8)]
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import numpy as np
import torch

from policysearch.augment.batched import BatchedChain, BatchedPreStage, BatchedRandAugment, BatchedTrivialAugmentWide
from policysearch.training.devices import spare_core, to_float_batch

__all__ = ["HostFeed", "DeviceFeed", "ResidentSplit", "make_feed", "device_augment", "ahead"]

Batch = tuple[torch.Tensor, torch.Tensor]


def ahead(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, each prepared by a worker thread while the caller uses the previous one.

    Order is kept; an exception in the producer reaches the caller at that
    item; a caller that stops early waits for the one item in progress.

    Example:
        >>> list(ahead(iter(range(3))))
        [0, 1, 2]
    """
    end = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="policysearch-feed") as pool:
        pending = pool.submit(next, items, end)
        while (item := pending.result()) is not end:
            pending = pool.submit(next, items, end)
            yield item


def _rows_tensor(rows: np.ndarray) -> torch.Tensor:
    """Int labels (N,) or float target rows (N, D) as the loss wants them."""
    return torch.from_numpy(np.asarray(rows, dtype=np.int64 if rows.ndim == 1 else np.float32))


class HostFeed:
    """Shuffled numpy batches, augmented per image on the CPU one batch ahead (see the module docstring)."""

    def __init__(self, images: np.ndarray, rows: np.ndarray, batch_size: int, rng: np.random.Generator,
                 augment: Any, mixer: Any, device: torch.device, overlap: bool = True) -> None:
        self.images, self.rows, self.batch_size = images, rows, batch_size
        self.rng, self.augment, self.mixer, self.device = rng, augment, mixer, device
        self.overlap = overlap  # a producer thread prepares the next batch (the same draws either way)

    def _prepared(self) -> Iterator[tuple[np.ndarray, np.ndarray, Any]]:
        # Every draw of an epoch, in this order: the shuffle, then per batch
        # its augmentations and its mixing choices.
        order = self.rng.permutation(len(self.rows))
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            chunk = self.images[index]
            if self.augment is not None:
                chunk = np.stack([self.augment(image) for image in chunk])
            draw = None if self.mixer is None else self.mixer.draw(len(index), *chunk.shape[1:3])
            yield chunk, self.rows[index], draw

    def epoch(self) -> Iterator[Batch]:
        """One epoch of ``(x, y)``: float NCHW channels-last images and their rows, on the device."""
        for chunk, rows, draw in (ahead(self._prepared()) if self.overlap else self._prepared()):
            x, y = to_float_batch(chunk, self.device), _rows_tensor(rows).to(self.device)
            yield (x, y) if self.mixer is None else self.mixer.apply(x, y, draw)

    def state_dict(self) -> Any:
        """The augmentation's pending draws (None without augmentation)."""
        return None if self.augment is None else self.augment.state_dict()

    def load_state_dict(self, state: Any) -> None:
        # A run checkpointed on the device path (a GPU) and resumed here starts fresh host draws.
        if self.augment is not None and state is not None and "device_generator" not in state:
            self.augment.load_state_dict(state)


def device_augment(policy: Any, generator: torch.Generator) -> Any:
    """The policy's per-image augmentation as a batched augmenter drawing from ``generator``: the pre-stage
    (flip, crop) when the policy has one, then its RandAugment or TrivialAugmentWide.

    Example:
        >>> from policysearch.policy import Policy
        >>> type(device_augment(Policy(kind="trivialaugment"), torch.Generator())).__name__
        'BatchedTrivialAugmentWide'
        >>> device_augment(Policy(num_ops=0, flip=True, crop=15), torch.Generator())
        BatchedChain([BatchedPreStage(flip=True, crop=15)])
    """
    settings = dict(ops=policy.ops, num_bins=policy.num_magnitude_bins, interpolation=policy.interpolation,
                    fill=policy.fill, generator=generator, op_bins=policy.op_bins)
    if policy.kind == "trivialaugment":
        ops = BatchedTrivialAugmentWide(**settings)
    else:
        ops = BatchedRandAugment(policy.num_ops, policy.magnitude, **settings)
    if not (policy.flip or policy.crop):
        return ops
    pre = BatchedPreStage(flip=policy.flip, crop=policy.crop, num_bins=policy.num_magnitude_bins, fill=policy.fill,
                          generator=generator)
    return BatchedChain([pre] if policy.num_ops == 0 else [pre, ops])


class DeviceFeed:
    """Shuffled batches cut, augmented and mixed on the device from one resident uint8 tensor."""

    def __init__(self, images: np.ndarray, rows: np.ndarray, batch_size: int, rng: np.random.Generator,
                 policy: Any, mixer: Any, device: torch.device) -> None:
        hwc = images if images.ndim == 4 else images[..., None]
        self.images = torch.from_numpy(np.ascontiguousarray(hwc)).to(device).permute(0, 3, 1, 2).contiguous()
        self.rows = _rows_tensor(rows).to(device)
        self.batch_size, self.mixer, self.device = batch_size, mixer, device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(rng.integers(2**62)))  # one draw: the run's seed decides every later one
        self.augment = device_augment(policy, self.generator) if policy.augments else None

    def epoch(self) -> Iterator[Batch]:
        """One epoch of ``(x, y)``: float NCHW channels-last images in [0, 1] and their rows, on the device."""
        count = self.images.shape[0]
        order = torch.randperm(count, generator=self.generator, device=self.device)
        for start in range(0, count, self.batch_size):
            index = order[start : start + self.batch_size]
            chunk = self.images.index_select(0, index)
            if self.augment is not None:
                chunk = self.augment(chunk)
            x = chunk.float().div_(255.0).contiguous(memory_format=torch.channels_last)
            y = self.rows.index_select(0, index)
            if self.mixer is not None:
                x, y = self.mixer.apply(x, y, self.mixer.draw(len(index), *chunk.shape[2:]))
            yield x, y

    def state_dict(self) -> Any:
        """The device generator's state: every later shuffle and augmentation draw follows from it."""
        return {"device_generator": self.generator.get_state()}

    def load_state_dict(self, state: Any) -> None:
        if isinstance(state, dict) and "device_generator" in state:
            self.generator.set_state(state["device_generator"].cpu())


class ResidentSplit:
    """An evaluation split (uint8 NHWC images, int labels) copied to the device once, batched there.

    Its float batches are what :func:`~policysearch.training.devices.to_float_batch`
    makes of the same rows (NCHW channels-last in [0, 1]), so an evaluation
    from it scores exactly as one that copies batch by batch.

    Example:
        >>> from policysearch.data import Split
        >>> split = Split(np.zeros((5, 8, 8, 3), np.uint8), np.arange(5) % 2)
        >>> resident = ResidentSplit(split, torch.device("cpu"))
        >>> resident.holds(split), [tuple(x.shape) for x, _ in resident.batches(4)]
        (True, [(4, 3, 8, 8), (1, 3, 8, 8)])
    """

    def __init__(self, split: Any, device: torch.device) -> None:
        self.split = split  # what was copied: the same object is served from the copy
        hwc = split.images if split.images.ndim == 4 else split.images[..., None]
        self.images = torch.from_numpy(np.ascontiguousarray(hwc)).to(device)
        self.labels = torch.from_numpy(np.asarray(split.labels, dtype=np.int64)).to(device)

    def holds(self, split: Any) -> bool:
        """Whether ``split`` is the split this copy was made from (splits are read-only)."""
        return split is self.split

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """``(x, y)`` in order, ``batch_size`` rows at a time, cut from the resident tensors."""
        for start in range(0, len(self.labels), batch_size):
            chunk = self.images[start : start + batch_size].permute(0, 3, 1, 2)
            x = chunk.float().div_(255.0).contiguous(memory_format=torch.channels_last)
            yield x, self.labels[start : start + batch_size]


def make_feed(augment_on: str, images: np.ndarray, rows: np.ndarray, batch_size: int, rng: np.random.Generator,
              policy: Any, mixer: Any, device: torch.device) -> Any:
    """The feed for ``augment_on`` (see the module docstring) on ``device``."""
    on_device = augment_on == "device" or (augment_on == "auto" and device.type in ("cuda", "mps"))
    if on_device:
        return DeviceFeed(images, rows, batch_size, rng, policy, mixer, device)
    # One augmentation for the whole run, drawing from the run's generator;
    # its pending draws are part of the session's state, so a resumed run draws the same.
    augment = policy.transform(rng=rng) if policy.augments else None
    overlap = device.type != "cpu" or spare_core()
    return HostFeed(images, rows, batch_size, rng, augment, mixer, device, overlap)
