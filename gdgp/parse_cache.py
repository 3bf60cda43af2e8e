"""The workflow's config checks that need the methods, done once per config and code version.

Checking ``methods.<name>`` (and a tuning grid over a method's key) needs each method's
``Settings`` dataclass, which lives beside the method's network in ``gdgp/methods/<module>.py``,
so it imports torch and MONAI: ~6 s added to every ``snakemake`` invocation, and Snakemake
parses the workflow again in every cluster job and every dry run. Each check is a pure function
of its config input and of the code that does it, so its result is kept in a small JSON file
keyed by both (sha256 of the input as written, of every ``gdgp/methods/**.py``,
``gdgp/tuning_plan.py``, ``gdgp/plugins.py``, of the installed method plugins (:func:`gdgp.plugins.fingerprint`:
their packages, versions and sources) and, for the tuning plan, the schema): an unchanged config
and code read it back in milliseconds; any change to either, or a plugin installed, updated or
edited, misses and checks again. A bad setting raises and
is never written, so it fails at every parse.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gdgp import plugins
from gdgp.atomic import write_text_atomic

#: Where the workflow keeps the results, relative to the Snakemake working directory, unless
#: the environment variable ``GDGP_PARSE_CACHE`` names a folder (the test suite shares one).
DEFAULT_CACHE_DIR = Path(".snakemake") / "gdgp-parse-cache"
CACHE_ENV = "GDGP_PARSE_CACHE"
_PACKAGE = Path(__file__).resolve().parent


def _code_files() -> list[Path]:
    """The source whose change must invalidate a cached check."""
    return [*sorted((_PACKAGE / "methods").rglob("*.py")), _PACKAGE / "tuning_plan.py", _PACKAGE / "plugins.py"]


def _cache_key(kind: str, payload: Any, extra_files: tuple[Path, ...] = ()) -> str:
    """sha256 of the check's name, its input (as written, in order: the order of the methods is
    the tables' order), the code and files it depends on and the installed method plugins."""
    digest = hashlib.sha256(kind.encode() + b"\0" + json.dumps(payload, default=str).encode())
    digest.update(plugins.fingerprint().encode())
    for source in (*_code_files(), *extra_files):
        digest.update(str(source.name).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def cached_check(
    kind: str, payload: Any, check: Callable[[], Any], cache_dir: Path | None = None, extra_files: tuple[Path, ...] = ()
) -> Any:
    """``check()``'s JSON-able result, from ``cache_dir`` when the same input and code made it.

    ``cache_dir`` None: ``$GDGP_PARSE_CACHE`` or :data:`DEFAULT_CACHE_DIR`. A cache folder that
    cannot be written (a read-only working directory) only costs the check. Exceptions of
    ``check`` propagate and store nothing.
    """
    folder = Path(cache_dir) if cache_dir is not None else Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)
    path = folder / f"{kind}-{_cache_key(kind, payload, extra_files)}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    text = json.dumps(check())
    with contextlib.suppress(OSError):
        write_text_atomic(path, text)
    return json.loads(text)  # the same plain data a cache hit gives


def _import_methods() -> Any:
    with warnings.catch_warnings():
        # linear_operator (imported by GDGP's GP head) calls the deprecated torch.jit.script
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
        import gdgp.methods
    return gdgp.methods


def checked_method_settings(methods: Mapping[str, Any], cache_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{name: complete settings}`` for ``config["methods"]`` (name -> settings written or None).

    Raises:
        ConfigError: an unknown method, an unknown key or a bad value (from the method's Settings).
    """
    written = {name: dict(hparams or {}) for name, hparams in methods.items()}

    def check() -> dict[str, dict[str, Any]]:
        method_settings = _import_methods().method_settings
        return {name: method_settings(name, hparams) for name, hparams in written.items()}

    return cached_check("methods", written, check, cache_dir)


def checked_method_facts(names: Sequence[str], cache_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"pretrained": bool, "trained_on": [source, ...]}}`` of the configured methods (their
    classes' attributes: the report's contamination marks), cached like the settings.

    Raises:
        ConfigError: an unknown method.
    """

    def check() -> dict[str, dict[str, Any]]:
        get_method_class = _import_methods().get_method_class
        return {
            name: {"pretrained": bool(cls.pretrained), "trained_on": list(cls.trained_on)}
            for name, cls in ((name, get_method_class(name)) for name in names)
        }

    return cached_check("method_facts", list(names), check, cache_dir)


def checked_tuning_plan(
    config: Mapping[str, Any], schema_path: str | os.PathLike[str], cache_dir: Path | None = None
) -> Any:
    """:func:`gdgp.tuning_plan.check_tuning` of the (validated, methods filled) config, cached.

    Raises:
        ValueError: as :func:`gdgp.tuning_plan.check_tuning`.
    """
    from gdgp.tuning_plan import Grid, TuningPlan, check_tuning

    def check() -> dict[str, Any]:
        plan = check_tuning(config, schema_path)
        return {
            "datasets": list(plan.datasets),
            "grids": {m: {"method": g.method, "key": g.key, "values": list(g.values)} for m, g in plan.grids.items()},
        }

    data = cached_check("tuning", config, check, cache_dir, (Path(schema_path),))
    return TuningPlan(
        datasets=tuple(data["datasets"]),
        grids={m: Grid(method=g["method"], key=g["key"], values=tuple(g["values"])) for m, g in data["grids"].items()},
    )


__all__ = [
    "CACHE_ENV",
    "DEFAULT_CACHE_DIR",
    "cached_check",
    "checked_method_facts",
    "checked_method_settings",
    "checked_tuning_plan",
]
