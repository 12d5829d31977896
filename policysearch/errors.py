"""One exception hierarchy for every error a user can cause.

The CLI turns any :class:`PolicySearchError` into one line on stderr and exit
status 2; anything else is an internal error (exit status 1). Messages quote
the bad value, in the style of torchvision's
``"num_ops should be a non-negative integer, but got -1"``.

Example:
    >>> from policysearch.errors import PolicyError
    >>> try:
    ...     raise PolicyError("magnitude should be an integer in [0, 30], but got 31")
    ... except ValueError as exc:   # every subclass is a ValueError
    ...     print(exc)
    magnitude should be an integer in [0, 30], but got 31
"""

from __future__ import annotations

__all__ = [
    "first_line",
    "innermost",
    "PolicySearchError",
    "PolicyError",
    "DataError",
    "ConfigError",
    "StorageError",
    "ModelError",
    "TrainingError",
]


class PolicySearchError(ValueError):
    """Base class: something the user gave us is wrong (exit status 2)."""


class PolicyError(PolicySearchError):
    """A policy, an operation name or a magnitude is invalid."""


class DataError(PolicySearchError):
    """A dataset cannot be found, read or split as asked."""


class ConfigError(PolicySearchError):
    """A command-line flag or a configuration file is invalid."""


class StorageError(PolicySearchError):
    """A storage URL, a database or a study is unusable."""


class ModelError(PolicySearchError):
    """A backbone name or its weights cannot be loaded."""


class TrainingError(PolicySearchError):
    """A proxy fine-tune cannot run with the given settings."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none), for one-line errors.

    Example:
        >>> first_line(OSError("disk full\\nmore detail"))
        'disk full'
        >>> first_line(KeyError())
        'KeyError'
    """
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def innermost(exc: BaseException) -> BaseException:
    """The exception at the bottom of a chain of causes (a database's own error under Optuna's).

    Example:
        >>> try:
        ...     try:
        ...         raise OSError("read-only")
        ...     except OSError as inner:
        ...         raise RuntimeError("write failed") from inner
        ... except RuntimeError as outer:
        ...     first_line(innermost(outer))
        'read-only'
    """
    while (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__
    return exc

