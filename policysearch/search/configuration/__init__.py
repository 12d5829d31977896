"""Configuration: what a run is asked to do, and how big it can be.

:mod:`.config` holds :class:`RunConfig` (defaults, TOML, command-line flags,
the settings a study stores); :mod:`.plan` turns a ``--budget`` and the
training rates measured on this machine into a plan (trials, rung, margin),
arithmetic on frozen data. The calibration that measures those rates and the
re-plans during a run are wired in :mod:`policysearch.search.budget`, beside
the run, since they read the study and the verdict's stored results.
"""

from __future__ import annotations
