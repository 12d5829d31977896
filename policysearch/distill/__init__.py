"""Distillation: the teacher-student loss, teachers teaching in training, pseudo labels for unlabeled images.

Example:
    >>> import torch
    >>> from policysearch.distill import distillation_loss
    >>> float(distillation_loss(torch.zeros(1, 3), torch.zeros(1, 3), torch.tensor([0]), alpha=1.0))
    0.0
"""

from __future__ import annotations

from policysearch.distill.loss import (
                                       ALPHA,
                                       DEFAULT_ALPHA,
                                       DEFAULT_TEMPERATURE,
                                       TEMPERATURE,
                                       DistillationLoss,
                                       distillation_loss,
                                       distillation_loss_from_probs,
                                       soften,
)
from policysearch.distill.pseudo import (
                                       PSEUDO_MODES,
                                       PseudoLabels,
                                       agreement_with_truth,
                                       balance_classes,
                                       hard_vote,
                                       pseudo_label,
                                       soft_vote,
                                       vote_pseudo_labels,
)
from policysearch.distill.teaching import TEACHER_VIEWS, Teaching, at_model_size, teacher_logits, teacher_probabilities

__all__ = ["DistillationLoss", "distillation_loss", "distillation_loss_from_probs", "soften", "DEFAULT_TEMPERATURE",
           "DEFAULT_ALPHA", "TEMPERATURE", "ALPHA", "PSEUDO_MODES", "PseudoLabels", "pseudo_label",
           "vote_pseudo_labels", "balance_classes", "soft_vote", "hard_vote", "agreement_with_truth",
           "teacher_probabilities", "teacher_logits", "at_model_size", "Teaching", "TEACHER_VIEWS"]
