"""Paired comparisons: Student's t bounds on per-seed differences, and the rule that turns them into a claim.

Every comparison the search makes at the target (the verdict) pairs its
runs: within a seed, both policies train on the same draw of training images
with the same training seed, so the difference of their test accuracies
cancels what the draw alone does. Over ``n`` seeds the mean difference has a
one-sided 90% Student's t bound on each side; the rule says

* ``beats`` when the lower bound is above 0,
* ``loses`` when the upper bound is below 0,
* ``no clear difference`` otherwise,
* ``no claim`` from a single seed (no spread, no bound).

With no true difference, each side's bound excludes 0 in about 10% of
repetitions, so "beats" is said in about 10% of them (tested on synthetic
draws in ``tests/search/test_paired.py``).

Example:
    >>> c = compare([0.90, 0.91, 0.92], [0.88, 0.885, 0.90])
    >>> c.outcome, round(c.difference, 2), round(c.lower, 2)
    ('beats', 2.17, 1.85)
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from policysearch.errors import ConfigError

__all__ = ["CONFIDENCE", "OUTCOMES", "Comparison", "compare", "t_quantile"]

CONFIDENCE = 0.90  # one-sided, on each side
OUTCOMES = ("beats", "loses", "no clear difference", "no claim")
_Z90 = 1.2815515655446004  # the standard normal's 90% quantile


def t_quantile(df: int, p: float = CONFIDENCE) -> float:
    """Student's t quantile for ``df`` degrees of freedom (exact for 1 and 2, Cornish-Fisher beyond).

    The expansion's error is below 1e-3 from 3 degrees of freedom on at p = 0.9,
    well inside what a few seeds can tell; no SciPy at run time.

    Example:
        >>> round(t_quantile(1), 3), round(t_quantile(2), 3), round(t_quantile(4), 3)
        (3.078, 1.886, 1.533)
    """
    if not isinstance(df, int) or df < 1:
        raise ConfigError(f"degrees of freedom should be an integer >= 1, but got {df!r}")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = _Z90 if p == CONFIDENCE else statistics.NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


@dataclass(frozen=True)
class Comparison:
    """A paired comparison in accuracy points: mean difference, its spread and one-sided 90% bounds."""

    difference: float  # mean of the per-seed differences, points
    spread: float  # standard deviation of the per-seed differences, points (0 for one seed)
    lower: float | None  # one-sided 90% lower bound, points (None from one seed)
    upper: float | None
    seeds: int
    outcome: str

    def describe(self) -> str:
        """``+1.20 points (90% bounds +0.40 to +2.00, 3 seeds)``, or the one-seed form.

        Example:
            >>> compare([0.9], [0.8]).describe()
            '+10.00 points (1 seed: no bound)'
        """
        if self.lower is None or self.upper is None:
            return f"{self.difference:+.2f} points ({self.seeds} seed: no bound)"
        return (f"{self.difference:+.2f} points (one-sided 90% bounds {self.lower:+.2f} to {self.upper:+.2f}, "
                f"{self.seeds} seeds)")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored in the study and the policy JSON."""
        return asdict(self)


def compare(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """``a`` against ``b``, seed by seed (accuracies in [0, 1]; the result is in points).

    Example:
        >>> compare([0.80, 0.82], [0.80, 0.82]).outcome
        'no clear difference'
    """
    if len(a) != len(b) or not a:
        raise ConfigError(f"a paired comparison needs the same number (>= 1) of runs on each side, "
                          f"but got {len(a)} and {len(b)}")
    pairs = [100.0 * (x - y) for x, y in zip(a, b)]
    n = len(pairs)
    mean = statistics.fmean(pairs)
    if n == 1:
        return Comparison(mean, 0.0, None, None, 1, "no claim")
    spread = statistics.stdev(pairs)
    half = t_quantile(n - 1) * spread / math.sqrt(n)
    lower, upper = mean - half, mean + half
    outcome = "beats" if lower > 0 else "loses" if upper < 0 else "no clear difference"
    return Comparison(mean, spread, lower, upper, n, outcome)
