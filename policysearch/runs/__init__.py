"""Runs: what ``policysearch train`` and ``distill`` do, as a library: a policy to a trained model in a run directory.

Example:
    >>> from policysearch.runs import RunSpec
    >>> RunSpec.__name__
    'RunSpec'
"""

from __future__ import annotations

from policysearch.runs.workflow import DEFAULT_THRESHOLD, SPEC_FIELDS, RunSpec, train_run

__all__ = ["RunSpec", "train_run", "SPEC_FIELDS", "DEFAULT_THRESHOLD"]
