"""Field validators for data read from JSON and TOML documents, and configuration rules.

Each checker takes the dotted name of the field and its value, returns the
value (normalised) when it is valid, and otherwise raises the given error
class (``PolicyError`` by default) naming the field and quoting the bad value
in one line. Booleans are never accepted as numbers, and NaN/inf never as
numbers either.

Example:
    >>> from policysearch._checks import check_int
    >>> check_int("augmentation.magnitude", 31, low=0, high=30)
    Traceback (most recent call last):
    ...
    policysearch.errors.PolicyError: augmentation.magnitude should be an integer in [0, 30], but got 31
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Collection, Iterable, Mapping

from policysearch.errors import PolicyError

__all__ = [
    "show",
    "check_mapping",
    "check_int",
    "check_optional_int",
    "check_number",
    "check_choice",
    "check_str",
    "check_optional_str",
    "check_number_map",
    "check_scalar_map",
    "check_str_map",
    "check_final_check",
    "check_verdict",
    "check_rung",
    "Rule",
    "COUNT",
    "SEED",
    "FLAG",
    "check_fields",
]

_MAX_SHOWN = 80


def show(value: Any) -> str:
    """``repr(value)`` cut to one short line, for error messages."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _range_text(low: float | None, high: float | None, low_open: bool = False) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def check_mapping(
    name: str,
    value: Any,
    *,
    allowed: Collection[str],
    required: Iterable[str] = (),
    error: type[Exception] = PolicyError,
) -> dict[str, Any]:
    """A mapping with string keys, no unknown keys, and every required key."""
    if not isinstance(value, Mapping):
        raise error(f"{name} should be an object (a JSON mapping), but got {show(value)}")
    for key in value:
        if not isinstance(key, str):
            raise error(f"{name} should have string keys, but got key {show(key)}")
        if key not in allowed:
            raise error(f"{name} has an unknown field {key!r}; known: {sorted(allowed)}")
    for key in required:
        if key not in value:
            raise error(f"{name}.{key} is missing")
    return dict(value)


def check_int(
    name: str,
    value: Any,
    *,
    low: int | None = None,
    high: int | None = None,
    error: type[Exception] = PolicyError,
) -> int:
    """An integer (not a bool) within ``[low, high]``."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    raise error(f"{name} should be an integer{_range_text(low, high)}, but got {show(value)}")


def check_optional_int(
    name: str, value: Any, *, low: int | None = None, error: type[Exception] = PolicyError
) -> int | None:
    """None, or an integer as :func:`check_int`."""
    return None if value is None else check_int(name, value, low=low, error=error)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    error: type[Exception] = PolicyError,
) -> float:
    """A finite int or float (not a bool) within the range; returned as float."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        number = float(value) if not isinstance(value, int) or abs(value) < 2**63 else math.inf
        ok = math.isfinite(number)
        if ok and low is not None:
            ok = number > low if low_open else number >= low
        if ok and high is not None:
            ok = number <= high
        if ok:
            return number
    kind = "a finite number"
    raise error(f"{name} should be {kind}{_range_text(low, high, low_open)}, but got {show(value)}")


def check_choice(
    name: str, value: Any, choices: Collection[str], *, error: type[Exception] = PolicyError
) -> str:
    """One of a fixed set of strings."""
    if isinstance(value, str) and value in choices:
        return value
    raise error(f"{name} should be one of {list(choices)}, but got {show(value)}")


def check_str(name: str, value: Any, *, error: type[Exception] = PolicyError) -> str:
    """A non-empty string."""
    if isinstance(value, str) and value:
        return value
    raise error(f"{name} should be a non-empty string, but got {show(value)}")


def check_optional_str(name: str, value: Any, *, error: type[Exception] = PolicyError) -> str | None:
    """None, or a string."""
    if value is None or isinstance(value, str):
        return value
    raise error(f"{name} should be a string or null, but got {show(value)}")


def check_number_map(name: str, value: Any) -> dict[str, float | None]:
    """A mapping of names to finite numbers or null."""
    mapping = check_mapping(name, value, allowed=_AnyKey())
    return {
        key: None if item is None else check_number(f"{name}.{key}", item)
        for key, item in mapping.items()
    }


def check_scalar_map(name: str, value: Any) -> dict[str, Any]:
    """A mapping of names to JSON scalars (string, finite number, bool, null)."""
    mapping = check_mapping(name, value, allowed=_AnyKey())
    for key, item in mapping.items():
        if item is None or isinstance(item, (str, bool)):
            continue
        check_number(f"{name}.{key}", item)
    return mapping


def check_str_map(name: str, value: Any) -> dict[str, str]:
    """A mapping of names to strings."""
    mapping = check_mapping(name, value, allowed=_AnyKey())
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise PolicyError(f"{name}.{key} should be a string, but got {show(item)}")
    return mapping


def check_final_check(name: str, value: Any) -> dict[str, dict[str, Any]]:
    """Per-policy test results: ``{label: {"mean": x, "std": y, "values": [...]}}``."""
    mapping = check_mapping(name, value, allowed=_AnyKey())
    out: dict[str, dict[str, Any]] = {}
    for label, entry in mapping.items():
        where = f"{name}.{label}"
        entry = check_mapping(where, entry, allowed=("mean", "std", "values", "cached"), required=("mean", "std"))
        values = entry.get("values", [])
        if not isinstance(values, list):
            raise PolicyError(f"{where}.values should be a list of numbers, but got {show(values)}")
        out[label] = {
            "mean": check_number(f"{where}.mean", entry["mean"]),
            "std": check_number(f"{where}.std", entry["std"], low=0.0),
            "values": [check_number(f"{where}.values", v) for v in values],
            # how many of the runs were stored results, reused (verdicts since the paired seeds)
            **({"cached": check_int(f"{where}.cached", entry["cached"], low=0)} if "cached" in entry else {}),
        }
    return out


