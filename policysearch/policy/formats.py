"""Export formats: a policy written for another library, each marked exact or approximate with the reason.

``json`` is the policy document itself. ``albumentations`` is albumentations'
own serialisation (``A.load`` reads it). ``torchvision``, ``timm`` and
``kornia`` are short Python files: ``train_transform()`` builds the library's
transform, ``HEAD_LR``/``BACKBONE_LR`` carry the learning rates, and the
torchvision file's ``batch_transform(num_classes)`` the batch mixing.

Example:
    >>> from policysearch.policy import Policy
    >>> print(render(Policy(num_ops=2, magnitude=9), "timm").splitlines()[0])
    # policysearch export for timm (approximate): see the reason below.
    >>> EXPORT_FORMATS["torchvision"].fidelity
    'exact'
"""

from __future__ import annotations

import io
import os
import pprint
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from policysearch._io import atomic_path, json_text
from policysearch.errors import PolicyError
from policysearch.policy import convert, to_albumentations, to_kornia

__all__ = ["ExportFormat", "EXPORT_FORMATS", "render", "write_export"]


@dataclass(frozen=True)
class ExportFormat:
    """One export format: the file it writes, whether it reproduces the policy exactly, and why not."""

    name: str
    suffix: str
    fidelity: str  # "exact" or "approximate"
    reason: str
    render: Callable[[Any], str]

    def fidelity_for(self, policy: Any) -> str:
        """This format's fidelity for ``policy``: an exact format with batch mixing other than JSON is approximate.

        Example:
            >>> from policysearch.policy import Mixing, Policy
            >>> EXPORT_FORMATS["torchvision"].fidelity_for(Policy(mixing=Mixing()))
            'approximate'
        """
        return "approximate" if self.name != "json" and policy.mixing is not None else self.fidelity


def _json(policy: Any) -> str:
    return json_text(policy.to_json())  # what Policy.save writes


def _albumentations(policy: Any) -> str:
    A = to_albumentations.import_albumentations()
    buffer = io.StringIO()
    A.save(to_albumentations.to_albumentations(policy), buffer, data_format="json")
    return buffer.getvalue() + "\n"


def _header(policy: Any, name: str) -> str:
    fmt = EXPORT_FORMATS[name]
    lines = [f"# policysearch export for {name} ({fmt.fidelity_for(policy)}): see the reason below.",
             f"# {fmt.reason}"]
    if policy.mixing is not None and name != "torchvision":
        lines.append(f"# The policy also mixes batches ({policy.mixing.kind}, p={policy.mixing.prob}, "
                     f"alpha={policy.mixing.alpha}): not in this file; --format torchvision writes it.")
    if policy.provenance is not None:
        lines.append(f"# From study {policy.provenance.study!r}, trial #{policy.provenance.trial}.")
    transfer = policy.transfer
    return "\n".join([*lines, "", *_imports(name), "",
                      f"HEAD_LR = {transfer.head_lr!r}",
                      f"BACKBONE_LR = {transfer.backbone_lr!r}  # None: the backbone stays frozen", "", "", ""])


def _imports(name: str) -> list[str]:
    return {"torchvision": ["from torchvision.transforms import v2"],
            "timm": ["from timm.data.auto_augment import rand_augment_transform"],
            "kornia": ["import torch", "from kornia.augmentation.auto import RandAugment, TrivialAugment"]}[name]


def _torchvision(policy: Any) -> str:
    tv = convert.to_torchvision(policy)  # raises for an op set torchvision lacks, before anything is written
    mode = f"v2.InterpolationMode.{tv.interpolation.name}"
    fill = policy.fill if isinstance(policy.fill, int) else list(policy.fill)
    bins = f"num_magnitude_bins={policy.num_magnitude_bins}, interpolation={mode}, fill={fill!r}"
    if policy.kind == "trivialaugment":
        build = f"v2.TrivialAugmentWide({bins})"
    else:
        build = f"v2.RandAugment(num_ops={policy.num_ops}, magnitude={policy.magnitude}, {bins})"
    mixing = "None  # the policy mixes no batches"
    if policy.mixing is not None:
        kind = type(convert.to_torchvision_mixing(policy).transforms[0]).__name__  # CutMix or MixUp, as convert maps it
        mixing = (f"v2.RandomApply([v2.{kind}(alpha={policy.mixing.alpha!r}, num_classes=num_classes)], "
                  f"p={policy.mixing.prob!r})")
    return _header(policy, "torchvision") + (
        "def train_transform():\n"
        '    """Per image: a uint8 tensor (C, H, W), a PIL image or a tv_tensors.Image."""\n'
        f"    return {build}\n\n\n"
        "def batch_transform(num_classes):\n"
        '    """Per batch, on (images, labels) from the DataLoader; None when the policy mixes no batches."""\n'
        f"    return {mixing}\n")


