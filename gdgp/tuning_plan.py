"""The tuning sweep's plan: which setting of which method is tried, and how a setting is named.

Pure functions on the config mapping without heavy imports, so that the Snakefile reads them
when it builds the DAG (``workflow/rules/tuning.smk``) and ``gdgp report-tuning``
(:mod:`gdgp.report.tuning`) names settings exactly as the workflow's paths do.

Config (``tuning`` in ``workflow/schemas/config.schema.yaml``)::

    tuning:
      datasets: [demo_spleen]                  # in datasets, with n_val > 0
      grids:
        gdgp: {hyper_lr_scale: [1.0, 10.0, 50.0]}
        dextr: {lr: [0.0003, 0.001, 0.003]}    # lr = train.lr for that method

Each method of ``grids`` varies exactly one key over at least two distinct values. A key
other than ``lr`` is one of the method's hyperparameters (a field of its ``Settings``,
:mod:`gdgp.methods.settings`): the grid value replaces only that key, the others stay as
configured, and the method's settings must accept the result. ``lr``
replaces ``train.lr`` for that method's sweep (nnU-Net, which trains with its own
schedule, cannot tune it).

A *setting* is ``<key>=<value>`` with the value written by :func:`value_label` (numbers as
Python's ``repr(float(v))``), so ``1`` and ``1.0`` are one setting and one path.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: The grid key that means ``train.lr`` rather than a method hyperparameter.
LR_KEY = "lr"
#: Methods that train through their own tool and ignore ``train.lr`` (nnU-Net configures itself).
EXTERNALLY_TRAINED: frozenset[str] = frozenset({"nnunet"})
#: What a hyperparameter name and a string value may look like (they become path components).
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING_VALUE = re.compile(r"[A-Za-z0-9_.+-]+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
#: A setting label, as it appears in paths: ``key=value``.
SETTING_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_.+-]+"


def value_label(value: Any) -> str:
    """The one spelling of a grid value in paths and tables.

    Numbers: ``repr(float(value))`` (``1`` -> ``"1.0"``, ``0.001`` -> ``"0.001"``, ``1e-05``
    -> ``"1e-05"``); booleans: ``"true"``/``"false"``; strings: themselves (letters, digits,
    ``_ . + -`` only).

    Raises:
        ValueError: a non-finite number, a string with other characters, or another type.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"grid value {value!r} is not a finite number")
        return repr(number)
    if isinstance(value, str):
        if not _STRING_VALUE.fullmatch(value):
            raise ValueError(f"grid value {value!r} may only hold letters, digits and _ . + -")
        return value
    raise ValueError(f"grid value {value!r} is not a number, string or boolean")


def setting_label(key: str, value: Any) -> str:
    """``<key>=<value_label(value)>``, e.g. ``hyper_lr_scale=50.0``, ``lr=0.001``."""
    return f"{key}={value_label(value)}"


def parse_setting(text: str) -> tuple[str, str]:
    """``"key=value"`` (the value read as YAML) -> ``(key, value_label(value))``.

    ``hyper_lr_scale=50`` and ``hyper_lr_scale=50.0`` both give ``("hyper_lr_scale", "50.0")``;
    ``lr=1e-3`` gives ``("lr", "0.001")``.

    Raises:
        ValueError: no ``=``, a bad key or a value :func:`value_label` refuses.
    """
    key, sep, raw = text.partition("=")
    if not sep or not _KEY.fullmatch(key):
        raise ValueError(f"a setting is KEY=VALUE with KEY a hyperparameter name, got {text!r}")
    value = yaml.safe_load(raw)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        value = float(value)  # PyYAML reads 1e-3 as a string
    return key, value_label(value)


def cli_value(value: Any) -> str:
    """A value for ``gdgp train --set key=VALUE`` (read back as YAML, the same type).

    JSON, except that a float written in exponent form gets a decimal point (PyYAML reads
    ``1e-05`` as a string, ``1.0e-05`` as a float).
    """
    if isinstance(value, float) and not isinstance(value, bool):
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    return json.dumps(value)


