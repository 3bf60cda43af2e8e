"""Workflow-config rules the schema cannot state: deprecated keys and cross-key checks.

The workflow (``workflow/rules/common.smk``) calls these on its config; they are plain
functions on mappings so that they are tested without Snakemake, and they import nothing
heavy (the Snakefile imports them to build the DAG).

Training seeds. ``train.seeds`` (a list, schema default ``[0]``) is the one key now: every
method, and every experiment variant, is trained and evaluated once per seed. Two older keys
are still accepted, each with a warning:

* ``train.seed`` (one seed for every method): without ``train.seeds`` it means
  ``train.seeds: [train.seed]``.
* ``experiments.extra_seeds`` (more seeds for gdgp and its variants only): without
  ``train.seeds`` its seeds are appended (repeats dropped), and now every method trains
  with them.

When ``train.seeds`` is set as well, it wins and the old keys are ignored (with a warning).
Because the schema fills in ``train.seeds: [0]`` when it is absent, whether the user wrote
it has to be read off the config *before* validation (:func:`explicit_seed_keys`).

On the command line, ``snakemake --config "train={seeds: [0, 1, 2]}"`` is merged into the
config's ``train`` section, but Snakemake parses such nested values with YAML's
``BaseLoader``, so every number arrives as a string; :func:`coerce_command_line_seeds`
turns digit strings in ``train.seeds`` back into integers before validation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

#: The dotted config keys that set training seeds, new first.
SEED_KEYS: tuple[str, ...] = ("train.seeds", "train.seed", "experiments.extra_seeds")


#: The click protocols, as the schema's ``evaluate.protocol`` enum lists them.
KNOWN_PROTOCOLS: tuple[str, ...] = ("ritm", "largest_component_centre", "weighted_random")


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = config.get(name)
    return value if isinstance(value, Mapping) else {}


def coerce_command_line_seeds(config: dict[str, Any]) -> None:
    """Turn digit strings in ``train.seeds`` (``--config "train={seeds: [0, 1]}"``) into ints and number
    strings in ``train.method_lr`` into floats, in place.

    Anything else is left for the schema to reject.
    """
    train = config.get("train")
    if not isinstance(train, dict):
        return
    seeds = train.get("seeds")
    if isinstance(seeds, list) and all(isinstance(v, str) and v.isdigit() for v in seeds):
        train["seeds"] = [int(v) for v in seeds]
    rates = train.get("method_lr")
    if isinstance(rates, dict):  # --config "train={method_lr: {dextr: 0.003}}"
        for method, value in rates.items():
            with contextlib.suppress(ValueError):
                rates[method] = float(value) if isinstance(value, str) else value


def explicit_seed_keys(config: Mapping[str, Any]) -> frozenset[str]:
    """The keys of :data:`SEED_KEYS` the user's config holds (call it before validation
    fills in the defaults)."""
    out = set()
    for dotted in SEED_KEYS:
        section, key = dotted.split(".")
        if key in _section(config, section):
            out.add(dotted)
    return frozenset(out)


def _seed_list(values: Sequence[Any], key: str) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"config: {key} must be a list of non-negative integers, got {values!r}")
    seeds = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(
                f"config: {key} must hold non-negative integers (a seed names a seed<k> folder), got {v!r}"
            )
        seeds.append(int(v))
    return seeds


def training_seeds(
    config: Mapping[str, Any], explicit: frozenset[str] | set[str] | None = None
) -> tuple[list[int], list[str]]:
    """The training seeds every method is trained and evaluated with, and the deprecation warnings.

    Args:
        config: the workflow config (validated or not).
        explicit: the seed keys the user wrote (:func:`explicit_seed_keys` of the config
            before validation); None = the keys present in ``config`` now.

    Returns:
        (seeds in order, first-listed first and without repeats; warning lines, one per
        deprecated key found, empty when only ``train.seeds`` or nothing is set).

    Raises:
        ValueError: a seed that is not a non-negative integer, or ``train.seeds`` empty or
            with a repeat.

    Examples:
        >>> training_seeds({"train": {"seeds": [0, 1, 2]}})
        ([0, 1, 2], [])
        >>> training_seeds({"train": {"seed": 3}, "experiments": {"extra_seeds": [4]}})[0]
        [3, 4]
    """
    given = explicit_seed_keys(config) if explicit is None else frozenset(explicit)
    train, experiments = _section(config, "train"), _section(config, "experiments")
    warnings: list[str] = []
    if "train.seeds" in given:
        seeds = _seed_list(train["seeds"], "train.seeds")
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"config: train.seeds must be a non-empty list without repeats, got {seeds}")
        for old in ("train.seed", "experiments.extra_seeds"):
            if old in given:
                warnings.append(f"{old} is deprecated and ignored: train.seeds ({seeds}) is set and wins")
        return seeds, warnings
    seeds = [0]
    if "train.seed" in given:
        seeds = _seed_list([train["seed"]], "train.seed")
        warnings.append(
            f"train.seed is deprecated: use train.seeds: {seeds} (a list; every method is trained with each seed)"
        )
    if "experiments.extra_seeds" in given:
        extra = _seed_list(experiments["extra_seeds"], "experiments.extra_seeds")
        seeds = list(dict.fromkeys([*seeds, *extra]))
        warnings.append(
            f"experiments.extra_seeds is deprecated: its seeds are added to the training seeds, and "
            f"now every method (not only gdgp and its variants) trains with them: seeds {seeds}; "
            f"write train.seeds: {seeds} instead"
        )
    return seeds, warnings


def compared_protocols(protocol: str, protocols: Sequence[str]) -> list[str]:
    """The click protocols of the protocol-sensitivity comparison (``evaluate.protocols``).

    Every trained model is evaluated under ``protocol`` (``evaluate.protocol``: the main
    runs) and again under each other protocol of ``protocols``. Fewer than two protocols
    means no comparison.

    Args:
        protocol: the configured main protocol.
        protocols: the configured list; it must contain ``protocol`` unless it is empty.

    Returns:
        ``protocols`` in their order when there are two or more, else ``[]``.

    Raises:
        ValueError: an unknown or repeated name, or a non-empty list without ``protocol``.
    """
    names = list(protocols)
    unknown = sorted(set(names) - set(KNOWN_PROTOCOLS))
    if unknown or len(set(names)) != len(names):
        raise ValueError(
            f"config: evaluate.protocols {names} must name distinct protocols among {list(KNOWN_PROTOCOLS)}"
        )
    if names and protocol not in names:
        raise ValueError(
            f"config: evaluate.protocols {names} must include evaluate.protocol ({protocol!r}), "
            "whose runs are the main ones (or be [] for no protocol comparison)"
        )
    return names if len(names) >= 2 else []


__all__ = [
    "KNOWN_PROTOCOLS",
    "SEED_KEYS",
    "coerce_command_line_seeds",
    "compared_protocols",
    "explicit_seed_keys",
    "training_seeds",
]
