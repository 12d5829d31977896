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
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

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
    from policysearch.augment import preview_grid, save_png
    from policysearch.data import load_source
    from policysearch.errors import ConfigError
    from policysearch.policy import Policy, load_policy
    from policysearch.schema import check_int

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


COMMANDS: dict[str, Command] = {
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
