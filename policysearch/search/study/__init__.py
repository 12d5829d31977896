"""The study: where trials are stored and what a study stores.

:mod:`.storage` opens storages and creates or resumes studies (settings,
baselines, heartbeats); :mod:`.schema` is the one module that reads and
writes study and trial attributes, a stored format read back from every
earlier release; :mod:`.orphans` fails and retries the trials whose process
died on this host.
"""

from __future__ import annotations
