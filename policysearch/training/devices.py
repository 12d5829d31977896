"""Devices: choosing one, moving uint8 batches onto it, and how each computes fastest while staying correct.

The rule (:func:`choose`, applied to a device's hardware by :func:`recipe`)
decides the memory format, the autocast precision for training and for
evaluation, and compilation, from what ``bench/train_speed.py`` measured:

* channels-last everywhere: EfficientNet-Lite0 at 32 px trains 1.3-1.5x
  faster on the CPU than in NCHW (its depthwise convolutions' backward), and
  it is the layout tensor cores want;
* training in bf16 only on CUDA GPUs with native bf16 (compute capability
  8.0+; no loss scaling needed): on the CPU, even with AMX, bf16 autocast
  trains at 0.6x of fp32 (fp16: 0.2x);
* evaluation in fp16 where the hardware computes it natively (1.35x fp32 on
  a CPU with AVX512-FP16), because its predictions agree with fp32's on at
  least :data:`AGREEMENT_FLOOR` of real test images (:func:`agreement`;
  ``tests/training/test_devices.py``); a measured agreement below the floor
  turns it off. bf16 evaluation is faster still (2x with AMX) but fails that
  check: a briefly fine-tuned EfficientNet-Lite0 (Fashion-MNIST, a few
  hundred to 1,000 images, 1 to 4 epochs) agreed on 97.6-99.1% of the test
  images, fp16 on 99.8-99.9%;
* never ``torch.compile``: compiling EfficientNet-Lite0's training step
  took minutes on 2 cores, more than a whole proxy trial.

Apple MPS keeps fp32: unmeasured, so not assumed. Reduced-precision
evaluation moves accuracies by a few images in a thousand; every policy in a
comparison (a study, a rung, a verdict) is evaluated the same way on one
machine, so comparisons stay fair.

Example:
    >>> import numpy as np
    >>> to_float_batch(np.full((1, 2, 2, 3), 255, np.uint8), resolve_device("cpu")).shape
    torch.Size([1, 3, 2, 2])
    >>> choose("cuda", native={"bfloat16", "float16"})
    Recipe(channels_last=True, train_dtype='bfloat16', eval_dtype='float16', compile=False)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from policysearch._checks import check_choice, show
from policysearch.errors import TrainingError
from policysearch.training.config import DEVICES

__all__ = ["resolve_device", "to_float_batch", "autocast", "spare_core", "Recipe", "choose", "recipe",
           "native_precisions", "agreement", "AGREEMENT_FLOOR", "PURPOSES", "PRECISIONS"]

PURPOSES = ("train", "eval")
PRECISIONS = ("bfloat16", "float16")  # the reduced precisions autocast may use, by torch's dtype names
# The share of fp32's predictions a reduced precision must reproduce before evaluation uses it (issue 18).
AGREEMENT_FLOOR = 0.995


@dataclass(frozen=True)
class Recipe:
    """How a device computes: memory format, autocast precision per purpose (None: fp32), compilation."""

    channels_last: bool
    train_dtype: str | None
    eval_dtype: str | None
    compile: bool

    @property
    def memory_format(self) -> torch.memory_format:
        """The layout images and weights take on the device."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def dtype(self, purpose: str) -> torch.dtype | None:
        """The autocast dtype for ``purpose`` (``"train"`` or ``"eval"``), or None for fp32.

        Example:
            >>> choose("cuda", native={"bfloat16"}).dtype("train")
            torch.bfloat16
        """
        check_choice("purpose", purpose, PURPOSES, error=TrainingError)
        name = self.train_dtype if purpose == "train" else self.eval_dtype
        return None if name is None else getattr(torch, name)


def choose(kind: str, *, native: Collection[str], agreement: Mapping[str, float] | None = None) -> Recipe:
    """The rule: the fastest correct recipe for a device kind (the module docstring gives the measurements).

    ``native``: the reduced precisions (:data:`PRECISIONS`) the hardware
    computes natively (:func:`native_precisions`). ``agreement``: per
    precision, the share of fp32's predictions it reproduced where one was
    measured (:func:`agreement`); below :data:`AGREEMENT_FLOOR`, evaluation
    stays in fp32.

    Example:
        >>> choose("cpu", native={"float16"}, agreement={"float16": 0.99}).eval_dtype is None
        True
        >>> choose("tpu", native=())
        Traceback (most recent call last):
        ...
        policysearch.errors.TrainingError: device kind should be one of ['cpu', 'cuda', 'mps'], but got 'tpu'
    """
    check_choice("device kind", kind, [name for name in DEVICES if name != "auto"], error=TrainingError)
    for name, share in (agreement or {}).items():
        check_choice("agreement's precision", name, PRECISIONS, error=TrainingError)
        if isinstance(share, bool) or not (isinstance(share, (int, float)) and 0.0 <= share <= 1.0):
            raise TrainingError(f"agreement should be a share in [0, 1], but got {show(share)} for {name}")
    holds = (agreement or {}).get("float16", 1.0) >= AGREEMENT_FLOOR
    fast_eval = kind in ("cpu", "cuda") and "float16" in native and holds
    return Recipe(channels_last=True, train_dtype="bfloat16" if kind == "cuda" and "bfloat16" in native else None,
                  eval_dtype="float16" if fast_eval else None, compile=False)


