"""Which of the configured datasets a run benchmarks: the config key ``run_datasets``.

``datasets`` defines every target a config knows; ``run_datasets`` names those that the default
target extracts, trains, evaluates and reports (absent, null or ``all``: every one). The demo
config defines the paper's five targets but its default run takes three, so that
``snakemake --cores all`` ends within 20 minutes on two cores; ``--config run_datasets=all``
runs the five. A target's rows do not depend on which others run: its split, training seeds,
evaluation and statistics (bootstrap seed, Holm within the target) are its own, so a run of
three reproduces those three rows of a run of five exactly.

Plain functions on mappings (no Snakemake, nothing heavy): the workflow
(``workflow/rules/common.smk``) and ``gdgp dvc-yaml`` (:mod:`gdgp.dvc_stages`) both call them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gdgp.errors import ConfigError

#: The config key, and the value that selects every configured dataset.
KEY = "run_datasets"
ALL = "all"


def run_dataset_names(config: Mapping[str, Any]) -> list[str]:
    """The datasets this run benchmarks, in the order of ``datasets``.

    ``run_datasets`` may be absent, null, ``"all"``, one dataset name (``--config
    run_datasets=demo_spleen``) or a list of names.

    Raises:
        ConfigError: naming ``run_datasets`` and what is wrong: an empty list, a name that is
            not a key of ``datasets`` (with the names that are), a name given twice, or a value
            that is neither a name nor a list of names.
    """
    known = list(config.get("datasets") or {})
    chosen = config.get(KEY)
    if chosen is None or chosen == ALL:
        return known
    if isinstance(chosen, str):
        chosen = [chosen]
    if not isinstance(chosen, list) or not all(isinstance(name, str) for name in chosen):
        raise ConfigError(f"config: {KEY} must be 'all' or a list of dataset names, got {chosen!r}")
    if not chosen:
        raise ConfigError(f"config: {KEY} is empty; name at least one of datasets ({known}) or write 'all'")
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise ConfigError(f"config: {KEY} names {unknown}, which are not in datasets ({known})")
    repeated = sorted({name for name in chosen if chosen.count(name) > 1})
    if repeated:
        raise ConfigError(f"config: {KEY} names {repeated} more than once")
    return [name for name in known if name in chosen]


def run_datasets(config: Mapping[str, Any]) -> dict[str, Any]:
    """``datasets`` restricted to :func:`run_dataset_names` (the same entries, ``datasets`` order)."""
    names = run_dataset_names(config)
    return {name: config["datasets"][name] for name in names}
