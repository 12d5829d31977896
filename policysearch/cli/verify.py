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
    "seeds": (int, "training runs per policy (default 2)"),
    "batch-size": (int, "batch size (default 64)"),
    "seed": (int, "which training images are drawn (default 0)"),
    "device": (str, "auto | cpu | cuda | mps"),
    "test-size": (int, "held-out test images (default: all)"),
}


def verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, metavar="JSON", help="the policy file to check")
    add_flags(parser, VERIFY_FLAGS)
    parser.add_argument("-o", "--output", metavar="JSON", help="also write the policy with this verdict in its score")


def run_verify(args: argparse.Namespace) -> int:
    from policysearch.policy import Score, load_policy
    from policysearch.search.verdict import format_table, measure, spec_for_policy

    policy = load_policy(args.policy)
    values = {flag.replace("-", "_").removeprefix("target_"): getattr(args, flag.replace("-", "_"))
              for flag in VERIFY_FLAGS}
    spec = spec_for_policy(policy, **values)
    result = interruptible(lambda: measure({"policy": policy}, spec, progress=lambda m: print(
        f"      {m}", file=sys.stderr, flush=True)), "nothing was written.")
    if result is None:
        return 130
    print(format_table(result["table"]))
    print(f"verdict at {spec.train_size} images x {spec.epochs} epochs ({spec.seeds} seeds): {result['line']}")
    if args.output:
        score = policy.score or Score()
        path = policy.with_score(replace(score, verdict=result), policy.provenance).save(args.output)
        print(f"wrote {path}")
    return 0
