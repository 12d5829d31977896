"""Strategy: what the search may try and how it chooses.

:mod:`.space` is the search space and the baselines (the only
``trial.suggest_*``); :mod:`.sampler` the study's sampler, TPE or random
reseeded from the trial number so that workers never draw alike, or grid;
:mod:`.pruner` which trials stop early. Nothing here reads the storage.
"""

from __future__ import annotations
