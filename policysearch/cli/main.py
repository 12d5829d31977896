"""The ``policysearch`` command line: a table of small commands.

Heavy modules (numpy, OpenCV, torch, Optuna) are imported inside the command
functions, so ``policysearch --help`` answers instantly. Every error a user
can cause ends as one line on stderr and exit status 2; an internal error is
one line and exit status 1 (set ``POLICYSEARCH_DEBUG=1`` for the traceback).

Example:
    >>> from policysearch.cli import main
    >>> main(["preview", "--num-ops", "2", "--magnitude", "9", "-o", "grid.png"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from policysearch import __version__

__all__ = ["main", "main_entry", "COMMANDS"]

PROG = "policysearch"


@dataclass(frozen=True)
class Command:
    """One sub-command: its help line, how it adds its flags, and what it runs."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- preview -----------------------------------------------------------------


def _preview_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE", help="a policy JSON file to preview")
    parser.add_argument("--num-ops", type=int, metavar="N", help="RandAugment N (default 2)")
    parser.add_argument("--magnitude", type=int, metavar="M", help="magnitude bin 0..30 (default 9)")
    parser.add_argument(
        "--dataset", default="fashion-mnist", help="dataset source (default fashion-mnist)"
    )
    parser.add_argument("--images", type=int, default=8, metavar="K", help="rows: images shown (default 8)")
    parser.add_argument("--draws", type=int, default=6, metavar="R", help="augmented draws per image (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("-o", "--output", default="preview.png", metavar="PNG", help="where to write the grid")


def _run_preview(args: argparse.Namespace) -> int:
    from policysearch._checks import check_int
    from policysearch.augment import preview_grid, save_png
    from policysearch.data import load_source
    from policysearch.errors import ConfigError
    from policysearch.policy import Policy, load_policy

    if args.policy and (args.num_ops is not None or args.magnitude is not None):
        raise ConfigError("give either --policy FILE or --num-ops/--magnitude, not both")
    if args.policy:
        policy = load_policy(args.policy)
    else:
        num_ops = 2 if args.num_ops is None else args.num_ops
        policy = Policy(num_ops=num_ops, magnitude=9 if args.magnitude is None else args.magnitude)
    count = check_int("--images", args.images, low=1, high=64, error=ConfigError)
    check_int("--draws", args.draws, low=1, high=32, error=ConfigError)
    source = load_source(args.dataset)
    images = _one_per_class(source.train.images, source.train.labels, count)
    grid = preview_grid(images, policy.transform(rng=args.seed), draws=args.draws)
    path = save_png(args.output, grid)
    print(
        f"wrote {path} ({grid.shape[1]}x{grid.shape[0]}): {len(images)} {args.dataset} images, "
        f"original then {args.draws} draws of RandAugment N={policy.num_ops} M={policy.magnitude}"
    )
    return 0


def _one_per_class(images, labels, count: int) -> list:
    """``count`` images cycling through the classes, so the grid shows variety."""
    import numpy as np

    order: list[int] = []
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for i in range(count):
        members = by_class[i % len(by_class)]
        if i // len(by_class) < len(members):
            order.append(int(members[i // len(by_class)]))
    return [images[i] for i in order]


# -- run ---------------------------------------------------------------------

# flag -> (type, help); each flag maps onto the RunConfig field of the same name.
_RUN_FLAGS: dict[str, tuple[Any, str]] = {
    "dataset": (str, "fashion-mnist | imagefolder:PATH | cifar10 | cifar100 | digits"),
    "model": (str, "backbone: efficientnet-lite0, tiny-cnn, or a torchvision model name"),
    "weights": (str, "DEFAULT (pretrained), a state-dict PATH, or none"),
    "image-size": (int, "working image size in pixels"),
    "train-size": (int, "proxy training images"),
    "val-size": (int, "proxy validation images"),
    "test-size": (int, "held-out test images for the final check (default: all)"),
    "epochs": (int, "proxy epochs per trial"),
    "batch-size": (int, "proxy batch size"),
    "trials": (int, "trials to run now (added to a resumed study)"),
    "timeout": (float, "stop starting trials after this many seconds"),
    "study": (str, "study name (default: DATASET-MODEL); the same name resumes"),
    "storage": (str, "Optuna storage URL (default sqlite:///studies/policysearch.db) or journal:PATH"),
    "seeds": (int, "proxy runs averaged per trial"),
    "final-seeds": (int, "runs per policy in the final check"),
    "sampler": (str, "tpe | random | grid"),
    "pruner": (str, "median | hyperband | none"),
    "device": (str, "auto | cpu | cuda | mps"),
    "seed": (int, "seed for splits, sampler and training"),
    "output-dir": (str, "where studies/<study>/best_policy.json goes (default studies)"),
    "jobs": (int, "worker processes on this machine, sharing the study (default 1)"),
    "heartbeat": (int, "seconds between trial heartbeats; 6 missed mark a trial failed (default 10)"),
    "teacher": (str, "a finished train run directory: search a student of it, temperature and alpha too"),
    "teacher-view": (str, "augmented | clean: what the teacher sees (default augmented)"),
}


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="TOML", help="a config file, e.g. studies/fashion-mnist.toml")
    for flag, (kind, text) in _RUN_FLAGS.items():
        parser.add_argument(f"--{flag}", type=kind, help=text)
    parser.add_argument("--no-final", dest="final", action="store_const", const=False,
                        help="skip the final check on the test split")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _interruptible(work: Callable[[], Any], saved: str) -> Any:
    """``work()``, or None after Ctrl-C or SIGTERM, saying what was ``saved``."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return work()
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; {saved}", file=sys.stderr)
        return None


def _run_run(args: argparse.Namespace) -> int:
    from policysearch.search.config import load_config
    from policysearch.search.run import run_search

    overrides = {flag.replace("-", "_"): getattr(args, flag.replace("-", "_")) for flag in _RUN_FLAGS}
    overrides["final"] = args.final
    config = load_config(args.config, overrides)
    # SIGTERM ends the current trial the way Ctrl-C does: Optuna marks it
    # failed (never left RUNNING) and the study stays resumable.
    outcome = _interruptible(lambda: run_search(config), f"the study is saved. Run the same command again to "
                                                         f"resume study {config.study_name!r}.")
    if outcome is None:
        return 130
    print(f"best: trial #{outcome.best_trial}, val accuracy {outcome.best_value:.4f}")
    for name, value in outcome.baselines.items():
        print(f"  baseline {name}: {'-' if value is None else f'{value:.4f}'}")
    print(f"policy written to {outcome.policy_path} ({outcome.seconds:.0f} s)")
    return 0


# -- show / export / dashboard ----------------------------------------------


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", help="study name (default: the default run's study)")
    parser.add_argument("--storage", help="storage URL (default sqlite:///studies/policysearch.db)")


def _open_existing(args: argparse.Namespace) -> Any:
    from policysearch.search.config import RunConfig
    from policysearch.search.storage import load_existing_study

    default = RunConfig()
    return load_existing_study(args.study or default.study_name, args.storage or default.storage_url)


def _run_show(args: argparse.Namespace) -> int:
    from policysearch.search.report import describe_study

    print(describe_study(_open_existing(args)))
    return 0


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    _study_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="default studies/<study>/best_policy.json")


def _run_export(args: argparse.Namespace) -> int:
    from policysearch.search.export import export_study

    print(f"wrote {export_study(_open_existing(args), args.output)}")
    return 0


def _dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", help="storage URL (default sqlite:///studies/policysearch.db)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")


def _run_dashboard(args: argparse.Namespace) -> int:
    from policysearch.errors import ConfigError
    from policysearch.search.config import RunConfig
    from policysearch.search.storage import make_storage, redact

    try:
        from optuna_dashboard import run_server
    except ImportError:
        raise ConfigError("the dashboard needs optuna-dashboard: pip install optuna-dashboard") from None
    url = args.storage or RunConfig().storage_url
    storage = make_storage(url)
    print(f"Optuna dashboard for {redact(url)} at http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    try:
        run_server(storage, host=args.host, port=args.port)
    except OSError as exc:
        raise ConfigError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        pass
    return 0


# -- train / distill -----------------------------------------------------------

# flag -> (type, help); each maps onto the RunSpec field of the same name.
_TRAIN_FLAGS: dict[str, tuple[Any, str]] = {
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
_DISTILL_FLAGS: dict[str, tuple[Any, str]] = {
    "temperature": (float, "softmax temperature T (default: the policy's, else 4)"),
    "alpha": (float, "weight of the teacher's term, 0..1 (default: the policy's, else 0.9)"),
    "teacher-view": (str, "augmented (teachers see the student's batch) | clean (cached once); default augmented"),
}


def _add_flags(parser: argparse.ArgumentParser, flags: dict[str, tuple[Any, str]]) -> None:
    for flag, (kind, text) in flags.items():
        parser.add_argument(f"--{flag}", type=kind, help=text)


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, metavar="JSON", help="the policy to train with")
    parser.add_argument("--model", help="backbone (default: the policy's, else efficientnet-lite0)")
    _add_flags(parser, _TRAIN_FLAGS)
    parser.add_argument("-o", "--output", required=True, metavar="RUN_DIR",
                        help="run directory: weights, metrics, curves; the same one resumes")


def _distill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", action="append", required=True, metavar="RUN_DIR",
                        help="a finished run to learn from; repeat for several teachers")
    parser.add_argument("--student", required=True, metavar="MODEL", help="the student's backbone")
    parser.add_argument("--policy", required=True, metavar="JSON", help="the policy to train with")
    _add_flags(parser, {**_TRAIN_FLAGS, **_DISTILL_FLAGS})
    parser.add_argument("-o", "--output", required=True, metavar="RUN_DIR",
                        help="run directory: weights, metrics, curves; the same one resumes")


def _run_training(args: argparse.Namespace) -> int:
    from policysearch.policy import load_policy
    from policysearch.runs import RunSpec, train_run

    fields = {flag.replace("-", "_") for flag in {**_TRAIN_FLAGS, **_DISTILL_FLAGS}}
    given = {name: getattr(args, name) for name in fields if getattr(args, name, None) is not None}
    model = getattr(args, "student", None) or args.model
    spec = RunSpec(load_policy(args.policy), output=args.output, model=model,
                   teachers=tuple(getattr(args, "teacher", None) or ()), **given)
    result = _interruptible(lambda: train_run(spec), f"finished epochs are saved in {args.output}. Run the "
                                                     f"same command again to resume.")
    if result is None:
        return 130
    metrics = result.metrics
    print(f"test accuracy {metrics['test_accuracy']:.4f} after {metrics['epochs']} epochs "
          f"(val {metrics['val_accuracy'][-1]:.4f}); wrote {result.run_dir}/ "
          f"model.pt, metrics.json, curves.png")
    return 0


COMMANDS: dict[str, Command] = {
    "run": Command("search policies (resumes a study of the same name)", _run_arguments, _run_run),
    "show": Command("summarise a study: trials, best, baselines, final check", _study_arguments, _run_show),
    "export": Command("write a study's best policy as JSON", _export_arguments, _run_export),
    "dashboard": Command("start optuna-dashboard on the studies", _dashboard_arguments, _run_dashboard),
    "train": Command("train a model with a policy into a run directory (resumable)", _train_arguments,
                     _run_training),
    "distill": Command("train a student from teachers' outputs and the labels (resumable)", _distill_arguments,
                       _run_training),
    "preview": Command(
        "write a PNG grid of real images under random draws of a policy",
        _preview_arguments,
        _run_preview,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with one sub-parser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Search RandAugment policies and transfer-learning learning rates with Optuna.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 user error, 1 internal)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command].run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `policysearch show | head`: the reader left
        sys.stderr.close()
        return 141
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        return _report(exc)


def _report(exc: Exception) -> int:
    from policysearch.errors import PolicySearchError

    if os.environ.get("POLICYSEARCH_DEBUG"):
        import traceback

        traceback.print_exc()
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, PolicySearchError):
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    print(f"{PROG}: internal error: {type(exc).__name__}: {message}", file=sys.stderr)
    return 1


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
