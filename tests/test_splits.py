"""Splits: patient-level never shares a patient; counts honoured; deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gdgp.errors import InputDataError
from gdgp.splits import split_slices


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
