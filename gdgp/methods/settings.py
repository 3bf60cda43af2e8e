"""A method's settings: the one place its hyperparameters, their defaults and their checks live.

Each method declares ``Settings``, a frozen dataclass subclassing :class:`MethodSettings`: one
typed field per hyperparameter (``methods.<name>.<key>`` in the workflow config), its default and
its help made with :func:`setting`, and a :meth:`MethodSettings.check` that states every
constraint beyond the type with :func:`require`. Building one checks each value against its
field's type first (``int``, ``float``, ``bool``, ``str``, ``None``, ``list[...]``, ``Literal``
and unions of them), then runs ``check``; :func:`build_settings` adds the unknown-key check and
the method's name to the message, so every bad setting reads
``method 'dextr': sigma must be > 0 px, got 0.0``. Values are kept as given (an integer in a
``float`` field stays an integer), so the settings a job is run with are the ones written.

The workflow builds the same objects right after ``validate(config, ...)``
(``workflow/rules/common.smk``) and fills ``methods.<name>`` with their values, so a bad
setting stops ``snakemake`` before any job runs, and a method from elsewhere (a plugin) checks
its settings the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from gdgp.errors import ConfigError


class SettingError(ConfigError):
    """One setting is invalid; :func:`build_settings` adds the method's name."""

    def __init__(self, key: str, what: str, value: Any) -> None:
        super().__init__(f"{key} must be {what}, got {value!r}")
        self.key, self.what, self.value = key, what, value


def require(ok: bool, key: str, what: str, value: Any) -> None:
    """Raise :class:`SettingError` (``"<key> must be <what>, got <value>"``) unless ``ok``."""
    if not ok:
        raise SettingError(key, what, value)


def setting(default: Any, help: str) -> Any:
    """A settings field: its default (lists are copied per instance) and one line of help."""
    if isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


_NAMES: dict[Any, tuple[str, str]] = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    bool: ("true or false", "booleans"),
    str: ("a string", "strings"),
    type(None): ("null", "nulls"),
}


def describe(tp: Any, plural: bool = False) -> str:
    """``list[int]`` -> ``"a list of integers"``, ``int | None`` -> ``"an integer or null"``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a, plural) for a in args)
    if origin is list or tp is list:
        return ("lists" if plural else "a list") + (f" of {describe(args[0], plural=True)}" if args else "")
    if origin is Literal:
        return f"one of {args!r}"
    if tp in _NAMES:
        return _NAMES[tp][plural]
    return getattr(tp, "__name__", str(tp))


def matches(value: Any, tp: Any) -> bool:
    """Whether ``value`` has type ``tp`` (booleans are not numbers; a tuple passes as a list; NaN is no number)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is list or tp is list:
        return isinstance(value, list | tuple) and all(matches(v, args[0]) for v in value if args)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
    if tp is None or tp is type(None):
        return value is None
    return isinstance(value, tp)


@cache
def field_types(cls: type) -> dict[str, Any]:
    """Each field's resolved type annotation (string annotations evaluated in the class's module)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


@dataclass(frozen=True)
class MethodSettings:
    """Base of every method's ``Settings``: the type check of each field, then :meth:`check`."""

    def __post_init__(self) -> None:
        # as plain `type`: mypy checks type[Settings] against Hashable with the instances' __hash__
        cls: type = type(self)
        for key, tp in field_types(cls).items():
            value = getattr(self, key)
            require(matches(value, tp), key, describe(tp), value)
        self.check()

    def check(self) -> None:
        """Constraints beyond the types, each stated with :func:`require` (none by default)."""

    @classmethod
    def help(cls) -> dict[str, str]:
        """Each setting's one line of help, in field order."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def build_settings(method: str, cls: type[MethodSettings], values: dict[str, Any]) -> MethodSettings:
    """``cls(**values)``, every error a :class:`ConfigError` naming the method and the key.

    Raises:
        ConfigError: an unknown key (listing the known ones), a value of the wrong type, or one
            that fails the settings' checks.
    """
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"method {method!r}: unknown hyperparameter(s) {unknown}; known: {sorted(known)}")
    try:
        return cls(**values)
    except SettingError as err:
        raise ConfigError(f"method {method!r}: {err}") from None


@dataclass(frozen=True)
class UNetSettings(MethodSettings):
    """A MONAI U-Net's settings, the base of the methods built on one (auto_unet, click_unet,
    DEXTR, MIDeepSeg, InterCNN); a method redeclares ``channels`` for another default."""

    channels: list[int] = setting([16, 32, 64, 128], "U-Net channels per level.")
    res_units: int = setting(0, "Residual units per U-Net level (0 = plain conv blocks).")
    dropout: float = setting(0.0, "Dropout probability.")

    def check(self) -> None:
        unet_checks(self)


def unet_checks(s: Any, min_levels: int = 2) -> None:
    """The checks of a MONAI U-Net's settings: ``channels`` (>= ``min_levels`` positive integers),
    ``dropout`` in [0, 1) and ``res_units`` >= 0 (the last two only where the settings have them)."""
    require(
        len(s.channels) >= min_levels and all(c >= 1 for c in s.channels),
        "channels",
        f"a list of >= {min_levels} positive integers",
        s.channels,
    )
    if hasattr(s, "dropout"):
        require(0.0 <= s.dropout < 1.0, "dropout", "in [0, 1)", s.dropout)
    if hasattr(s, "res_units"):
        require(s.res_units >= 0, "res_units", "an integer >= 0", s.res_units)


__all__ = [
    "MethodSettings",
    "SettingError",
    "UNetSettings",
    "build_settings",
    "describe",
    "field_types",
    "matches",
    "require",
    "setting",
    "unet_checks",
]
