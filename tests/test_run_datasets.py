"""run_datasets: which configured targets a run benchmarks, and the clear errors for bad values."""

from __future__ import annotations

import re

import pytest

from gdgp.errors import ConfigError
from gdgp.run_datasets import run_dataset_names, run_datasets

DATASETS = {"lung": {"task": "T1"}, "pancreas": {"task": "T2"}, "spleen": {"task": "T3"}}


@pytest.mark.parametrize("value", [None, "all"])
def test_absent_null_or_all_selects_every_dataset_in_config_order(value: str | None) -> None:
    config = {"datasets": DATASETS} if value is None else {"datasets": DATASETS, "run_datasets": value}
    assert run_dataset_names(config) == ["lung", "pancreas", "spleen"]


def test_a_list_selects_those_datasets_in_config_order_with_their_entries() -> None:
    config = {"datasets": DATASETS, "run_datasets": ["spleen", "lung"]}
    assert run_dataset_names(config) == ["lung", "spleen"]
    assert run_datasets(config) == {"lung": DATASETS["lung"], "spleen": DATASETS["spleen"]}


def test_one_name_as_a_string_selects_that_dataset() -> None:
    """`--config run_datasets=pancreas` arrives as a string."""
    assert run_dataset_names({"datasets": DATASETS, "run_datasets": "pancreas"}) == ["pancreas"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["colon"], "run_datasets names ['colon'], which are not in datasets (['lung', 'pancreas', 'spleen'])"),
        ("colon", "run_datasets names ['colon']"),
        ([], "run_datasets is empty"),
        (["lung", "lung"], "run_datasets names ['lung'] more than once"),
        ({"lung": 1}, "run_datasets must be 'all' or a list of dataset names"),
        ([3], "run_datasets must be 'all' or a list of dataset names"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_dataset_names({"datasets": DATASETS, "run_datasets": value})
