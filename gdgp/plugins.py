"""Methods from other installed packages: the entry-point group ``gdgp.methods``.

A package registers a method in its ``pyproject.toml``::

    [project.entry-points."gdgp.methods"]
    my_unet = "my_package.methods:MyUNet"

(entry name = the method's name, value = a :class:`gdgp.Method` subclass). The entry points are
read at the first lookup or listing of a method, never at ``import gdgp``, so a plugin that
imports gdgp causes no circular import; each plugin's module is imported only when its method
is used or the methods are listed. This module reads the package metadata without importing the
methods (torch), so the workflow's parse-time cache (:mod:`gdgp.parse_cache`) can key on the
installed plugins cheaply (:func:`fingerprint`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from gdgp.errors import ConfigError

if TYPE_CHECKING:
    from gdgp.methods.base import Method

#: The entry-point group plugins register their methods under.
GROUP = "gdgp.methods"
#: A method name is a folder and a Snakemake wildcard value: the config's dataset-name rule.
NAME_PATTERN = re.compile(r"[A-Za-z0-9]+(_[A-Za-z0-9]+)*")


@dataclass(frozen=True)
class Plugin:
    """One ``gdgp.methods`` entry point: the method's name and the package that registers it."""

    name: str
    value: str  # "module:Class"
    distribution: str
    version: str
    entry_point: EntryPoint = field(compare=False, repr=False)

    @property
    def package(self) -> str:
        """``"<distribution> <version>"``, as messages and ``gdgp methods`` name it."""
        return f"{self.distribution} {self.version}".strip()


def _plugin(ep: EntryPoint) -> Plugin:
    dist = ep.dist
    name, version = (dist.name, dist.version) if dist is not None else ("<unknown distribution>", "")
    return Plugin(ep.name, ep.value, name, version, ep)


@cache
def _scan() -> tuple[Plugin, ...]:
    """Every ``gdgp.methods`` entry point of the environment, read once per process."""
    return tuple(sorted((_plugin(ep) for ep in entry_points(group=GROUP)), key=lambda p: (p.name, p.distribution)))


def plugins() -> dict[str, list[Plugin]]:
    """``{method name: [plugins registering it]}``; more than one, or a built-in's name, is a
    clash that :func:`check_name` reports when the name is used or listed."""
    out: dict[str, list[Plugin]] = {}
    for plugin in _scan():
        out.setdefault(plugin.name, []).append(plugin)
    return out


def check_name(name: str, found: list[Plugin], builtin: AbstractSet[str]) -> Plugin:
    """The one plugin that registers ``name``, or a :class:`ConfigError` naming every package
    that claims it (a built-in's name, or two plugins with one name) or the bad name."""
    if name in builtin:
        packages = ", ".join(p.package for p in found)
        raise ConfigError(
            f"method name {name!r} clash: it is a built-in method of gdgp and plugin package(s) {packages} "
            f"register it too (entry-point group {GROUP!r}); rename the plugin's entry point"
        )
    if len(found) > 1:
        claims = " and ".join(f"{p.package} ({p.value})" for p in found)
        raise ConfigError(
            f"method name {name!r} clash: the plugin packages {claims} both register it "
            f"(entry-point group {GROUP!r}); uninstall one or rename its entry point"
        )
    plugin = found[0]
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"plugin package {plugin.package} registers method {name!r}: a method name is letters and digits "
            "joined by single underscores (it names folders and workflow jobs)"
        )
    return plugin


_LOADED: dict[str, type[Method]] = {}


def load(plugin: Plugin) -> type[Method]:
    """Import a plugin's class (once per process) and check it is a usable method named ``plugin.name``.

    Raises:
        ConfigError: the module fails to import (naming the package and the exception), the
            value is no concrete :class:`gdgp.Method` subclass, or its ``name`` is not the entry's.
    """
    if plugin.name in _LOADED:
        return _LOADED[plugin.name]
    from gdgp.methods.base import Method

    where = f"method {plugin.name!r} of plugin package {plugin.package} ({plugin.value})"
    try:
        cls = plugin.entry_point.load()
    except Exception as err:  # any error of foreign code: say whose it is
        raise ConfigError(f"{where} failed to import: {type(err).__name__}: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ConfigError(f"{where} is {cls!r}, not a subclass of gdgp.Method")
    if getattr(cls, "name", None) != plugin.name:
        raise ConfigError(
            f"{where}: class {cls.__qualname__} has name = {getattr(cls, 'name', None)!r}; set "
            f"name = {plugin.name!r}, the entry point's name (checkpoints rebuild the method by it)"
        )
    if inspect.isabstract(cls):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        raise ConfigError(f"{where}: class {cls.__qualname__} does not implement {missing}")
    _LOADED[plugin.name] = cls
    return cls


def refresh() -> None:
    """Forget the scanned entry points and loaded classes (tests that install a plugin)."""
    _scan.cache_clear()
    _LOADED.clear()
    importlib.invalidate_caches()


def _module_files(value: str) -> list[Path]:
    """The source files of an entry point's top-level module or package, found without importing it."""
    top = value.split(":")[0].strip().split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return sorted(f for root in spec.submodule_search_locations for f in Path(root).rglob("*.py"))
    return [Path(spec.origin)] if spec.origin and Path(spec.origin).is_file() else []


def fingerprint() -> str:
    """sha256 of the installed plugins: each entry point, its package's name and version and its
    module's source, read without importing anything, so that installing, updating or editing a
    plugin (an editable install keeps its version) invalidates the workflow's parse-time cache.
    Never raises: an unreadable plugin counts by its metadata alone and fails when it is used."""
    digest = hashlib.sha256()
    for plugin in _scan():
        digest.update(f"{plugin.name}\0{plugin.value}\0{plugin.package}\0".encode())
        try:
            for path in _module_files(plugin.value):
                digest.update(str(path).encode() + b"\0" + path.read_bytes())
        except Exception:  # a half-installed plugin (another process installing it): its metadata still counts
            digest.update(b"unreadable\0")
    return digest.hexdigest()


__all__ = ["GROUP", "NAME_PATTERN", "Plugin", "check_name", "fingerprint", "load", "plugins", "refresh"]
