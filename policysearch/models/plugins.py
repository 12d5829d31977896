"""Backbones from other packages, through the entry point group ``policysearch.backbones``.

A package adds a backbone by naming a builder in its ``pyproject.toml``::

    [project.entry-points."policysearch.backbones"]
    myplugin-net = "myplugin.nets:build"

The entry point's name is the backbone name; its object is a builder with
the contract of the built-in ones (:mod:`policysearch.models.base`):
``build(weights: str | None) -> Backbone``, called with ``"DEFAULT"`` for its
pretrained weights or ``None`` for random initialisation (a weights file is
loaded afterwards by :func:`~policysearch.models.build_model`). Built-in
names (ours, ``timm:NAME``, torchvision's) win over a plugin's. Entry points
are read when a name is looked up, never cached: installing a plugin needs no
restart, and ``import policysearch.models`` reads no package metadata.

Example:
    >>> plugin_builder("no-such-plugin-net") is None
    True
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from policysearch._plugins import load_plugin, names_in_group
from policysearch.errors import ModelError
from policysearch.models.base import Backbone

__all__ = ["BACKBONE_GROUP", "plugin_names", "plugin_builder"]

BACKBONE_GROUP = "policysearch.backbones"


def plugin_names() -> list[str]:
    """The backbone names installed plugins offer, sorted (their code is not imported).

    Example:
        >>> isinstance(plugin_names(), list)
        True
    """
    return names_in_group(BACKBONE_GROUP)


def _checked(builder: Callable[..., object], where: str) -> Callable[[str | None], Backbone]:
    """``builder`` with its result checked: a plugin's mistake is named, in one line."""

    def build(weights: str | None) -> Backbone:
        built = builder(weights)
        if not isinstance(built, Backbone):
            raise ModelError(f"{where} returned {type(built).__name__}, not a policysearch.models.Backbone")
        return built

    return build


def plugin_builder(name: str) -> Callable[[str | None], Backbone] | None:
    """The builder an installed plugin registers as ``name``, or None if none does.

    Raises :class:`~policysearch.errors.ModelError`, naming the entry point,
    when two plugins claim the name or the object cannot be imported or is
    not a one-argument callable.
    """
    plugin = load_plugin(BACKBONE_GROUP, name, "backbone", ModelError,
                                  "a builder function (weights) -> Backbone")
    if plugin is None:
        return None
    builder, where = plugin
    try:
        inspect.signature(builder).bind(None)
    except TypeError:
        raise ModelError(f"{where} should take one argument (weights: 'DEFAULT' or None)") from None
    except ValueError:  # no signature to read (some builtins): let the call decide
        pass
    return _checked(builder, where)
