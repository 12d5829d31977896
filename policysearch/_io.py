"""Atomic writes and JSON reading: the one place files are written or read back.

Every file policysearch writes (policy JSON, run metadata, checkpoints,
weights) goes through a temporary file in the same folder, is fsynced, and is
renamed over the target, so a crash mid-write leaves the old file (or none),
never a truncated one.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> path = write_json_atomic(folder / "a.json", {"x": 1})
    >>> read_json(path)
    {'x': 1}
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from policysearch.errors import PolicySearchError

__all__ = ["atomic_path", "json_text", "write_json_atomic", "read_json", "to_jsonable"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``; on success it is fsynced and renamed onto ``path``.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "w.bin"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_bytes(b"ok")
        >>> target.read_bytes()
        b'ok'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # fsync before the rename: otherwise a power cut can leave the new name on an empty file.
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def json_text(document: Any) -> str:
    """``document`` as the indented JSON text this project writes (NaN refused).

    Example:
        >>> json_text({"a": 1}).splitlines()
        ['{', '  "a": 1', '}']
    """
    return json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_json_atomic(path: str | os.PathLike[str], document: Any) -> Path:
    """Write ``document`` as indented JSON to ``path``, atomically (NaN refused)."""
    text = json_text(document)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def read_json(path: str | os.PathLike[str], *, error: Callable[[str], Exception] = PolicySearchError) -> Any:
    """The JSON in ``path``, or ``error`` with one line naming the file.

    Example:
        >>> read_json("/nonexistent.json")
        Traceback (most recent call last):
        ...
        policysearch.errors.PolicySearchError: cannot read '/nonexistent.json': No such file or directory
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise error(f"cannot read {str(path)!r}: {exc}") from None


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists), so stored and new compare equal.

    Example:
        >>> to_jsonable({"a": (1, 2)})
        {'a': [1, 2]}
    """
    return json.loads(json.dumps(value))
