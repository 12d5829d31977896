"""Full training into a run directory: files, resume after interruption, refusals."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from policysearch import Policy
from policysearch.distill import Teaching
from policysearch.errors import TrainingError
from policysearch.policy import Mixing, Transfer
from policysearch.training import FitConfig, TrainingSet, evaluate, fit

POLICY = Policy(num_ops=1, magnitude=5, transfer=Transfer("finetune", head_lr=3e-3, backbone_lr=3e-3))
CONFIG = FitConfig(epochs=3, batch_size=32, seed=0, device="cpu")


@pytest.fixture(scope="module")
def digits(digits_splits):
    return digits_splits(train_size=400, val_size=150)


@pytest.fixture(scope="module")
def run(digits, tiny_cnn):
    """``run(run_dir, policy=POLICY, config=CONFIG, **kwargs)``: fit a fresh tiny-cnn (seed 0) on ``digits``."""

    def run(run_dir, policy=POLICY, config=CONFIG, **kwargs):
        train = TrainingSet(digits.train.images, digits.train.labels)
        return fit(tiny_cnn(seed=0), policy, train, digits.val, digits.test, config, run_dir,
                   description={"what": "test"}, **kwargs)

    return run


def test_run_directory_holds_weights_metrics_and_curves(run, digits, tiny_cnn, tmp_path):
    result = run(tmp_path / "run")
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"run.json", "checkpoint.pt", "metrics.json", "model.pt", "curves.png"} <= files
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["finished"] and metrics == dict(result.metrics)
    assert len(metrics["train_loss"]) == len(metrics["val_accuracy"]) == 3
    assert metrics["train_loss"][-1] < metrics["train_loss"][0]
    assert metrics["val_accuracy"][-1] > 0.5  # ten classes: chance is 0.1
    # The saved state dict is the trained model: reloaded, it scores the same on the test split.
    model = tiny_cnn(seed=123)
    model.load_state_dict(torch.load(tmp_path / "run" / "model.pt", weights_only=True))
    assert evaluate(model, digits.test, device="cpu").accuracy == pytest.approx(metrics["test_accuracy"])
    image = cv2.imread(str(tmp_path / "run" / "curves.png"))
    assert image is not None and image.shape[0] >= 120 and image.shape[1] >= 320


def test_an_interrupted_run_resumes_to_the_same_weights(run, tmp_path):
    straight = run(tmp_path / "straight")

    def stop_after_first_epoch(epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", on_epoch=stop_after_first_epoch)
    assert not (tmp_path / "resumed" / "model.pt").exists()
    assert json.loads((tmp_path / "resumed" / "metrics.json").read_text())["finished"] is False
    resumed = run(tmp_path / "resumed")
    assert resumed.resumed_from == 1 and straight.resumed_from == 0
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.metrics["train_loss"] == straight.metrics["train_loss"]
    assert resumed.metrics["test_accuracy"] == straight.metrics["test_accuracy"]


def test_a_finished_run_is_returned_without_training_again(run, tmp_path):
    first = run(tmp_path / "run")
    stamp = (tmp_path / "run" / "model.pt").stat().st_mtime_ns
    again = run(tmp_path / "run", on_epoch=lambda *a: pytest.fail("trained again"))
    assert again.resumed_from == CONFIG.epochs and again.metrics == first.metrics
    assert (tmp_path / "run" / "model.pt").stat().st_mtime_ns == stamp


def test_another_run_in_the_same_directory_is_refused_and_nothing_changes(run, tmp_path):
    run(tmp_path / "run")
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(TrainingError, match=r"holds another run \(fit.epochs was 3, now 4\)"):
        run(tmp_path / "run", config=FitConfig(epochs=4, batch_size=32, device="cpu"))
    with pytest.raises(TrainingError, match="holds another run"):
        run(tmp_path / "run", policy=Policy(num_ops=2, magnitude=5, transfer=POLICY.transfer))
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="is not empty and is not a run directory"):
        run(tmp_path / "other")


def test_the_device_is_not_part_of_a_run(run, tmp_path):
    run(tmp_path / "run", config=FitConfig(epochs=1, device="cpu"))
    assert run(tmp_path / "run", config=FitConfig(epochs=1, device="auto")).resumed_from == 1


def test_a_damaged_checkpoint_is_one_clear_error(run, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "run", on_epoch=lambda e, m: (_ for _ in ()).throw(KeyboardInterrupt))
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="cannot resume from .*checkpoint.pt.*remove it"):
        run(tmp_path / "run")


def test_divergence_stops_with_the_last_good_checkpoint_kept(run, tmp_path):
    wild = Policy(num_ops=0, magnitude=0, transfer=Transfer("finetune", head_lr=1e6, backbone_lr=1e6))
    with pytest.raises(TrainingError, match="training loss became .* in epoch"):
        run(tmp_path / "run", policy=wild)
    assert not (tmp_path / "run" / "model.pt").exists()


def test_soft_target_rows_and_mixing_train(digits, tiny_cnn, tmp_path):
    # Soft rows (as pseudo labels give) and CutMix together: the loss is the
    # soft-target cross-entropy and the model still learns.
    rows = np.eye(10, dtype=np.float32)[digits.train.labels] * 0.9 + 0.01
    policy = Policy(num_ops=1, magnitude=5, mixing=Mixing("cutmix", prob=0.5), transfer=POLICY.transfer)
    result = fit(tiny_cnn(seed=0), policy, TrainingSet(digits.train.images, rows), digits.val, digits.test, CONFIG,
                 tmp_path / "run")
    assert result.metrics["val_accuracy"][-1] > 0.5


@pytest.mark.parametrize("view", ["clean", "augmented"])
def test_a_student_learns_from_a_teacher_in_either_view(run, digits, tiny_cnn, tmp_path, view):
    teacher_result = run(tmp_path / "teacher")
    teacher = tiny_cnn(seed=1)
    teacher.load_state_dict(torch.load(teacher_result.run_dir / "model.pt", weights_only=True))
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    teaching = Teaching((teacher,), temperature=2.0, alpha=0.7, view=view)
    result = fit(tiny_cnn(seed=5), POLICY, TrainingSet(digits.train.images, digits.train.labels), digits.val,
                 digits.test, CONFIG, tmp_path / "student", teaching=teaching)
    assert result.metrics["val_accuracy"][-1] > 0.5
    # The teacher is only read: its weights and BN statistics are as they were.
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())


def test_training_set_checks_its_rows():
    with pytest.raises(TrainingError, match="one row each"):
        TrainingSet(np.zeros((3, 8, 8, 1), np.uint8), np.zeros(2, np.int64))
    with pytest.raises(TrainingError, match="at least one image"):
        TrainingSet(np.zeros((0, 8, 8, 1), np.uint8), np.zeros(0, np.int64))
    with pytest.raises(TrainingError, match="epochs should be"):
        FitConfig(epochs=0)
