"""Devices: choosing one, moving uint8 batches onto it, and the autocast each uses.

Example:
    >>> import numpy as np
    >>> to_float_batch(np.full((1, 2, 2, 3), 255, np.uint8), resolve_device("cpu")).shape
    torch.Size([1, 3, 2, 2])
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np
import torch

from policysearch._checks import check_choice
from policysearch.errors import TrainingError
from policysearch.training.config import DEVICES

__all__ = ["resolve_device", "to_float_batch", "autocast", "spare_core"]


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
    return tensor.float().div_(255.0).contiguous(memory_format=torch.channels_last)


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA (no loss scaling needed, fp32's range); nothing elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
