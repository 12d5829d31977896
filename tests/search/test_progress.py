"""Progress lines on real Optuna studies (SQLite through the project's storage, and a journal file):
the lines say the right thing (best value and number, pruned and failed trials, baselines' labels),
and each callback reads no trial the callback was handed, and every other trial only once."""

from __future__ import annotations

import io
import re
from collections import Counter

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from policysearch.search.study.storage import make_storage
from policysearch.search.trials.progress import Progress

READS = ("get_all_trials", "get_trial", "get_best_trial")
LINE = re.compile(r"^(?P<label>\S* )?\[\s*(?P<done>\d+)/(?P<total>\d+)\] trial #(?P<number>\d+) (?P<state>\w+)"
                  r"(?P<value> [\d.]+)?(?: \((?P<note>[^)]*)\))? \| (?P<best>[^|]*) \| .* elapsed, ~.* left$")

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _counted(study: optuna.Study) -> Counter:
    """Counts of the reads the study's own storage object serves (the real methods, wrapped)."""
    counts: Counter = Counter()
    storage = study._storage
    for name in READS:
        real = getattr(storage, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            counts[_name] += 1
            return _real(*args, **kwargs)

        setattr(storage, name, counting)
    return counts


class PerCallback:
    """The progress callback, recording the reads each of its calls made and the line it printed."""

    def __init__(self, progress: Progress, counts: Counter) -> None:
        self.progress, self.counts, self.reads = progress, counts, []

    def __call__(self, study, trial) -> None:
        before = Counter(self.counts)
        self.progress(study, trial)
        self.reads.append(dict(self.counts - before))

    def lines(self) -> list[re.Match]:
        out = self.progress.stream.getvalue().splitlines()
        return [LINE.match(line) for line in out]


def _sqlite_study(tmp_path, name="progress"):
    storage = make_storage(f"sqlite:///{tmp_path / 'progress.db'}")
    return optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)


def _objective(values: dict[int, float], pruned=(), failed=(), baselines=None):
    """Trial n returns values[n]; numbers in ``pruned`` report then prune, in ``failed`` raise."""
    baselines = baselines or {}

    def objective(trial):
        if trial.number in baselines:
            trial.set_user_attr("baseline", baselines[trial.number])
        if trial.number in pruned:
            trial.report(values[trial.number], 0)
            raise optuna.TrialPruned()
        if trial.number in failed:
            trial.set_user_attr("failure", "out of memory")
            raise RuntimeError("boom")
        return values[trial.number]

    return objective


def test_lines_show_the_best_pruned_failed_and_baselines_without_reading_trials(tmp_path):
    study = _sqlite_study(tmp_path)
    watched = PerCallback(Progress(6, None, io.StringIO(), "w1 "), _counted(study))
    values = {0: 0.5, 1: 0.7, 2: 0.9, 3: 0.7, 4: 0.95, 5: 0.6}
    study.optimize(_objective(values, pruned={2}, failed={4}, baselines={0: "none", 5: "randaugment-2-9"}),
                   n_trials=6, callbacks=[watched], catch=(RuntimeError,))
    lines = watched.lines()
    assert all(lines), watched.progress.stream.getvalue()
    got = [(m["label"], m["done"], m["number"], m["state"], m["value"], m["note"], m["best"]) for m in lines]
    assert got == [
        ("w1 ", "1", "0", "complete", " 0.5000", "none", "best 0.5000 (#0)"),
        ("w1 ", "2", "1", "complete", " 0.7000", None, "best 0.7000 (#1)"),
        ("w1 ", "3", "2", "pruned", " 0.9000", None, "best 0.7000 (#1)"),  # pruned at 0.9: never the best
        ("w1 ", "4", "3", "complete", " 0.7000", None, "best 0.7000 (#1)"),  # a tie keeps the earlier trial
        ("w1 ", "5", "4", "fail", None, "out of memory", "best 0.7000 (#1)"),
        ("w1 ", "6", "5", "complete", " 0.6000", "randaugment-2-9", "best 0.7000 (#1)"),
    ]
    # The study agrees with the lines, and no line read a single trial: each was handed in.
    assert (study.best_value, study.best_trial.number) == (0.7, 1)
    assert watched.reads == [{}] * 6


