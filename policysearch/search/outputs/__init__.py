"""Outputs: what a study gives back once trials are stored.

:mod:`.export` the best trial and its policy document; :mod:`.report`
``show``'s lines and ``report``'s summary.md; :mod:`.plots` ``report``'s PNG
plots; :mod:`.artifacts` trial previews and the verdict note for the
dashboard.
"""

from __future__ import annotations
