"""The policy document: the frozen :class:`Policy`, its version-1 JSON, loading and validation.

Example:
    >>> from policysearch.policy import Policy, load_policy
    >>> load_policy(Policy(num_ops=1, magnitude=5).to_json()).num_ops
    1
"""

from __future__ import annotations

from policysearch.policy.document import (
    APPROACHES,
    AUGMENTATION_KINDS,
    FORMAT,
    INTERPOLATIONS,
    MIXING_KINDS,
    STANDARD_CROP_BIN,
    VERSION,
    Distillation,
    Mixing,
    Policy,
    Provenance,
    Transfer,
)
from policysearch.policy.formats import EXPORT_FORMATS, ExportFormat, write_export
from policysearch.policy.loading import SCHEMA_FILE, load_policy, policy_schema
from policysearch.policy.score import Score

__all__ = ["AUGMENTATION_KINDS", "FORMAT", "VERSION", "APPROACHES", "MIXING_KINDS", "INTERPOLATIONS", "Mixing", "Transfer",
           "Distillation", "Score", "Provenance", "Policy", "STANDARD_CROP_BIN", "load_policy", "policy_schema", "SCHEMA_FILE",
           "EXPORT_FORMATS", "ExportFormat", "write_export"]
