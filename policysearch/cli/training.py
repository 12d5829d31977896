"""``policysearch train`` and ``distill``: a policy to a trained model in a run directory.

Example:
    >>> from policysearch.cli.training import TRAIN_FLAGS
    >>> TRAIN_FLAGS["epochs"][0]
    <class 'int'>
"""

from __future__ import annotations

import argparse
from typing import Any

from policysearch.cli.base import add_flags, interruptible

__all__ = ["TRAIN_FLAGS", "DISTILL_FLAGS", "train_arguments", "distill_arguments", "run_training"]

# flag -> (type, help); each maps onto the RunSpec field of the same name.
TRAIN_FLAGS: dict[str, tuple[Any, str]] = {
    "dataset": (str, "dataset source (default: the teacher's, else the policy's, else fashion-mnist)"),
    "weights": (str, "DEFAULT (pretrained), a state-dict PATH, or none"),
    "image-size": (int, "working image size (default: the teacher's, else the policy's, else 32)"),
    "train-size": (int, "training images (default: the whole pool less validation)"),
    "val-size": (int, "validation images (default: a tenth of the pool, at most 5000)"),
    "test-size": (int, "test images (default: the whole test split)"),
    "epochs": (int, "epochs (default 10)"),
    "batch-size": (int, "batch size (default 64)"),
    "seed": (int, "seed for the split, the initialisation and the augmentation (default 0)"),
    "device": (str, "auto | cpu | cuda | mps"),
    "unlabeled": (str, "unlabeled images to pseudo-label: a dataset spec or images:PATH"),
    "unlabeled-size": (int, "use this many unlabeled images (default: all)"),
    "pseudo": (str, "hard (labels above --threshold) | soft (the teachers' probabilities); default hard"),
    "threshold": (float, "keep pseudo labels at least this confident (default 0.9 hard, none soft)"),
    "per-class": (int, "balance pseudo labels: the N most confident of each class, repeated if fewer"),
}
DISTILL_FLAGS: dict[str, tuple[Any, str]] = {
    "temperature": (float, "softmax temperature T (default: the policy's, else 4)"),
    "alpha": (float, "weight of the teacher's term, 0..1 (default: the policy's, else 0.9)"),
    "teacher-view": (str, "augmented (teachers see the student's batch) | clean (cached once); default augmented"),
}


def train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, metavar="JSON", help="the policy to train with")
    parser.add_argument("--model", help="backbone (default: the policy's, else efficientnet-lite0)")
    add_flags(parser, TRAIN_FLAGS)
    parser.add_argument("-o", "--output", required=True, metavar="RUN_DIR",
                        help="run directory: weights, metrics, curves; the same one resumes")


def distill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", action="append", required=True, metavar="RUN_DIR",
                        help="a finished run to learn from; repeat for several teachers")
    parser.add_argument("--student", required=True, metavar="MODEL", help="the student's backbone")
    parser.add_argument("--policy", required=True, metavar="JSON", help="the policy to train with")
    add_flags(parser, {**TRAIN_FLAGS, **DISTILL_FLAGS})
    parser.add_argument("-o", "--output", required=True, metavar="RUN_DIR",
                        help="run directory: weights, metrics, curves; the same one resumes")


def run_training(args: argparse.Namespace) -> int:
    from policysearch.policy import load_policy
    from policysearch.runs import RunSpec, train_run

    fields = {flag.replace("-", "_") for flag in {**TRAIN_FLAGS, **DISTILL_FLAGS}}
    given = {name: getattr(args, name) for name in fields if getattr(args, name, None) is not None}
    model = getattr(args, "student", None) or args.model
    spec = RunSpec(load_policy(args.policy), output=args.output, model=model,
                   teachers=tuple(getattr(args, "teacher", None) or ()), **given)
    result = interruptible(lambda: train_run(spec), f"finished epochs are saved in {args.output}. Run the "
                                                     f"same command again to resume.")
    if result is None:
        return 130
    metrics = result.metrics
    print(f"test accuracy {metrics['test_accuracy']:.4f} after {metrics['epochs']} epochs "
          f"(val {metrics['val_accuracy'][-1]:.4f}); wrote {result.run_dir}/ "
          f"model.pt, metrics.json, curves.png")
    return 0
