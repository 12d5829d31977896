"""The command line: preview on real Fashion-MNIST, errors as one line, instant help."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np

from policysearch.cli import main


def _tiles(grid: np.ndarray, rows: int, cols: int, pad: int = 2) -> list[list[np.ndarray]]:
    tile_h = (grid.shape[0] - pad) // rows - pad
    tile_w = (grid.shape[1] - pad) // cols - pad
    return [
        [
            grid[pad + r * (tile_h + pad) : pad + r * (tile_h + pad) + tile_h,
                 pad + c * (tile_w + pad) : pad + c * (tile_w + pad) + tile_w]
            for c in range(cols)
        ]
        for r in range(rows)
    ]


def test_preview_writes_real_fashion_mnist_grid(tmp_path, capsys):
    out = tmp_path / "grid.png"
    status = main(["preview", "--num-ops", "2", "--magnitude", "15", "--images", "4",
                   "--draws", "3", "--seed", "1", "-o", str(out)])
    assert status == 0
    assert "wrote" in capsys.readouterr().out
    grid = cv2.imread(str(out))
    tile = 28 * 4  # Fashion-MNIST is 28x28, upscaled x4 to reach 96 px
    assert grid.shape == (4 * (tile + 2) + 2, 4 * (tile + 2) + 2, 3)
    tiles = _tiles(grid, rows=4, cols=4)
    for row in tiles:
        original = row[0]
        assert original.std() > 10, "the original tile should be a real image, not blank"
        changed = sum(not np.array_equal(t, original) for t in row[1:])
        assert changed >= 2, "augmented tiles should differ from the original"


def test_preview_from_policy_file(tmp_path):
    from policysearch import Policy

    policy = Policy(num_ops=1, magnitude=30, ops=("Invert",)).save(tmp_path / "p.json")
    out = tmp_path / "inv.png"
    assert main(["preview", "--policy", str(policy), "--images", "1", "--draws", "1", "-o", str(out)]) == 0
    grid = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    original, inverted = _tiles(grid, rows=1, cols=2)[0]
    np.testing.assert_array_equal(inverted, 255 - original)


def test_bad_policy_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "policysearch.policy", "version": 1,
                               "augmentation": {"kind": "randaugment", "num_ops": 2, "magnitude": 31}}))
    assert main(["preview", "--policy", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "augmentation.magnitude" in err and "31" in err
    assert not (tmp_path / "x.png").exists()


def test_policy_and_flags_together_is_an_error(tmp_path, capsys):
    assert main(["preview", "--policy", "p.json", "--num-ops", "1"]) == 2
    assert "not both" in capsys.readouterr().err


def test_cli_subprocess_reports_error_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "policysearch", "preview", "--policy", str(tmp_path / "none.json")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr


def test_help_is_instant_and_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from policysearch.cli import main\n"
        "assert main(['--help']) == 0\n"
        "heavy = [m for m in ('torch', 'optuna', 'cv2', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    assert "preview" in result.stdout
