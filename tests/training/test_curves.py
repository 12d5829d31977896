"""Line charts drawn with matplotlib's Agg canvas: size, series colours, robustness, PNG, and bad input."""

from __future__ import annotations

import math
import sys

import cv2
import numpy as np
import pytest

from policysearch.errors import DataError
from policysearch.training.curves import Panel, draw_panels, save_panels

# matplotlib's default colour cycle (tab10): series take them in order.
BLUE, ORANGE = (31, 119, 180), (255, 127, 14)


def _near(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 12) -> np.ndarray:
    """Pixels within ``tolerance`` of ``colour`` in every channel (line cores survive anti-aliasing)."""
    return np.all(np.abs(image.astype(int) - colour) <= tolerance, axis=2)


def _one(values, **kwargs) -> np.ndarray:
    return draw_panels([Panel("t", {"a": values}, **kwargs)], panel_width=320, panel_height=240)


@pytest.mark.parametrize("count, width, height", [(1, 480, 320), (2, 200, 150), (3, 160, 120), (2, 333, 211)])
def test_shape_and_dtype(count, width, height):
    panels = [Panel(f"p{i}", {"train": [0.5, 0.6, 0.7]}) for i in range(count)]
    image = draw_panels(panels, panel_width=width, panel_height=height)
    assert image.shape == (height, count * width, 3)
    assert image.dtype == np.uint8
    assert image[0, 0].tolist() == [255, 255, 255]  # white background


def test_series_colour_appears_and_an_increasing_series_rises():
    image = _one([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    rows, cols = np.nonzero(_near(image, BLUE))
    assert len(rows) > 50
    left, right = rows[cols < np.percentile(cols, 30)], rows[cols > np.percentile(cols, 70)]
    assert left.mean() > right.mean() + image.shape[0] / 5  # lower on screen at the start


def test_second_series_takes_the_second_colour():
    image = draw_panels([Panel("t", {"a": [0.1, 0.5], "b": [0.5, 0.1]})])
    assert _near(image, BLUE).sum() > 20
    assert _near(image, ORANGE).sum() > 20


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_value_breaks_the_line(bad):
    whole = _near(_one([0.1, 0.2, 0.3, 0.4, 0.5]), BLUE).sum()
    broken = _near(_one([0.1, 0.2, bad, 0.4, 0.5]), BLUE).sum()
    assert 0 < broken < whole - 20


@pytest.mark.parametrize("values", [[0.5, 0.5, 0.5], [0.0, 0.0], [0.7], [float("nan"), 3.0]])
def test_constant_series_and_single_point_draw(values):
    assert _near(_one(values), BLUE).sum() >= 9  # at least the dot


@pytest.mark.parametrize("series", [{"a": []}, {}, {"a": [math.nan, math.nan]}])
def test_no_data_panel_still_draws(series):
    image = draw_panels([Panel("t", series)], panel_width=240, panel_height=180)
    assert image.shape == (180, 240, 3)
    assert np.count_nonzero(image < 200) > 100  # axes, ticks and the "no data" text


def test_marker_is_drawn_with_its_label():
    plain = _one([0.1, 0.5, 0.9])
    marked = _one([0.1, 0.5, 0.9], markers={"test": (2, 0.2)})
    assert plain.shape == marked.shape
    dark = lambda image: np.count_nonzero(np.all(image < 80, axis=2))  # noqa: E731 - the diamond and its text
    assert dark(marked) > dark(plain) + 40


def test_save_panels_writes_a_png_that_decodes_to_the_same_image(tmp_path):
    panels = [Panel("acc", {"train": [0.5, 0.8]}), Panel("loss", {"train": [2.0, 1.0]})]
    path = save_panels(tmp_path / "sub" / "curves.png", panels, panel_width=200, panel_height=150)
    assert path == tmp_path / "sub" / "curves.png"
    decoded = cv2.imread(str(path))
    assert decoded.shape == (150, 400, 3)
    np.testing.assert_array_equal(decoded[:, :, ::-1], draw_panels(panels, panel_width=200, panel_height=150))


def test_drawing_leaves_no_pyplot_figures_behind():
    draw_panels([Panel("t", {"a": [0.1, 0.2]})])
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda: draw_panels([]), "[]"),
        (lambda: draw_panels("abc"), "'abc'"),
        (lambda: draw_panels(["not a panel"]), "'not a panel'"),
        (lambda: draw_panels([Panel("t", {})], panel_width=100), "100"),
        (lambda: draw_panels([Panel("t", {})], panel_height=50), "50"),
        (lambda: draw_panels([Panel("t", {})], panel_width=300.5), "300.5"),
        (lambda: Panel("t", {"a": [0.1, "x"]}), "'x'"),
        (lambda: Panel("t", {"a": [0.1, True]}), "True"),
        (lambda: Panel("t", {"a": [0.1, None]}), "None"),
        (lambda: Panel("t", {"a": 0.5}), "0.5"),
        (lambda: Panel("t", {"a": "0.5"}), "'0.5'"),
        (lambda: Panel("t", [0.1, 0.2]), "[0.1, 0.2]"),
        (lambda: Panel("t", {7: [0.1]}), "7"),
        (lambda: Panel(42, {}), "42"),
        (lambda: Panel("t", {}, markers={"test": (3,)}), "(3,)"),
        (lambda: Panel("t", {}, markers={"test": (3, "high")}), "'high'"),
    ],
)
def test_bad_input_raises_data_error_quoting_the_value(make, needle):
    with pytest.raises(DataError) as info:
        make()
    message = str(info.value)
    assert needle in message and "\n" not in message, message


def test_numpy_arrays_and_scalars_are_accepted():
    panel = Panel("t", {"a": np.array([0.1, 0.4], np.float32)}, markers={"m": (np.int64(2), np.float64(0.3))})
    assert panel.series["a"] == pytest.approx((0.1, 0.4))
    assert _near(draw_panels([panel]), BLUE).sum() > 20


def test_many_series_on_the_smallest_panel_still_draw():
    panel = Panel("t", {f"s{i}": [i, i + 1.0] for i in range(14)}, y_label="a long label for a small panel")
    image = draw_panels([panel], panel_width=160, panel_height=120)
    assert image.shape == (120, 160, 3)
    assert _near(image, (23, 190, 207)).sum() > 0  # tab10's tenth colour, cyan: every series drew
