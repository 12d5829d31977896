"""A policy's score block: how it scored, and the shapes of the verdict, final check and rung it carries.

The search writes these blocks (``policysearch.search.verdict.verdict``,
``policysearch.search.rung.promotion``) and the loader reads them back from any
version-1 file, so their shapes are checked here, beside the :class:`Score`
that holds them: every field named, every bad value quoted, in one line.
Older files carry older shapes (a verdict without bounds, a final check
instead of a verdict, no rung), and still load.

Example:
    >>> Score(value=0.9, rung={"budget": {"epochs": 4}, "value": 0.91, "candidates": {"#3": 0.91}}).rung["value"]
    0.91
    >>> Score(value=0.9, verdict={"budget": {}})
    Traceback (most recent call last):
    ...
    policysearch.errors.PolicyError: score.verdict.table is missing
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from policysearch._checks import (
    ANY_KEY,
    check_choice,
    check_int,
    check_mapping,
    check_number,
    check_number_map,
    check_scalar_map,
    check_str,
    show,
)
from policysearch.errors import PolicyError

__all__ = ["Score", "check_final_check", "check_verdict", "check_rung", "VERDICT_OUTCOMES"]


@dataclass(frozen=True)
class Score:
    """How the policy scored: the metric, its value and the baselines' values."""

    metric: str = "val_accuracy"
    value: float = 0.0
    baselines: Mapping[str, float | None] = field(default_factory=dict, hash=False)
    # Mean/spread on the held-out test split, per policy name (see export.py).
    final_check: Mapping[str, Mapping[str, Any]] | None = field(default=None, hash=False)
    # The target-budget verdict: its budget, the per-policy table, the line (see search/verdict/verdict.py).
    verdict: Mapping[str, Any] | None = field(default=None, hash=False)
    # The promotion rung that picked this policy: its budget, the pick's value, every candidate's.
    rung: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        check_str("score.metric", self.metric)
        check_number("score.value", self.value)
        object.__setattr__(self, "baselines", check_number_map("score.baselines", self.baselines))
        if self.final_check is not None:
            object.__setattr__(self, "final_check", check_final_check("score.final_check", self.final_check))
        if self.verdict is not None:
            object.__setattr__(self, "verdict", check_verdict("score.verdict", self.verdict))
        if self.rung is not None:
            object.__setattr__(self, "rung", check_rung("score.rung", self.rung))


def check_final_check(name: str, value: Any) -> dict[str, dict[str, Any]]:
    """Per-policy test results: ``{label: {"mean": x, "std": y, "values": [...]}}``."""
    mapping = check_mapping(name, value, allowed=ANY_KEY)
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
VERDICT_OUTCOMES = ("beats", "loses", "no clear difference", "no claim")


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
    """A paired comparison's fields (see ``policysearch.search.verdict.paired``): the older ones always, the bounds if there."""
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
        out["outcome"] = check_choice(f"{name}.outcome", mapping["outcome"], VERDICT_OUTCOMES)
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
