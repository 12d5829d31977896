"""Loading a policy document: a file or a dict, checked field by field, to a :class:`Policy`.

Version-1 files stay loadable forever; every malformed document ends in one
:class:`~policysearch.errors.PolicyError` naming the field and quoting the value.

Example:
    >>> load_policy({"format": "policysearch.policy", "version": 2})
    Traceback (most recent call last):
    ...
    policysearch.errors.PolicyError: version should be 1 (the only version this release reads), but got 2
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import policysearch._checks as checks
from policysearch.errors import PolicyError
from policysearch.policy.document import (
    AUGMENTATION_KINDS,
    FORMAT,
    MAGNITUDE_SCALE,
    VERSION,
    WIDE_MAGNITUDE_SCALE,
    Distillation,
    Mixing,
    Policy,
    Provenance,
    Score,
    Transfer,
)

__all__ = ["load_policy", "policy_schema", "SCHEMA_FILE"]

# The published JSON Schema of the version-1 document, for other tools (load_policy checks more: ranges per op).
SCHEMA_FILE = Path(__file__).with_name("policy.schema.json")


_TOP_KEYS = {"format", "version", "augmentation", "mixing", "transfer", "distillation", "score", "provenance"}
_AUG_KEYS = {
    "kind",
    "num_ops",
    "magnitude",
    "num_magnitude_bins",
    "magnitude_scale",
    "ops",
    "interpolation",
    "fill",
    # Optional, additive (version 1 still): the pre-stage and per-op bounds, written only when set.
    "flip",
    "crop",
    "op_bins",
}


def load_policy(source: str | os.PathLike[str] | Mapping[str, Any]) -> Policy:
    """Read and validate a version-1 policy from a JSON file or a parsed dict.

    Every field is checked; anything wrong raises :class:`PolicyError` naming
    the field and the bad value. Nothing in the file is executed.

    Example:
        >>> from policysearch import load_policy
        >>> load_policy({"format": "policysearch.policy", "version": 1,
        ...              "augmentation": {"kind": "randaugment", "num_ops": 1,
        ...                               "magnitude": 5}}).num_ops
        1
    """
    if isinstance(source, Mapping):
        return _from_document(source)
    if not isinstance(source, (str, os.PathLike)):
        raise PolicyError(f"a policy should be a file path or a dict, but got {source!r}")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {str(path)!r} cannot be read: {exc}") from None
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PolicyError(f"policy file {str(path)!r} is not valid JSON: {exc}") from None
    return _from_document(document)


def policy_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the version-1 policy document, as a dict.

    Example:
        >>> policy_schema()["properties"]["version"]
        {'const': 1}
    """
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def _from_document(doc: Any) -> Policy:
    doc = checks.check_mapping("policy", doc, allowed=_TOP_KEYS, required=("format", "version"))
    if doc["format"] != FORMAT:
        raise PolicyError(f"format should be {FORMAT!r}, but got {doc['format']!r}")
    version = doc["version"]
    if isinstance(version, bool) or version != VERSION:
        raise PolicyError(
            f"version should be {VERSION} (the only version this release reads), "
            f"but got {version!r}"
        )
    aug = checks.check_mapping("augmentation", doc.get("augmentation"), allowed=_AUG_KEYS, required=("kind",))
    kind = checks.check_choice("augmentation.kind", aug["kind"], AUGMENTATION_KINDS)
    # RandAugment needs its N and M; TrivialAugmentWide has neither (a later, additive kind of version 1).
    strength = ("num_ops", "magnitude") if kind == "randaugment" else ()
    for key in strength:
        if key not in aug:
            raise PolicyError(f"augmentation.{key} is missing")
    scale = MAGNITUDE_SCALE if kind == "randaugment" else WIDE_MAGNITUDE_SCALE
    if "magnitude_scale" in aug and aug["magnitude_scale"] != scale:
        raise PolicyError(f"augmentation.magnitude_scale should be {scale!r} for kind {kind!r}, "
                          f"but got {aug['magnitude_scale']!r}")
    kwargs = {key: aug[key] for key in (*strength, "num_magnitude_bins", "interpolation", "fill", "flip", "crop",
                                        "op_bins") if key in aug}
    kwargs["kind"] = kind
    if "ops" in aug:
        kwargs["ops"] = aug["ops"]
    return Policy(
        **kwargs,
        mixing=_optional_block(doc, "mixing", Mixing),
        transfer=_optional_block(doc, "transfer", Transfer) or Transfer(),
        distillation=_optional_block(doc, "distillation", Distillation),
        score=_optional_block(doc, "score", Score),
        provenance=_optional_block(doc, "provenance", Provenance),
    )


def _optional_block(doc: Mapping[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if value is None:
        return None
    allowed = set(kind.__dataclass_fields__)
    block = checks.check_mapping(name, value, allowed=allowed, required=())
    if kind is Transfer and block.get("approach", "finetune") == "linear_probe":
        # A linear probe has no backbone rate; an absent key means null here.
        block = {"backbone_lr": None, **block}
    return kind(**block)


