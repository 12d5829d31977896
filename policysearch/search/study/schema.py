"""What a study stores beside Optuna's own columns: every study and trial user attribute, read and written here.

Optuna keeps free-form JSON "user attributes" on studies and trials; the
dashboard shows them, and studies live for years, so their names and shapes
are a stored format like the policy JSON. This module alone spells those
names and knows those shapes; every other module goes through its accessors.
A study written by an earlier release reads back through the same accessors:
a rung from before paired seeds (no per-seed ``values``, no ``candidates``),
a final check from before the verdict, settings with no format (see
:meth:`policysearch.search.configuration.config.RunConfig.with_legacy_defaults`).

Study attributes: ``settings`` (the search settings, see
:meth:`RunConfig.search_settings`), ``storage`` (redacted URL), ``dataset``,
``model``, ``rung`` (:class:`StoredRung`), ``verdict`` and ``verdict_trial``,
``final_check`` and ``final_check_trial`` (an earlier release's, read only),
and the target results study's ``result:<digest>`` entries.

Trial attributes: ``policy`` (its policy JSON), its role when enqueued
(``baseline`` name, or ``ablation_of`` a trial number), ``failure``, its cost
(``seconds``, ``epochs_run``, ``device``, ``seed_accuracies``), where it ran
(``worker``, ``gpu``) and its owner process (``host``, ``pid``, ``started``).

Example:
    >>> import optuna
    >>> study = optuna.create_study()
    >>> write_rung(study, StoredRung(budget={"train_size": 100, "val_size": 50, "epochs": 2},
    ...                              scores={3: 0.5, 1: 0.75}, pick=1, image_epochs=400))
    >>> read_rung(study).pick, read_rung(study).listed
    (1, (3, 1))
    >>> write_rung(study, read_rung(study).cleared()); read_rung(study)
    StoredRung(budget=None, scores={}, values={}, candidates=None, pick=None, image_epochs=400)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

__all__ = [
    "SETTINGS", "STORAGE", "DATASET", "MODEL", "RUNG", "VERDICT", "VERDICT_TRIAL", "FINAL_CHECK",
    "FINAL_CHECK_TRIAL", "RESULT_PREFIX", "POLICY", "BASELINE", "ABLATION_OF", "FAILURE", "SECONDS", "EPOCHS_RUN",
    "DEVICE", "SEED_ACCURACIES", "WORKER", "GPU", "HOST", "PID", "STARTED", "STUDY_ATTRIBUTES", "TRIAL_ATTRIBUTES",
    "StudyIdentity", "StoredRung", "StoredResult", "Baseline", "Ablation", "TrialRole", "TrialCost", "Placement",
    "Owner",
    "read_settings", "write_settings", "read_identity", "read_rung", "write_rung", "read_verdict", "write_verdict",
    "read_final_check", "read_target_results", "write_target_result",
    "enqueue_baseline", "enqueue_ablation", "trial_role", "baseline_name", "ablated_trial",
    "trial_policy_document", "write_trial_policy", "trial_failure", "set_trial_failure", "store_trial_failure",
    "set_trial_cost", "trial_cost", "trial_epochs_run", "set_trial_placement", "trial_placement",
    "write_owner", "read_owner",
]

# Study attributes. Stored forever: a new meaning takes a new name.
SETTINGS = "settings"
STORAGE = "storage"
DATASET = "dataset"
MODEL = "model"
RUNG = "rung"
VERDICT = "verdict"
VERDICT_TRIAL = "verdict_trial"  # the trial the verdict was measured for
FINAL_CHECK = "final_check"  # before the verdict: a check at the proxy budget (read only now)
FINAL_CHECK_TRIAL = "final_check_trial"
RESULT_PREFIX = "result:"  # the target results study: one attribute per result, by its key's digest
# Trial attributes.
POLICY = "policy"
BASELINE = "baseline"  # enqueued with the study: the baseline's name
ABLATION_OF = "ablation_of"  # enqueued by the rung: the number of the trial it ablates
FAILURE = "failure"
SECONDS = "seconds"
EPOCHS_RUN = "epochs_run"
DEVICE = "device"
SEED_ACCURACIES = "seed_accuracies"
WORKER = "worker"
GPU = "gpu"
HOST = "host"
PID = "pid"
STARTED = "started"

STUDY_ATTRIBUTES = (SETTINGS, STORAGE, DATASET, MODEL, RUNG, VERDICT, VERDICT_TRIAL, FINAL_CHECK, FINAL_CHECK_TRIAL)
TRIAL_ATTRIBUTES = (POLICY, BASELINE, ABLATION_OF, FAILURE, SECONDS, EPOCHS_RUN, DEVICE, SEED_ACCURACIES, WORKER,
                    GPU, HOST, PID, STARTED)


# --- the study ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyIdentity:
    """What a study says it searched, as ``show`` prints it (None: not stored)."""

    storage: str | None = None  # redacted when written
    dataset: str | None = None
    model: str | None = None


def read_settings(study: Any) -> dict[str, Any] | None:
    """The stored search settings (a copy), or None before the study's creator wrote them.

    Example:
        >>> import optuna
        >>> study = optuna.create_study()
        >>> read_settings(study) is None
        True
        >>> write_settings(study, {"format": 3}, StudyIdentity("sqlite:///s.db", "digits", "tiny-cnn"))
        >>> read_settings(study), read_identity(study).dataset
        ({'format': 3}, 'digits')
    """
    stored = study.user_attrs.get(SETTINGS)
    return None if stored is None else dict(stored)


def write_settings(study: Any, settings: Mapping[str, Any], identity: StudyIdentity) -> None:
    """Store a new study's settings, then its storage, dataset and model (the order earlier releases wrote)."""
    study.set_user_attr(SETTINGS, dict(settings))
    study.set_user_attr(STORAGE, identity.storage)
    study.set_user_attr(DATASET, identity.dataset)
    study.set_user_attr(MODEL, identity.model)


