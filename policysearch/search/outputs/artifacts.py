"""What the dashboard shows beside Optuna's own pages: each completed trial's preview, and the verdict note.

A preview is a PNG grid (:func:`policysearch.augment.preview_grid`) of a few
real validation images, each beside draws of the trial's policy, kept as an
Optuna artifact of the trial. Artifacts live outside the study database, in a
folder ``artifacts/`` beside the SQLite (or journal) file, so that
``policysearch dashboard --storage URL`` finds them from the URL alone; a
server database keeps them under the run's ``output_dir``.

Optuna refuses to change a trial once it has finished (so a study callback
cannot attach a file to it): :func:`with_previews` uploads from inside the
trial, once the objective has returned its value, which is exactly the
trials that complete; pruned and failed ones raise before that.

Example:
    >>> study = tiny_study()  # its trials ran through with_previews
    >>> trial = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))[0]
    >>> [a.filename for a in optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)]
    ['preview-trial-0.png']
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from policysearch.augment import preview_grid, save_png
from policysearch.search.outputs.export import trial_policy
from policysearch.search.verdict.verdict import format_table

__all__ = ["ARTIFACTS_FOLDER", "PREVIEW_IMAGES", "PREVIEW_DRAWS", "artifact_dir", "artifact_store",
           "preview_images", "upload_preview", "with_previews", "verdict_markdown", "save_verdict_note"]

ARTIFACTS_FOLDER = "artifacts"
PREVIEW_IMAGES, PREVIEW_DRAWS = 4, 5  # rows (one class each) and augmented draws per row: a glance, not a survey


def artifact_dir(storage_url: str, output_dir: str | Path = "studies") -> Path:
    """The artifact folder of a storage: beside its SQLite or journal file, else under ``output_dir``.

    Example:
        >>> artifact_dir("sqlite:///studies/policysearch.db").as_posix()
        'studies/artifacts'
        >>> artifact_dir("postgresql://db.example/optuna", "runs").as_posix()
        'runs/artifacts'
    """
    for prefix in ("sqlite:///", "journal:"):
        if storage_url.startswith(prefix) and storage_url[len(prefix):] not in ("", ":memory:"):
            return Path(storage_url[len(prefix):]).parent / ARTIFACTS_FOLDER
    return Path(output_dir) / ARTIFACTS_FOLDER


def artifact_store(folder: str | Path) -> FileSystemArtifactStore:
    """Optuna's file-system store over ``folder`` (created: Optuna's store expects it to exist).

    Example:
        >>> type(artifact_store(tempfile.mkdtemp())).__name__
        'FileSystemArtifactStore'
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))


def preview_images(images: np.ndarray, labels: np.ndarray | None = None,
                   count: int = PREVIEW_IMAGES) -> list[np.ndarray]:
    """Up to ``count`` images (uint8 NHWC or NHW), the first of each class in turn so the rows differ.

    Example:
        >>> images = np.arange(6 * 4, dtype=np.uint8).reshape(6, 2, 2)
        >>> [int(i[0, 0]) for i in preview_images(images, np.array([0, 0, 1, 1, 2, 2]), count=2)]
        [0, 8]
    """
    if labels is None:
        return [images[i] for i in range(min(count, len(images)))]
    _, first = np.unique(labels, return_index=True)
    return [images[i] for i in sorted(first)[:count]]


