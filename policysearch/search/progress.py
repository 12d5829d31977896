"""Progress lines: one per finished trial, with the current best and the time left.

Example:
    >>> _clock(125)
    '2m05s'
"""

from __future__ import annotations

import time
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """One line per finished trial: count, state, current best, elapsed and time left."""

    def __init__(self, total: int, timeout: float | None, stream: TextIO, label: str = "") -> None:
        self.total, self.timeout, self.stream, self.label = total, timeout, stream, label
        self.start = time.perf_counter()
        self.done = 0

    def __call__(self, study: Any, trial: Any) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        if self.timeout is not None:
            left = min(left, max(self.timeout - elapsed, 0.0))
        state = trial.state.name.lower()
        value = f" {trial.value:.4f}" if trial.value is not None else ""
        label = trial.user_attrs.get("baseline") or trial.user_attrs.get("failure")
        try:
            best = f"best {study.best_value:.4f} (#{study.best_trial.number})"
        except ValueError:
            best = "no best yet"
        print(
            f"{self.label}[{self.done:>3}/{self.total}] trial #{trial.number} {state}{value}"
            f"{' (' + label + ')' if label else ''} | {best} | "
            f"{_clock(elapsed)} elapsed, ~{_clock(left)} left",
            file=self.stream,
            flush=True,
        )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"
