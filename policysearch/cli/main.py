"""The ``policysearch`` command line: a table of small commands.

Heavy modules (numpy, OpenCV, torch, Optuna) are imported inside the command
functions, so ``policysearch --help`` answers instantly. Every error a user
can cause ends as one line on stderr and exit status 2; an internal error is
one line and exit status 1 (set ``POLICYSEARCH_DEBUG=1`` for the traceback).

Example:
    >>> from policysearch.cli import main
    >>> main(["show", "--study", "nonexistent", "--storage", "sqlite:////nonexistent/folder/none.db"])
    2
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from policysearch import __version__
from policysearch.cli.base import PROG, Command
from policysearch.cli.preview import preview_arguments, run_preview
from policysearch.cli.run import run_arguments, run_run
from policysearch.cli.studies import (
    dashboard_arguments,
    export_arguments,
    report_arguments,
    run_dashboard,
    run_export,
    run_report,
    run_show,
    study_arguments,
)
from policysearch.cli.training import distill_arguments, run_training, train_arguments
from policysearch.cli.verify import run_verify, verify_arguments

__all__ = ["main", "main_entry", "COMMANDS"]

COMMANDS: dict[str, Command] = {
    "run": Command("search policies (resumes a study of the same name)", run_arguments, run_run),
    "show": Command("summarise a study: trials, best, baselines, final check", study_arguments, run_show),
    "export": Command("write a study's best policy as JSON or another library's format", export_arguments, run_export),
    "report": Command("write a study's plots (PNG) and summary.md into a folder", report_arguments, run_report),
    "dashboard": Command("start optuna-dashboard on the studies", dashboard_arguments, run_dashboard),
    "train": Command("train a model with a policy into a run directory (resumable)", train_arguments,
                     run_training),
    "distill": Command("train a student from teachers' outputs and the labels (resumable)", distill_arguments,
                       run_training),
    "verify": Command("train a policy file and the baselines at a target budget; print the verdict",
                      verify_arguments, run_verify),
    "preview": Command(
        "write a PNG grid of real images under random draws of a policy",
        preview_arguments,
        run_preview,
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
