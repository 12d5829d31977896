"""The promotion rung: the proxy's best few, trained again nearer the target.

:mod:`.rung` the rung's budget, data and training, with no study in sight;
:mod:`.promotion` a study's rung: choosing its candidates, running the
leader's ablation, storing the pick.
"""

from __future__ import annotations