def read_identity(study: Any) -> StudyIdentity:
    """The study's stored storage URL, dataset and model."""
    attrs = study.user_attrs
    return StudyIdentity(attrs.get(STORAGE), attrs.get(DATASET), attrs.get(MODEL))


@dataclass(frozen=True)
class StoredRung:
    """The promotion rung as the study stores it.

    ``budget`` is the rung's ``{train_size, val_size, epochs[, seeds]}``;
    ``scores`` each candidate's mean validation accuracy and ``values`` its
    per-seed accuracies, by trial number; ``candidates`` the trials it trained
    (None in rungs stored before they were listed: every scored trial);
    ``pick`` the answer (None once cleared); ``image_epochs`` every rung
    training this study paid for, at any budget. A cleared rung keeps only
    ``image_epochs``.
    """

    budget: Mapping[str, Any] | None = field(default=None, hash=False)
    scores: Mapping[int, float] = field(default_factory=dict, hash=False)
    values: Mapping[int, Sequence[float]] = field(default_factory=dict, hash=False)
    candidates: tuple[int, ...] | None = None
    pick: int | None = None
    image_epochs: int = 0

    @property
    def listed(self) -> tuple[int, ...]:
        """The candidates, or, in a rung stored before they were listed, every trial it kept a score of."""
        return tuple(self.scores) if self.candidates is None else self.candidates

    def cleared(self) -> StoredRung:
        """No pick (the best proxy value is the answer again); the cost stays counted."""
        return StoredRung(image_epochs=self.image_epochs)

    def to_json(self) -> dict[str, Any]:
        """The stored JSON, key for key as every release since paired seeds wrote it."""
        if self.budget is None:
            return {"image_epochs": self.image_epochs, "pick": None}
        return {"budget": dict(self.budget), "scores": {str(n): float(v) for n, v in self.scores.items()},
                "values": {str(n): [float(x) for x in v] for n, v in self.values.items()},
                "candidates": list(self.listed), "pick": self.pick, "image_epochs": self.image_epochs}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> StoredRung:
        """A stored rung, of this release or an earlier one; an empty rung for None."""
        if not data:
            return cls()
        candidates = data.get("candidates")
        return cls(budget=None if data.get("budget") is None else dict(data["budget"]),
                   scores={int(n): v for n, v in (data.get("scores") or {}).items()},
                   values={int(n): list(v) for n, v in (data.get("values") or {}).items()},
                   candidates=None if candidates is None else tuple(int(n) for n in candidates),
                   pick=data.get("pick"), image_epochs=int(data.get("image_epochs", 0)))


def read_rung(study: Any) -> StoredRung:
    """The study's stored rung (an empty one when none ran)."""
    return StoredRung.from_json(study.user_attrs.get(RUNG))


def write_rung(study: Any, rung: StoredRung) -> None:
    """Store ``rung`` in place of the study's rung."""
    study.set_user_attr(RUNG, rung.to_json())


