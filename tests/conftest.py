"""Shared by the whole test tree.

The tests mirror the package: one folder per subpackage, no ``__init__.py``,
every test file's basename unique (pytest's default "prepend" import mode
imports each test file by its basename). Importing this file puts ``tests/``
on ``sys.path``, so helper modules such as ``_network`` import from any folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # "prepend" mode has put it there already; other modes do not
    sys.path.insert(0, str(TESTS))
