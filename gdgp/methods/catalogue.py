"""What ``gdgp methods`` lists: every method, built-in or from a plugin, and how it is used.

One row per method: its name, where it comes from (gdgp itself, or the plugin package and its
version), whether a user interacts with it, what its first interaction costs, and whether it is
trained here or pretrained (and on which public datasets, the contamination flag's input).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from gdgp import __version__
from gdgp.methods import get_method_class, method_names, plugin_of
from gdgp.methods.base import Method


@dataclass(frozen=True)
class MethodInfo:
    """One method as ``gdgp methods`` lists it."""

    name: str
    kind: str  # "built-in" | "plugin"
    package: str  # "gdgp 0.1.0" or the plugin's "<distribution> <version>"
    interactive: bool
    first_interaction: str
    pretrained: bool
    trained_on: tuple[str, ...]
    #: How to install what the method needs, while a package it needs is missing; else "".
    needs: str = ""


def missing_modules(cls: type[Method]) -> list[str]:
    """The method's ``required_modules`` that this Python cannot import (found without importing)."""
    return [m for m in cls.required_modules if importlib.util.find_spec(m) is None]


def first_interaction_text(cls: type[Method]) -> str:
    """The class's ``first_interaction_cost``, else what the base class's first interaction does."""
    if cls.first_interaction_cost:
        return cls.first_interaction_cost
    if not cls.interactive:
        return "none"
    if cls.first_interaction is Method.first_interaction:
        return "1 click"
    return "own (first_interaction_cost not set)"


def describe(name: str) -> MethodInfo:
    """One method's row; a plugin is imported (an import error names its package)."""
    cls = get_method_class(name)
    plugin = plugin_of(name)
    return MethodInfo(
        name=name,
        kind="built-in" if plugin is None else "plugin",
        package=f"gdgp {__version__}" if plugin is None else plugin.package,
        interactive=cls.interactive,
        first_interaction=first_interaction_text(cls),
        pretrained=cls.pretrained,
        trained_on=tuple(cls.trained_on),
        needs=cls.install_hint or f"pip install {' '.join(missing)}" if (missing := missing_modules(cls)) else "",
    )


def catalogue() -> list[MethodInfo]:
    """Every method: the built-ins in registry order, then the plugins by name."""
    return [describe(name) for name in method_names()]


__all__ = ["MethodInfo", "catalogue", "describe", "first_interaction_text", "missing_modules"]