@dataclass(frozen=True)
class StoredResult:
    """A study-level result measured for one trial: the verdict, or an earlier release's final check."""

    value: Mapping[str, Any] = field(hash=False)
    trial: int | None = None  # the trial it was measured for

    def for_trial(self, number: int) -> Mapping[str, Any] | None:
        """The result if it was measured for trial ``number``, else None (the answer has changed since)."""
        return self.value if self.value and self.trial == number else None


def read_verdict(study: Any) -> StoredResult | None:
    """The stored target-budget verdict and the trial it judged; None when none was stored.

    Example:
        >>> import optuna
        >>> study = optuna.create_study()
        >>> write_verdict(study, {"line": "no claim"}, 4)
        >>> read_verdict(study).for_trial(4), read_verdict(study).for_trial(5)
        ({'line': 'no claim'}, None)
    """
    return _read_result(study, VERDICT, VERDICT_TRIAL)


def write_verdict(study: Any, verdict: Mapping[str, Any], trial_number: int) -> None:
    """Store ``verdict`` (see :func:`policysearch.search.verdict.verdict.measure`) as measured for ``trial_number``."""
    study.set_user_attr(VERDICT, verdict)
    study.set_user_attr(VERDICT_TRIAL, trial_number)


def read_final_check(study: Any) -> StoredResult | None:
    """The final check an earlier release stored (at the proxy budget) and its trial; None when none was."""
    return _read_result(study, FINAL_CHECK, FINAL_CHECK_TRIAL)


def _read_result(study: Any, name: str, trial_name: str) -> StoredResult | None:
    attrs = study.user_attrs
    value = attrs.get(name)
    return None if value is None else StoredResult(value, attrs.get(trial_name))


def read_target_results(study: Any) -> dict[str, float]:
    """The target results stored in the results study: accuracy by key digest (other attributes ignored).

    Example:
        >>> import optuna
        >>> study = optuna.create_study()
        >>> write_target_result(study, "ab12", {"seed_index": 0}, 0.9)
        >>> read_target_results(study)
        {'ab12': 0.9}
    """
    return {name[len(RESULT_PREFIX):]: float(entry["accuracy"]) for name, entry in study.user_attrs.items()
            if name.startswith(RESULT_PREFIX) and isinstance(entry, Mapping) and "accuracy" in entry}


def write_target_result(study: Any, digest: str, key: Mapping[str, Any], accuracy: float) -> None:
    """Store one target result: the key it was measured for (as JSON data) beside its accuracy."""
    study.set_user_attr(RESULT_PREFIX + digest, {"key": json.loads(json.dumps(key)), "accuracy": float(accuracy)})


# --- trial roles -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Baseline:
    """A trial enqueued with the study: one of the standard baselines, by name."""

    name: str


@dataclass(frozen=True)
class Ablation:
    """A trial the rung enqueued: trial ``of``'s learning rates without augmentation."""

    of: int


TrialRole = Union[Baseline, Ablation]


def enqueue_baseline(study: Any, name: str, params: Mapping[str, Any]) -> None:
    """Enqueue baseline ``name`` (once: the same parameters already enqueued are skipped)."""
    study.enqueue_trial(dict(params), user_attrs={BASELINE: name}, skip_if_exists=True)


def enqueue_ablation(study: Any, leader: int, params: Mapping[str, Any]) -> None:
    """Enqueue the ablation of trial ``leader`` (always: its parameters may equal a pruned trial's)."""
    study.enqueue_trial(dict(params), user_attrs={ABLATION_OF: leader}, skip_if_exists=False)


def trial_role(trial: Any) -> TrialRole | None:
    """What a trial was enqueued as: a :class:`Baseline`, an :class:`Ablation`, or None (sampled).

    Example:
        >>> import optuna
        >>> study = optuna.create_study()
        >>> enqueue_baseline(study, "no_augmentation", {"x": 0}); enqueue_ablation(study, 0, {"x": 1})
        >>> [trial_role(t) for t in study.get_trials()]
        [Baseline(name='no_augmentation'), Ablation(of=0)]
    """
    attrs = trial.user_attrs
    if attrs.get(BASELINE):
        return Baseline(attrs[BASELINE])
    if attrs.get(ABLATION_OF) is not None:
        return Ablation(int(attrs[ABLATION_OF]))
    return None


