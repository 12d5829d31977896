"""The ``policysearch`` command line: a table of small commands.

This package is the only place that imports lazily: the command table names
each command's module, and a command's heavy imports (numpy, OpenCV, torch,
Optuna) happen when it runs, so ``policysearch --help`` answers instantly.

Example:
    >>> from policysearch.cli import main
    >>> main(["--version"])
    policysearch 0.1.0
    0
"""

from __future__ import annotations

from policysearch.cli.main import COMMANDS, main, main_entry

__all__ = ["main", "main_entry", "COMMANDS"]
