"""Best trial -> version-1 policy JSON with score and provenance, written atomically.

Example:
    >>> import tempfile
    >>> from policysearch.policy import load_policy
    >>> path = export_study(tiny_study(), f"{tempfile.mkdtemp()}/best_policy.json")
    >>> load_policy(path).provenance.study
    'doctest'
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import cv2
import numpy
import optuna

from policysearch import __version__
from policysearch.errors import StorageError
from policysearch.policy import EXPORT_FORMATS, Policy, Provenance, Score, load_policy, write_export
from policysearch.search.strategy.space import BASELINES
from policysearch.search.study.schema import (
    StoredResult,
    baseline_name,
    read_final_check,
    read_identity,
    read_rung,
    read_settings,
    read_verdict,
    trial_epochs_run,
    trial_policy_document,
)
from policysearch.search.study.storage import redact

__all__ = ["best_trial", "best_proxy_trial", "trial_policy", "baseline_trials", "baseline_values",
           "current_final_check", "current_verdict", "current_rung", "search_image_epochs",
           "export_study", "default_path", "best_policy"]

BUDGET_KEYS = ("train_size", "val_size", "epochs", "batch_size", "seeds")


def best_trial(study: Any) -> Any:
    """The search's answer: the promotion rung's pick when the study ran one, else the best proxy value.

    A :class:`StorageError` when no trial has completed yet.
    """
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise StorageError(f"study {study.study_name!r} has no completed trial yet")
    picked = read_rung(study).pick
    chosen = next((t for t in complete if t.number == picked), None)
    return chosen or best_proxy_trial(complete)


def best_proxy_trial(complete: list[Any]) -> Any:
    """The completed trial with the highest proxy value (the earlier one on a tie)."""
    return max(complete, key=lambda t: (t.value, -t.number))


def trial_policy(trial: Any) -> Policy:
    """The policy a trial evaluated (stored with the trial, see :func:`.schema.trial_policy_document`)."""
    document = trial_policy_document(trial)
    if document is None:
        raise StorageError(f"trial {trial.number} has no stored policy")
    return load_policy(document)


def baseline_trials(study: Any) -> dict[str, Any]:
    """The completed baseline trials, by baseline name."""

    out = {}
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        name = baseline_name(trial)
        if name and name not in out:
            out[name] = trial
    return out


def baseline_values(study: Any) -> dict[str, float | None]:
    """Validation accuracy of each of the study's baselines (None until it completes).

    A study has the baselines its version enqueued: older ones have no TrivialAugment baseline.
    """
    done = baseline_trials(study)
    enqueued = {baseline_name(t) for t in study.get_trials(deepcopy=False)}
    return {name: (done[name].value if name in done else None) for name in BASELINES if name in enqueued}


def current_final_check(study: Any) -> dict[str, Any] | None:
    """The stored final check (an earlier version's, at the proxy budget), if made for the current best trial."""
    return _for_current_best(study, read_final_check(study))


def current_verdict(study: Any) -> dict[str, Any] | None:
    """The stored target-budget verdict, if it was made for the current best trial."""
    return _for_current_best(study, read_verdict(study))


def _for_current_best(study: Any, stored: StoredResult | None) -> dict[str, Any] | None:
    """The stored result's value when it was made for today's best trial."""
    if stored is None:
        return None
    try:
        current = best_trial(study).number
    except StorageError:
        return None
    return stored.for_trial(current)


def search_image_epochs(study: Any) -> int:
    """What the search cost: training images times epochs run (every seed's), summed over trials,
    plus each promotion-rung training."""
    settings = read_settings(study) or {}
    per_epoch = int(settings.get("train_size", 0))
    trials = sum(trial_epochs_run(t) * per_epoch for t in study.get_trials(deepcopy=False))
    return trials + read_rung(study).image_epochs


def current_rung(study: Any) -> dict[str, Any] | None:
    """The promotion rung as the policy JSON's score carries it: budget, the pick's value, every candidate."""
    rung = read_rung(study)
    if rung.pick is None:
        return None
    # a rung stored before candidates were listed shows every score it kept
    return {"budget": dict(rung.budget or {}), "value": rung.scores[rung.pick],
            "candidates": {f"#{number}": rung.scores[number] for number in rung.listed}}


def _versions() -> dict[str, str]:
    import torch  # noqa: PLC0415 - loaded already by then; kept out of this module's import
    import torchvision  # noqa: PLC0415

    return {
        "policysearch": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "optuna": optuna.__version__,
        "opencv": cv2.__version__,
        "numpy": numpy.__version__,
    }


def best_policy(study: Any) -> Policy:
    """The best trial's policy with its score (baselines, final check) and provenance."""
    trial = best_trial(study)
    settings = read_settings(study) or {}
    score = Score(
        metric="val_accuracy",
        value=float(trial.value),
        baselines=baseline_values(study),
        final_check=current_final_check(study),
        verdict=current_verdict(study),
        rung=current_rung(study),
    )
    provenance = Provenance(
        study=study.study_name,
        storage=redact(str(read_identity(study).storage or "")) or None,
        trial=trial.number,
        dataset=settings.get("dataset"),
        model=settings.get("model"),
        image_size=settings.get("image_size"),
        budget={key: settings[key] for key in BUDGET_KEYS if key in settings},
        versions=_versions(),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
    return trial_policy(trial).with_score(score, provenance)


def default_path(study_name: str, output_dir: str | Path = "studies", fmt: str = "json") -> Path:
    """``studies/<study>/best_policy.json``, or ``best_policy_<format><suffix>`` for another export format.

    Example:
        >>> default_path("fmnist", fmt="kornia").as_posix()
        'studies/fmnist/best_policy_kornia.py'
    """
    if fmt == "json":
        return Path(output_dir) / study_name / "best_policy.json"
    suffix = EXPORT_FORMATS[fmt].suffix if fmt in EXPORT_FORMATS else ""
    return Path(output_dir) / study_name / f"best_policy_{fmt}{suffix}"


def export_study(study: Any, path: str | Path | None = None, *, output_dir: str | Path = "studies",
                 fmt: str = "json") -> Path:
    """Write the best policy in export format ``fmt`` (atomically) and return where it went."""
    target = Path(path) if path is not None else default_path(study.study_name, output_dir, fmt)
    try:
        return write_export(best_policy(study), fmt, target)
    except OSError as exc:
        raise StorageError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
