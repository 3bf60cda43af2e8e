"""Splits: patient-level never shares a patient; counts honoured; deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gdgp.data.splits import split_slices
from gdgp.errors import InputDataError


def cases(n_patients: int = 7, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series([f"p{i}" for i in range(n_patients) for _ in range(rng.integers(3, 12))])


@pytest.mark.parametrize("seed", range(10))
def test_patient_split_never_puts_a_patient_in_both_sets(seed: int) -> None:
    c = cases(seed=seed)
    assign = split_slices(c, n_train=20, n_test=10, mode="patient", seed=seed)
    train, test = set(c[assign == "train"]), set(c[assign == "test"])
    assert train and test and not train & test
    assert (assign == "test").sum() == min(10, c.isin(test).sum())
    assert (assign == "train").sum() <= 20


def test_slice_split_counts_and_determinism() -> None:
    c = cases()
    a = split_slices(c, n_train=15, n_test=8, mode="slice", seed=1)
    assert (a == "train").sum() == 15 and (a == "test").sum() == 8
    np.testing.assert_array_equal(a, split_slices(c, 15, 8, "slice", 1))
    assert not np.array_equal(a, split_slices(c, 15, 8, "slice", 2))


def test_single_patient_cannot_be_split_by_patient() -> None:
    with pytest.raises(InputDataError, match="2 patients"):
        split_slices(pd.Series(["a"] * 10), 5, 5, "patient", 0)


def test_unknown_mode_raises() -> None:
    with pytest.raises(ValueError, match="unknown split mode"):
        split_slices(cases(), 5, 5, "volume", 0)


@pytest.mark.parametrize("seed", range(10))
def test_validation_patients_are_in_no_other_set_and_leave_the_test_set_alone(seed: int) -> None:
    c = cases(n_patients=9, seed=seed)
    with_val = split_slices(c, n_train=20, n_test=10, mode="patient", seed=seed, n_val=8)
    sets = {name: set(c[with_val == name]) for name in ("train", "val", "test")}
    assert all(sets.values())
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert (with_val == "val").sum() == min(8, c.isin(sets["val"]).sum())
    without = split_slices(c, n_train=20, n_test=10, mode="patient", seed=seed)
    np.testing.assert_array_equal(with_val == "test", without == "test")


def test_too_few_patients_for_validation_warns_and_uses_none(caplog: pytest.LogCaptureFixture) -> None:
    c = pd.Series(["a"] * 6 + ["b"] * 6)
    with caplog.at_level("WARNING"):
        assign = split_slices(c, n_train=6, n_test=6, mode="patient", seed=0, n_val=4)
    assert set(assign) == {"train", "test"} and "no validation set" in caplog.text


def test_slice_split_with_validation_counts() -> None:
    a = split_slices(cases(), n_train=15, n_test=8, mode="slice", seed=1, n_val=5)
    assert [(a == s).sum() for s in ("train", "val", "test")] == [15, 5, 8]
    np.testing.assert_array_equal(a == "test", split_slices(cases(), 15, 8, "slice", 1) == "test")


def test_negative_counts_raise() -> None:
    with pytest.raises(ValueError, match="n_val=-1"):
        split_slices(cases(), 5, 5, "patient", 0, n_val=-1)
