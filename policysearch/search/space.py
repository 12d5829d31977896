"""The search space: the only code that calls ``trial.suggest_*``.

Parameter names are stored forever in studies, so they never change:
``augmentation`` (``randaugment`` or ``trivialaugment``, when the space has
both kinds), ``num_ops`` and ``magnitude`` (RandAugment only), ``approach``,
``head_lr``, ``backbone_lr_ratio`` (fine-tune only; backbone LR = head LR x
ratio), when enabled ``cutmix_prob``, and in a distillation study (a search
with a teacher) ``temperature`` and ``alpha``.

Example:
    >>> import optuna
    >>> from policysearch.search.space import SearchSpace
    >>> trial = optuna.trial.FixedTrial({"augmentation": "randaugment", "num_ops": 2, "magnitude": 9,
    ...                                  "approach": "linear_probe", "head_lr": 0.01})
    >>> SearchSpace(approaches=("linear_probe", "finetune")).suggest(trial).transfer.approach
    'linear_probe'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from policysearch._checks import check_choice, check_int, check_number
from policysearch.augment.ops import TORCHVISION_OPS
from policysearch.errors import ConfigError
from policysearch.policy import APPROACHES, AUGMENTATION_KINDS, Distillation, Mixing, Policy, Transfer

__all__ = ["SearchSpace", "DEFAULT_HEAD_LR", "DEFAULT_BACKBONE_LR_RATIO", "baseline_params", "BASELINES"]

DEFAULT_HEAD_LR = 1e-3
DEFAULT_BACKBONE_LR_RATIO = 0.1
# Measured under the same proxy in every study: no augmentation, torchvision's
# default RandAugment and TrivialAugmentWide (where the space has it), all with
# the default learning rates. Name -> (kind, N, M).
BASELINES: Mapping[str, tuple[str, int, int]] = {
    "no_augmentation": ("randaugment", 0, 0),
    "randaugment_n2_m9": ("randaugment", 2, 9),
    "trivialaugment_wide": ("trivialaugment", 0, 0),
}


@dataclass(frozen=True)
class SearchSpace:
    """Ranges searched for each parameter (inclusive); all configurable."""

    kinds: tuple[str, ...] = AUGMENTATION_KINDS
    num_ops: tuple[int, int] = (0, 4)
    magnitude: tuple[int, int] = (0, 30)
    # Fine-tuning only by default: its backbone rate ratio reaches down to 1e-3, next to a frozen
    # backbone, and the linear probe lost every comparison measured here (README, "Search design").
    approaches: tuple[str, ...] = ("finetune",)
    # Where AdamW fine-tuning of a pretrained backbone trains at all: head rates outside
    # [3e-4, 2e-2] or a backbone ratio under 0.01 spent trials of a 12-trial search for nothing.
    head_lr: tuple[float, float] = (3e-4, 2e-2)
    backbone_lr_ratio: tuple[float, float] = (1e-2, 1.0)
    cutmix: bool = False  # also search CutMix's probability (alpha fixed at 1)
    ops: tuple[str, ...] = field(default=TORCHVISION_OPS)
    # Searched only when a teacher takes part (``run --teacher``).
    temperature: tuple[float, float] = (1.0, 10.0)
    alpha: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        for name in ("kinds", "num_ops", "magnitude", "head_lr", "backbone_lr_ratio", "approaches", "ops", "temperature",
                     "alpha"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_range("space.num_ops", self.num_ops, low=0, integer=True)
        _check_range("space.magnitude", self.magnitude, low=0, high=30, integer=True)
        _check_range("space.head_lr", self.head_lr, low=0.0)
        _check_range("space.backbone_lr_ratio", self.backbone_lr_ratio, low=0.0)
        _check_range("space.temperature", self.temperature, low=0.0)
        _check_range("space.alpha", self.alpha, low=0.0, high=1.0, open_low=False)
        if not self.kinds:
            raise ConfigError("space.kinds should name at least one augmentation kind, but got []")
        for kind in self.kinds:
            check_choice("space.kinds", kind, AUGMENTATION_KINDS, error=ConfigError)
        if not self.approaches:
            raise ConfigError("space.approaches should name at least one approach, but got []")
        for approach in self.approaches:
            check_choice("space.approaches", approach, APPROACHES, error=ConfigError)
        try:
            Policy(ops=self.ops)
        except ValueError as exc:
            raise ConfigError(f"space.ops: {exc}") from None

    def suggest(self, trial: Any, *, distill: bool = False) -> Policy:
        """Sample a :class:`Policy` from an Optuna trial (or ``FixedTrial``);
        with ``distill`` also the distillation temperature and alpha."""
        kind = trial.suggest_categorical("augmentation", list(self.kinds)) if len(self.kinds) > 1 else self.kinds[0]
        num_ops = magnitude = 0
        if kind == "randaugment":
            num_ops = trial.suggest_int("num_ops", *self.num_ops)
            magnitude = trial.suggest_int("magnitude", *self.magnitude)
        approach = trial.suggest_categorical("approach", list(self.approaches))
        head_lr = trial.suggest_float("head_lr", *self.head_lr, log=True)
        if approach == "finetune":
            ratio = trial.suggest_float("backbone_lr_ratio", *self.backbone_lr_ratio, log=True)
            transfer = Transfer("finetune", head_lr=head_lr, backbone_lr=head_lr * ratio)
        else:
            transfer = Transfer("linear_probe", head_lr=head_lr, backbone_lr=None)
        mixing = None
        if self.cutmix:
            prob = trial.suggest_float("cutmix_prob", 0.0, 1.0)
            mixing = Mixing("cutmix", prob=prob, alpha=1.0) if prob > 0 else None
        distillation = None
        if distill:
            temperature = trial.suggest_float("temperature", *self.temperature, log=True)
            distillation = Distillation(temperature, trial.suggest_float("alpha", *self.alpha))
        return Policy(kind=kind, num_ops=num_ops, magnitude=magnitude, ops=self.ops, mixing=mixing, transfer=transfer,
                      distillation=distillation)

    def default_transfer_params(self, *, distill: bool = False) -> dict[str, Any]:
        """The default learning rates (and distillation settings), as trial parameters (for baselines)."""
        approach = "finetune" if "finetune" in self.approaches else self.approaches[0]
        params: dict[str, Any] = {"approach": approach, "head_lr": _clip(DEFAULT_HEAD_LR, self.head_lr)}
        if approach == "finetune":
            params["backbone_lr_ratio"] = _clip(DEFAULT_BACKBONE_LR_RATIO, self.backbone_lr_ratio)
        if self.cutmix:
            params["cutmix_prob"] = 0.0
        if distill:
            default = Distillation()
            params["temperature"] = _clip(default.temperature, self.temperature)
            params["alpha"] = _clip(default.alpha, self.alpha)
        return params

    def grid(self, magnitude_step: int = 3, *, distill: bool = False) -> dict[str, list[Any]]:
        """The RandAugment paper's protocol: every N by every ``magnitude_step``-th M,
        at the default learning rates (for ``GridSampler``)."""
        low, high = self.magnitude
        magnitudes = list(range(low, high + 1, magnitude_step))
        if magnitudes[-1] != high:
            magnitudes.append(high)
        grid: dict[str, list[Any]] = {"augmentation": ["randaugment"]} if len(self.kinds) > 1 else {}
        grid.update({"num_ops": list(range(self.num_ops[0], self.num_ops[1] + 1)), "magnitude": magnitudes})
        grid.update({key: [value] for key, value in self.default_transfer_params(distill=distill).items()})
        return grid

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for the study's stored configuration."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """The inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError`."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"space has unknown keys {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**data)


def baseline_params(space: SearchSpace, *, distill: bool = False) -> dict[str, dict[str, Any]]:
    """Trial parameters of each baseline, keyed by the baseline's name."""
    out = {}
    for name, (kind, num_ops, magnitude) in BASELINES.items():
        if kind not in space.kinds:
            continue  # a space without TrivialAugment (older studies) has no TrivialAugment baseline
        params: dict[str, Any] = {"augmentation": kind} if len(space.kinds) > 1 else {}
        if kind == "randaugment":
            params["num_ops"] = min(max(num_ops, space.num_ops[0]), space.num_ops[1])
            params["magnitude"] = min(max(magnitude, space.magnitude[0]), space.magnitude[1])
        out[name] = {**params, **space.default_transfer_params(distill=distill)}
    return out


def _clip(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def _check_range(name: str, bounds: Any, *, low: float, high: float | None = None, integer: bool = False,
                 open_low: bool = True) -> None:
    if len(bounds) != 2:
        raise ConfigError(f"{name} should be [low, high], but got {list(bounds)}")
    check = check_int if integer else check_number
    kwargs: dict[str, Any] = {"low": low, "high": high, "error": ConfigError}
    if not integer:
        kwargs["low_open"] = open_low and low == 0.0
    lo = check(name, bounds[0], **kwargs)
    hi = check(name, bounds[1], **kwargs)
    if lo > hi:
        raise ConfigError(f"{name} should have low <= high, but got {list(bounds)}")
