"""Workflow-setting defaults, read from the one place that holds them: the config schema.

``workflow/schemas/config.schema.yaml`` gives every workflow setting its default (Snakemake's
``validate()`` fills them into the config). The ``gdgp`` verbs and the stage settings
(:class:`gdgp.data.extract.ExtractConfig`, :class:`gdgp.training.trainer.TrainConfig`,
:class:`gdgp.evaluation.evaluate.EvalConfig`) take theirs from it through :func:`schema_default`, so a
command run by hand does what the workflow does with a config that leaves the key out, and no
second copy of a default can drift from it.

The schema is read from the source tree this package belongs to (``<repo>/gdgp/`` beside
``<repo>/workflow/``): gdgp is installed editable (README, environment.yml), and Snakemake's
``validate(config, schema="../schemas/config.schema.yaml")`` needs the file where it is, so it
stays the only copy. A wheel installed without the source tree has no schema: the first
lookup says so.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from gdgp.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def load_schema() -> dict[str, Any]:
    """The parsed config schema (read once per process)."""
    if not SCHEMA_PATH.is_file():
        raise ConfigError(
            f"gdgp takes its defaults from the workflow config schema, {SCHEMA_PATH}, which does "
            "not exist: run gdgp from its source tree (pip install -e .)"
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~15 ms instead of ~75 ms
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)


def schema_default(key: str) -> Any:
    """The schema's default of a dotted config key, e.g. ``"train.epochs"``; ``*`` stands for any
    name of a free-form mapping (``"datasets.*.n_val"``). A copy: lists may be changed freely.

    Raises:
        KeyError: the schema has no such key, or the key has no default.
    """
    node: Any = load_schema()
    for part in key.split("."):
        node = node.get("additionalProperties") if part == "*" else node.get("properties", {}).get(part)
        if not isinstance(node, dict):
            raise KeyError(f"{key!r} is not a key of {SCHEMA_PATH.name}")
    if "default" not in node:
        raise KeyError(f"{key!r} has no default in {SCHEMA_PATH.name}")
    return copy.deepcopy(node["default"])
