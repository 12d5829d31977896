"""What every command shares: the :class:`Command` record, flag tables, and ending on Ctrl-C or SIGTERM.

Example:
    >>> Command("say hi", lambda parser: None, lambda args: 0).help
    'say hi'
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["PROG", "Command", "add_flags", "interruptible"]

PROG = "policysearch"


@dataclass(frozen=True)
class Command:
    """One sub-command: its help line, how it adds its flags, and what it runs."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def add_flags(parser: argparse.ArgumentParser, flags: dict[str, tuple[Any, str]]) -> None:
    for flag, (kind, text) in flags.items():
        parser.add_argument(f"--{flag}", type=kind, help=text)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def interruptible(work: Callable[[], Any], saved: str) -> Any:
    """``work()``, or None after Ctrl-C or SIGTERM, saying what was ``saved``."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return work()
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; {saved}", file=sys.stderr)
        return None
