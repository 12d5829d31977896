"""Models: backbones with pretrained weights and the backbone/head split.

Example:
    >>> from policysearch.models import build_model
    >>> build_model("tiny-cnn", 10, weights=None).head.out_features
    10
"""

from __future__ import annotations

from policysearch.models.backbones import (
    BACKBONES,
    DEFAULT_WEIGHTS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LITE_IMAGE_SIZES,
    LITE_MEAN,
    LITE_STD,
    TransferModel,
    available_models,
    build_model,
)
from policysearch.models.base import Backbone
from policysearch.models.factory import model_factory
from policysearch.models.plugins import BACKBONE_GROUP
from policysearch.models.timm_backbones import TIMM_PREFIX

__all__ = ["model_factory", "TransferModel", "available_models", "build_model", "BACKBONES", "LITE_MEAN", "LITE_STD",
           "IMAGENET_MEAN", "IMAGENET_STD", "DEFAULT_WEIGHTS", "LITE_IMAGE_SIZES", "Backbone", "BACKBONE_GROUP",
           "TIMM_PREFIX"]
