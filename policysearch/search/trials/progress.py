"""Progress lines: one per finished trial, with the current best and the time left.

The best is kept here, from the trials seen, rather than asked of the study
each time: ``study.best_value`` and ``study.best_trial`` each ask the storage
for its best trial, which for a journal file reloads every trial (twice a
line, so a study's lines cost quadratic time) and for SQL storages runs a
query over every trial's value. Each trial is read once instead:

* at the first line, the trials of the study so far (a resumed study's, or
  other workers') in one read, when there are any;
* then the trial each callback is handed (no read at all);
* and the trials other processes sharing the study (``--jobs`` workers)
  numbered between the last one seen and the one just finished, each read by
  its number (Optuna has no "trials since" query for SQL storages, so the
  storage's ``get_trial`` is used one trial at a time). One still running
  (or waiting) is read again at later lines, of trials numbered above it,
  until it has finished.

So the line of trial #N shows the best of the finished trials numbered up to
N, whoever ran them; a trial of another worker numbered above N counts from
this worker's next line (each worker prints its own lines).

A run with a time budget (``--budget``) also hands over its deadline, on the
same clock: each line then ends with the budget's time left, or how far the
run is over it.

Example:
    >>> _clock(125)
    '2m05s'
"""

from __future__ import annotations

import time
from typing import Any, Callable, TextIO

import optuna

from policysearch.search.study.schema import baseline_name, trial_failure

__all__ = ["Progress"]

_COMPLETE = optuna.trial.TrialState.COMPLETE


class Progress:
    """One line per finished trial: count, state, the study's best, elapsed and time left (and the budget's).

    ``deadline`` is when the run's budget ends, read on ``clock`` (both
    optional: without a budget the line has no budget part).

    Example:
        >>> import io
        >>> study = optuna.create_study(direction="maximize")
        >>> out = io.StringIO()
        >>> study.optimize(lambda t: 0.5 + t.number / 10, n_trials=2, callbacks=[Progress(2, None, out)])
        >>> print(out.getvalue().splitlines()[1].split(" | ")[:2])
        ['[  2/2] trial #1 complete 0.6000', 'best 0.6000 (#1)']
        >>> ticks = iter(range(0, 1000, 10))  # a clock at 0, 10, 20... seconds
        >>> out = io.StringIO()
        >>> budgeted = Progress(5, None, out, deadline=100.0, clock=lambda: float(next(ticks)))
        >>> study.optimize(lambda t: 0.5, n_trials=1, callbacks=[budgeted])
        >>> out.getvalue().strip().split(" | ")[-1]
        '1m30s of the budget left'
    """

    def __init__(self, total: int, timeout: float | None, stream: TextIO, label: str = "", *,
                 deadline: float | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.total, self.timeout, self.stream, self.label = total, timeout, stream, label
        self.deadline, self.clock = deadline, clock
        self.start = clock()
        self.done = 0
        self._best: Any = None  # the best complete trial seen so far
        self._sign = 1.0  # -1 for a minimising study: the best is then the smallest value
        self._next: int | None = None  # the lowest trial number not yet looked at (None: before the first line)
        self._running: set[int] = set()  # numbers looked at before they finished: looked at again

    def __call__(self, study: Any, trial: Any) -> None:
        self.done += 1
        self._catch_up(study, trial.number)
        self._consider(trial)
        now = self.clock()
        elapsed = now - self.start
        left = elapsed / self.done * (self.total - self.done)
        if self.timeout is not None:
            left = min(left, max(self.timeout - elapsed, 0.0))
        state = trial.state.name.lower()
        value = f" {trial.value:.4f}" if trial.value is not None else ""
        label = baseline_name(trial) or trial_failure(trial)
        best = "no best yet" if self._best is None else f"best {self._best.value:.4f} (#{self._best.number})"
        print(
            f"{self.label}[{self.done:>3}/{self.total}] trial #{trial.number} {state}{value}"
            f"{' (' + label + ')' if label else ''} | {best} | "
            f"{_clock(elapsed)} elapsed, ~{_clock(left)} left{_budget_left(self.deadline, now)}",
            file=self.stream,
            flush=True,
        )

    def _catch_up(self, study: Any, number: int) -> None:
        """Look at the trials other processes added before trial ``number``, each once it has finished."""
        if self._next is None:  # the first line: what the study held already, in one read
            if study.direction == optuna.study.StudyDirection.MINIMIZE:
                self._sign = -1.0
            earlier = study.get_trials(deepcopy=False) if number > 0 else []
            for other in earlier:
                if other.number != number:
                    self._look_at(other)
            self._next = max([number, *(t.number for t in earlier)]) + 1
            return
        # Numbers above this trial's wait for a later line (a trial enqueued to
        # run here would otherwise be read again at every line until it ran).
        wanted = sorted(n for n in self._running | set(range(self._next, number)) if n < number)
        self._running.discard(number)  # handed in: never read
        self._next = max(self._next, number + 1)
        if wanted:
            # Private to Optuna, but stable since 1.x: a study's storage and its id
            # are the only way to read one trial by number without reading them all.
            storage, study_id = study._storage, study._study_id
            for n in wanted:
                self._look_at(storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, n)))

    def _look_at(self, trial: Any) -> None:
        if trial.state.is_finished():
            self._running.discard(trial.number)
            self._consider(trial)
        else:
            self._running.add(trial.number)

    def _consider(self, trial: Any) -> None:
        """Keep ``trial`` as the best if it completed with a better value (the earlier one on a tie)."""
        if trial.state != _COMPLETE or trial.value is None:
            return
        key = (self._sign * trial.value, -trial.number)
        if self._best is None or key > (self._sign * self._best.value, -self._best.number):
            self._best = trial


def _budget_left(deadline: float | None, now: float) -> str:
    """The line's budget part: the time left before ``deadline``, or how far past it ``now`` is.

    Example:
        >>> _budget_left(None, 5.0), _budget_left(100.0, 40.0), _budget_left(100.0, 112.0)
        ('', ' | 1m00s of the budget left', ' | 0m12s over the budget')
    """
    if deadline is None:
        return ""
    if now > deadline:
        return f" | {_clock(now - deadline)} over the budget"
    return f" | {_clock(deadline - now)} of the budget left"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"