def baseline_name(trial: Any) -> str | None:
    """The baseline a trial runs, or None."""
    role = trial_role(trial)
    return role.name if isinstance(role, Baseline) else None


def ablated_trial(trial: Any) -> int | None:
    """The number of the trial this one ablates, or None."""
    role = trial_role(trial)
    return role.of if isinstance(role, Ablation) else None


# --- what a trial ran, and what it cost --------------------------------------------------------------------------

def trial_policy_document(trial: Any) -> dict[str, Any] | None:
    """The policy JSON a trial evaluated, or None (it failed before choosing one)."""
    return trial.user_attrs.get(POLICY)


def write_trial_policy(trial: Any, document: Mapping[str, Any]) -> None:
    """Store the policy JSON a trial evaluates."""
    trial.set_user_attr(POLICY, dict(document))


def trial_failure(trial: Any) -> str | None:
    """Why a trial failed or diverged, or None."""
    return trial.user_attrs.get(FAILURE)


def set_trial_failure(trial: Any, reason: str) -> None:
    """Store why a running trial failed or diverged (one line, for the dashboard and the progress line)."""
    trial.set_user_attr(FAILURE, reason)


def store_trial_failure(storage: Any, trial_id: int, reason: str) -> None:
    """:func:`set_trial_failure` through an Optuna storage, for a trial this process does not run."""
    storage.set_trial_user_attr(trial_id, FAILURE, reason)


@dataclass(frozen=True)
class TrialCost:
    """What a trial spent: wall seconds, epochs run (every seed's), the device, each finished seed's accuracy."""

    seconds: float = 0.0
    epochs_run: int = 0
    device: str | None = None
    seed_accuracies: tuple[float, ...] = ()


def set_trial_cost(trial: Any, cost: TrialCost) -> None:
    """Store a trial's cost (pruned and failed trials too).

    Example:
        >>> import optuna
        >>> trial = optuna.create_study().ask()
        >>> set_trial_cost(trial, TrialCost(1.5, 2, "cpu", (0.5,))); trial_cost(trial)
        TrialCost(seconds=1.5, epochs_run=2, device='cpu', seed_accuracies=(0.5,))
    """
    trial.set_user_attr(SECONDS, cost.seconds)
    trial.set_user_attr(EPOCHS_RUN, cost.epochs_run)
    trial.set_user_attr(DEVICE, cost.device)
    trial.set_user_attr(SEED_ACCURACIES, list(cost.seed_accuracies))


def trial_cost(trial: Any) -> TrialCost:
    """A trial's stored cost (zero for what it has not stored: a trial still waiting, say)."""
    attrs = trial.user_attrs
    return TrialCost(float(attrs.get(SECONDS) or 0.0), trial_epochs_run(trial), attrs.get(DEVICE),
                     tuple(attrs.get(SEED_ACCURACIES) or ()))


def trial_epochs_run(trial: Any) -> int:
    """The epochs a trial ran, summed over its seeds (0 before it stored any)."""
    return int(trial.user_attrs.get(EPOCHS_RUN) or 0)


@dataclass(frozen=True)
class Placement:
    """Which worker process ran a trial, and on which GPU index (None: the process's default device)."""

    worker: int
    gpu: int | None = None


def set_trial_placement(trial: Any, placement: Placement) -> None:
    """Store where a trial runs (a trial of a single process stores none)."""
    trial.set_user_attr(WORKER, placement.worker)
    if placement.gpu is not None:
        trial.set_user_attr(GPU, placement.gpu)


def trial_placement(trial: Any) -> Placement | None:
    """Where a trial ran, or None when a single process ran it."""
    attrs = trial.user_attrs
    return None if attrs.get(WORKER) is None else Placement(attrs[WORKER], attrs.get(GPU))


@dataclass(frozen=True)
class Owner:
    """The process running a trial: its host, process id, and this run's start (ISO time) of the trial."""

    host: str | None = None
    pid: Any = None  # an int when recorded; anything else found is not a process id
    started: str | None = None


def write_owner(trial: Any, owner: Owner) -> None:
    """Store the process that runs ``trial``."""
    trial.set_user_attr(HOST, owner.host)
    trial.set_user_attr(PID, owner.pid)
    trial.set_user_attr(STARTED, owner.started)


def read_owner(trial: Any) -> Owner:
    """The process a trial last recorded as running it (fields None when not recorded)."""
    attrs = trial.user_attrs
    return Owner(attrs.get(HOST), attrs.get(PID), attrs.get(STARTED))
