"""Names the package's doctests share (``--doctest-modules``): small real data, a tiny model, a tiny study.

Everything is real and small: scikit-learn's 8x8 digits, the ``tiny-cnn``
backbone, and an Optuna study on a temporary SQLite file whose first trials
(the four baselines and one sampled policy) ran for one epoch each. Each is built
once per session, on first use.
"""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import pytest


@functools.lru_cache(maxsize=1)
def _config():
    from policysearch.search.configuration.config import RunConfig

    folder = Path(tempfile.mkdtemp(prefix="policysearch-doctest-"))
    return RunConfig(dataset="digits", model="tiny-cnn", weights=None, image_size=8, train_size=200, val_size=100,
                     epochs=1, trials=3, device="cpu", storage=f"sqlite:///{folder / 'doctest.db'}",
                     output_dir=str(folder), study="doctest")


@functools.lru_cache(maxsize=1)
def _splits():
    from policysearch.search.trials.inputs import load_splits

    return load_splits(_config())


@functools.lru_cache(maxsize=1)
def _study():
    from policysearch.search.study.storage import open_study
    from policysearch.search.trials.inputs import make_model_factory
    from policysearch.search.trials.optimize import optimize
    from policysearch.search.trials.progress import Progress

    config = _config()
    study = open_study(config)
    # the four baselines, then one sampled policy
    optimize(study, config, _splits(), make_model_factory(config, 10), Progress(5, None, io.StringIO()), 5)
    return study


def _factory():
    from policysearch.search.trials.inputs import make_model_factory

    return make_model_factory(_config(), 10)


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(tiny_config=_config, tiny_splits=_splits, tiny_factory=_factory, tiny_study=_study)
