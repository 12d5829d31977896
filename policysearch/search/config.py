"""The configuration of a search: defaults, a TOML file, then flags.

A TOML file (``studies/NAME.toml``) holds the same keys as the ``run`` flags
(with underscores) plus a ``[space]`` table for the search ranges; flags given
on the command line override it. Unknown keys and wrong types are a
:class:`ConfigError` naming the key, the file and the bad value.

Example:
    >>> from policysearch.search.config import RunConfig
    >>> RunConfig().study_name
    'fashion-mnist-efficientnet-lite0'
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from policysearch._checks import COUNT, FLAG, Rule, check_fields, show
from policysearch.data.images import IMAGE_SIZE
from policysearch.distill.teaching import TEACHER_VIEWS
from policysearch.errors import ConfigError
from policysearch.search.space import SearchSpace
from policysearch.training.config import TRAINING_FIELDS

__all__ = ["RunConfig", "load_config", "SAMPLERS", "PRUNERS", "SEARCH_KEYS", "RUN_FIELDS", "HEARTBEAT_INTERVAL"]

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
# Keys that define what a trial's value means: a resumed study must keep them.
SEARCH_KEYS = (
    "dataset", "model", "weights", "image_size", "train_size", "val_size", "epochs",
    "batch_size", "seeds", "seed", "space", "teacher", "teacher_view",
)
# Settings of distillation studies only: left out of other studies' stored
# settings, so studies made before they existed still resume.
DISTILL_KEYS = ("teacher", "teacher_view")
DISTILL_SPACE_KEYS = ("temperature", "alpha")
HEARTBEAT_INTERVAL = 10  # seconds between a running trial's heartbeats; 6 missed mark it failed

# Field -> rule; the fields a training run has too are checked by the training layer's rules.
RUN_FIELDS = MappingProxyType({
    **{name: TRAINING_FIELDS[name] for name in ("epochs", "batch_size", "seed", "device")},
    "image_size": IMAGE_SIZE,
    "test_size": COUNT.or_none(),
    "timeout": Rule("number", low=0.0, low_open=True, optional=True),
    "sampler": Rule("choice", choices=SAMPLERS),
    "pruner": Rule("choice", choices=PRUNERS),
    "teacher_view": Rule("choice", choices=TEACHER_VIEWS),
    "final": FLAG,
    **{name: COUNT for name in ("train_size", "val_size", "seeds", "trials", "final_seeds", "jobs", "heartbeat")},
})


@dataclass(frozen=True)
class RunConfig:
    """Everything ``policysearch run`` needs; the defaults are the built-in job."""

    dataset: str = "fashion-mnist"
    model: str = "efficientnet-lite0"
    weights: str | None = "DEFAULT"
    image_size: int = 32
    train_size: int = 1000
    val_size: int = 500
    test_size: int | None = None  # None: the whole held-out test split
    epochs: int = 3
    batch_size: int = 64
    seeds: int = 1
    trials: int = 24
    timeout: float | None = None
    study: str | None = None
    storage: str | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    device: str = "auto"
    seed: int = 0
    final: bool = True
    final_seeds: int = 2
    output_dir: str = "studies"
    jobs: int = 1  # worker processes on this machine, all on the one study
    heartbeat: int = HEARTBEAT_INTERVAL
    teacher: str | None = None  # a finished run directory: the proxy trains students of it
    teacher_view: str = "augmented"
    space: SearchSpace = field(default_factory=SearchSpace)

    def __post_init__(self) -> None:
        for name in ("dataset", "model", "output_dir"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"{name} should be a non-empty string, but got {show(getattr(self, name))}")
        if isinstance(self.weights, str) and self.weights.lower() == "none":
            object.__setattr__(self, "weights", None)  # "none" = random initialisation
        if self.weights is not None and not isinstance(self.weights, str):
            raise ConfigError(f"weights should be a string or absent, but got {show(self.weights)}")
        check_fields(self, RUN_FIELDS, error=ConfigError)
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher):
            raise ConfigError(f"teacher should be a run directory, but got {show(self.teacher)}")
        if self.study is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", str(self.study)):
            raise ConfigError(
                "study should be 1-100 letters, digits, '.', '_' or '-' (it names a folder), "
                f"but got {show(self.study)}"
            )
        if not isinstance(self.space, SearchSpace):
            raise ConfigError(f"space should be a table of ranges, but got {show(self.space)}")

    @property
    def study_name(self) -> str:
        """``--study``, or one derived from the dataset and the model."""
        if self.study:
            return self.study
        dataset = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(self.dataset.split(":", 1)[-1]).name or self.dataset)
        return f"{dataset.strip('-') or 'data'}-{self.model}"

    @property
    def storage_url(self) -> str:
        """``--storage``, or the one SQLite file every study shares (as the dashboard expects)."""
        return self.storage or f"sqlite:///{Path(self.output_dir) / 'policysearch.db'}"

    def search_settings(self) -> dict[str, Any]:
        """What defines a trial's value; stored in the study and compared on resume."""
        data = self.to_dict()
        settings = {key: data[key] for key in SEARCH_KEYS}
        if self.teacher is None:
            for key in DISTILL_KEYS:
                del settings[key]
            settings["space"] = {k: v for k, v in settings["space"].items() if k not in DISTILL_SPACE_KEYS}
        return settings

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the space as a table)."""
        data = asdict(self)
        data["space"] = self.space.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """The inverse of :meth:`to_dict` (used to hand the config to worker processes)."""
        return cls(**{**data, "space": SearchSpace.from_dict(data["space"])})


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Defaults, then the TOML file at ``path`` (if any), then ``overrides`` (flags).

    Example:
        >>> load_config(None, {"trials": 5}).trials
        5
    """
    values: dict[str, Any] = {}
    if path is not None:
        values.update(_read_toml(Path(path)))
        _build(values, f" in {path}")  # the file must be valid on its own, whatever flags override
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return _build(values, "")


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
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"config file {str(path)!r} has unknown keys {unknown}; known: {sorted(known)}")
    return data
