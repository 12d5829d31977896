"""Preview grids: layout and the PNG they are saved as."""

from __future__ import annotations

import cv2
import numpy as np

from policysearch.augment import RandAugment, preview_grid, save_png


def test_preview_grid_layout_and_png(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (28, 28, 1), dtype=np.uint8) for _ in range(3)]
    grid = preview_grid(images, RandAugment(2, 20, rng=0), draws=4, min_tile=56, pad=2)
    tile = 56  # 28 upscaled x2
    assert grid.shape == (3 * (tile + 2) + 2, 5 * (tile + 2) + 2, 3)
    path = save_png(tmp_path / "out" / "grid.png", grid)
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, grid)