def test_before_any_completes_it_says_so(tmp_path):
    study = _sqlite_study(tmp_path)
    watched = PerCallback(Progress(1, None, io.StringIO()), _counted(study))
    study.optimize(_objective({0: 0.3}, pruned={0}), n_trials=1, callbacks=[watched])
    assert watched.lines()[0]["best"] == "no best yet"


def test_a_resumed_study_is_read_once_then_never(tmp_path):
    earlier = _sqlite_study(tmp_path)
    earlier.optimize(_objective({0: 0.2, 1: 0.8, 2: 0.4}), n_trials=3)
    study = _sqlite_study(tmp_path)  # another process resumes it: a fresh storage object
    watched = PerCallback(Progress(3, None, io.StringIO()), _counted(study))
    study.optimize(_objective({3: 0.6, 4: 0.85, 5: 0.1}), n_trials=3, callbacks=[watched])
    assert [m["best"] for m in watched.lines()] == ["best 0.8000 (#1)", "best 0.8500 (#4)", "best 0.8500 (#4)"]
    assert watched.reads == [{"get_all_trials": 1}, {}, {}]


def test_enqueued_trials_are_not_read_again_before_they_run(tmp_path):
    study = _sqlite_study(tmp_path)
    study.optimize(_objective({0: 0.4}), n_trials=1)
    for magnitude in (1, 2, 3):  # as the ablation enqueues its trials: waiting, numbered #1-#3
        study.enqueue_trial({"magnitude": magnitude})
    watched = PerCallback(Progress(3, None, io.StringIO(), "ablation "), _counted(study))
    study.optimize(_objective({1: 0.3, 2: 0.5, 3: 0.45}), n_trials=3, callbacks=[watched])
    assert [m["best"] for m in watched.lines()] == ["best 0.4000 (#0)", "best 0.5000 (#2)", "best 0.5000 (#2)"]
    assert watched.reads == [{"get_all_trials": 1}, {}, {}]  # #2 and #3 were seen waiting, then handed in


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_other_workers_trials_are_read_once_each_when_finished(tmp_path, kind):
    if kind == "sqlite":
        mine = _sqlite_study(tmp_path)
        theirs = optuna.load_study(study_name="progress", storage=f"sqlite:///{tmp_path / 'progress.db'}")
    else:  # two processes' storage objects on one journal file
        path = str(tmp_path / "journal.log")
        mine, theirs = (optuna.create_study(study_name="j", direction="maximize", load_if_exists=True,
                                            storage=JournalStorage(JournalFileBackend(path))) for _ in range(2))
    watched = PerCallback(Progress(4, None, io.StringIO(), "w0 "), _counted(mine))
    values = {0: 0.5, 3: 0.6, 5: 0.55, 6: 0.4}
    other = {1: 0.7, 2: 0.3, 4: 0.9}
    mine.optimize(_objective(values), n_trials=1, callbacks=[watched])  # #0
    theirs.optimize(_objective(other), n_trials=2)  # #1, #2 finished by the other worker
    mine.optimize(_objective(values), n_trials=1, callbacks=[watched])  # #3
    running = theirs.ask()  # #4: still running when this worker's next trial ends
    mine.optimize(_objective(values), n_trials=1, callbacks=[watched])  # #5
    theirs.tell(running, other[4])
    mine.optimize(_objective(values), n_trials=1, callbacks=[watched])  # #6
    assert [m["number"] for m in watched.lines()] == ["0", "3", "5", "6"]
    assert [m["best"] for m in watched.lines()] == ["best 0.5000 (#0)", "best 0.7000 (#1)", "best 0.7000 (#1)",
                                                    "best 0.9000 (#4)"]
    # #1 and #2 read once each at #3's line; #4 at #5's line (running) and again at #6's (finished).
    assert watched.reads == [{}, {"get_trial": 2}, {"get_trial": 1}, {"get_trial": 1}]


def test_a_minimising_study_keeps_the_smallest(tmp_path):
    study = optuna.create_study(direction="minimize", storage=make_storage(f"sqlite:///{tmp_path / 'm.db'}"))
    watched = PerCallback(Progress(3, None, io.StringIO()), _counted(study))
    study.optimize(_objective({0: 0.5, 1: 0.2, 2: 0.4}), n_trials=3, callbacks=[watched])
    assert [m["best"] for m in watched.lines()] == ["best 0.5000 (#0)", "best 0.2000 (#1)", "best 0.2000 (#1)"]