def native_precisions(device: torch.device) -> frozenset[str]:
    """The reduced precisions ``device`` computes natively: by compute capability on CUDA, by ISA on a CPU.

    CUDA: fp16 tensor cores from 7.0, bf16 from 8.0. CPU: bf16 with AMX,
    fp16 with AVX512-FP16 or AMX-FP16. MPS: none assumed.

    Example:
        >>> native_precisions(torch.device("mps"))
        frozenset()
    """
    if device.type == "cuda":
        capability = torch.cuda.get_device_capability(device)
        return frozenset(name for name, low in (("float16", (7, 0)), ("bfloat16", (8, 0))) if capability >= low)
    if device.type == "cpu":
        # torch's CPU probe is private, hence the guard: a torch without it gets fp32.
        probe = getattr(torch._C._cpu, "_get_cpu_capability", None)
        flags = probe() if probe is not None else {}
        fp16 = flags.get("avx512_fp16", False) or flags.get("amx_fp16", False)
        return frozenset(name for name, on in (("bfloat16", flags.get("amx_bf16", False)), ("float16", fp16)) if on)
    return frozenset()


def recipe(device: torch.device) -> Recipe:
    """The rule applied to this device's hardware.

    Example:
        >>> recipe(torch.device("cpu")).train_dtype is None
        True
    """
    return choose(device.type, native=native_precisions(device))


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; others must be available.

    Example:
        >>> resolve_device("tpu")
        Traceback (most recent call last):
        ...
        policysearch.errors.TrainingError: device should be one of ['auto', 'cpu', 'cuda', 'mps'], but got 'tpu'
    """
    check_choice("device", name, DEVICES, error=TrainingError)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was asked for, but torch sees no CUDA GPU here")
    if name == "mps" and not _mps_available():
        raise TrainingError("device 'mps' was asked for, but Apple MPS is not available here")
    return torch.device(name)


def spare_core() -> bool:
    """Whether this process has a CPU core beyond torch's intra-op threads.

    A thread that augments while torch computes on every core does not
    overlap: it takes a core from one of torch's threads, and each parallel
    region then waits for that thread (measured on 2 cores: the producer
    thread made the CPU proxy slower, not faster).

    Example:
        >>> isinstance(spare_core(), bool)
        True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity call
        cores = os.cpu_count() or 1
    return torch.get_num_threads() < cores


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def to_float_batch(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 NHWC (or NHW) numpy -> float NCHW in [0, 1] on ``device``."""
    tensor = torch.from_numpy(images)
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(-1)
    # NHWC -> NCHW as a view: the data stays channels-last, the layout the
    # model runs fastest in (measured on CPU: backward 2x faster for
    # EfficientNet-Lite0's depthwise convolutions).
    tensor = tensor.to(device, non_blocking=True).permute(0, 3, 1, 2)
    return tensor.float().div_(255.0).contiguous(memory_format=recipe(device).memory_format)


def autocast(device: torch.device, purpose: str = "train") -> contextlib.AbstractContextManager[Any]:
    """Autocast at the precision :func:`recipe` chooses for ``purpose``; nothing where it chooses fp32.

    The default, training, keeps the loop's earlier behaviour where the rule
    trains in reduced precision (bf16 on CUDA GPUs since Ampere).
    ``purpose="eval"`` evaluates in fp16 where the hardware has it, which
    shifts accuracies slightly against fp32 (see the module docstring:
    comparisons stay fair).

    Example:
        >>> type(autocast(torch.device("mps"), purpose="eval")).__name__
        'nullcontext'
        >>> autocast(torch.device("cpu"), purpose="test")
        Traceback (most recent call last):
        ...
        policysearch.errors.TrainingError: purpose should be one of ['train', 'eval'], but got 'test'
    """
    dtype = recipe(device).dtype(purpose)
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


@torch.inference_mode()
def agreement(model: torch.nn.Module, images: np.ndarray, device: torch.device, *, dtype: torch.dtype,
              batch_size: int = 256) -> float:
    """The share of ``images`` (uint8 NHWC) whose predicted class under ``dtype`` autocast is fp32's.

    Example:
        >>> from policysearch.models import build_model
        >>> model = build_model("tiny-cnn", 3, weights=None, image_size=8, seed=0)
        >>> agreement(model, np.zeros((4, 8, 8, 1), np.uint8), torch.device("cpu"), dtype=torch.float16)
        1.0
    """
    was_training = model.training
    model.eval()
    same = 0
    try:
        for start in range(0, len(images), batch_size):
            x = to_float_batch(images[start : start + batch_size], device)
            exact = model(x).argmax(1)
            with torch.autocast(device.type, dtype=dtype):
                reduced = model(x).argmax(1)
            same += int((exact == reduced).sum().item())
    finally:
        model.train(was_training)
    return same / max(len(images), 1)
