"""Trials: what one search run loads once, and the trials it runs.

:mod:`.inputs` the data, model factory and teaching a run loads once;
:mod:`.objective` one trial (the proxy fine-tune of a sampled policy);
:mod:`.optimize` the trial loop of one process; :mod:`.workers` several
processes sharing one study; :mod:`.progress` the lines a run prints.
"""

from __future__ import annotations
