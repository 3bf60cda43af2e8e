"""Deprecated config keys and cross-key checks of the workflow config (gdgp.config_compat)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gdgp.clicks.protocols import PROTOCOLS
from gdgp.config_compat import (
    KNOWN_PROTOCOLS,
    coerce_command_line_seeds,
    compared_protocols,
    explicit_seed_keys,
    training_seeds,
)

SCHEMA = Path(__file__).parents[1] / "workflow" / "schemas" / "config.schema.yaml"


@pytest.mark.parametrize(
    ("config", "seeds", "warned"),
    [
        ({}, [0], []),
        ({"train": {"seeds": [2, 0, 5]}}, [2, 0, 5], []),
        ({"train": {"seed": 3}}, [3], ["train.seed"]),
        ({"experiments": {"extra_seeds": [1, 2]}}, [0, 1, 2], ["experiments.extra_seeds"]),
        (
            {"train": {"seed": 3}, "experiments": {"extra_seeds": [4]}},
            [3, 4],
            ["train.seed", "experiments.extra_seeds"],
        ),
        # the old first replicate repeated in extra_seeds is one seed, not two
        (
            {"train": {"seed": 0}, "experiments": {"extra_seeds": [0, 1]}},
            [0, 1],
            ["train.seed", "experiments.extra_seeds"],
        ),
        # the new key wins over both old ones, each ignored with a warning
        (
            {"train": {"seeds": [7], "seed": 3}, "experiments": {"extra_seeds": [4]}},
            [7],
            ["train.seed", "experiments.extra_seeds"],
        ),
        ({"experiments": {"extra_seeds": []}}, [0], ["experiments.extra_seeds"]),
    ],
)
def test_training_seeds_from_new_and_deprecated_keys(config: dict, seeds: list[int], warned: list[str]) -> None:
    got, warnings = training_seeds(config)
    assert got == seeds
    assert len(warnings) == len(warned)
    for key, text in zip(warned, warnings, strict=True):
        assert text.startswith(key) and "deprecated" in text
    if "train.seeds" in explicit_seed_keys(config):
        assert all("ignored" in w and "train.seeds" in w for w in warnings)


def test_extra_seeds_warning_says_every_method_now_trains_with_them() -> None:
    _, warnings = training_seeds({"train": {"seed": 3}, "experiments": {"extra_seeds": [4]}})
    assert "every method" in warnings[1] and "[3, 4]" in warnings[1] and "train.seeds: [3, 4]" in warnings[1]


def test_explicit_keys_are_read_before_validation_fills_the_default() -> None:
    # after validation the schema's default train.seeds [0] is there, but the user wrote train.seed
    validated = {"train": {"seeds": [0], "seed": 3}}
    seeds, warnings = training_seeds(validated, explicit={"train.seed"})
    assert seeds == [3] and len(warnings) == 1 and warnings[0].startswith("train.seed is deprecated")
    assert training_seeds(validated)[0] == [0]  # without the explicit set, train.seeds counts as written
    assert explicit_seed_keys({"train": {"seed": 1}, "experiments": {"extra_seeds": [2]}}) == {
        "train.seed",
        "experiments.extra_seeds",
    }
    assert explicit_seed_keys({"train": None, "experiments": "x"}) == frozenset()


@pytest.mark.parametrize(
    "config",
    [
        {"train": {"seeds": []}},
        {"train": {"seeds": [1, 1]}},
        {"train": {"seeds": [-1]}},
        {"train": {"seeds": ["a"]}},
        {"train": {"seeds": 3}},
        {"train": {"seed": -2}},
        {"train": {"seed": True}},
        {"experiments": {"extra_seeds": [1.5]}},
    ],
)
def test_bad_seeds_raise_naming_the_key(config: dict) -> None:
    key = next(iter(explicit_seed_keys(config)))
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        training_seeds(config)


def test_command_line_seed_strings_become_integers() -> None:
    # snakemake --config "train={seeds: [0, 1, 2]}" parses nested values with YAML's BaseLoader
    config = {"train": {"seeds": ["0", "1", "2"], "epochs": 60}}
    coerce_command_line_seeds(config)
    assert config == {"train": {"seeds": [0, 1, 2], "epochs": 60}}
    for untouched in ({"train": {"seeds": ["0", "x"]}}, {"train": {"seeds": [0, 1]}}, {"train": None}, {}):
        before = yaml.safe_dump(untouched)
        coerce_command_line_seeds(untouched)
        assert yaml.safe_dump(untouched) == before


def test_schema_documents_the_keys_and_drops_the_deprecated_defaults() -> None:
    schema = yaml.safe_load(SCHEMA.read_text())
    train = schema["properties"]["train"]["properties"]
    assert train["seeds"]["default"] == [0] and train["seeds"]["uniqueItems"] and train["seeds"]["minItems"] == 1
    assert "default" not in train["seed"] and "deprecated" in train["seed"]["description"].lower()
    extra = schema["properties"]["experiments"]["properties"]["extra_seeds"]
    assert "default" not in extra and "deprecated" in extra["description"].lower()
    evaluate = schema["properties"]["evaluate"]["properties"]
    assert evaluate["protocols"]["default"] == list(KNOWN_PROTOCOLS)
    assert set(evaluate["protocol"]["enum"]) == set(KNOWN_PROTOCOLS) == set(PROTOCOLS)


@pytest.mark.parametrize(
    ("protocol", "protocols", "expected"),
    [
        ("ritm", list(KNOWN_PROTOCOLS), list(KNOWN_PROTOCOLS)),
        ("weighted_random", ["weighted_random", "ritm"], ["weighted_random", "ritm"]),
        ("ritm", [], []),
        ("ritm", ["ritm"], []),
    ],
)
def test_compared_protocols(protocol: str, protocols: list[str], expected: list[str]) -> None:
    assert compared_protocols(protocol, protocols) == expected


@pytest.mark.parametrize(
    ("protocol", "protocols"),
    [
        ("ritm", ["largest_component_centre"]),
        ("ritm", ["largest_component_centre", "weighted_random"]),
        ("ritm", ["ritm", "ritm"]),
        ("ritm", ["ritm", "clicky"]),
    ],
)
def test_compared_protocols_must_include_the_main_one(protocol: str, protocols: list[str]) -> None:
    with pytest.raises(ValueError, match="evaluate.protocols"):
        compared_protocols(protocol, protocols)
