"""The PNG plots of ``policysearch report``, drawn by ``optuna.visualization.matplotlib``.

Four plots: the optimization history, the parameter importances, the
contour of RandAugment's N x M (``num_ops`` x ``magnitude``, the names in
:mod:`policysearch.search.strategy.space`) and the per-epoch intermediate values.
A plot the study cannot give yet (too few trials, no RandAugment trial) is
skipped with its reason rather than failing the others.

matplotlib is imported inside the functions (``import policysearch`` stays
light) and runs headless on its Agg backend.

Example:
    >>> import tempfile
    >>> drawn = write_plots(tiny_study(), tempfile.mkdtemp())
    >>> sorted(drawn) == sorted(PLOTS)
    True
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

import optuna

__all__ = ["PLOTS", "write_plots", "importance_evaluator"]

CONTOUR_PARAMS = ("num_ops", "magnitude")  # RandAugment's N and M, as the search space names them

# File stem -> (title, how to draw it: (optuna.visualization.matplotlib, study) -> axes).
PLOTS: Mapping[str, tuple[str, Callable[[Any, Any], Any]]] = MappingProxyType({
    "optimization_history": ("optimization history", lambda vis, study: vis.plot_optimization_history(study)),
    "param_importances": ("parameter importances", lambda vis, study: vis.plot_param_importances(
        study, evaluator=importance_evaluator())),
    "contour_num_ops_magnitude": ("contour of N x M", lambda vis, study: vis.plot_contour(
        study, params=list(CONTOUR_PARAMS))),
    "intermediate_values": ("intermediate values (val accuracy per epoch)",
                            lambda vis, study: vis.plot_intermediate_values(study)),
})


def importance_evaluator() -> Any:
    """Optuna's default fANOVA where scikit-learn is installed, else PED-ANOVA (numpy alone).

    Example:
        >>> type(importance_evaluator()).__name__ in ("FanovaImportanceEvaluator", "PedAnovaImportanceEvaluator")
        True
    """
    try:
        import sklearn  # noqa: F401 - fANOVA's random forest comes from scikit-learn
    except ImportError:
        return optuna.importance.PedAnovaImportanceEvaluator()
    return optuna.importance.FanovaImportanceEvaluator(seed=0)  # seeded: the same study, the same plot


def write_plots(study: Any, folder: str | Path) -> dict[str, Path | str]:
    """Each plot of :data:`PLOTS` as ``folder/<name>.png``: its path, or why it was not drawn.

    Example:
        >>> import tempfile
        >>> path = write_plots(tiny_study(), tempfile.mkdtemp())["optimization_history"]
        >>> path.name
        'optimization_history.png'
    """
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # headless, unless a caller (a notebook) chose a backend
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vis = optuna.visualization.matplotlib  # Optuna loads its plotting module on this first use

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path | str] = {}
    # Optuna's plots set a pyplot style (global rcParams): the context puts the caller's back afterwards.
    with matplotlib.rc_context():
        for name, (_, draw) in PLOTS.items():
            out[name] = _draw(vis, plt, name, draw, study, folder)
    return out


def _draw(vis: Any, plt: Any, name: str, draw: Callable[[Any, Any], Any], study: Any, folder: Path) -> Path | str:
    """One plot as ``folder/<name>.png``, or why it could not be drawn."""
    with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental, on every call
        warnings.simplefilter("ignore")
        try:
            axes = draw(vis, study)
        except (ValueError, RuntimeError, ImportError) as exc:  # too few trials, a parameter never sampled
            return " ".join(str(exc).split()) or type(exc).__name__
    figure = axes.flat[0].figure if hasattr(axes, "flat") else axes.figure
    try:
        path = folder / f"{name}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")  # tight: long parameter names stay whole
        return path
    finally:
        plt.close(figure)  # Optuna draws through pyplot: leave no figure open in its global list
