"""The configuration of a search: defaults, a TOML file, then flags.

A TOML file (``studies/NAME.toml``) holds the same keys as the ``run`` flags
(with underscores) plus a ``[space]`` table for the search ranges; flags given
on the command line override it. Unknown keys and wrong types are a
:class:`ConfigError` naming the key, the file and the bad value.

Example:
    >>> from policysearch.search.configuration.config import RunConfig
    >>> RunConfig().study_name
    'fashion-mnist-efficientnet-lite0'
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from policysearch._checks import COUNT, FLAG, Rule, check_fields, show
from policysearch.augment.ops import TORCHVISION_OPS
from policysearch.data.images import IMAGE_SIZE
from policysearch.distill.teaching import TEACHER_VIEWS
from policysearch.errors import ConfigError
from policysearch.policy import APPROACHES
from policysearch.search.strategy.space import SearchSpace
from policysearch.training.config import TRAINING_FIELDS

__all__ = ["RunConfig", "load_config", "parse_duration", "format_duration", "SAMPLERS", "PRUNERS", "SEARCH_KEYS", "RUN_FIELDS", "HEARTBEAT_INTERVAL"]

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("percentile", "median", "hyperband", "none")
# Keys that define what a trial's value means: a resumed study must keep them.
SEARCH_KEYS = (
    "dataset", "model", "weights", "image_size", "train_size", "val_size", "epochs",
    "batch_size", "seeds", "seed", "space", "teacher", "teacher_view",
)
# Settings of distillation studies only: left out of other studies' stored
# settings, so studies made before they existed still resume.
DISTILL_KEYS = ("teacher", "teacher_view")
DISTILL_SPACE_KEYS = ("temperature", "alpha")
# Defaults of the release before op groups (settings format 2), for the space keys whose default changed
# since: no group searched, torchvision's 14 ops fixed (and so N from 0, as it searched).
FORMAT2_DEFAULTS = MappingProxyType({"space.groups": (), "space.ops": TORCHVISION_OPS})
# Defaults of the release before the smaller default run (settings format 3), for the keys whose default
# changed since: a 1,000-image proxy, a 2,000 x 4 target, 3 rung candidates, the whole test split.
FORMAT3_DEFAULTS = MappingProxyType({"train_size": 1000, "target_train_size": 2000, "target_epochs": 4,
                                     "rung_candidates": 3, "test_size": None})
# Defaults of the version before the target budget (its settings carry no format), for the keys whose
# default changed since: a study it made resumes with them unless the user sets the key.
LEGACY_DEFAULTS = MappingProxyType({**FORMAT2_DEFAULTS, **FORMAT3_DEFAULTS, "epochs": 3, "rung_candidates": 0,
                                    "space.kinds": ("randaugment",), "space.approaches": APPROACHES,
                                    "space.head_lr": (1e-4, 3e-2), "space.backbone_lr_ratio": (1e-3, 1.0)})
# Stored with new studies' settings; 3: before the smaller default run; 2: before op groups; absent: before the
# target budget.
SETTINGS_FORMAT = 4
NEW_SPACE_KEYS = ("groups", "op_bins")  # space keys format 3 added: earlier formats store neither
TARGET_KEYS = ("train_size", "epochs", "model", "image_size")  # the [target] table
HEARTBEAT_INTERVAL = 10  # seconds between a running trial's heartbeats; 6 missed mark it failed

# Field -> rule; the fields a training run has too are checked by the training layer's rules.
RUN_FIELDS = MappingProxyType({
    **{name: TRAINING_FIELDS[name] for name in ("batch_size", "seed", "device", "augment_on")},
    "epochs": TRAINING_FIELDS["epochs"].or_none(),
    "image_size": IMAGE_SIZE,
    "target_image_size": IMAGE_SIZE.or_none(),
    "test_size": COUNT.or_none(),
    "timeout": Rule("number", low=0.0, low_open=True, optional=True),
    "sampler": Rule("choice", choices=SAMPLERS),
    "pruner": Rule("choice", choices=PRUNERS),
    "teacher_view": Rule("choice", choices=TEACHER_VIEWS),
    "final": FLAG,
    "trials": Rule("int", low=0),  # 0: no more trials; a study's rung and verdict (see run_search)
    **{name: COUNT for name in ("train_size", "val_size", "seeds", "final_seeds", "jobs", "heartbeat",
                                  "target_train_size", "target_epochs", "rung_val_size", "rung_seeds")},
    "rung_candidates": Rule("int", low=0),
    "rung_train_size": COUNT.or_none(),
})


@dataclass(frozen=True)
class RunConfig:
    """Everything ``policysearch run`` needs; the defaults are the built-in job."""

    dataset: str = "fashion-mnist"
    model: str = "efficientnet-lite0"
    weights: str | None = "DEFAULT"
    image_size: int = 32
    # The default run is sized to end in minutes on a 2-core CPU: the verdict's 18 trainings of the target
    # (6 policies x 3 seeds) are most of its time, so the target is 1,000 images x 3 epochs and the proxy half
    # of its images.
    train_size: int = 500
    val_size: int = 500
    test_size: int | None = 2000  # the verdict's test images, a fresh draw per seed; None: the whole split
    epochs: int | None = None  # None: the target's epochs (the proxy trains in the target's regime)
    batch_size: int = 64
    seeds: int = 1
    trials: int = 20
    timeout: float | None = None
    # seconds the whole run may take, the verdict included (search/configuration/plan.py); "5m", "90s", "1h30m" or seconds.
    # Not a search key: it decides how many trials run, not what a trial's value means.
    budget: float | None = None
    study: str | None = None
    storage: str | None = None
    sampler: str = "tpe"
    pruner: str = "percentile"
    device: str = "auto"
    augment_on: str = "auto"  # auto: batched on the device for CUDA/MPS, OpenCV on the host for the CPU
    seed: int = 0
    final: bool = True
    final_seeds: int = 3  # paired seeds of the verdict: each its own draw of training images
    output_dir: str = "studies"
    jobs: int = 1  # worker processes on this machine, all on the one study
    devices: tuple[int, ...] = ()  # GPU indices the workers are spread over, in turn (empty: the default GPU)
    heartbeat: int = HEARTBEAT_INTERVAL
    teacher: str | None = None  # a finished run directory: the proxy trains students of it
    teacher_view: str = "augmented"
    space: SearchSpace = field(default_factory=SearchSpace)
    # The target: the training the policy is for. The verdict trains there.
    target_train_size: int = 1000
    target_epochs: int = 3
    target_model: str | None = None  # None: the search's model
    target_image_size: int | None = None  # None: the search's image size
    # The promotion rung (search/rung/rung.py): the proxy's best few, trained again nearer the target, pick the answer.
    rung_candidates: int = 2  # plus the leader's ablation when it augments; 0: no rung, the best proxy value
    rung_train_size: int | None = None  # None: see rung_budget
    rung_val_size: int = 2000
    rung_seeds: int = 2  # paired seeds per rung candidate: one seed's spread exceeds the margins it picks by
    # Keys the user set (a TOML file or flags); a resumed study made by an earlier
    # version keeps that version's defaults for the others (see with_legacy_defaults).
    explicit: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for name in ("dataset", "model", "output_dir"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"{name} should be a non-empty string, but got {show(getattr(self, name))}")
        if isinstance(self.weights, str) and self.weights.lower() == "none":
            object.__setattr__(self, "weights", None)  # "none" = random initialisation
        if self.weights is not None and not isinstance(self.weights, str):
            raise ConfigError(f"weights should be a string or absent, but got {show(self.weights)}")
        if self.budget is not None:
            object.__setattr__(self, "budget", parse_duration(self.budget, "budget"))
        check_fields(self, RUN_FIELDS, error=ConfigError)
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher):
            raise ConfigError(f"teacher should be a run directory, but got {show(self.teacher)}")
        if self.study is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", str(self.study)):
            raise ConfigError(
                "study should be 1-100 letters, digits, '.', '_' or '-' (it names a folder), "
                f"but got {show(self.study)}"
            )
        if self.target_model is not None and (not isinstance(self.target_model, str) or not self.target_model):
            raise ConfigError(f"target_model should be a model name, but got {show(self.target_model)}")
        object.__setattr__(self, "explicit", tuple(self.explicit))
        object.__setattr__(self, "devices", _gpu_indices(self.devices))
        if not isinstance(self.space, SearchSpace):
            raise ConfigError(f"space should be a table of ranges, but got {show(self.space)}")

    @property
    def study_name(self) -> str:
        """``--study``, or one derived from the dataset and the model."""
        if self.study:
            return self.study
        dataset = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(self.dataset.split(":", 1)[-1]).name or self.dataset)
        model = re.sub(r"[^A-Za-z0-9._-]+", "-", self.model)  # timm:NAME -> timm-NAME: the name is a folder
        return f"{dataset.strip('-') or 'data'}-{model}"

    @property
    def storage_url(self) -> str:
        """``--storage``, or the one SQLite file every study shares (as the dashboard expects)."""
        return self.storage or f"sqlite:///{Path(self.output_dir) / 'policysearch.db'}"

    @property
    def rung_budget(self) -> tuple[int, int, int]:
        """The rung's (training images, validation images, epochs): by default half the target's images but at
        least twice the proxy's (never more than the target's), and the target's epochs."""
        default = min(max(self.target_train_size // 2, 2 * self.train_size), self.target_train_size)
        return self.rung_train_size or default, self.rung_val_size, self.target_epochs

    @property
    def proxy_epochs(self) -> int:
        """Epochs of one proxy trial: ``epochs``, or by default the target's."""
        return self.target_epochs if self.epochs is None else self.epochs

    def legacy_settings(self) -> dict[str, Any]:
        """:meth:`search_settings` as the earlier version stored them (no format, no kinds), to compare
        with its studies; only RandAugment-only spaces have such a form."""
        settings = self.settings_as(2)
        del settings["format"]
        settings["space"] = {k: v for k, v in settings["space"].items() if k != "kinds"}
        return settings

    def settings_as(self, settings_format: int | None) -> dict[str, Any]:
        """:meth:`search_settings` as the release that stored ``settings_format`` wrote them (None: the
        first, which wrote no format), to compare with its studies. Format 2 had no ``groups`` or
        ``op_bins``: a space that leaves them empty is written without them.

        Example:
            >>> settings = RunConfig().with_legacy_defaults(2).settings_as(2)
            >>> settings["format"], "groups" in settings["space"], len(settings["space"]["ops"])
            (2, False, 14)
        """
        if settings_format is None:
            return self.legacy_settings()
        settings = self.search_settings()
        settings["format"] = settings_format
        if settings_format < 3:
            settings["space"] = {k: v for k, v in settings["space"].items() if k not in NEW_SPACE_KEYS or v}
        return settings

    def with_legacy_defaults(self, settings_format: int | None = None) -> RunConfig:
        """This config as the release that stored ``settings_format`` would have run it (None: the first
        release, before the target budget): that release's defaults for every key not set.

        Example:
            >>> RunConfig(target_epochs=5).with_legacy_defaults().proxy_epochs, RunConfig(target_epochs=5).proxy_epochs
            (3, 5)
            >>> RunConfig().with_legacy_defaults(2).space.groups
            ()
        """
        defaults = (LEGACY_DEFAULTS if settings_format is None else {**FORMAT2_DEFAULTS, **FORMAT3_DEFAULTS}
                    if settings_format < 3 else FORMAT3_DEFAULTS if settings_format < 4 else {})
        # A key is "not set" when no file or flag named it and it holds today's default (a config built in
        # code names nothing). The first release's rung_candidates=0: its answer was the best proxy value.
        today = {f.name: f.default for f in fields(self)}
        config = replace(self, **{key: value for key, value in defaults.items() if "." not in key
                                  and key not in self.explicit and getattr(self, key) == today[key]})
        space = {key.removeprefix("space."): value for key, value in defaults.items()
                 if key.startswith("space.") and key not in self.explicit}
        if "ops" in space and "space.groups" in self.explicit:
            del space["ops"]  # groups the user named: the groups' ops, not the old fixed set
        return replace(config, space=replace(config.space, **space))

    def search_settings(self) -> dict[str, Any]:
        """What defines a trial's value; stored in the study and compared on resume."""
        data = self.to_dict()
        data["epochs"] = self.proxy_epochs
        settings = {key: data[key] for key in SEARCH_KEYS}
        if self.teacher is None:
            for key in DISTILL_KEYS:
                del settings[key]
            settings["space"] = {k: v for k, v in settings["space"].items() if k not in DISTILL_SPACE_KEYS}
        return {**settings, "format": SETTINGS_FORMAT}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the space as a table)."""
        data = asdict(self)
        data["space"] = self.space.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """The inverse of :meth:`to_dict` (used to hand the config to worker processes)."""
        return cls(**{**data, "space": SearchSpace.from_dict(data["space"])})


_DURATION = re.compile(r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?")


def parse_duration(value: Any, name: str = "duration") -> float:
    """Seconds from ``"5m"``, ``"90s"``, ``"1h"``, ``"1h30m"``, ``"2.5m"`` (hours, minutes, seconds, in that
    order) or a positive number of seconds; a one-line :class:`ConfigError` quoting anything else.

    Example:
        >>> parse_duration("1h30m"), parse_duration("90s"), parse_duration(" 5m "), parse_duration(42)
        (5400.0, 90.0, 300.0, 42.0)
        >>> parse_duration("5 minutes", "budget")
        Traceback (most recent call last):
        ...
        policysearch.errors.ConfigError: budget should be a duration such as 90s, 5m, 1h or 1h30m, but got '5 minutes'
    """
    seconds = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        match = _DURATION.fullmatch(text)
        if match and text:
            seconds = sum(float(match[unit] or 0) * scale for unit, scale in (("h", 3600), ("m", 60), ("s", 1)))
        elif re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)  # a bare number is seconds, as --timeout's
    if seconds is None or not 0 < seconds < float("inf"):
        raise ConfigError(f"{name} should be a duration such as 90s, 5m, 1h or 1h30m, but got {show(value)}")
    return seconds


def format_duration(seconds: float) -> str:
    """``seconds`` the way :func:`parse_duration` reads them, rounded to the second.

    Example:
        >>> format_duration(5400), format_duration(90), format_duration(0.4), format_duration(3605)
        ('1h30m', '1m30s', '0s', '1h0m5s')
    """
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or (hours and secs) else "")
    return text + (f"{secs}s" if secs or not text else "")


def _gpu_indices(value: Any) -> tuple[int, ...]:
    """GPU indices from a tuple/list of ints or a string like ``"0,1"``.

    Example:
        >>> _gpu_indices("0, 2"), _gpu_indices([1])
        ((0, 2), (1,))
    """
    items = value.split(",") if isinstance(value, str) else value
    indices: list[int] = []
    for item in items if isinstance(items, (list, tuple)) else [items]:
        item = item.strip() if isinstance(item, str) else item
        if isinstance(item, str) and item.isdigit():
            indices.append(int(item))
        elif type(item) is int and item >= 0:
            indices.append(item)
        else:
            raise ConfigError(f"devices should be GPU indices such as 0,1, but got {show(value)}")
    return tuple(indices)


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Defaults, then the TOML file at ``path`` (if any), then ``overrides`` (flags).

    Example:
        >>> load_config(None, {"trials": 5}).trials
        5
    """
    values: dict[str, Any] = {}
    if path is not None:
        values.update(_flatten_target(_read_toml(Path(path)), f" in {path}"))
        _build(values, f" in {path}")  # the file must be valid on its own, whatever flags override
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    explicit = [key for key in values if key != "space"]
    explicit += [f"space.{key}" for key in values.get("space") or {}]
    return _build({**values, "explicit": tuple(explicit)}, "")


def _flatten_target(data: dict[str, Any], where: str) -> dict[str, Any]:
    """A ``[target]`` table as the ``target_*`` keys."""
    table = data.pop("target", None)
    if table is None:
        return data
    if not isinstance(table, Mapping):
        raise ConfigError(f"target should be a table, but got {show(table)}{where}")
    unknown = sorted(set(table) - set(TARGET_KEYS))
    if unknown:
        raise ConfigError(f"target has unknown keys {unknown}; known: {list(TARGET_KEYS)}{where}")
    return {**data, **{f"target_{key}": value for key, value in table.items()}}


def _build(values: dict[str, Any], where: str) -> RunConfig:
    values = dict(values)
    space = values.pop("space", None)
    try:
        if isinstance(space, Mapping):
            values["space"] = SearchSpace.from_dict(space)
        elif space is not None:
            raise ConfigError(f"space should be a table, but got {show(space)}")
        return RunConfig(**values)
    except ConfigError as exc:
        raise ConfigError(f"{exc}{where}") from None
    except (TypeError, ValueError) as exc:  # e.g. a range given as a number
        raise ConfigError(f"invalid configuration{where}: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    known = {f.name for f in fields(RunConfig) if f.name != "explicit" and not f.name.startswith("target_")}
    known.add("target")
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"config file {str(path)!r} has unknown keys {unknown}; known: {sorted(known)}")
    return data
