"""Line charts of training curves, drawn with matplotlib (headless: its Agg canvas, no pyplot state).

A :class:`Panel` is one chart: named series of y values at epochs 1, 2, 3,
... and optional single labelled points, such as a final test accuracy.
:func:`draw_panels` puts panels side by side in one RGB image;
:func:`save_panels` writes that image as PNG. NaN and inf are skipped, which
breaks the line there, so a diverged run still plots.

matplotlib is imported inside the functions: ``import policysearch`` stays
light, and only a run that draws pays for it.

Example:
    >>> from policysearch.training.curves import Panel, draw_panels
    >>> panel = Panel("accuracy", {"train": [0.5, 0.7, 0.8], "val": [0.45, 0.6, 0.66]},
    ...               y_label="top-1", markers={"test": (3, 0.64)})
    >>> draw_panels([panel, panel], panel_width=400, panel_height=300).shape
    (300, 800, 3)
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from policysearch._checks import check_int, show
from policysearch.augment import save_png
from policysearch.errors import DataError

__all__ = ["Panel", "draw_panels", "save_panels", "MIN_WIDTH", "MIN_HEIGHT", "MAX_SIDE"]

MIN_WIDTH, MIN_HEIGHT, MAX_SIDE = 160, 120, 4096  # below the minimum the plot area vanishes
DPI = 100  # pixels per inch: sizes in pixels map to matplotlib's inches exactly


@dataclass(frozen=True)
class Panel:
    """One line chart: series of y values at x = 1, 2, 3, ... and labelled points.

    On construction series become tuples of floats and markers ``(x, y)``
    float pairs; anything that is not a number raises :class:`DataError`.

    Example:
        >>> Panel("loss", {"train": [2.3, 1.1, float("nan"), 0.7]}).series["train"]
        (2.3, 1.1, nan, 0.7)
    """

    title: str
    series: Mapping[str, Sequence[float]]
    y_label: str = ""
    x_label: str = "epoch"
    markers: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("title", "y_label", "x_label"):
            if not isinstance(getattr(self, name), str):
                raise DataError(f"Panel.{name} should be a string, but got {show(getattr(self, name))}")
        series = {k: _floats(f"series {k!r}", v) for k, v in _items("series", self.series)}
        markers = {k: _pair(k, v) for k, v in _items("markers", self.markers)}
        object.__setattr__(self, "series", series)  # frozen: normalise once, here
        object.__setattr__(self, "markers", markers)


def draw_panels(
    panels: Sequence[Panel], *, panel_width: int = 480, panel_height: int = 320
) -> np.ndarray:
    """Side-by-side line charts as an RGB uint8 image (H, W, 3) on white, each panel W x H pixels.

    Example:
        >>> draw_panels([Panel("loss", {"train": [2.0, 1.2, 0.9]})], panel_width=200,
        ...             panel_height=150).dtype
        dtype('uint8')
    """
    from matplotlib import style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    check_int("panel_width", panel_width, low=MIN_WIDTH, high=MAX_SIDE, error=DataError)
    check_int("panel_height", panel_height, low=MIN_HEIGHT, high=MAX_SIDE, error=DataError)
    if isinstance(panels, (str, bytes)) or not isinstance(panels, Sequence) or not panels:
        raise DataError(f"panels should be a non-empty sequence of Panel, but got {show(panels)}")
    for i, panel in enumerate(panels):
        if not isinstance(panel, Panel):
            raise DataError(f"panels[{i}] should be a Panel, but got {show(panel)}")
    # Matplotlib's default style, whatever styles the process set (Optuna's plots set ggplot): the same
    # curves give the same picture. A Figure with its own canvas: no pyplot, no global figure list.
    with style.context("default"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a crowded small panel: the layout does its best, quietly
        figure = Figure(figsize=(len(panels) * panel_width / DPI, panel_height / DPI), dpi=DPI,
                        facecolor="white", layout="constrained")
        canvas = FigureCanvasAgg(figure)
        for axes, panel in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
            _draw_panel(axes, panel)
        canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[:, :, :3].copy()
    return _fit(image, panel_height, len(panels) * panel_width)


def save_panels(path: str | Path, panels: Sequence[Panel], **kwargs: Any) -> Path:
    """:func:`draw_panels`, written as PNG to ``path`` (parent folders created).

    Example:
        >>> import tempfile
        >>> save_panels(f"{tempfile.mkdtemp()}/curves.png", [Panel("loss", {"train": [2.0, 1.2]})]).name
        'curves.png'
    """
    return save_png(path, draw_panels(panels, **kwargs))


def _draw_panel(axes: Any, panel: Panel) -> None:
    from matplotlib.ticker import MaxNLocator

    for name, values in panel.series.items():
        ys = [y if math.isfinite(y) else math.nan for y in values]  # NaN breaks the line; inf would not
        axes.plot(range(1, len(ys) + 1), ys, marker="o", markersize=3, linewidth=1.8, label=name)
    last = max((len(ys) for ys in panel.series.values()), default=1)
    for name, (x, y) in panel.markers.items():
        if math.isfinite(x) and math.isfinite(y):
            axes.plot([x], [y], marker="D", color="0.15", linestyle="none")
            right = x >= last  # at the last epoch the label goes left, inside the plot
            axes.annotate(f"{name} {y:.4g}", (x, y), xytext=(-6 if right else 6, 6), textcoords="offset points",
                          ha="right" if right else "left", fontsize="small",
                          bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    if not _has_data(panel):
        axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", va="center", color="0.6")
    if panel.series:
        axes.legend(fontsize="small", loc="best")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    axes.grid(True, color="0.9")
    axes.set_title(panel.title, fontsize="medium")
    axes.set_xlabel(panel.x_label, fontsize="small")
    axes.set_ylabel(panel.y_label, fontsize="small")
    axes.tick_params(labelsize="small")


def _has_data(panel: Panel) -> bool:
    points = [y for ys in panel.series.values() for y in ys] + [y for x, y in panel.markers.values()
                                                                if math.isfinite(x)]
    return any(math.isfinite(y) for y in points)


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Exactly ``height`` x ``width``: inches x DPI can round a pixel off; pad or crop it in white."""
    out = np.full((height, width, 3), 255, np.uint8)
    h, w = min(height, image.shape[0]), min(width, image.shape[1])
    out[:h, :w] = image[:h, :w]
    return out


def _items(what: str, mapping: Any) -> Iterator[tuple[str, Any]]:
    if not isinstance(mapping, Mapping):
        raise DataError(f"Panel.{what} should be a mapping of names, but got {show(mapping)}")
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise DataError(f"Panel.{what} names should be strings, but got {show(key)}")
        yield key, value


def _floats(where: str, values: Any) -> tuple[float, ...]:
    if isinstance(values, np.ndarray) and values.ndim == 1:
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise DataError(f"{where} should be a sequence of numbers, but got {show(values)}")
    return tuple(_number(where, v) for v in values)


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataError(f"{where} should hold only numbers, but got {show(value)}")
    try:
        return float(value)
    except OverflowError:  # an int beyond float range: off any axis, skip it like inf
        return math.inf


def _pair(name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise DataError(f"marker {name!r} should be an (x, y) pair of numbers, but got {show(value)}")
    return _number(f"marker {name!r}", value[0]), _number(f"marker {name!r}", value[1])
