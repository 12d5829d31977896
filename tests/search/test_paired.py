"""The verdict's rule on synthetic paired draws: its error rates, its bounds against SciPy, one seed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from policysearch.errors import ConfigError
from policysearch.search.verdict.paired import compare, t_quantile


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 7, 10, 20, 50])
def test_the_t_quantile_agrees_with_scipy(df):
    assert t_quantile(df) == pytest.approx(stats.t.ppf(0.9, df), abs=5e-4)


@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_with_no_true_difference_beats_is_said_about_one_time_in_ten(seeds):
    rng = np.random.default_rng(seeds)
    repetitions = 4000
    # Accuracies near 0.85 with a shared per-seed draw effect (what pairing cancels) and run noise.
    draw = rng.normal(0.0, 0.01, size=(repetitions, seeds))
    a = 0.85 + draw + rng.normal(0.0, 0.004, size=(repetitions, seeds))
    b = 0.85 + draw + rng.normal(0.0, 0.004, size=(repetitions, seeds))
    outcomes = [compare(list(x), list(y)).outcome for x, y in zip(a, b)]
    beats = outcomes.count("beats") / repetitions
    loses = outcomes.count("loses") / repetitions
    # One-sided 90%: 10% each way; 4000 repetitions give a binomial sd of 0.0047, so +-0.02 is over 4 sd.
    assert 0.08 <= beats <= 0.12 and 0.08 <= loses <= 0.12, (beats, loses)


def test_a_true_gain_is_found_and_the_bounds_hold_it():
    rng = np.random.default_rng(7)
    hits, covered = 0, 0
    for _ in range(1000):
        noise = rng.normal(0.0, 0.004, size=(2, 3))
        result = compare(list(0.86 + noise[0]), list(0.85 + noise[1]))  # a true gain of 1 point
        hits += result.outcome == "beats"
        covered += result.lower <= 1.0
    # 1 point against a paired sd of 0.57 points, 3 seeds: the rule says "beats" with power 0.85 (noncentral t)
    assert hits / 1000 > 0.8
    assert 0.87 <= covered / 1000 <= 0.93  # the lower bound sits below the truth 90% of the time


def test_one_seed_never_says_beats():
    result = compare([0.99], [0.10])
    assert result.outcome == "no claim" and result.lower is None and result.spread == 0.0
    assert "no bound" in result.describe()


def test_bounds_and_outcomes_by_hand():
    result = compare([0.80, 0.82, 0.84], [0.81, 0.80, 0.81])  # differences +1, -2... in points: -1, +2, +3
    mean, sd = np.mean([-1.0, 2.0, 3.0]), np.std([-1.0, 2.0, 3.0], ddof=1)
    half = stats.t.ppf(0.9, 2) * sd / np.sqrt(3)
    assert result.difference == pytest.approx(mean) and result.spread == pytest.approx(sd)
    assert result.lower == pytest.approx(mean - half, abs=1e-9) and result.upper == pytest.approx(mean + half)
    assert result.outcome == "no clear difference"
    assert compare([0.70, 0.71, 0.72], [0.80, 0.80, 0.81]).outcome == "loses"


def test_unpaired_input_is_one_clear_error():
    with pytest.raises(ConfigError, match="same number .* but got 2 and 3"):
        compare([0.1, 0.2], [0.1, 0.2, 0.3])
