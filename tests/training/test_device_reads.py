"""What the device path reads back and copies: training losses read every few steps instead of every
step, and the evaluated split copied to the device once per session. Run on the CPU through the same
code (a device feed, an explicit read interval), so the numbers must equal the host path's exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from policysearch import Policy
from policysearch.data import Split
from policysearch.policy import Transfer
from policysearch.training import TrainConfig, evaluate, start_session, train_epoch
from policysearch.training.loop import LOSS_CHECK_STEPS

FAST = Transfer("finetune", head_lr=1e-2, backbone_lr=1e-2)


def _session(splits, tiny_cnn, **settings):
    config = TrainConfig(**{"epochs": 2, "batch_size": 32, "eval_batch_size": 64, "seed": 3, "device": "cpu",
                            **settings})
    policy = Policy(num_ops=1, magnitude=5, transfer=FAST)
    return start_session(lambda: tiny_cnn(seed=5), policy, splits.train.images, splits.train.labels, config)


def _epoch(session, batches=None, **options):
    return train_epoch(session.model, session.optimizer, session.scheduler,
                       session.feed.epoch() if batches is None else batches, device=session.device,
                       approach=session.approach, **options)


@pytest.mark.parametrize("every", [3, 1000])
def test_losses_read_every_few_steps_give_the_same_epoch(digits_splits, tiny_cnn, every):
    splits = digits_splits(200, 100)  # 7 steps an epoch: 3 does not divide it, 1000 reads once at the end
    step_by_step, batched = _session(splits, tiny_cnn), _session(splits, tiny_cnn)
    assert _epoch(step_by_step) == _epoch(batched, check_every=every)
    for a, b in zip(step_by_step.model.state_dict().values(), batched.model.state_dict().values()):
        assert torch.equal(a, b)
    assert LOSS_CHECK_STEPS > 1  # off the CPU the default is a batch of steps, not every step


class Counted:
    """The batches of an epoch, one of them NaN, counting how many were taken."""

    def __init__(self, batches, poisoned: int) -> None:
        self.batches, self.poisoned, self.taken = batches, poisoned, 0

    def __iter__(self):
        for index, (x, y) in enumerate(self.batches):
            self.taken += 1
            yield (torch.full_like(x, float("nan")) if index == self.poisoned else x), y


@pytest.mark.parametrize(("every", "taken"), [(None, 3), (4, 4), (1000, 7)])
def test_a_nan_loss_ends_the_epoch_at_the_next_read(digits_splits, tiny_cnn, every, taken):
    splits = digits_splits(200, 100)
    session = _session(splits, tiny_cnn)
    batches = Counted(list(session.feed.epoch()), poisoned=2)  # the third of 7 steps
    loss = _epoch(session, batches, **({} if every is None else {"check_every": every}))
    assert math.isnan(loss)
    assert batches.taken == taken  # the CPU reads each step; a read interval stops at its next read


def test_a_device_feed_session_evaluates_from_one_resident_copy(digits_splits, tiny_cnn):
    splits = digits_splits(200, 100)
    session = _session(splits, tiny_cnn, augment_on="device")
    session.train_epoch()
    first = session.evaluate(splits.val)
    # The numbers of the batch-by-batch host evaluation, exactly (100 rows: batches of 64 and 36).
    assert first == evaluate(session.model, splits.val, device="cpu", batch_size=64)
    copy = session.resident
    assert copy.holds(splits.val) and copy.images.dtype == torch.uint8 and len(copy) == 100
    session.train_epoch()
    second = session.evaluate(splits.val)
    assert session.resident is copy  # the same copy for the next epoch's validation
    assert second == evaluate(session.model, splits.val, device="cpu", batch_size=64) and second != first
    test = session.evaluate(splits.test)
    assert session.resident.holds(splits.test) and not session.resident.holds(splits.val)  # one split kept
    assert test == evaluate(session.model, splits.test, device="cpu", batch_size=64)


def test_the_host_path_keeps_no_copy(digits_splits, tiny_cnn):
    splits = digits_splits(200, 100)
    session = _session(splits, tiny_cnn)
    session.train_epoch()
    assert session.evaluate(splits.val) == evaluate(session.model, splits.val, device="cpu", batch_size=64)
    assert session.resident is None


def test_an_empty_split_evaluates_to_zeros(tiny_cnn):
    model = tiny_cnn()
    empty = Split(np.zeros((0, 16, 16, 1), np.uint8), np.zeros(0, np.int64))
    result = evaluate(model, empty, device="cpu")
    assert (result.accuracy, result.loss) == (0.0, 0.0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_validation_stays_resident_and_losses_match_a_read_per_step(digits_splits, tiny_cnn):
    splits = digits_splits(400, 300)
    session = _session(splits, tiny_cnn, device="cuda")
    reference = _session(splits, tiny_cnn, device="cuda")
    lazy, eager = session.train_epoch(), _epoch(reference, check_every=1)
    assert lazy == pytest.approx(eager, rel=1e-3)  # the same steps; cuDNN may reorder sums
    result = session.evaluate(splits.val)
    assert session.resident.images.is_cuda and session.resident.holds(splits.val)
    copy = session.resident.images.data_ptr()
    session.train_epoch()
    session.evaluate(splits.val)
    assert session.resident.images.data_ptr() == copy
    host = evaluate(session.model, splits.val, device="cuda", batch_size=64)
    assert session.evaluate(splits.val) == host and 0 <= result.accuracy <= 1