def upload_preview(trial: Any, folder: str | Path, images: Sequence[np.ndarray], *, storage: Any = None,
                   draws: int = PREVIEW_DRAWS, stream: TextIO | None = None) -> str | None:
    """The trial's preview grid uploaded as its artifact; the artifact id, or None and one warning line.

    ``storage`` is needed for a ``FrozenTrial`` (a live trial knows its own).
    A preview is never worth a trial: any error becomes the warning line.

    Example:
        >>> import io
        >>> trial, out = optuna.create_study().ask(), io.StringIO()  # a trial with no policy stored
        >>> upload_preview(trial, tempfile.mkdtemp(), [np.zeros((8, 8, 1), np.uint8)], stream=out) is None
        True
        >>> print(out.getvalue(), end="")
        policysearch: warning: no preview for trial 0: trial 0 has no stored policy
    """
    try:
        policy = trial_policy(trial)
        grid = preview_grid(list(images), policy.transform(rng=trial.number), draws=draws)
        with tempfile.TemporaryDirectory(prefix="policysearch-preview-") as scratch:
            # The file's name is the artifact's name in the dashboard.
            path = save_png(Path(scratch) / f"preview-trial-{trial.number}.png", grid)
            return upload_artifact(artifact_store=artifact_store(folder), file_path=str(path),
                                   study_or_trial=trial, storage=storage, mimetype="image/png")
    except Exception as exc:  # noqa: BLE001 - a picture must never fail the trial or the study
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"policysearch: warning: no preview for trial {trial.number}: {message}",
              file=stream or sys.stderr, flush=True)
        return None


def with_previews(objective: Callable[[Any], float], folder: str | Path, images: Sequence[np.ndarray],
                  *, draws: int = PREVIEW_DRAWS, stream: TextIO | None = None) -> Callable[[Any], float]:
    """``objective``, then, once it has returned a finite value, the trial's preview uploaded.

    Example:
        >>> from policysearch.policy import Policy
        >>> from policysearch.search.study.schema import write_trial_policy
        >>> def objective(trial):
        ...     write_trial_policy(trial, Policy(num_ops=1, magnitude=5).to_json())
        ...     return 0.5
        >>> study = optuna.create_study()
        >>> study.optimize(with_previews(objective, tempfile.mkdtemp(), [np.zeros((8, 8), np.uint8)]), n_trials=1)
        >>> len(optuna.artifacts.get_all_artifact_meta(study.trials[0], storage=study._storage))
        1
    """
    def run(trial: Any) -> float:
        value = objective(trial)
        # A non-finite value makes Optuna fail the trial: no preview for it.
        if isinstance(value, (int, float)) and math.isfinite(value) and len(images):
            upload_preview(trial, folder, images, draws=draws, stream=stream)
        return value

    return run


def verdict_markdown(verdict: Mapping[str, Any], trial_number: int | None = None) -> str:
    """The verdict (``run``'s target-budget check) as the Markdown of a dashboard note.

    Example:
        >>> print(verdict_markdown({"budget": {"train_size": 2000, "epochs": 4}, "line": "best wins",
        ...                         "table": {"best": {"mean": 0.9, "std": 0.01, "values": [0.89, 0.91]}}}, 7))
        ## Verdict: trial 7 at the target (2000 images x 4 epochs)
        <BLANKLINE>
        ```
        policy                test acc   ± std  runs
        best                    0.9000  0.0100     2
        ```
        <BLANKLINE>
        best wins
    """
    budget = verdict.get("budget") or {}
    where = f" at the target ({budget.get('train_size', '?')} images x {budget.get('epochs', '?')} epochs)"
    whose = "" if trial_number is None else f": trial {trial_number}"
    return "\n".join([f"## Verdict{whose}{where}", "", "```", format_table(verdict["table"]), "```", "",
                      str(verdict.get("line", "")),
                      *(["", str(verdict["augmentation"]["line"])] if verdict.get("augmentation") else [])])


def save_verdict_note(study: optuna.Study, verdict: Mapping[str, Any], trial_number: int | None = None) -> bool:
    """The verdict as the study's note in optuna-dashboard; False (and nothing saved) without it installed.

    Example:
        >>> study = optuna.create_study()
        >>> save_verdict_note(study, {"line": "ok", "table": {}})
        True
    """
    try:
        from optuna_dashboard import save_note  # an optional extra: the note is a nicety
    except ImportError:
        return False
    save_note(study, verdict_markdown(verdict, trial_number))
    return True
