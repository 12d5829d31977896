"""Running trials of a study in this process: the objective, the catch-all, the progress callback.

Example:
    >>> import io
    >>> from policysearch.search.trials.progress import Progress
    >>> study = tiny_study()
    >>> before = len(study.trials)
    >>> optimize(study, tiny_config(), tiny_splits(), tiny_factory(), Progress(1, None, io.StringIO()), 1)
    >>> len(study.trials) - before
    1
"""

from __future__ import annotations

from typing import Any, Callable

from policysearch.search.configuration.config import RunConfig
from policysearch.search.outputs.artifacts import artifact_dir, preview_images, with_previews
from policysearch.search.study.schema import Placement
from policysearch.search.trials.inputs import train_config
from policysearch.search.trials.objective import Objective

__all__ = ["optimize"]


def optimize(study: Any, config: RunConfig, splits: Any, factory: Callable[[], Any],
             progress: Callable[[Any, Any], None], n_trials: int, teaching: Any = None,
             where: Placement | None = None) -> None:
    """``n_trials`` trials of the objective in this process (students of ``teaching``, if given).

    ``where`` (say, the worker and its GPU) is stored on every trial this process runs.
    """
    objective = Objective(config.space, splits, factory, train_config(config), seeds=config.seeds, teaching=teaching,
                          where=where)
    # Each completed trial leaves a preview of its policy on real validation images for the dashboard.
    previews = preview_images(splits.val.images, splits.val.labels)
    objective = with_previews(objective, artifact_dir(config.storage_url, config.output_dir), previews)
    # A failing trial (an exception, CUDA out of memory) is recorded as failed
    # with its reason, and the study carries on.
    study.optimize(objective, n_trials=n_trials, timeout=config.timeout, callbacks=[progress],
                   catch=(Exception,), gc_after_trial=False)
