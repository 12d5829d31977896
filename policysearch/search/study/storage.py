"""Storage URLs, the ``studies/`` conventions, and opening or resuming a study.

All studies share one SQLite file by default, ``studies/policysearch.db``, as
the Optuna dashboard expects; any Optuna RDB URL works through ``--storage``
(PostgreSQL, MySQL), and ``journal:PATH`` selects Optuna's JournalStorage on a
file. Heartbeats mark a trial left RUNNING by a killed process as failed, and
its parameters are retried.

Example:
    >>> from policysearch.search.study.storage import redact
    >>> redact("postgresql://ann:secret@db.example/optuna")
    'postgresql://ann:***@db.example/optuna'
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import optuna
import optuna.storages as storages
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from sqlalchemy import event
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.engine import make_url

from policysearch.errors import StorageError
from policysearch.search.configuration.config import HEARTBEAT_INTERVAL, RunConfig
from policysearch.search.strategy.pruner import make_pruner
from policysearch.search.strategy.sampler import make_sampler, quiet_optuna
from policysearch.search.strategy.space import baseline_params
from policysearch.search.study.orphans import fail_orphans
from policysearch.search.study.schema import StudyIdentity, enqueue_baseline, read_settings, write_settings

__all__ = [
    "settled_config",
    "redact",
    "make_storage",
    "open_study",
    "load_existing_study",
]

GRACE_HEARTBEATS = 6  # a RUNNING trial silent this many heartbeats belonged to a dead process
SQLITE_TIMEOUT = 60  # seconds a writer waits for the SQLite lock before failing
SETTINGS_WAIT = 15  # seconds a joining worker waits for the creator to store the settings
# What a database can raise through Optuna: the driver's errors wrapped by SQLAlchemy, and Optuna's own.
DATABASE_ERRORS = (sqlalchemy_exc.SQLAlchemyError, optuna.exceptions.OptunaError)


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs, JSON and attributes).

    An RDB URL is rendered by SQLAlchemy itself, which knows every way a
    password can be written in one; anything else (a URL SQLAlchemy cannot
    parse) has a ``user:password@`` part masked.
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy_exc.ArgumentError, ValueError, TypeError):
        return re.sub(r"(?<=://)([^:/@]*):[^@/]*@", r"\1:***@", str(url))


def make_storage(url: str, heartbeat: int = HEARTBEAT_INTERVAL) -> Any:
    """An Optuna storage for ``url``: RDB with heartbeats, or ``journal:PATH``."""

    if url.startswith("journal:"):

        path = Path(url[len("journal:"):])
        _ensure_folder(path.parent, url)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise StorageError(
            f"storage should be a database URL such as sqlite:///studies/policysearch.db "
            f"or journal:PATH, but got {redact(url)!r}"
        )
    sqlite = url.startswith("sqlite:///")
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if sqlite:
        _ensure_folder(Path(url[len("sqlite:///"):]).parent, url)
        # isolation_level None: the driver opens no transaction of its own, so
        # the BEGIN IMMEDIATE below is the only one (see _serialise_sqlite).
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT, "isolation_level": None}}
    try:
        with quiet_optuna():
            storage = RDBStorage(url, engine_kwargs=engine_kwargs, **_heartbeat_kwargs(heartbeat))
        if sqlite:
            _serialise_sqlite(storage.engine)
        return storage
    except (*DATABASE_ERRORS, ImportError, ValueError, OSError) as exc:  # bad URL, server unreachable, read-only
        raise StorageError(f"cannot open storage {redact(url)!r}: {_first_line(exc)}") from None


def _serialise_sqlite(engine: Any) -> None:
    """Make every SQLite transaction take the write lock when it begins.

    Optuna claims an enqueued trial by reading it WAITING and then writing it
    RUNNING, under ``SELECT ... FOR UPDATE``, which SQLite ignores: two workers
    could both read WAITING and both run the same trial (the second then fails
    with "Cannot tell a COMPLETE trial"). ``BEGIN IMMEDIATE`` turns that
    read-then-write into one step; other writers wait up to SQLITE_TIMEOUT.
    """

    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
    engine.dispose()  # connections pooled while Optuna set up its tables predate the listener


def _heartbeat_kwargs(interval: int) -> dict[str, Any]:
    """Heartbeats whose stale trials are marked failed and their parameters retried."""

    kwargs: dict[str, Any] = {"heartbeat_interval": interval, "grace_period": interval * GRACE_HEARTBEATS}
    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
        kwargs["heartbeat_stale_trial_callback"] = storages.RetryHeartbeatStaleTrialCallback(max_retry=2)
    else:
        kwargs["failed_trial_callback"] = storages.RetryFailedTrialCallback(max_retry=2)
    return kwargs


def _ensure_folder(folder: Path, url: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the folder for storage {redact(url)!r}: {exc.strerror}") from None


def _first_line(exc: BaseException) -> str:
    """The first line of the innermost cause: Optuna wraps the database's own
    message (say, "attempt to write a readonly database") in a generic one."""
    while (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return redact(text[0]) if text else type(exc).__name__


def open_study(config: RunConfig) -> Any:
    """Create the study, or resume it when its settings agree with ``config``.

    A new study stores the run's settings as user attributes and enqueues the
    baselines as its first trials. A resumed study with different settings is
    refused with a :class:`StorageError` naming the first difference.
    """
    storage = make_storage(config.storage_url, config.heartbeat)
    name = config.study_name
    study, created = _create_or_load(storage, name, config)
    fail_orphans(study)  # a trial whose process was killed on this host is retried now, not after the grace period
    study.sampler = make_sampler(config, offset=len(study.get_trials(deepcopy=False)))
    settings = json.loads(json.dumps(config.search_settings()))
    # Only the process that created the study initialises it, so baselines are
    # enqueued once however many workers start together; the others wait for
    # the settings it writes right after creating.
    stored = None if created else _wait_for_settings(study)
    if stored is None:
        _initialise(study, config, settings)
        return study
    settled = settled_config(config, study)
    settings = json.loads(json.dumps(settled.settings_as(stored.get("format"))))
    if stored != settings:
        key = next(k for k in sorted(set(settings) | set(stored)) if stored.get(k) != settings.get(k))
        raise StorageError(
            f"study {name!r} was run with {key}={json.dumps(stored.get(key))}, but this run has "
            f"{key}={json.dumps(settings.get(key))}; use another --study name or the same settings"
        )
    return study


def settled_config(config: RunConfig, study: Any) -> RunConfig:
    """``config`` as the study runs it: a study made by an earlier release (its settings carry no
    format, or format 2: before op groups) keeps that release's defaults for the keys the user did not set."""
    stored = read_settings(study) or {}
    return config.with_legacy_defaults(stored.get("format"))  # the current format: config as it is


