"""``policysearch run``: a search from the command line, flags over a TOML file over the defaults.

Example:
    >>> from policysearch.cli.run import RUN_FLAGS
    >>> RUN_FLAGS["trials"][0]
    <class 'int'>
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from policysearch.cli.base import interruptible

__all__ = ["RUN_FLAGS", "run_arguments", "run_run"]

# flag -> (type, help); each flag maps onto the RunConfig field of the same name.
RUN_FLAGS: dict[str, tuple[Any, str]] = {
    "dataset": (str, "fashion-mnist | animal-silhouettes | elpv | imagefolder:PATH | hf:NAME[:CONFIG][@IMAGE,LABEL] | "
                     "cifar10 | cifar100 | digits"),
    "model": (str, "backbone: efficientnet-lite0, tiny-cnn, or a torchvision model name"),
    "weights": (str, "DEFAULT (pretrained), a state-dict PATH, or none"),
    "image-size": (int, "working image size in pixels"),
    "train-size": (int, "proxy training images"),
    "val-size": (int, "proxy validation images"),
    "test-size": (int, "held-out test images per verdict seed, a fresh draw for each (default: 2000, at most "
                        "the whole test split)"),
    "epochs": (int, "proxy epochs per trial (default: the target's epochs)"),
    "batch-size": (int, "proxy batch size"),
    "trials": (int, "trials to run now (added to a resumed study; 0: only its rung and verdict)"),
    "timeout": (float, "stop starting trials after this many seconds"),
    "budget": (str, "the whole run's time, verdict included, e.g. 90s, 5m, 1h30m: a short calibration plans the "
                    "trials, the rung and the verdict to fit, and prints the plan and its end time"),
    "study": (str, "study name (default: DATASET-MODEL); the same name resumes"),
    "storage": (str, "Optuna storage URL (default sqlite:///studies/policysearch.db) or journal:PATH"),
    "seeds": (int, "proxy runs averaged per trial"),
    "final-seeds": (int, "paired seeds of the verdict, each its own draw of training images (default 3)"),
    "sampler": (str, "tpe | random | grid"),
    "pruner": (str, "percentile (bottom quarter, the default) | median | hyperband | none"),
    "device": (str, "auto | cpu | cuda | mps"),
    "augment-on": (str, "auto | host | device: where batches are augmented (auto: the device for CUDA/MPS)"),
    "seed": (int, "seed for splits, sampler and training"),
    "output-dir": (str, "where studies/<study>/best_policy.json goes (default studies)"),
    "jobs": (int, "worker processes on this machine, sharing the study (default 1); on CUDA they share the GPU"),
    "devices": (str, "GPU indices to spread the workers over, e.g. 0,1 (default: the one default GPU)"),
    "heartbeat": (int, "seconds between trial heartbeats; 6 missed mark a trial failed (default 10)"),
    "teacher": (str, "a finished train run directory: search a student of it, temperature and alpha too"),
    "teacher-view": (str, "augmented | clean: what the teacher sees (default augmented)"),
    "target-train-size": (int, "the training the policy is for: training images (default 2000)"),
    "target-epochs": (int, "the training the policy is for: epochs (default 4)"),
    "target-model": (str, "the training the policy is for: backbone (default: --model)"),
    "target-image-size": (int, "the training the policy is for: image size (default: --image-size)"),
    "rung-candidates": (int, "the proxy's best K policies trained again nearer the target to pick the answer "
                             "(default 3; 0: none)"),
    "rung-train-size": (int, "rung training images (default: half the target's, at least twice --train-size, "
                             "at most the target's)"),
    "rung-val-size": (int, "rung validation images, from the training pool (default 2000)"),
    "rung-seeds": (int, "paired seeds per rung candidate; the pick is the best mean (default 2)"),
}


def run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="TOML", help="a config file, e.g. studies/fashion-mnist.toml")
    for flag, (kind, text) in RUN_FLAGS.items():
        parser.add_argument(f"--{flag}", type=kind, help=text)
    parser.add_argument("--no-final", dest="final", action="store_const", const=False,
                        help="skip the verdict (the target-budget check on the test split)")


def run_run(args: argparse.Namespace) -> int:
    started = time.perf_counter()  # a --budget counts from here: importing torch and Optuna takes seconds too
    from policysearch.search.configuration.config import load_config
    from policysearch.search.run import run_search

    overrides = {flag.replace("-", "_"): getattr(args, flag.replace("-", "_")) for flag in RUN_FLAGS}
    overrides["final"] = args.final
    config = load_config(args.config, overrides)
    # SIGTERM ends the current trial the way Ctrl-C does: Optuna marks it
    # failed (never left RUNNING) and the study stays resumable.
    outcome = interruptible(lambda: run_search(config, started=started),
                            f"the study is saved. Run the same command again to resume study {config.study_name!r}.")
    if outcome is None:
        return 130
    print(f"best: trial #{outcome.best_trial}, val accuracy {outcome.best_value:.4f}")
    for name, value in outcome.baselines.items():
        print(f"  baseline {name}: {'-' if value is None else f'{value:.4f}'}")
    if outcome.verdict is not None:
        print(f"verdict: {outcome.verdict['line']}")
    print(f"policy written to {outcome.policy_path} ({outcome.seconds:.0f} s; search {outcome.image_epochs} "
          f"image-epochs)")
    return 0
