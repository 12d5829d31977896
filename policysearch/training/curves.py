"""Line charts of training curves, drawn with OpenCV alone (no matplotlib).

A :class:`Panel` is one chart: named series of y values at epochs 1, 2, 3,
... and optional single labelled points, such as a final test accuracy.
:func:`draw_panels` puts panels side by side in one RGB image;
:func:`save_panels` writes that image as PNG. NaN and inf are skipped, which
breaks the line there, so a diverged run still plots.

Example:
    >>> from policysearch.training.curves import Panel, draw_panels
    >>> panel = Panel("accuracy", {"train": [0.5, 0.7, 0.8], "val": [0.45, 0.6, 0.66]},
    ...               y_label="top-1", markers={"test": (3, 0.64)})
    >>> draw_panels([panel, panel], panel_width=400, panel_height=300).shape
    (300, 800, 3)
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Sequence

import cv2
import numpy as np

from policysearch._checks import check_int, show
from policysearch.augment import save_png
from policysearch.errors import DataError

__all__ = ["PALETTE", "Panel", "draw_panels", "save_panels", "nice_ticks"]

# Series colours (RGB) in the order series take them: matplotlib's tab10 less
# its grey, which would be mistaken for the axes. More series cycle round.
Colour = tuple[int, int, int]
PALETTE: Mapping[str, Colour] = MappingProxyType({
    "blue": (31, 119, 180), "orange": (255, 127, 14), "green": (44, 160, 44),
    "red": (214, 39, 40), "purple": (148, 103, 189), "brown": (140, 86, 75),
    "pink": (227, 119, 194), "olive": (188, 189, 34), "cyan": (23, 190, 207),
})
INK, GRID, FADED = (40, 40, 40), (228, 228, 228), (150, 150, 150)  # frame/text, grid, "no data"
MIN_WIDTH, MIN_HEIGHT, MAX_SIDE = 160, 120, 4096  # below the minimum the plot area vanishes
_FONT, _SMALL, _LARGE = cv2.FONT_HERSHEY_SIMPLEX, 0.38, 0.48  # tick/legend text, title
_ROW, _INSET = 15, 6  # pixel height of a line of small text; x margin inside the frame


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
    """Side-by-side line charts as an RGB uint8 image (H, W, 3) on white.

    Example:
        >>> draw_panels([Panel("loss", {"train": [2.0, 1.2, 0.9]})], panel_width=200,
        ...             panel_height=150).dtype
        dtype('uint8')
    """
    check_int("panel_width", panel_width, low=MIN_WIDTH, high=MAX_SIDE, error=DataError)
    check_int("panel_height", panel_height, low=MIN_HEIGHT, high=MAX_SIDE, error=DataError)
    if isinstance(panels, (str, bytes)) or not isinstance(panels, Sequence) or not panels:
        raise DataError(f"panels should be a non-empty sequence of Panel, but got {show(panels)}")
    for i, panel in enumerate(panels):
        if not isinstance(panel, Panel):
            raise DataError(f"panels[{i}] should be a Panel, but got {show(panel)}")
    return np.hstack([_draw_panel(p, panel_width, panel_height) for p in panels])


def save_panels(path: str | Path, panels: Sequence[Panel], **kwargs: Any) -> Path:
    """:func:`draw_panels`, written as PNG to ``path`` (parent folders created).

    Example:
        >>> import tempfile
        >>> save_panels(f"{tempfile.mkdtemp()}/curves.png", [Panel("loss", {"train": [2.0, 1.2]})]).name
        'curves.png'
    """
    return save_png(path, draw_panels(panels, **kwargs))


def nice_ticks(low: float, high: float) -> list[float]:
    """4 to 6 evenly spaced round numbers, the first <= ``low``, the last >= ``high``.

    Example:
        >>> nice_ticks(0.71, 0.93)
        [0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    """
    if high <= low:  # a constant series still needs a range to be drawn in
        pad = abs(low) * 0.05 or 0.5
        low, high = low - pad, high + pad
    if not math.isfinite(high - low):
        raise DataError(f"cannot plot values from {low!r} to {high!r}: the range overflows")
    exponent, best = math.floor(math.log10(high - low)), None
    # Steps 1, 2, 2.5, 5 x 10^k; one decade below and at the span covers 2 to 100 steps.
    for power, mantissa in itertools.product((exponent - 1, exponent), (1, 2, 2.5, 5)):
        step = mantissa * 10.0**power
        first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        count = last - first + 1
        # Prefer 4-6 ticks, then the tightest axis, so the data fills the plot.
        key = (max(0, 4 - count, count - 6), count * step, abs(count - 5))
        if best is None or key < best[0]:
            best = key, first, count, step
    _, first, count, step = best
    digits = _decimals(step)
    return [round((first + k) * step, digits) for k in range(count)]


def _decimals(step: float) -> int:
    """Decimal places that show ``step`` exactly (0.25 -> 2, 50 -> 0)."""
    return next(d for d in range(16) if abs(round(step, d) - step) <= 1e-9 * step)


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


@dataclass(frozen=True)
class _Axes:
    """The plot area in pixels and the data range it shows."""

    left: int
    top: int
    right: int
    bottom: int
    x0: float
    x1: float
    y0: float
    y1: float

    def pixel(self, x: float, y: float) -> tuple[int, int]:
        # First and last epochs sit _INSET in from the frame, so their dots stay whole.
        span = self.right - self.left - 2 * _INSET
        u = self.left + _INSET + (x - self.x0) / (self.x1 - self.x0) * span
        v = self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)
        return round(u), round(v)


def _draw_panel(panel: Panel, width: int, height: int) -> np.ndarray:
    image = np.full((height, width, 3), 255, np.uint8)
    axes, y_ticks, has_data = _layout(panel, width, height)
    _draw_frame(image, axes, y_ticks)
    colours = dict(zip(panel.series, itertools.cycle(PALETTE.values())))
    for name, values in panel.series.items():
        _draw_line(image, axes, values, colours[name])
    for name, (x, y) in panel.markers.items():
        _draw_marker(image, axes, name, x, y)
    centre = ((axes.left + axes.right) // 2, (axes.top + axes.bottom) // 2)
    if not has_data:
        _text(image, "no data", centre, FADED, align=0.5)
    _draw_legend(image, list(colours.items()), axes.left, width - 12)
    _text(image, panel.title, (width // 2, 18), INK, scale=_LARGE, align=0.5)
    _text(image, panel.x_label, (centre[0], height - 6), INK, align=0.5)
    _vertical_text(image, panel.y_label, 4, centre[1])
    return image


def _layout(panel: Panel, width: int, height: int) -> tuple[_Axes, list[float], bool]:
    """The plot area, its y ticks, and whether there is any finite point to show."""
    points = [(i + 1.0, y) for ys in panel.series.values() for i, y in enumerate(ys)]
    points += panel.markers.values()
    points = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
    xs, ys = [x for x, _ in points] or [1.0, 2.0], [y for _, y in points] or [0.0, 1.0]
    y_ticks = nice_ticks(min(ys), max(ys))
    left = 10 + (_ROW if panel.y_label else 0) + max(_width(s) for s in _tick_labels(y_ticks))
    x0, x1 = (min(xs), max(xs)) if min(xs) < max(xs) else (xs[0] - 0.5, xs[0] + 0.5)
    bottom = height - 2 * _ROW - 8  # room for x tick labels and the x label
    return _Axes(left, 46, width - 12, bottom, x0, x1, y_ticks[0], y_ticks[-1]), y_ticks, bool(points)


def _tick_labels(ticks: list[float]) -> list[str]:
    """Every label with the same decimals (0.70, 0.75, 0.80), as the step needs."""
    return [f"{t:.{_decimals(ticks[1] - ticks[0])}f}" for t in ticks]


def _draw_frame(image: np.ndarray, axes: _Axes, y_ticks: list[float]) -> None:
    for tick, label in zip(y_ticks, _tick_labels(y_ticks)):
        _, v = axes.pixel(axes.x0, tick)
        cv2.line(image, (axes.left, v), (axes.right, v), GRID, 1)
        cv2.line(image, (axes.left - 4, v), (axes.left, v), INK, 1)
        _text(image, label, (axes.left - 6, v + 4), INK, align=1.0)
    # Integer epochs, spaced 1, 2, 5, 10, 20, ... so that their labels never collide.
    fits = max(2, (axes.right - axes.left) // 40)
    steps = (m * 10**p for p in itertools.count() for m in (1, 2, 5))
    step = next(s for s in steps if (axes.x1 - axes.x0) / s < fits)
    for tick in range(math.ceil(axes.x0 / step) * step, math.floor(axes.x1) + 1, step):
        u, _ = axes.pixel(tick, axes.y0)
        cv2.line(image, (u, axes.bottom), (u, axes.bottom + 4), INK, 1)
        _text(image, str(tick), (u, axes.bottom + 16), INK, align=0.5)
    cv2.rectangle(image, (axes.left, axes.top), (axes.right, axes.bottom), INK, 1)  # crisp: no AA


def _draw_line(image: np.ndarray, axes: _Axes, values: Sequence[float], colour: Colour) -> None:
    pixels = [axes.pixel(i + 1, y) if math.isfinite(y) else None for i, y in enumerate(values)]
    for a, b in zip(pixels, pixels[1:]):
        if a is not None and b is not None:  # a skipped value breaks the line
            cv2.line(image, a, b, colour, 2, cv2.LINE_AA)
    for p in pixels:  # a dot at every point, so that a lone epoch shows too
        if p is not None:
            cv2.circle(image, p, 3, colour, -1, cv2.LINE_AA)


def _draw_marker(image: np.ndarray, axes: _Axes, name: str, x: float, y: float) -> None:
    if not (math.isfinite(x) and math.isfinite(y)):
        return
    u, v = axes.pixel(x, y)
    cv2.drawMarker(image, (u, v), INK, cv2.MARKER_DIAMOND, 11, 2, cv2.LINE_AA)
    label = f"{name} {y:.4g}"
    fits_right = u + 9 + _width(label) <= axes.right  # else flip left rather than run off the plot
    org = (u + 9 if fits_right else u - 9, v - 7 if v - 18 > axes.top else v + 16)
    _text(image, label, org, INK, align=0.0 if fits_right else 1.0, backed=True)


def _draw_legend(image: np.ndarray, items: list[tuple[str, Colour]], left: int, right: int) -> None:
    """One row of entries under the title; those that do not fit become "+N more"."""
    x, y = left, 36
    for i, (name, colour) in enumerate(items):
        reserve = _width(f"+{len(items)} more") if i < len(items) - 1 else 0
        if i and x + 30 + _width(name) + reserve > right:
            _text(image, f"+{len(items) - i} more", (x, y), INK)
            return
        cv2.line(image, (x, y - 4), (x + 14, y - 4), colour, 2, cv2.LINE_AA)
        _text(image, name, (x + 18, y), colour)
        x += 30 + _width(name)


def _width(text: str, scale: float = _SMALL) -> int:
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0]


def _text(
    image: np.ndarray, text: str, org: tuple[int, int], colour: Colour, *,
    scale: float = _SMALL, align: float = 0.0, backed: bool = False,
) -> None:
    """Text with its baseline at ``org``; ``align`` 0, 0.5, 1 anchors its left, centre, right."""
    x = max(1, round(org[0] - align * _width(text, scale)))
    if backed:  # a white box keeps a label readable over the lines it sits on
        box = (x - 2, org[1] - 11), (x + _width(text, scale) + 2, org[1] + 4)
        cv2.rectangle(image, *box, (255, 255, 255), -1)
    cv2.putText(image, text, (x, org[1]), _FONT, scale, colour, 1, cv2.LINE_AA)


def _vertical_text(image: np.ndarray, text: str, x: int, y_centre: int) -> None:
    """Text reading bottom to top: cv2 only writes horizontally, so write, then rotate."""
    if not text:
        return
    (w, h), base = cv2.getTextSize(text, _FONT, _SMALL, 1)
    patch = np.full((h + base + 2, w + 2, 3), 255, np.uint8)
    cv2.putText(patch, text, (1, h + 1), _FONT, _SMALL, INK, 1, cv2.LINE_AA)
    patch = cv2.rotate(patch, cv2.ROTATE_90_COUNTERCLOCKWISE)
    top = max(0, y_centre - patch.shape[0] // 2)
    patch = patch[: image.shape[0] - top]
    image[top : top + patch.shape[0], x : x + patch.shape[1]] = patch
