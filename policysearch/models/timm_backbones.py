"""``timm:NAME`` backbones: any timm model as a pooled-feature backbone (optional extra ``timm``).

``timm.create_model(NAME, num_classes=0)`` drops the classifier and keeps
the global pool, so the network maps images to a feature vector. The input
normalisation is the model's own (``pretrained_cfg`` mean/std). Weights:

- ``"DEFAULT"``: timm's pretrained weights. A copy in the Hugging Face hub
  cache (or torch hub's, for weights timm fetches by URL) loads without
  touching the network; without one, timm downloads, unless the machine is
  offline (``HF_HUB_OFFLINE`` set, or the host does not resolve): then one
  line says so at once, rather than after a minute of retries.
- a file path: loaded by :func:`policysearch.models.build_model` like any
  other backbone's (the classifier keys named in ``pretrained_cfg`` dropped).
- ``None``: random initialisation.

The feature size is measured (one forward pass in ``build_model``), not read
from ``model.num_features``: for MobileNetV3 that is the width before its
``conv_head`` (288 for ``mobilenetv3_small_050``), the pooled output 1024.

Example:
    >>> timm_name("timm:resnet18.a1_in1k")
    'resnet18.a1_in1k'
"""

from __future__ import annotations

import difflib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from policysearch.errors import ModelError, first_line
from policysearch.models.base import DEFAULT_WEIGHTS, IMAGENET_MEAN, IMAGENET_STD, Backbone

__all__ = ["TIMM_PREFIX", "timm_name", "timm_backbone"]

TIMM_PREFIX = "timm:"
_HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # the order timm tries them in
_TRUE = {"1", "on", "yes", "true"}  # what huggingface_hub reads as a true environment variable


def timm_name(name: str) -> str | None:
    """The timm model name in a backbone name ``timm:NAME``, or None for other names.

    Example:
        >>> timm_name("resnet18") is None, timm_name("timm:")
        (True, '')
    """
    return name[len(TIMM_PREFIX) :] if name.startswith(TIMM_PREFIX) else None


def _import_timm(name: str):  # -> the timm module
    try:
        import timm
    except ImportError as exc:
        raise ModelError(f"backbone {TIMM_PREFIX}{name} needs timm: pip install 'policysearch[timm]'") from exc
    return timm


def _pretrained_cfg(timm, name: str):  # -> timm's PretrainedCfg, or None for a model without one
    """Check the name (architecture and pretrained tag) before building anything."""
    if not (name and timm.is_model(name)):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.7)
        hint = f"close: {', '.join(close)}" if close else "see timm.list_models()"
        raise ModelError(f"unknown timm model {name!r} ({hint})")
    try:
        return timm.models.get_pretrained_cfg(name)
    except RuntimeError as exc:  # "Invalid pretrained tag (x) for resnet18."
        raise ModelError(f"unknown timm model {name!r} ({first_line(exc)})") from exc


def _hub_cache() -> Path:
    """Hugging Face's hub cache folder, resolved as huggingface_hub does (read now, not at its import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("HF_HOME") or xdg / "huggingface").expanduser() / "hub"


def _cached_hub_file(repo: str, revision: str, filenames: tuple[str, ...]) -> str | None:
    # The cache layout huggingface_hub documents ("Manage huggingface_hub cache-system"):
    # models--ORG--NAME/refs/REVISION holds a commit hash; snapshots/COMMIT/FILE is the file.
    # Read directly, so that no network client is imported (and none can try to connect).
    folder = _hub_cache() / f"models--{repo.replace('/', '--')}"
    ref = folder / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    for filename in filenames:
        path = folder / "snapshots" / commit / filename
        if path.is_file():
            return str(path)
    return None


def _cached_weights(cfg) -> str | None:
    """The local copy of the pretrained weights ``cfg`` names, in a hub cache, or None (never downloads)."""
    if cfg.hf_hub_id:
        repo, _, revision = cfg.hf_hub_id.partition("@")
        filenames = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else _HF_WEIGHT_FILES
        found = _cached_hub_file(repo, revision or "main", filenames)
        if found is not None:
            return found
    if cfg.url:
        import torch

        path = Path(torch.hub.get_dir(), "checkpoints", Path(urlparse(cfg.url).path).name)
        if path.is_file():
            return str(path)
    return None


def _offline(cfg) -> bool:
    """No download can work: offline mode, or the weights' host does not resolve (that fails fast)."""
    # Read now: huggingface_hub reads these once, at its import.
    if any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    url = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co") if cfg.hf_hub_id else (cfg.url or "")
    host = urlparse(url).hostname
    if not host:
        return False
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return True
    return False


def _create(timm, name: str, cfg, weights: str | None):  # -> the timm model, headless
    if weights is None:
        return timm.create_model(name, pretrained=False, num_classes=0)
    if weights != DEFAULT_WEIGHTS:  # build_model passes only these two; a file path is loaded after
        raise ModelError(f"timm backbones take weights 'DEFAULT', a file path or none, but got {weights!r}")
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise ModelError(f"timm model {name!r} has no pretrained weights; pass --weights PATH or --weights none")
    cached = _cached_weights(cfg)
    if cached is not None:  # a file override: timm loads it as its own, with no network round trip
        try:
            return timm.create_model(name, pretrained=True, num_classes=0, pretrained_cfg_overlay={"file": cached})
        except (OSError, RuntimeError) as exc:  # a truncated or corrupt cache entry
            raise ModelError(f"cannot load the cached timm weights {cached!r} for {name!r} "
                             f"({first_line(exc)}); delete the file, or pass --weights PATH") from exc
    offline_hint = f"cannot download timm weights for {name!r} (offline?); pass --weights PATH or --weights none"
    if _offline(cfg):
        raise ModelError(offline_hint)
    try:
        return timm.create_model(name, pretrained=True, num_classes=0)
    except (OSError, RuntimeError) as exc:  # the hub's errors are OSErrors; a broken download, RuntimeError
        raise ModelError(f"{offline_hint} ({first_line(exc)})") from exc


def timm_backbone(name: str, weights: str | None) -> Backbone:
    """``timm.create_model(name, num_classes=0)`` as a :class:`Backbone` (see the module docstring).

    Example (skipped here: timm is optional, and slow to import; tests/models/test_timm.py runs it):
        >>> backbone = timm_backbone("resnet10t", None)  # doctest: +SKIP
        >>> backbone.classifier, backbone.pretrained  # doctest: +SKIP
        ('fc', False)
    """
    timm = _import_timm(name)
    cfg = _pretrained_cfg(timm, name)  # an unknown name fails here, in one line, whatever the weights
    net = _create(timm, name, cfg, weights)
    resolved = net.pretrained_cfg or {}  # a dict on the model, with the tag's mean/std
    mean, std = tuple(resolved.get("mean") or IMAGENET_MEAN), tuple(resolved.get("std") or IMAGENET_STD)
    if len(mean) == 1:  # grayscale-trained models; the model takes 3 channels here
        mean, std = mean * 3, std * 3
    classifier = resolved.get("classifier") or ""
    return Backbone(net, mean, std, pretrained=weights is not None,
                    classifier=classifier if isinstance(classifier, str) else tuple(classifier))
