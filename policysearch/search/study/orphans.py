"""Trials whose process is gone: recognised on this host at once, elsewhere by their heartbeat.

Every trial records the host and process id that run it. A process killed
with SIGKILL cannot mark its trial failed, and the heartbeat rule waits a
grace period (6 heartbeats) before it may: a run resumed at once, and done
within that period, would leave the trial RUNNING for good. So when a study
is opened, a RUNNING trial of this host whose process no longer exists is
failed right away and its parameters retried, through the storage's own
retry callback, exactly as a stale heartbeat would have it. Trials of other
hosts (a shared database server) keep the heartbeat rule: their processes
cannot be seen from here.

A retried trial carries its dead predecessor's attributes until its new
process writes its own; ``started`` (the trial's own start time) tells the
two apart, so a trial just claimed by a live worker is never failed.

Example:
    >>> study = optuna.create_study()
    >>> trial = study.ask(); record_owner(trial)
    >>> read_owner(trial).pid == os.getpid(), fail_orphans(study)
    (True, [])
"""

from __future__ import annotations

import copy
import os
import socket
from typing import Any

import optuna
from optuna.trial import TrialState

from policysearch.search.study.schema import Owner, read_owner, store_trial_failure, write_owner

__all__ = ["record_owner", "fail_orphans", "process_alive"]


def record_owner(trial: Any) -> None:
    """Store on ``trial`` the host and process running it, and when this run of it started."""
    write_owner(trial, Owner(socket.gethostname(), os.getpid(), _started(trial)))


def _started(trial: Any) -> str | None:
    return None if trial.datetime_start is None else trial.datetime_start.isoformat()


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (one we may not signal counts as alive).

    Example:
        >>> process_alive(os.getpid())
        True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def fail_orphans(study: Any) -> list[int]:
    """Fail the RUNNING trials of this host whose process is gone and retry their parameters.

    Returns the numbers of the trials failed. A trial another process fails
    first (workers opening the study together) is left to it.
    """
    here = socket.gethostname()
    storage = study._storage
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = read_owner(trial)
        pid = owner.pid
        if owner.host != here or type(pid) is not int or owner.started != _started(trial):
            continue  # another host's, or not yet recorded by the process now running it
        if process_alive(pid):
            continue
        try:  # the reason first: a finished trial takes no more attributes
            store_trial_failure(storage, trial._trial_id, f"its process {pid} on {here} was gone "
                                "when the study was resumed (killed)")
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process failed it first
    retry = getattr(storage, "get_heartbeat_stale_trial_callback", lambda: None)()
    for trial in failed:
        if retry is not None:
            retry(study, copy.deepcopy(storage.get_trial(trial._trial_id)))
    return [trial.number for trial in failed]
