"""Line charts drawn with OpenCV: layout, series pixels, robustness, and bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from policysearch.errors import DataError
from policysearch.training.curves import INK, PALETTE, Panel, draw_panels, nice_ticks, save_panels

BLUE, ORANGE = PALETTE["blue"], PALETTE["orange"]


def _plot_area(image: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the frame: the longest runs of ink in rows and columns."""
    ink = np.all(image == INK, axis=2)
    rows = np.flatnonzero(ink.sum(axis=1) >= 0.5 * ink.sum(axis=1).max())
    cols = np.flatnonzero(ink.sum(axis=0) >= 0.5 * ink.sum(axis=0).max())
    return rows[0], rows[-1], cols[0], cols[-1]


def _inside(image: np.ndarray) -> np.ndarray:
    top, bottom, left, right = _plot_area(image)
    return image[top + 1 : bottom, left + 1 : right]


def _colour_mask(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == colour, axis=2)


def _grey_text(image: np.ndarray) -> int:
    """Pixels of grey darker than the grid: the anti-aliased "no data" text."""
    r, g, b = image[:, :, 0].astype(int), image[:, :, 1], image[:, :, 2]
    return int(np.count_nonzero((r == g) & (g == b) & (r < 200)))


def _runs(line: np.ndarray) -> int:
    """Number of separate runs of True in a 1-D mask (one per tick mark)."""
    return int(np.count_nonzero(np.diff(line.astype(np.int8)) == 1) + line[0])


def _one(values, **kwargs) -> np.ndarray:
    return draw_panels([Panel("t", {"a": values}, **kwargs)], panel_width=320, panel_height=240)


@pytest.mark.parametrize("count, width, height", [(1, 480, 320), (2, 200, 150), (3, 160, 120)])
def test_shape_and_dtype(count, width, height):
    panels = [Panel(f"p{i}", {"train": [0.5, 0.6, 0.7]}) for i in range(count)]
    image = draw_panels(panels, panel_width=width, panel_height=height)
    assert image.shape == (height, count * width, 3)
    assert image.dtype == np.uint8
    assert image[0, 0].tolist() == [255, 255, 255]  # white background


def test_series_colour_appears_and_an_increasing_series_rises():
    image = _one([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    mask = _colour_mask(_inside(image), BLUE)
    assert mask.sum() > 50
    third = mask.shape[1] // 3
    left_rows = np.nonzero(mask[:, :third])[0]
    right_rows = np.nonzero(mask[:, -third:])[0]
    assert left_rows.mean() > right_rows.mean() + mask.shape[0] / 4  # lower on screen at the start


def test_second_series_takes_the_second_colour():
    image = draw_panels([Panel("t", {"a": [0.1, 0.5], "b": [0.5, 0.1]})])
    assert _colour_mask(_inside(image), BLUE).sum() > 20
    assert _colour_mask(_inside(image), ORANGE).sum() > 20


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_value_breaks_the_line(bad):
    whole = _colour_mask(_inside(_one([0.1, 0.2, 0.3, 0.4, 0.5])), BLUE).sum()
    broken = _colour_mask(_inside(_one([0.1, 0.2, bad, 0.4, 0.5])), BLUE).sum()
    assert 0 < broken < whole - 20


@pytest.mark.parametrize("values", [[0.5, 0.5, 0.5], [0.0, 0.0], [0.7], [float("nan"), 3.0]])
def test_constant_series_and_single_point_draw(values):
    assert _colour_mask(_inside(_one(values)), BLUE).sum() >= 9  # at least the dot


@pytest.mark.parametrize("series", [{"a": []}, {}, {"a": [math.nan, math.nan]}])
def test_no_data_panel_still_draws_axes_and_says_so(series):
    image = draw_panels([Panel("t", series)], panel_width=240, panel_height=180)
    assert _grey_text(_inside(image)) > 10  # the "no data" text
    assert _grey_text(_inside(_one([0.1, 0.2]))) == 0


def test_marker_is_drawn_in_ink_with_its_label():
    plain = _inside(_one([0.1, 0.5, 0.9]))
    marked = _inside(_one([0.1, 0.5, 0.9], markers={"test": (2, 0.2)}))
    assert plain.shape == marked.shape
    changed = np.any(plain != marked, axis=2)
    assert changed.sum() > 40
    assert _colour_mask(marked, INK).sum() > _colour_mask(plain, INK).sum() + 20


def test_y_ticks_are_four_to_six_and_x_ticks_thin_out():
    for epochs, expected in [(5, range(5, 6)), (300, range(2, 12))]:
        image = _one(list(np.linspace(0.3, 0.9, epochs)))
        top, bottom, left, right = _plot_area(image)
        ink = np.all(image == INK, axis=2)
        assert _runs(ink[bottom + 2, left - 1 : right + 2]) in expected
        assert 4 <= _runs(ink[top - 1 : bottom + 2, left - 2]) <= 6


@pytest.mark.parametrize("low, high", [(0.71, 0.93), (0.0, 1.0), (-3.2, 7.9), (1e-5, 3e-5), (120.0, 4000.0), (5, 5)])
def test_nice_ticks_are_round_evenly_spaced_and_cover(low, high):
    ticks = nice_ticks(low, high)
    assert 4 <= len(ticks) <= 6
    assert ticks[0] <= low and ticks[-1] >= high
    steps = np.diff(ticks)
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))


def test_nice_ticks_example_from_the_docs():
    assert nice_ticks(0.71, 0.93) == [0.7, 0.75, 0.8, 0.85, 0.9, 0.95]


def test_save_panels_writes_a_png_that_decodes_to_the_same_image(tmp_path):
    panels = [Panel("acc", {"train": [0.5, 0.8]}), Panel("loss", {"train": [2.0, 1.0]})]
    path = save_panels(tmp_path / "sub" / "curves.png", panels, panel_width=200, panel_height=150)
    assert path == tmp_path / "sub" / "curves.png"
    decoded = cv2.imread(str(path))
    assert decoded.shape == (150, 400, 3)
    np.testing.assert_array_equal(decoded[:, :, ::-1], draw_panels(panels, panel_width=200, panel_height=150))


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
    assert _colour_mask(_inside(draw_panels([panel])), BLUE).sum() > 20


def test_many_series_on_the_smallest_panel_still_draw():
    panel = Panel("t", {f"s{i}": [i, i + 1.0] for i in range(14)}, y_label="a long label for a small panel")
    image = draw_panels([panel], panel_width=160, panel_height=120)
    assert image.shape == (120, 160, 3)
    assert _colour_mask(image, PALETTE["cyan"]).sum() > 0  # the ninth colour, so the palette cycles
