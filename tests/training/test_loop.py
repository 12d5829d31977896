"""The one training loop: the proxy fine-tune and full training are the same run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policysearch import Policy
from policysearch.training import FitConfig, TrainConfig, TrainingSet, fit, proxy_finetune, start_session


@pytest.mark.parametrize("policy", [Policy(num_ops=2, magnitude=9), Policy(kind="trivialaugment")],
                         ids=["randaugment", "trivialaugment"])
def test_proxy_and_full_training_draw_the_same_augmentations(tmp_path, digits_splits, tiny_cnn, policy):
    # Same policy, data and seed: a proxy trial and a full run see the same images and reach the same weights.
    splits = digits_splits(200, 100)
    config = TrainConfig(epochs=3, batch_size=32, seed=4, device="cpu")
    proxy = proxy_finetune(policy, lambda: tiny_cnn(seed=7), splits.train, splits.val, config)
    full = fit(tiny_cnn(seed=7), policy, TrainingSet(splits.train.images, splits.train.labels), splits.val, splits.test,
               FitConfig(**{**config.__dict__}), tmp_path / "run")
    assert full.metrics["val_accuracy"] == list(proxy.val_history)
    assert full.metrics["train_loss"] == list(proxy.train_loss)


def test_a_session_resumed_from_its_state_continues_bit_identically(digits_splits, tiny_cnn):
    splits = digits_splits(200, 100)
    config = TrainConfig(epochs=3, batch_size=16, seed=1, device="cpu")
    policy = Policy(num_ops=2, magnitude=12)

    straight = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, config)
    for _ in range(3):
        straight.train_epoch()

    first = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, config)
    first.train_epoch()
    state = first.state_dict()
    assert state["augment"]["cursor"] > 0  # the augmentation's pending draws are part of the state
    second = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, config)
    second.load_state_dict(state)
    for _ in range(2):
        second.train_epoch()
    for a, b in zip(straight.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)


def test_without_the_augmentation_state_a_resume_draws_differently(digits_splits, tiny_cnn):
    # The check above can fail: drop the pending draws and the weights part ways.
    splits = digits_splits(200, 100)
    config = TrainConfig(epochs=2, batch_size=16, seed=1, device="cpu")
    policy = Policy(num_ops=2, magnitude=12)
    straight = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, config)
    straight.train_epoch(), straight.train_epoch()
    first = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, config)
    first.train_epoch()
    state = {**first.state_dict(), "augment": None}
    second = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, config)
    second.load_state_dict(state)
    second.train_epoch()
    assert not all(torch.equal(a, b) for a, b in zip(straight.model.state_dict().values(),
                                                     second.model.state_dict().values()))
    assert np.isfinite(second.evaluate(splits.val).loss)
