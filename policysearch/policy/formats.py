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
from policysearch.augment.prestage import crop_padding
from policysearch.policy import convert, to_albumentations, to_kornia, to_torchvision

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
    lines += _differences(policy, name)
    if policy.provenance is not None:
        lines.append(f"# From study {policy.provenance.study!r}, trial #{policy.provenance.trial}.")
    transfer = policy.transfer
    return "\n".join([*lines, "", *_imports(name), "",
                      f"HEAD_LR = {transfer.head_lr!r}",
                      f"BACKBONE_LR = {transfer.backbone_lr!r}  # None: the backbone stays frozen", "", "", ""])


def _differences(policy: Any, name: str) -> list[str]:
    """What this policy's op set, bounds and pre-stage lose in an approximate format (header lines)."""
    lines = []
    if name == "timm" and (not to_torchvision.is_plain(policy) or policy.op_bins):
        lines.append(f"# timm draws from its own op set at one magnitude: this policy's ops {list(policy.ops)} "
                     f"and bounds {dict(policy.op_bins)} do not carry over (the flip and crop do).")
    if name == "kornia" and policy.op_bins and policy.kind == "trivialaugment":
        lines.append(f"# Bounded ops {sorted(policy.op_bins)} draw uniformly within their bounds here; the policy "
                     "clamps a uniform bin to them (the bounds take the bins outside).")
    return lines


def _imports(name: str) -> list[str]:
    return {"torchvision": ["from torchvision.transforms import v2"],
            "timm": ["from timm.data.auto_augment import rand_augment_transform"],
            "kornia": ["import torch", "from kornia.augmentation.auto import RandAugment, TrivialAugment"]}[name]


def _torchvision(policy: Any) -> str:
    stages = to_torchvision.stage_texts(policy)  # raises for what torchvision lacks, before anything is written
    build = stages[0] if len(stages) == 1 and not policy.has_prestage else f"v2.Compose([{', '.join(stages)}])"
    code = (to_torchvision.TORCHVISION_CODE + "\n\n") if any(t.startswith("restricted(") for t in stages) else ""
    mixing = "None  # the policy mixes no batches"
    if policy.mixing is not None:
        kind = type(convert.to_torchvision_mixing(policy).transforms[0]).__name__  # CutMix or MixUp, as convert maps it
        mixing = (f"v2.RandomApply([v2.{kind}(alpha={policy.mixing.alpha!r}, num_classes=num_classes)], "
                  f"p={policy.mixing.prob!r})")
    return _header(policy, "torchvision") + code + (
        "def train_transform():\n"
        '    """Per image: a uint8 tensor (C, H, W), a PIL image or a tv_tensors.Image."""\n'
        f"    return {build}\n\n\n"
        "def batch_transform(num_classes):\n"
        '    """Per batch, on (images, labels) from the DataLoader; None when the policy mixes no batches."""\n'
        f"    return {mixing}\n")


def _prestage_text(policy: Any, library: str) -> list[str]:
    """The flip and crop as torchvision (for timm's PIL pipeline) or Kornia expressions."""
    texts = []
    if policy.flip:
        texts.append("transforms.RandomHorizontalFlip()" if library == "timm" else "K.RandomHorizontalFlip(p=0.5)")
    if policy.crop:
        size = to_torchvision.image_size_of(policy, None)
        if size is None:
            raise PolicyError(f"augmentation.crop {policy.crop} pads by a share of the image size, which this "
                              "policy does not record (provenance.image_size)")
        pad = crop_padding(policy.crop, policy.num_magnitude_bins, size, size)
        fill = policy.fill if isinstance(policy.fill, int) else tuple(policy.fill)
        unit = (fill if isinstance(fill, int) else fill[0]) / 255.0  # Kornia's images are in [0, 1]
        texts.append(f"transforms.RandomCrop({size}, padding={pad}, fill={fill!r})" if library == "timm" else
                     f"K.RandomCrop(({size}, {size}), padding={pad}, fill={unit!r})")
    return texts


def _timm(policy: Any) -> str:
    config = convert.to_timm(policy)
    fill = tuple([policy.fill] * 3) if isinstance(policy.fill, int) else tuple(policy.fill)
    resample = {"nearest": 0, "bilinear": 2}[policy.interpolation]  # PIL's codes, which timm passes on
    pre = _prestage_text(policy, "timm")
    build = "rand_augment_transform(CONFIG, hparams)"
    if pre:
        build = f"transforms.Compose([{', '.join(pre)}, {build}])"
    return _header(policy, "timm") + ("from torchvision import transforms\n\n" if pre else "") + (
        f"CONFIG = {config!r}\n\n\n"
        "def train_transform():\n"
        '    """Per PIL image, as timm\'s own training transforms apply it."""\n'
        f"    hparams = {{'img_mean': {fill!r}, 'interpolation': {resample}, 'translate_pct': 150 / 331}}\n"
        f"    return {build}\n")


def _kornia(policy: Any) -> str:
    entries = to_kornia.kornia_policy(policy)
    if policy.kind == "trivialaugment":
        build = "TrivialAugment(policy=POLICY)"
    elif policy.num_ops == 0:
        build = "torch.nn.Identity()  # N = 0: nothing to apply, and Kornia needs n >= 1"
    else:
        build = f"RandAugment(n={policy.num_ops}, m={to_kornia.KORNIA_M}, policy=POLICY)"
    pre = _prestage_text(policy, "kornia")
    if pre:
        build = f"torch.nn.Sequential({', '.join(pre)}, {build.split('  #')[0]})"
    return _header(policy, "kornia") + ("import kornia.augmentation as K\n\n" if pre else "") + (
        f"POLICY = {pprint.pformat(entries, width=100)}\n\n\n"
        "def train_transform():\n"
        '    """Per batch of float images in [0, 1], shape (B, C, H, W), on any device."""\n'
        f"    return {build}\n")


EXPORT_FORMATS: dict[str, ExportFormat] = {fmt.name: fmt for fmt in (
    ExportFormat("json", ".json", "exact", "The policy document itself (load_policy reads it).", _json),
    ExportFormat("torchvision", ".py", "exact",
                 "v2.RandAugment/TrivialAugmentWide are the ops the search trained with, bit for bit (an op subset, "
                 "bounds and Cutout through a subclass of them; the flip and crop as v2.RandomHorizontalFlip and "
                 "v2.RandomCrop); batch mixing (v2.CutMix/MixUp) pairs neighbours instead of a random permutation.",
                 _torchvision),
    ExportFormat("timm", ".py", "approximate",
                 "timm's scale is 0-10 (M rescaled), its op set differs (no Identity; Invert, SolarizeAdd) "
                 "and its ops run on PIL images; timm's own op set whatever the policy's; no batch mixing.", _timm),
    ExportFormat("albumentations", ".json", "approximate",
                 "Same arithmetic for most ops; shears shifted to torchvision's pivot within a pixel, its own "
                 "Equalize/AutoContrast, ops in list order, a negative Sharpness as a blur applied with a probability; "
                 "TrivialAugment's values continuous (within an op's bounds: uniform, where the policy clamps a "
                 "uniform bin); no batch mixing.",
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