def _timm(policy: Any) -> str:
    config = convert.to_timm(policy)
    fill = tuple([policy.fill] * 3) if isinstance(policy.fill, int) else tuple(policy.fill)
    resample = {"nearest": 0, "bilinear": 2}[policy.interpolation]  # PIL's codes, which timm passes on
    return _header(policy, "timm") + (
        f"CONFIG = {config!r}\n\n\n"
        "def train_transform():\n"
        '    """Per PIL image, as timm\'s own training transforms apply it."""\n'
        f"    hparams = {{'img_mean': {fill!r}, 'interpolation': {resample}, 'translate_pct': 150 / 331}}\n"
        "    return rand_augment_transform(CONFIG, hparams)\n")


def _kornia(policy: Any) -> str:
    entries = to_kornia.kornia_policy(policy)
    if policy.kind == "trivialaugment":
        build = "TrivialAugment(policy=POLICY)"
    elif policy.num_ops == 0:
        build = "torch.nn.Identity()  # N = 0: nothing to apply, and Kornia needs n >= 1"
    else:
        build = f"RandAugment(n={policy.num_ops}, m={to_kornia.KORNIA_M}, policy=POLICY)"
    return _header(policy, "kornia") + (
        f"POLICY = {pprint.pformat(entries, width=100)}\n\n\n"
        "def train_transform():\n"
        '    """Per batch of float images in [0, 1], shape (B, C, H, W), on any device."""\n'
        f"    return {build}\n")


EXPORT_FORMATS: dict[str, ExportFormat] = {fmt.name: fmt for fmt in (
    ExportFormat("json", ".json", "exact", "The policy document itself (load_policy reads it).", _json),
    ExportFormat("torchvision", ".py", "exact",
                 "v2.RandAugment/TrivialAugmentWide are the ops the search trained with, bit for bit; "
                 "batch mixing (v2.CutMix/MixUp) pairs neighbours instead of a random permutation.",
                 _torchvision),
    ExportFormat("timm", ".py", "approximate",
                 "timm's scale is 0-10 (M rescaled), its op set differs (no Identity; Invert, SolarizeAdd) "
                 "and its ops run on PIL images; timm's own op set whatever the policy's; no batch mixing.", _timm),
    ExportFormat("albumentations", ".json", "approximate",
                 "Same arithmetic for most ops; shears shifted to torchvision's pivot within a pixel, its own "
                 "Equalize/AutoContrast, ops in list order, a negative Sharpness as a blur applied with a probability; "
                 "no batch mixing.",
                 _albumentations),
    ExportFormat("kornia", ".py", "approximate",
                 "Values pinned to bin M, but one op draw per batch without replacement, Kornia's own "
                 "contrast (no mean) and saturation (HSV) kernels, bilinear warps with zero fill; no batch mixing.",
                 _kornia),
)}  # fmt: skip


def _format(name: str) -> ExportFormat:
    if name not in EXPORT_FORMATS:
        raise PolicyError(f"export format should be one of {list(EXPORT_FORMATS)}, but got {name!r}")
    return EXPORT_FORMATS[name]


def render(policy: Any, name: str) -> str:
    """The text of ``policy`` in export format ``name`` (see :data:`EXPORT_FORMATS`)."""
    return _format(name).render(policy)


def write_export(policy: Any, name: str, path: str | os.PathLike[str]) -> Path:
    """Write ``policy`` in format ``name`` to ``path`` atomically; a policy the format cannot hold writes nothing.

    Example:
        >>> import tempfile
        >>> from policysearch.policy import Policy
        >>> write_export(Policy(), "torchvision", f"{tempfile.mkdtemp()}/policy.py").suffix
        '.py'
    """
    text = render(policy, name)  # first: an error leaves any earlier file as it was
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
