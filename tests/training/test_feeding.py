"""The host feed: batches prepared one ahead by a producer thread, drawn as if inline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policysearch import Policy
from policysearch.policy import Mixing
from policysearch.training.feeding import HostFeed, ahead


def _inline_epoch(images, rows, batch_size, rng, augment, mixer):
    """The epoch as drawn before the producer thread existed: everything inline, in batch order."""
    order = rng.permutation(len(rows))
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        chunk = np.stack([augment(image) for image in images[index]])
        x = torch.from_numpy(chunk).permute(0, 3, 1, 2).float().div(255.0)
        yield mixer(x, torch.from_numpy(rows[index]).long())


def test_the_producer_thread_draws_what_inline_drawing_did(digits_splits):
    # Augmentations, shuffle and CutMix draws all come from one generator; prepared
    # one batch ahead on another thread, they must still come in the same order.
    train = digits_splits(200, 100).train
    images = np.repeat(train.images[..., None], 3, axis=-1) if train.images.ndim == 3 else train.images
    policy = Policy(num_ops=2, magnitude=9, mixing=Mixing("cutmix", prob=0.5))
    runs = []
    for threaded in (True, False):
        rng = np.random.default_rng(3)
        augment, mixer = policy.transform(rng=rng), policy.batch_mixer(10, rng=rng)
        if threaded:
            epoch = HostFeed(images, train.labels, 32, rng, augment, mixer, torch.device("cpu")).epoch()
        else:
            epoch = _inline_epoch(images, train.labels, 32, rng, augment, mixer)
        runs.append([(x.clone(), y.clone()) for x, y in epoch])
    assert len(runs[0]) == len(runs[1]) == 7
    for (x1, y1), (x2, y2) in zip(*runs):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_ahead_keeps_order_and_passes_errors_on():
    def items():
        yield from range(3)
        raise ValueError("bad batch 3")

    seen = []
    with pytest.raises(ValueError, match="bad batch 3"):
        for item in ahead(items()):
            seen.append(item)
    assert seen == [0, 1, 2]
