"""The host feed: batches prepared one ahead by a producer thread, drawn as if inline."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy import stats

from policysearch import Policy
from policysearch.policy import Mixing, Transfer
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
    for way in ("thread", "feed inline", "by hand"):
        rng = np.random.default_rng(3)
        augment, mixer = policy.transform(rng=rng), policy.batch_mixer(10, rng=rng)
        if way == "by hand":
            epoch = _inline_epoch(images, train.labels, 32, rng, augment, mixer)
        else:
            epoch = HostFeed(images, train.labels, 32, rng, augment, mixer, torch.device("cpu"),
                             overlap=way == "thread").epoch()
        runs.append([(x.clone(), y.clone()) for x, y in epoch])
    assert [len(run) for run in runs] == [7, 7, 7]
    for (x1, y1), (x2, y2), (x3, y3) in zip(*runs):
        assert torch.equal(x1, x2) and torch.equal(y1, y2) and torch.equal(x1, x3) and torch.equal(y1, y3)


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_the_producer_thread_runs_only_where_a_core_is_free_for_it(torch_threads, monkeypatch):
    import policysearch.training.devices as devices

    images, rows, rng = np.zeros((4, 8, 8, 3), np.uint8), np.arange(4) % 2, np.random.default_rng(0)
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    torch_threads(2)  # torch computes on both cores: augmenting beside it would only take one from it
    assert not make_feed("host", images, rows, 2, rng, Policy(), None, torch.device("cpu")).overlap
    torch_threads(1)
    assert make_feed("host", images, rows, 2, rng, Policy(), None, torch.device("cpu")).overlap


def test_ahead_keeps_order_and_passes_errors_on():
    def items():
        yield from range(3)
        raise ValueError("bad batch 3")

    seen = []
    with pytest.raises(ValueError, match="bad batch 3"):
        for item in ahead(items()):
            seen.append(item)
    assert seen == [0, 1, 2]


# ---------------------------------------------------------------- the device feed (batched path), on CPU here
from policysearch.training import TrainConfig, proxy_finetune, start_session  # noqa: E402
from policysearch.training.feeding import DeviceFeed, make_feed  # noqa: E402


def test_the_device_feed_keeps_the_split_resident_and_is_seeded(digits_splits):
    train = digits_splits(200, 100).train
    images, policy = train.images, Policy(kind="trivialaugment", mixing=Mixing("cutmix", prob=0.5))

    def epoch(seed):
        rng = np.random.default_rng(seed)
        feed = DeviceFeed(images, train.labels, 32, rng, policy, policy.batch_mixer(10, rng=rng), torch.device("cpu"))
        assert feed.images.dtype == torch.uint8 and tuple(feed.images.shape) == (200, 1, 16, 16)
        return [(x.clone(), y.clone()) for x, y in feed.epoch()]

    first, again, other = epoch(3), epoch(3), epoch(4)
    assert [tuple(x.shape) for x, _ in first] == [(32, 1, 16, 16)] * 6 + [(8, 1, 16, 16)]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not torch.equal(first[0][0], other[0][0])
    seen = torch.cat([x for x, _ in first]).flatten(1)
    plain = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).flatten(1)
    # Every image was augmented on its own: most batch rows match no original image.
    assert (torch.cdist(seen, plain).min(dim=1).values > 1e-6).float().mean() > 0.5


def test_auto_augments_on_the_host_for_the_cpu_and_on_the_device_when_asked(digits_splits):
    train = digits_splits(200, 100).train
    args = (train.images, train.labels, 32, np.random.default_rng(0), Policy(), None, torch.device("cpu"))
    assert type(make_feed("auto", *args)).__name__ == "HostFeed"
    assert type(make_feed("host", *args)).__name__ == "HostFeed"
    assert type(make_feed("device", *args)).__name__ == "DeviceFeed"


def test_a_device_feed_session_resumes_bit_identically(digits_splits, tiny_cnn):
    splits = digits_splits(200, 100)
    config = TrainConfig(epochs=2, batch_size=32, seed=2, device="cpu", augment_on="device")
    policy = Policy(num_ops=2, magnitude=12)
    straight = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, config)
    straight.train_epoch()
    state = copy.deepcopy(straight.state_dict())  # the live tensors move on with the next epoch
    straight.train_epoch()
    resumed = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, config)
    resumed.load_state_dict(state)
    resumed.train_epoch()
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_batched_and_opencv_paths_reach_the_same_accuracy_in_distribution(digits_splits, tiny_cnn):
    # Same policy, same seeds: the two paths draw differently but from the same distribution, so their
    # validation accuracies are samples of one seed-noise distribution. Welch's t-test over 8 seeds a
    # path fails a correct device path once in 1,000 (normal seed noise). Measured over 12 seeds, the
    # seed noise is sd 0.03 on either path at this learning rate (0.05-0.06 at 1e-2), so the test fails
    # a gap of about 0.06 (4.1 standard errors of the difference at 14 degrees of freedom).
    splits = digits_splits(400, 300)
    policy = Policy(num_ops=2, magnitude=9, transfer=Transfer("finetune", head_lr=3e-3, backbone_lr=3e-3))
    scores = {}
    for place in ("host", "device"):
        scores[place] = [proxy_finetune(policy, tiny_cnn, splits.train, splits.val,
                                        TrainConfig(epochs=4, batch_size=32, seed=seed, device="cpu",
                                                    augment_on=place)).val_accuracy for seed in range(8)]
    assert np.mean(scores["host"]) > 0.5 and np.mean(scores["device"]) > 0.5, scores  # both learn (chance: 0.1)
    assert stats.ttest_ind(scores["host"], scores["device"], equal_var=False).pvalue > 1e-3, scores


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_proxy_trains_from_the_resident_split(digits_splits, tiny_cnn):
    splits = digits_splits(400, 300)
    policy = Policy(num_ops=2, magnitude=9, transfer=Policy().transfer.__class__("finetune", head_lr=1e-2,
                                                                                   backbone_lr=1e-2))
    config = TrainConfig(epochs=4, batch_size=32, seed=0, device="cuda")
    session = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, config)
    assert type(session.feed).__name__ == "DeviceFeed" and session.feed.images.is_cuda
    result = proxy_finetune(policy, tiny_cnn, splits.train, splits.val, config)
    again = proxy_finetune(policy, tiny_cnn, splits.train, splits.val, config)
    assert result.device == "cuda" and result.val_accuracy > 0.5
    assert abs(result.val_accuracy - again.val_accuracy) <= 0.02  # seeded (cuDNN may reorder sums)


def _same(a, b) -> bool:
    """Equal all the way down: tensors element by element, dicts and lists item by item."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_a_device_path_checkpoint_resumes_on_the_host_path(digits_splits, tiny_cnn):
    # A train run checkpointed on a GPU (device feed) may resume on a CPU (host feed): the weights,
    # the optimiser's moments, the schedule's step and the run's generators go on; only the draws are fresh.
    splits = digits_splits(200, 100)
    policy = Policy(num_ops=2, magnitude=12)
    on_device = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels,
                              TrainConfig(epochs=2, batch_size=32, seed=2, device="cpu", augment_on="device"))
    on_device.train_epoch()
    state = copy.deepcopy(on_device.state_dict())
    host = TrainConfig(epochs=2, batch_size=32, seed=2, device="cpu", augment_on="host")
    fresh = copy.deepcopy(start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, host).state_dict())
    on_host = start_session(tiny_cnn, policy, splits.train.images, splits.train.labels, host)
    on_host.load_state_dict(state)
    resumed = on_host.state_dict()
    for key in ("model", "optimizer", "scheduler", "numpy_rng"):
        assert not _same(fresh[key], state[key]), key  # a session that had not resumed would differ here
        assert _same(resumed[key], state[key]), key
    assert np.isfinite(on_host.train_epoch())
    # The schedule went on from step 7 of 14: the cosine ends at zero after this second epoch.
    assert on_host.scheduler.last_epoch == 14
    assert all(group["lr"] == pytest.approx(0.0, abs=1e-12) for group in on_host.optimizer.param_groups)
