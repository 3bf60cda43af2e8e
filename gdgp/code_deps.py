"""The source files a workflow job runs, found statically, so that Snakemake can list them as inputs.

Snakemake reruns a job when an input is newer than its outputs (and, where it recorded a checksum,
differs in content), so a job that lists the modules it runs is rerun when one of them is edited,
and only then: editing ``gdgp/methods/dextr.py`` reruns dextr's train and evaluate jobs (and what
reads their files: the report), not every model. A job's code is

* its ``gdgp <verb>`` entry: ``gdgp/cli.py`` with its module-level imports and the imports of
  ``cmd_<verb>`` and of the ``cli`` functions that one calls (other verbs' imports stay out), and
* for train and evaluate, the method's module (``METHODS[name]``'s class module),

each with the modules they import, transitively: every ``import``/``from ... import`` in a
module's source (function bodies included, ``if TYPE_CHECKING:`` blocks left out) of the ``gdgp``
package or of the method's own top-level package (a plugin), the packages' ``__init__`` files
included, as Python runs them. The source is read, never imported (no torch at parse time).

One module is cut: the registry ``gdgp/methods/__init__.py`` imports every method to look them
up by name, so following it would make each method depend on all the others. What it decides
(which class a name means) reaches the jobs through :func:`method_modules` instead: a changed
mapping changes the job's input files, which reruns it.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

#: The method registry: never followed (see the module docstring).
REGISTRY = "gdgp.methods"
#: The command-line entry every job runs through.
CLI = "gdgp.cli"
_PACKAGE = "gdgp"


@functools.cache
def _top_level_dirs(top: str) -> tuple[Path, ...]:
    """Where the top-level package ``top`` lives (empty: not found, or a single-file module)."""
    spec = importlib.util.find_spec(top)  # a top-level name: finds, imports nothing
    if spec is None or not spec.submodule_search_locations:
        return ()
    return tuple(Path(p) for p in spec.submodule_search_locations)


@functools.cache
def module_file(name: str) -> Path | None:
    """The source file of module ``name`` (a package: its ``__init__.py``); None if it has none.

    Found from the top-level package's folder, so nothing below the top level is imported.
    """
    top, _, rest = name.partition(".")
    if not rest:
        spec = importlib.util.find_spec(top)
        origin = spec.origin if spec is not None else None
        return Path(origin) if origin and origin.endswith(".py") else None
    parts = rest.split(".")
    for folder in _top_level_dirs(top):
        base = folder.joinpath(*parts)
        for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(nodes: Iterable[ast.stmt], module: str, is_package: bool, skip_functions: bool) -> set[str]:
    """Absolute names of the modules the statements ``nodes`` import (each ``from A import n``: A
    and A.n, the caller keeps those that are modules). Function bodies are left out when
    ``skip_functions``. Imports are statements, so only statement bodies are walked."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names if alias.name != "*")
            continue
        if skip_functions and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)  # annotations only: never run
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(node, field, ()):
                stack.append(child)
    return found


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _closure(roots: Iterable[str], scope: frozenset[str]) -> set[Path]:
    """Source files of ``roots`` and of every module they import, transitively, within the
    top-level packages ``scope``; the registry is neither included nor followed."""
    files: set[Path] = set()
    seen: set[str] = set()
    todo = [parent for root in roots for parent in _with_parents(root)]
    while todo:
        name = todo.pop()
        if name in seen or name == REGISTRY or name.partition(".")[0] not in scope:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue  # a name imported from a module, not a module
        files.add(path)
        for imported in _imports(_parse(path).body, name, path.name == "__init__.py", skip_functions=False):
            todo.extend(_with_parents(imported))
    return files


def _entry_imports(module: str, function: str) -> set[str]:
    """Modules ``module`` imports at module level, in ``function`` and in the module-level
    functions that ``function`` calls (by name, transitively)."""
    path = module_file(module)
    if path is None:
        raise FileNotFoundError(f"code_deps: no source file for module {module!r}")
    tree = _parse(path)
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if function not in functions:
        raise ValueError(f"code_deps: {path} has no function {function!r} (the workflow runs it)")
    found = _imports(tree.body, module, False, skip_functions=True)
    reached: set[str] = set()
    todo = [function]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        body = functions[name].body
        found |= _imports(body, module, False, skip_functions=False)
        todo.extend(n.id for stmt in body for n in ast.walk(stmt) if isinstance(n, ast.Name) and n.id in functions)
    return found


@functools.cache
def verb_files(verb: str) -> frozenset[Path]:
    """Source files ``gdgp <verb>`` runs (``report-protocols`` -> ``cmd_report_protocols``),
    without any method's module."""
    entry = module_file(CLI)
    assert entry is not None  # this module's own package
    # cli.py's own imports: only those its module level and this verb run (_entry_imports)
    followed = _entry_imports(CLI, "cmd_" + verb.replace("-", "_")) - {CLI}
    return frozenset({entry} | _closure(followed, frozenset({_PACKAGE})))


@functools.cache
def method_files(module: str) -> frozenset[Path]:
    """Source files of a method's module and of what it imports (gdgp's and, for a plugin, its
    own top-level package's modules)."""
    if module_file(module) is None:
        raise FileNotFoundError(f"code_deps: no source file for method module {module!r}")
    return frozenset(_closure([module], frozenset({_PACKAGE, module.partition(".")[0]})))


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when below it (stable across clones), else absolute."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path.resolve())


def job_code(verb: str, method_module: str | None = None, root: str | os.PathLike[str] | None = None) -> list[str]:
    """Sorted source files of a ``gdgp <verb>`` job, with the method's module closure when given;
    paths relative to ``root`` (default: the working directory) when below it."""
    files = set(verb_files(verb))
    if method_module is not None:
        files |= method_files(method_module)
    base = Path(root if root is not None else os.getcwd()).resolve()
    return sorted(_shown(p, base) for p in files)


def method_modules(names: Iterable[str], cache_dir: Path | None = None) -> dict[str, str]:
    """``{name: module of its class}`` for registered methods, read from the registry.

    Importing the registry imports torch, so the answer is cached by :mod:`gdgp.parse_cache`
    (keyed by the names and the code of ``gdgp/methods``).
    """
    from gdgp.parse_cache import cached_check

    wanted = sorted(set(names))

    def lookup() -> dict[str, str]:
        with warnings.catch_warnings():
            # linear_operator (imported by GDGP's GP head) calls the deprecated torch.jit.script
            warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
            from gdgp.methods import get_method_class
        return {name: get_method_class(name).__module__ for name in wanted}

    return cached_check("method-modules", wanted, lookup, cache_dir)


__all__ = ["CLI", "REGISTRY", "job_code", "method_files", "method_modules", "module_file", "verb_files"]
