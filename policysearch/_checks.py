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
    "ANY_KEY",
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
    mapping = check_mapping(name, value, allowed=ANY_KEY)
    return {
        key: None if item is None else check_number(f"{name}.{key}", item)
        for key, item in mapping.items()
    }


def check_scalar_map(name: str, value: Any) -> dict[str, Any]:
    """A mapping of names to JSON scalars (string, finite number, bool, null)."""
    mapping = check_mapping(name, value, allowed=ANY_KEY)
    for key, item in mapping.items():
        if item is None or isinstance(item, (str, bool)):
            continue
        check_number(f"{name}.{key}", item)
    return mapping


def check_str_map(name: str, value: Any) -> dict[str, str]:
    """A mapping of names to strings."""
    mapping = check_mapping(name, value, allowed=ANY_KEY)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise PolicyError(f"{name}.{key} should be a string, but got {show(item)}")
    return mapping


class _AnyKey:
    """``allowed=`` for mappings whose keys are free-form names."""

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self):  # pragma: no cover - only used in error text
        return iter(())

    def __len__(self) -> int:  # pragma: no cover
        return 0


ANY_KEY = _AnyKey()  # ``allowed=ANY_KEY``: a mapping whose keys are free-form names (labels, trial numbers)


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
