"""``policysearch verify``: any policy file against the baselines, trained at a chosen budget.

Example:
    >>> from policysearch.cli.verify import VERIFY_FLAGS
    >>> VERIFY_FLAGS["target-epochs"][0]
    <class 'int'>
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from policysearch.cli.base import add_flags, interruptible

__all__ = ["VERIFY_FLAGS", "verify_arguments", "run_verify"]

# flag -> (type, help); each maps onto the TargetSpec field named without "target-".
VERIFY_FLAGS: dict[str, tuple[Any, str]] = {
    "dataset": (str, "dataset (default: the policy's, else fashion-mnist)"),
    "model": (str, "backbone (default: the policy's, else efficientnet-lite0)"),
    "weights": (str, "DEFAULT (pretrained), a state-dict PATH, or none"),
    "image-size": (int, "image size (default: the policy's, else 32)"),
    "target-train-size": (int, "training images (default 2000)"),
    "target-epochs": (int, "epochs (default 4)"),
    "seeds": (int, "paired seeds per policy, each its own draw of training images (default 3)"),
    "batch-size": (int, "batch size (default 64)"),
    "seed": (int, "which training images are drawn (default 0)"),
    "device": (str, "auto | cpu | cuda | mps"),
    "test-size": (int, "held-out test images (default: all)"),
}


def verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, metavar="JSON", help="the policy file to check")
    add_flags(parser, VERIFY_FLAGS)
    parser.add_argument("-o", "--output", metavar="JSON", help="also write the policy with this verdict in its score")
    parser.add_argument("--storage", metavar="URL", default="sqlite:///studies/policysearch.db",
                        help="where target results are kept and reused (default sqlite:///studies/policysearch.db)")


def run_verify(args: argparse.Namespace) -> int:
    from policysearch.policy import Score, load_policy
    from policysearch.search.study.storage import make_storage
    from policysearch.search.verdict.target_results import TargetResults
    from policysearch.search.verdict.verdict import ABLATION, format_table, measure, spec_for_policy, verdict_text, \
        without_augmentation

    policy = load_policy(args.policy)
    values = {flag.replace("-", "_").removeprefix("target_"): getattr(args, flag.replace("-", "_"))
              for flag in VERIFY_FLAGS}
    spec = spec_for_policy(policy, **values)
    results = TargetResults(make_storage(args.storage))
    result = interruptible(lambda: measure({"policy": policy, ABLATION: without_augmentation(policy)}, spec,
                                           results=results, progress=lambda m: print(
                                               f"      {m}", file=sys.stderr, flush=True)),
                           "finished trainings are kept in the storage.")
    if result is None:
        return 130
    print(format_table(result["table"]))
    print(verdict_text(result))
    if args.output:
        score = policy.score or Score()
        path = policy.with_score(replace(score, verdict=result), policy.provenance).save(args.output)
        print(f"wrote {path}")
    return 0