def _create_or_load(storage: Any, name: str, config: RunConfig) -> tuple[Any, bool]:
    """The study and whether this call created it (the database decides the race)."""

    try:
        try:
            study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                        pruner=make_pruner(config))
            return study, True
        except optuna.exceptions.DuplicatedStudyError:
            return optuna.load_study(study_name=name, storage=storage, pruner=make_pruner(config)), False
    except DATABASE_ERRORS as exc:
        raise StorageError(f"cannot open study {name!r} in {redact(config.storage_url)!r}: "
                           f"{_first_line(exc)}") from None


def _wait_for_settings(study: Any, seconds: float = SETTINGS_WAIT) -> dict[str, Any] | None:
    """The stored settings; None if the creator never wrote them (it died first)."""
    deadline = time.monotonic() + seconds
    while True:
        stored = read_settings(study)
        if stored is not None or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


def _initialise(study: Any, config: RunConfig, settings: dict[str, Any]) -> None:
    write_settings(study, settings, StudyIdentity(redact(config.storage_url), config.dataset, config.model))
    for baseline, params in baseline_params(config.space, distill=config.teacher is not None).items():
        enqueue_baseline(study, baseline, params)


def load_existing_study(name: str, storage_url: str) -> Any:
    """An existing study, for ``show``/``export``; a clear error if there is none."""

    storage = make_storage(storage_url)
    try:
        names = [summary.study_name for summary in optuna.get_all_study_summaries(storage)]
    except DATABASE_ERRORS as exc:
        raise StorageError(f"cannot read storage {redact(storage_url)!r}: {_first_line(exc)}") from None
    if name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise StorageError(f"no study named {name!r} in {redact(storage_url)!r} (studies there: {known})")
    return optuna.load_study(study_name=name, storage=storage)
