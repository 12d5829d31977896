"""The verdict: the answer, its ablation and the standard baselines at the target budget.

:mod:`.verdict` the target budget (``TargetSpec``), the standard baselines,
the measurement and its lines; :mod:`.paired` the paired comparisons over
seeds (Student's t, bounds); :mod:`.target_results` trainings already stored,
so that a verdict never trains the same thing twice.
"""

from __future__ import annotations
