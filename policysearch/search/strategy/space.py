"""The search space: the only code that calls ``trial.suggest_*``.

Parameter names are stored forever in studies, so they never change:
``augmentation`` (``randaugment`` or ``trivialaugment``, when the space has
both kinds), ``num_ops`` and ``magnitude`` (RandAugment only), ``approach``,
``head_lr``, ``backbone_lr_ratio`` (fine-tune only; backbone LR = head LR x
ratio), when enabled ``cutmix_prob``, and in a distillation study (a search
with a teacher) ``temperature`` and ``alpha``.

Op groups (:mod:`policysearch.augment.groups`) are searched under their own
names, ``group_flips``, ``group_crop`` (the pre-stage: a flip, a padded crop),
``group_geometric``, ``group_colour``, ``group_histogram`` and
``group_cutout`` (the ops RandAugment and TrivialAugmentWide draw from), each
``False`` or ``True``. ``augmentation``, ``num_ops`` (from at least 1) and
``magnitude`` are asked only when an op group is chosen; no group chosen is no
augmentation. A space with ``ops`` fixed (``[space] ops = [...]``, and every
study stored before groups existed) searches no op group: every trial uses
those ops, with ``num_ops`` from its low end, as before.

Example:
    >>> import optuna
    >>> from policysearch.search.strategy.space import SearchSpace
    >>> trial = optuna.trial.FixedTrial({"group_flips": True, "group_crop": False, "group_geometric": True,
    ...     "group_colour": False, "group_histogram": False, "group_cutout": False, "augmentation": "randaugment",
    ...     "num_ops": 1, "magnitude": 5, "approach": "finetune", "head_lr": 0.01, "backbone_lr_ratio": 0.1})
    >>> policy = SearchSpace().suggest(trial)
    >>> policy.flip, policy.ops
    (True, ('Identity', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate'))
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from policysearch._checks import check_choice, check_int, check_number, show
from policysearch.augment.groups import GROUPS, OP_GROUPS, ops_for_groups
from policysearch.augment.ops import TORCHVISION_OPS, check_op_bins
from policysearch.errors import ConfigError
from policysearch.policy import (APPROACHES, AUGMENTATION_KINDS, STANDARD_CROP_BIN, Distillation, Mixing, Policy,
                                 Transfer)

__all__ = ["SearchSpace", "DEFAULT_HEAD_LR", "DEFAULT_BACKBONE_LR_RATIO", "baseline_params", "BASELINES",
           "GROUP_PARAM", "TORCHVISION_GROUPS"]

DEFAULT_HEAD_LR = 1e-3
DEFAULT_BACKBONE_LR_RATIO = 0.1
GROUP_PARAM = "group_{}"  # the Optuna parameter of each op group: group_flips, group_crop, group_geometric...
TORCHVISION_GROUPS = ("geometric", "colour", "histogram")  # exactly torchvision's 14 ops
NUMBERS = 31  # magnitude bins, torchvision's
# Measured under the same proxy in every study: no augmentation, the standard
# flip + crop (spaces that search those groups), torchvision's default
# RandAugment and TrivialAugmentWide (where the space has it), all with the
# default learning rates. Name -> (groups, kind, N, M).
BASELINES: Mapping[str, tuple[tuple[str, ...], str, int, int]] = {
    "no_augmentation": ((), "randaugment", 0, 0),
    "standard": (("flips", "crop"), "randaugment", 0, 0),
    "randaugment_n2_m9": (TORCHVISION_GROUPS, "randaugment", 2, 9),
    "trivialaugment_wide": (TORCHVISION_GROUPS, "trivialaugment", 0, 0),
}


@dataclass(frozen=True)
class SearchSpace:
    """Ranges searched for each parameter (inclusive); all configurable."""

    kinds: tuple[str, ...] = AUGMENTATION_KINDS
    num_ops: tuple[int, int] = (0, 4)
    magnitude: tuple[int, int] = (0, 30)
    # Fine-tuning only by default: its backbone rate ratio reaches down to 1e-3, next to a frozen
    # backbone, and the linear probe lost every comparison measured here (docs/benchmarks.md, proxy_fidelity).
    approaches: tuple[str, ...] = ("finetune",)
    # Where AdamW fine-tuning of a pretrained backbone trains at all: head rates outside
    # [3e-4, 2e-2] or a backbone ratio under 0.01 spent trials of a 12-trial search for nothing.
    head_lr: tuple[float, float] = (3e-4, 2e-2)
    backbone_lr_ratio: tuple[float, float] = (1e-2, 1.0)
    cutmix: bool = False  # also search CutMix's probability (alpha fixed at 1)
    # A fixed op set (every trial draws from it; no op group is searched), or None: the groups' ops.
    ops: tuple[str, ...] | None = None
    # Searched only when a teacher takes part (``run --teacher``).
    temperature: tuple[float, float] = (1.0, 10.0)
    alpha: tuple[float, float] = (0.0, 1.0)
    # The op groups searched (augment/groups.py); None: all six, or none when ``ops`` is fixed.
    groups: tuple[str, ...] | None = None
    # Per-op [lo, hi] magnitude bins, applied to every sampled policy (Policy.op_bins).
    op_bins: Mapping[str, tuple[int, int]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("kinds", "num_ops", "magnitude", "head_lr", "backbone_lr_ratio", "approaches", "temperature",
                     "alpha"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        self._settle_ops()
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

    def _settle_ops(self) -> None:
        """Check ``groups``, ``ops`` and ``op_bins`` together; None groups become the default for the op set."""
        groups = self.groups
        if groups is None:
            groups = () if self.ops is not None else GROUPS
        if isinstance(groups, str) or not isinstance(groups, (list, tuple)):
            raise ConfigError(f"space.groups should be a list of op groups, but got {show(groups)}")
        for name in groups:
            if name not in GROUPS:
                raise ConfigError(f"space.groups has an unknown group {show(name)}; known: {list(GROUPS)}")
        if len(set(groups)) != len(groups):
            raise ConfigError(f"space.groups should not repeat a group, but got {list(groups)}")
        object.__setattr__(self, "groups", tuple(g for g in GROUPS if g in groups))
        if self.ops is not None:
            try:
                object.__setattr__(self, "ops", Policy(ops=tuple(self.ops) if isinstance(self.ops, list)
                                                       else self.ops).ops)
            except ValueError as exc:
                raise ConfigError(f"space.ops: {exc}") from None
            searched = [g for g in self.groups if g in OP_GROUPS]
            if searched:
                raise ConfigError(f"space.ops fixes the op set, so space.groups should name no op group, but it "
                                  f"names {searched}; drop space.ops to search them")
        universe = self.ops if self.ops is not None else ops_for_groups(self.groups)
        object.__setattr__(self, "op_bins", check_op_bins("space.op_bins", self.op_bins, universe, NUMBERS,
                                                          error=ConfigError))

    @property
    def searches_groups(self) -> bool:
        """Whether the op set comes from searched op groups (not fixed by ``ops``)."""
        return self.ops is None

    def suggest(self, trial: Any, *, distill: bool = False, grey: bool = False) -> Policy:
        """Sample a :class:`Policy` from an Optuna trial (or ``FixedTrial``); with ``distill`` also the
        distillation temperature and alpha. ``grey`` (the training images are grey) leaves out of the
        groups' ops those that do nothing on them (Color); a fixed op set stays as it was given."""
        chosen = [g for g in self.groups if trial.suggest_categorical(GROUP_PARAM.format(g), [False, True])]
        ops = self._ops(chosen, grey)
        kind, num_ops, magnitude = "randaugment", 0, 0
        if ops:
            kind = trial.suggest_categorical("augmentation", list(self.kinds)) if len(self.kinds) > 1 \
                else self.kinds[0]
            if kind == "randaugment":
                # With groups, "no group" is no augmentation: N = 0 (where M means nothing) is not asked again.
                low = max(1, self.num_ops[0]) if self.searches_groups else self.num_ops[0]
                num_ops = trial.suggest_int("num_ops", min(low, self.num_ops[1]), self.num_ops[1])
                magnitude = trial.suggest_int("magnitude", *self.magnitude)
        augment = dict(kind=kind, num_ops=num_ops, magnitude=magnitude, ops=ops or TORCHVISION_OPS,
                       flip="flips" in chosen, crop=STANDARD_CROP_BIN if "crop" in chosen else 0,
                       op_bins={op: b for op, b in self.op_bins.items() if op in ops})
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
        return Policy(**augment, mixing=mixing, transfer=transfer, distillation=distillation)

    def _ops(self, chosen: list[str], grey: bool) -> tuple[str, ...]:
        """The ops RandAugment/TrivialAugment draw from: the chosen groups' (empty: none; on grey data
        without Color), or the fixed set as it stands (what the user, or a study's earlier release, chose)."""
        return ops_for_groups(chosen, grey=grey) if self.ops is None else self.ops

    def ablation_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's parameters with its augmentation switched off (its learning rates kept): every group
        off, or (ops fixed) RandAugment at N = 0.

        Example:
            >>> SearchSpace(groups=("flips",)).ablation_params({"group_flips": True, "head_lr": 0.01})
            {'head_lr': 0.01, 'group_flips': False}
        """
        kept = {k: v for k, v in params.items() if k not in ("augmentation", "num_ops", "magnitude")
                and not k.startswith(GROUP_PARAM.format(""))}
        off: dict[str, Any] = {GROUP_PARAM.format(g): False for g in self.groups}
        if not self.searches_groups and "randaugment" in self.kinds:
            off.update({"augmentation": "randaugment"} if len(self.kinds) > 1 else {})
            off.update(num_ops=self.num_ops[0], magnitude=self.magnitude[0])
        return {**kept, **off}

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
        # With groups: torchvision's 14 ops (its three groups) and N from 1; with ops fixed: those ops.
        grid: dict[str, list[Any]] = {GROUP_PARAM.format(g): [g in TORCHVISION_GROUPS] for g in self.groups}
        grid.update({"augmentation": ["randaugment"]} if len(self.kinds) > 1 else {})
        first = max(1, self.num_ops[0]) if self.searches_groups else self.num_ops[0]
        grid.update({"num_ops": list(range(first, self.num_ops[1] + 1)), "magnitude": magnitudes})
        grid.update({key: [value] for key, value in self.default_transfer_params(distill=distill).items()})
        return grid

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for the study's stored configuration."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["op_bins"] = {name: list(bounds) for name, bounds in self.op_bins.items()}
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """The inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError`."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"space has unknown keys {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**data)


def baseline_params(space: SearchSpace, *, distill: bool = False) -> dict[str, dict[str, Any]]:
    """Trial parameters of each baseline the space can express, keyed by the baseline's name.

    Example:
        >>> list(baseline_params(SearchSpace()))
        ['no_augmentation', 'standard', 'randaugment_n2_m9', 'trivialaugment_wide']
        >>> list(baseline_params(SearchSpace(ops=("Identity", "Rotate"))))
        ['no_augmentation', 'randaugment_n2_m9', 'trivialaugment_wide']
    """
    out = {}
    for name, (groups, kind, num_ops, magnitude) in BASELINES.items():
        params = _baseline(space, groups, kind, num_ops, magnitude)
        if params is not None:
            out[name] = {**params, **space.default_transfer_params(distill=distill)}
    return out


def _baseline(space: SearchSpace, groups: tuple[str, ...], kind: str, num_ops: int,
              magnitude: int) -> dict[str, Any] | None:
    """One baseline's augmentation parameters, or None where the space cannot express it."""
    op_groups = [g for g in groups if g in OP_GROUPS]
    needed = [g for g in groups if g not in OP_GROUPS or space.searches_groups]
    if not set(needed) <= set(space.groups):
        return None  # e.g. flip + crop in a space that does not search them
    params: dict[str, Any] = {GROUP_PARAM.format(g): g in groups for g in space.groups}
    if space.searches_groups and not op_groups:
        return params  # no op group: no augmentation kind, N or M to ask
    if kind not in space.kinds:
        return None  # a space without TrivialAugment (older studies) has no TrivialAugment baseline
    params.update({"augmentation": kind} if len(space.kinds) > 1 else {})
    if kind == "randaugment":
        params["num_ops"] = min(max(num_ops, space.num_ops[0]), space.num_ops[1])
        params["magnitude"] = min(max(magnitude, space.magnitude[0]), space.magnitude[1])
    return params


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