@dataclass(frozen=True)
class Grid:
    """One method's sweep: ``key`` over ``values`` (as configured), named ``labels``."""

    method: str
    key: str
    values: tuple[Any, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """The value labels, in the configured order (the order that breaks ties)."""
        return tuple(value_label(v) for v in self.values)

    @property
    def settings(self) -> tuple[str, ...]:
        """``key=value`` of every value, in the configured order (path components)."""
        return tuple(f"{self.key}={label}" for label in self.labels)

    def value_of(self, setting: str) -> Any:
        """The configured grid value a setting label stands for.

        Raises:
            ValueError: the setting is not one of this grid's.
        """
        for name, value in zip(self.settings, self.values, strict=True):
            if name == setting:
                return value
        raise ValueError(
            f"{setting!r} is not a setting of tuning.grids.{self.method} (its settings: {list(self.settings)})"
        )


@dataclass(frozen=True)
class TuningPlan:
    """The checked ``tuning`` config: the datasets swept and one grid per tuned method."""

    datasets: tuple[str, ...]
    grids: dict[str, Grid]

    @property
    def active(self) -> bool:
        """Whether there is anything to run (datasets and grids both given)."""
        return bool(self.datasets and self.grids)


def _check_value(value: Any, prop_schema: Mapping[str, Any], where: str, target: str) -> None:
    import jsonschema  # light enough, but only needed when there is a grid

    try:
        jsonschema.validate(value, dict(prop_schema))
    except jsonschema.ValidationError as err:
        raise ValueError(f"config: {where}: value {value!r} is not valid for {target}: {err.message}") from None


def _method_setting(method: str, key: str, config: Mapping[str, Any], where: str) -> tuple[Any, bool]:
    """``(check(value), number_key)`` of a method's setting: ``check`` raises ValueError naming
    ``where`` unless the method's ``Settings`` accept its configured settings with ``value`` in
    place of ``key``; ``number_key``: the field is a ``float``."""
    from gdgp.errors import ConfigError  # the methods (torch) only when a method key is tuned
    from gdgp.methods import get_method_class, method_settings
    from gdgp.methods.settings import field_types

    settings_class: type = get_method_class(method).Settings  # a plain type: mypy takes the class for unhashable
    types = field_types(settings_class)
    if key not in types:
        raise ValueError(
            f"config: {where}: {key!r} is neither lr nor a hyperparameter of {method} "
            f"(methods.{method} has {sorted(types)})"
        )

    def check(value: Any) -> None:
        try:
            method_settings(method, {**config["methods"][method], key: value})
        except ConfigError as err:
            raise ValueError(
                f"config: {where}: value {value!r} is not valid for methods.{method}.{key}: {err}"
            ) from None

    return check, types[key] is float


def check_grid(method: str, grid: Any, config: Mapping[str, Any], schema: Mapping[str, Any]) -> Grid:
    """Check one ``tuning.grids.<method>`` entry against the config and the schema.

    Raises:
        ValueError: naming ``tuning.grids.<method>[.<key>]``: a method not in ``methods``,
            not exactly one key, an unknown key (neither ``lr`` nor a hyperparameter of the
            method), ``lr`` for an externally trained method, fewer than two distinct values,
            a value given twice (``1`` and ``1.0`` count as one), or a value refused for that
            key (``train.lr``: by the schema; a hyperparameter: by the method's ``Settings``).
    """
    where = f"tuning.grids.{method}"
    methods = list(config.get("methods", {}))
    if method not in methods:
        raise ValueError(
            f"config: {where}: method {method!r} is not in methods ({methods}); only configured methods can be tuned"
        )
    if not isinstance(grid, Mapping) or len(grid) != 1:
        keys = list(grid) if isinstance(grid, Mapping) else grid
        raise ValueError(
            f"config: {where} must vary exactly one hyperparameter, got {keys!r}; "
            "the sweep gives every method one key with a few values"
        )
    ((key, values),) = grid.items()
    where = f"{where}.{key}"
    if key == LR_KEY:
        if method in EXTERNALLY_TRAINED:
            raise ValueError(
                f"config: {where}: {method} trains with its own learning-rate schedule "
                "(train.lr does not reach it); tune one of its own keys or leave it out"
            )
        lr_schema = schema["properties"]["train"]["properties"][LR_KEY]
        check, number_key = (lambda value: _check_value(value, lr_schema, where, "train.lr")), True
    else:
        check, number_key = _method_setting(method, key, config, where)
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise ValueError(f"config: {where} must be a list of values, got {values!r}")
    labels: dict[str, Any] = {}
    given: dict[str, Any] = {}
    for value in values:
        try:
            label = value_label(value)
        except ValueError as err:
            raise ValueError(f"config: {where}: {err}") from None
        if label in labels:
            raise ValueError(
                f"config: {where} lists the value {label} twice ({given[label]!r} and {value!r}); "
                "each value is one setting"
            )
        given[label] = value
        check(value)
        # a number-typed key gets floats, so that 1 and 1.0 (one path) also train one model
        labels[label] = float(value) if number_key and _is_int(value) else value
    if len(labels) < 2:
        raise ValueError(f"config: {where} needs at least 2 distinct values to choose from, got {list(values)!r}")
    return Grid(method=method, key=key, values=tuple(labels.values()))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_tuning(config: Mapping[str, Any], schema: Mapping[str, Any] | str | os.PathLike[str]) -> TuningPlan:
    """The checked tuning plan of a (schema-validated) workflow config.

    Args:
        config: the workflow config after ``snakemake.utils.validate`` (defaults filled in),
            ``methods.<name>`` the methods' complete settings
            (:func:`gdgp.methods.method_settings`).
        schema: ``workflow/schemas/config.schema.yaml``, parsed or its path (for the values
            ``train.lr`` accepts).

    Raises:
        ValueError: naming the key: a tuning dataset not in ``datasets`` or with ``n_val`` 0,
            tuning datasets without any grid, or a bad grid (:func:`check_grid`).
    """
    parsed: Mapping[str, Any] = (
        schema if isinstance(schema, Mapping) else yaml.safe_load(Path(schema).read_text(encoding="utf-8"))
    )
    tuning = config.get("tuning") or {}
    datasets = list(tuning.get("datasets") or [])
    known = config.get("datasets", {})
    for name in datasets:
        if name not in known:
            raise ValueError(f"config: tuning.datasets names {name!r}, which is not in datasets ({list(known)})")
        if int(known[name].get("n_val", 0)) <= 0:
            raise ValueError(
                f"config: tuning.datasets names {name!r}, but datasets.{name}.n_val is 0; the sweep "
                "scores the validation slices, so give it n_val > 0"
            )
    grids_cfg = tuning.get("grids") or {}
    if datasets and not grids_cfg:
        raise ValueError(
            "config: tuning.datasets is set but tuning.grids is empty: nothing to tune "
            "(give each method one hyperparameter and its values)"
        )
    grids = {method: check_grid(method, grid, config, parsed) for method, grid in grids_cfg.items()}
    return TuningPlan(datasets=tuple(datasets), grids=grids)


def method_learning_rate(config: Mapping[str, Any], method: str) -> float:
    """The learning rate the method trains with: ``train.method_lr.<method>``, else ``train.lr``."""
    return float(config["train"].get("method_lr", {}).get(method, config["train"][LR_KEY]))


def configured_value(config: Mapping[str, Any], grid: Grid) -> Any:
    """The value the config uses now for the grid's key: the method's learning rate for
    ``lr`` (``train.method_lr.<method>``, else ``train.lr``), else ``methods.<method>.<key>``
    (the workflow fills in the method's default)."""
    if grid.key == LR_KEY:
        return method_learning_rate(config, grid.method)
    return config["methods"][grid.method].get(grid.key)


def hyperparameters(config: Mapping[str, Any], grid: Grid, setting: str) -> dict[str, Any]:
    """The method's configured hyperparameters with the setting's value in place (``lr`` leaves them as they are)."""
    hparams = dict(config["methods"][grid.method] or {})
    if grid.key != LR_KEY:
        hparams[grid.key] = grid.value_of(setting)
    return hparams


def learning_rate(config: Mapping[str, Any], grid: Grid, setting: str) -> float:
    """The method's learning rate, or the setting's value when the grid tunes ``lr``."""
    return float(grid.value_of(setting)) if grid.key == LR_KEY else method_learning_rate(config, grid.method)


__all__ = [
    "EXTERNALLY_TRAINED",
    "LR_KEY",
    "SETTING_PATTERN",
    "Grid",
    "TuningPlan",
    "check_grid",
    "check_tuning",
    "cli_value",
    "configured_value",
    "hyperparameters",
    "learning_rate",
    "method_learning_rate",
    "parse_setting",
    "setting_label",
    "value_label",
]
