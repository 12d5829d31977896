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
  is read again at later lines until it has finished.

So the line of trial #N shows the best of the finished trials numbered up to
N, whoever ran them; a trial of another worker numbered above N counts from
this worker's next line (each worker prints its own lines).

Example:
    >>> _clock(125)
    '2m05s'
"""

from __future__ import annotations

import time
from typing import Any, TextIO

import optuna

__all__ = ["Progress"]

_COMPLETE = optuna.trial.TrialState.COMPLETE


class Progress:
    """One line per finished trial: count, state, the study's best, elapsed and time left.

    Example:
        >>> import io
        >>> study = optuna.create_study(direction="maximize")
        >>> out = io.StringIO()
        >>> study.optimize(lambda t: 0.5 + t.number / 10, n_trials=2, callbacks=[Progress(2, None, out)])
        >>> print(out.getvalue().splitlines()[1].split(" | ")[:2])
        ['[  2/2] trial #1 complete 0.6000', 'best 0.6000 (#1)']
    """

    def __init__(self, total: int, timeout: float | None, stream: TextIO, label: str = "") -> None:
        self.total, self.timeout, self.stream, self.label = total, timeout, stream, label
        self.start = time.perf_counter()
        self.done = 0
        self._best: Any = None  # the best complete trial seen so far
        self._sign = 1.0  # -1 for a minimising study: the best is then the smallest value
        self._next: int | None = None  # the lowest trial number not yet looked at (None: before the first line)
        self._running: set[int] = set()  # numbers looked at before they finished: looked at again

    def __call__(self, study: Any, trial: Any) -> None:
        self.done += 1
        self._catch_up(study, trial.number)
        self._consider(trial)
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        if self.timeout is not None:
            left = min(left, max(self.timeout - elapsed, 0.0))
        state = trial.state.name.lower()
        value = f" {trial.value:.4f}" if trial.value is not None else ""
        label = trial.user_attrs.get("baseline") or trial.user_attrs.get("failure")
        best = "no best yet" if self._best is None else f"best {self._best.value:.4f} (#{self._best.number})"
        print(
            f"{self.label}[{self.done:>3}/{self.total}] trial #{trial.number} {state}{value}"
            f"{' (' + label + ')' if label else ''} | {best} | "
            f"{_clock(elapsed)} elapsed, ~{_clock(left)} left",
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
        wanted = sorted(self._running | set(range(self._next, number)))
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


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"
