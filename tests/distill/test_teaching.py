"""Teachers at work: their probabilities over uint8 images, and Teaching a student (either view)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from policysearch.distill import (
    DEFAULT_TEMPERATURE,
    Teaching,
    distillation_loss,
    teacher_logits,
    teacher_probabilities,
)
from policysearch.distill.teaching import images_key
from policysearch.errors import TrainingError


@pytest.fixture(scope="module")
def tiny_teacher(tiny_cnn):
    return tiny_cnn(3, seed=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(7, 16, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize("training", [True, False])
def test_teacher_probabilities_rows_mode_and_no_grad(tiny_teacher, images, training):
    tiny_teacher.train(training)
    probs = teacher_probabilities(tiny_teacher, images, temperature=2.0, batch_size=3)
    assert tiny_teacher.training is training
    assert probs.shape == (7, 3) and probs.dtype == torch.float32
    assert not probs.requires_grad
    np.testing.assert_allclose(probs.sum(dim=1).numpy(), 1.0, atol=1e-5)
    # Same answer as one eval-mode batch by hand: batching and temperature are right.
    tiny_teacher.eval()
    with torch.no_grad():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        hand = torch.softmax(tiny_teacher(x) / 2.0, dim=1)
    np.testing.assert_allclose(probs.numpy(), hand.numpy(), atol=1e-5)


def test_teacher_probabilities_feed_a_student_loss(tiny_teacher, images):
    # Tensors made under inference_mode cannot be saved for backward; the
    # teacher's output must still work as soft labels for a student.
    soft = teacher_probabilities(tiny_teacher, images)
    student = torch.zeros(7, 3, requires_grad=True)
    distillation_loss(student, torch.log(soft), soft, alpha=0.5).backward()
    # By hand, for uniform student rows (softmax = 1/3) and the batch mean over 7 rows:
    # d/ds [a T^2 KL(p_T || softmax(s/T))] = a T (1/3 - p_T), d/ds [(1-a) CE] = (1-a) (1/3 - soft).
    t = DEFAULT_TEMPERATURE
    p_t = torch.softmax(torch.log(soft) / t, dim=1)
    hand = (0.5 * t * (1 / 3 - p_t) + 0.5 * (1 / 3 - soft)) / 7
    torch.testing.assert_close(student.grad, hand)
    assert student.grad.abs().sum().item() > 1e-3


def test_teacher_probabilities_rejects_bad_arguments(tiny_teacher, images):
    with pytest.raises(TrainingError, match="temperature should be .* but got 0"):
        teacher_probabilities(tiny_teacher, images, temperature=0)
    with pytest.raises(TrainingError, match="batch_size should be .* but got 0"):
        teacher_probabilities(tiny_teacher, images, batch_size=0)
    with pytest.raises(TrainingError, match="uint8 array .* float32"):
        teacher_probabilities(tiny_teacher, images.astype(np.float32))


@pytest.mark.parametrize("view", ["clean", "augmented"])
def test_teaching_gradient_reaches_the_student_only(tiny_teacher, tiny_cnn, images, view):
    teaching = Teaching((tiny_teacher,), temperature=2.0, alpha=0.5, view=view)
    teaching.prepare("cpu")
    student = tiny_cnn(3, seed=1)
    rows = torch.from_numpy(teaching.rows(images, np.array([0, 1, 2, 0, 1, 2, 0]), 3))
    assert rows.shape == ((7, 6) if view == "clean" else (7, 3))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    loss = teaching.loss(student(x), x, rows)
    loss.backward()
    assert all(p.grad is None for p in tiny_teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())
    # Both views see the same clean images here, so they give the same loss.
    with torch.no_grad():
        expected = distillation_loss(student(x), tiny_teacher(x), rows[:, :3], temperature=2.0, alpha=0.5)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_teaching_rejects_bad_settings(tiny_teacher):
    with pytest.raises(TrainingError, match="torch modules"):
        Teaching(())
    with pytest.raises(TrainingError, match="'sideways'"):
        Teaching((tiny_teacher,), view="sideways")
    with pytest.raises(TrainingError, match="alpha should be .* but got 2"):
        Teaching((tiny_teacher,), alpha=2)


def test_a_teacher_sees_images_at_its_own_size(tiny_teacher, images):
    # tiny_teacher works at 16 px; 8 px images are enlarged for it, bilinearly.
    small = images[:, ::2, ::2]
    probs = teacher_probabilities(tiny_teacher, small)
    tiny_teacher.eval()
    with torch.no_grad():
        x = torch.from_numpy(small).permute(0, 3, 1, 2).float() / 255.0
        x = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
        hand = torch.softmax(tiny_teacher(x), dim=1)
    np.testing.assert_allclose(probs.numpy(), hand.numpy(), atol=1e-5)


class Counting(torch.nn.Module):
    """A teacher that counts the images it is shown (and refuses any once ``refuse`` is set)."""

    def __init__(self, teacher):
        super().__init__()
        self.teacher, self.seen, self.refuse = teacher, 0, False

    def forward(self, x):
        if self.refuse:
            raise AssertionError("the teacher should not run: its logits for these images are known")
        self.seen += len(x)
        return self.teacher(x)


def test_teaching_uses_given_clean_logits_for_their_images_only(tiny_teacher, images):
    labels = np.array([0, 1, 2, 0, 1, 2, 0])
    computed = Teaching((tiny_teacher,), temperature=2.0, view="clean").rows(images, labels, 3)
    counting = Counting(tiny_teacher)
    counting.refuse = True
    given = Teaching((counting,), temperature=2.0, view="clean",
                     clean_logits=(teacher_logits(tiny_teacher, images),), clean_images=images)
    np.testing.assert_allclose(given.rows(images, labels, 3), computed, atol=1e-6)
    np.testing.assert_allclose(given.rows(images.copy(), labels, 3), computed, atol=1e-6)  # the pixels count
    # Other images, of the same number: the teacher runs on them, once, rather than lending the others' outputs.
    others = images[::-1] // 2 + 1
    counting.refuse = False
    rows = given.rows(others, labels, 3)
    expected = Teaching((tiny_teacher,), temperature=2.0, view="clean").rows(others, labels, 3)
    np.testing.assert_allclose(rows, expected, atol=1e-6)
    # A random-init teacher is nearly uniform, yet the two image sets differ far beyond the 1e-6 tolerance.
    assert np.abs(rows[:, 3:] - computed[:, 3:]).max() > 1e-4
    counting.refuse = True
    np.testing.assert_allclose(given.rows(others, labels, 3), expected, atol=1e-6)
    # Fewer images (a rung or a verdict training on another draw): computed afresh, no error.
    counting.refuse = False
    np.testing.assert_allclose(given.rows(images[:5], labels[:5], 3), computed[:5], atol=1e-6)
    assert len(given.cache) == 3


def test_copies_with_other_settings_share_the_teacher_outputs(tiny_teacher, images):
    counting = Counting(tiny_teacher)
    teaching = Teaching((counting,), temperature=2.0, view="clean")
    labels = np.zeros(len(images), dtype=int)
    first = teaching.rows(images, labels, 3)
    assert counting.seen == len(images)
    # The search's trials each sample a temperature and alpha: same logits, softened otherwise.
    hotter = replace(teaching, temperature=4.0, alpha=0.9)
    rows = hotter.rows(images, labels, 3)
    assert counting.seen == len(images)  # not run again
    logits = teacher_logits(tiny_teacher, images)
    np.testing.assert_allclose(rows[:, 3:], torch.softmax(logits / 4.0, dim=1).numpy(), atol=1e-6)
    assert np.abs(rows[:, 3:] - first[:, 3:]).max() > 1e-4
    # Other teachers are other outputs, even through a shared store.
    other = replace(teaching, teachers=(Counting(tiny_teacher),))
    other.rows(images, labels, 3)
    assert other.teachers[0].seen == len(images)


def test_given_clean_logits_are_checked_against_their_images(tiny_teacher, images):
    logits = teacher_logits(tiny_teacher, images)
    with pytest.raises(TrainingError, match="clean_logits should come with clean_images"):
        Teaching((tiny_teacher,), view="clean", clean_logits=(logits,))
    with pytest.raises(TrainingError, match="for the 5 clean_images, but got lengths \\[7\\] for 1 teacher"):
        Teaching((tiny_teacher,), view="clean", clean_logits=(logits,), clean_images=images[:5])
    with pytest.raises(TrainingError, match="lengths \\[7\\] for 2 teacher"):
        Teaching((tiny_teacher, tiny_teacher), view="clean", clean_logits=(logits,), clean_images=images)


def test_images_key_follows_the_pixels_not_the_array(images):
    assert images_key(images) == images_key(images.copy())
    assert images_key(np.asfortranarray(images)) == images_key(images)  # the layout does not matter
    changed = images.copy()
    changed[3, 5, 7, 1] ^= 1
    assert images_key(changed) != images_key(images)
    assert images_key(images[:6]) != images_key(images)
    assert images_key(images.reshape(7, 16, 48, 1)) != images_key(images)  # same bytes, another shape