_COMPARISON_KEYS = ("difference", "spread", "beats", "line")
# Since the paired, Student's t verdict: its bounds, seeds and outcome, and the augmentation's own gain.
_BOUND_KEYS = ("lower", "upper", "seeds", "outcome")
_VERDICT_KEYS = ("budget", "table", "best_baseline", *_COMPARISON_KEYS)
_OUTCOMES = ("beats", "loses", "no clear difference", "no claim")


def check_verdict(name: str, value: Any) -> dict[str, Any]:
    """A target-budget verdict: its budget, a per-policy table as :func:`check_final_check`, and the line;
    since the paired verdict also the bounds and the augmentation's own gain (``augmentation``)."""
    mapping = check_mapping(name, value, allowed=(*_VERDICT_KEYS, *_BOUND_KEYS, "augmentation"),
                            required=_VERDICT_KEYS)
    out = {
        "budget": check_scalar_map(f"{name}.budget", mapping["budget"]),
        "table": check_final_check(f"{name}.table", mapping["table"]),
        "best_baseline": check_str(f"{name}.best_baseline", mapping["best_baseline"]),
        **_check_comparison(name, mapping),
    }
    if mapping.get("augmentation") is not None:
        gain = check_mapping(f"{name}.augmentation", mapping["augmentation"],
                             allowed=(*_COMPARISON_KEYS, *_BOUND_KEYS), required=_COMPARISON_KEYS)
        out["augmentation"] = _check_comparison(f"{name}.augmentation", gain)
    return out


def _check_comparison(name: str, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A paired comparison's fields (see ``policysearch.search.paired``): the older ones always, the bounds if there."""
    if not isinstance(mapping["beats"], bool):
        raise PolicyError(f"{name}.beats should be true or false, but got {show(mapping['beats'])}")
    out = {
        "difference": check_number(f"{name}.difference", mapping["difference"]),
        "spread": check_number(f"{name}.spread", mapping["spread"], low=0.0),
        "beats": mapping["beats"],
        "line": check_str(f"{name}.line", mapping["line"]),
    }
    for key in ("lower", "upper"):
        if key in mapping:
            out[key] = None if mapping[key] is None else check_number(f"{name}.{key}", mapping[key])
    if "seeds" in mapping:
        out["seeds"] = check_int(f"{name}.seeds", mapping["seeds"], low=1)
    if "outcome" in mapping:
        out["outcome"] = check_choice(f"{name}.outcome", mapping["outcome"], _OUTCOMES)
    return out


_RUNG_KEYS = ("budget", "value", "candidates")


def check_rung(name: str, value: Any) -> dict[str, Any]:
    """A promotion rung: its budget, the picked policy's value, and each candidate's value by trial."""
    mapping = check_mapping(name, value, allowed=_RUNG_KEYS, required=_RUNG_KEYS)
    return {
        "budget": check_scalar_map(f"{name}.budget", mapping["budget"]),
        "value": check_number(f"{name}.value", mapping["value"]),
        "candidates": check_number_map(f"{name}.candidates", mapping["candidates"]),
    }


class _AnyKey:
    """``allowed=`` for mappings whose keys are free-form names."""

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self):  # pragma: no cover - only used in error text
        return iter(())

    def __len__(self) -> int:  # pragma: no cover
        return 0


@dataclass(frozen=True)
class Rule:
    """How one configuration field is checked, defined once and shared by every config that has it.

    ``kind`` is ``"int"``, ``"number"``, ``"choice"`` or ``"bool"``; an
    ``optional`` rule also accepts None (meaning "the default").

    Example:
        >>> SEED.check("seed", -1, error=ValueError)
        Traceback (most recent call last):
        ...
        ValueError: seed should be an integer >= 0, but got -1
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False

    def check(self, name: str, value: Any, *, error: type[Exception] = PolicyError) -> Any:
        """The value, normalised, or ``error`` naming the field and quoting the value."""
        if value is None and self.optional:
            return None
        if self.kind == "int":
            return check_int(name, value, low=self.low, high=self.high, error=error)
        if self.kind == "number":
            return check_number(name, value, low=self.low, high=self.high, low_open=self.low_open, error=error)
        if self.kind == "choice":
            return check_choice(name, value, self.choices, error=error)
        if isinstance(value, bool):
            return value
        raise error(f"{name} should be true or false, but got {show(value)}")

    def or_none(self) -> Rule:
        """The same rule, with None allowed."""
        return replace(self, optional=True)


COUNT = Rule("int", low=1)  # epochs, batch sizes, split sizes, trials...
SEED = Rule("int", low=0)  # numpy's SeedSequence refuses negative seeds: refuse them up front
FLAG = Rule("bool")


def check_fields(obj: Any, rules: Mapping[str, Rule], *, error: type[Exception] = PolicyError) -> None:
    """Check every field of a (frozen) dataclass that ``rules`` names; the one validation style.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Budget:
        ...     epochs: int = 0
        >>> check_fields(Budget(), {"epochs": COUNT}, error=ValueError)
        Traceback (most recent call last):
        ...
        ValueError: epochs should be an integer >= 1, but got 0
    """
    for name, rule in rules.items():
        rule.check(name, getattr(obj, name), error=error)
