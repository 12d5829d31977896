"""Entry-point plugins: the one lookup that backbones and dataset sources share.

A name is looked up in an entry-point group each time (never cached: a
plugin installed meanwhile is seen without a restart). Two plugins claiming
one name, an import that fails, or an object that is not callable each end
in one line naming the entry point, raised as the caller's error class.

Example:
    >>> names_in_group("policysearch.none"), load_plugin("policysearch.none", "x", "thing", ValueError)
    ([], None)
"""

from __future__ import annotations

from typing import Any

from policysearch.errors import first_line

__all__ = ["names_in_group", "load_plugin"]


def _entry_points(group: str, name: str | None = None) -> list:  # -> list of importlib.metadata.EntryPoint
    # Imported here: importlib.metadata is not free to import, and only plugin lookups need it.
    from importlib.metadata import entry_points

    return [ep for ep in entry_points(group=group) if name is None or ep.name == name]


def names_in_group(group: str) -> list[str]:
    """The names installed plugins offer in ``group``, sorted (their code is not imported)."""
    return sorted({ep.name for ep in _entry_points(group)})


def load_plugin(group: str, name: str, kind: str, error: type[Exception],
                contract: str = "a function") -> tuple[Any, str] | None:
    """``(callable, where)`` for the plugin registered as ``name`` in ``group``; None if none is.

    ``kind`` ("backbone", "dataset") and ``contract`` (what the object should
    be) word the messages; ``where`` names the entry point for the caller's
    own checks of the object's signature and results.
    """
    found = _entry_points(group, name)
    if not found:
        return None
    if len({ep.value for ep in found}) > 1:
        values = ", ".join(sorted(repr(ep.value) for ep in found))
        raise error(f"{kind} {name!r} is claimed by several {group} entry points: {values}")
    ep = found[0]
    where = f"plugin {kind} {name!r} (entry point {ep.name} = {ep.value} in {group})"
    try:
        loaded = ep.load()
    except Exception as exc:  # a plugin's import can fail in any way; each means "this plugin is broken"
        raise error(f"cannot load {where}: {type(exc).__name__}: {first_line(exc)}") from exc
    if not callable(loaded):
        raise error(f"{where} is a {type(loaded).__name__}, not {contract}")
    return loaded, where
