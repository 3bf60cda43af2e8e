"""Train/test splits of valid slices: by patient (default) or by random slice (paper)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gdgp.errors import InputDataError

SPLIT_MODES = ("patient", "slice")


def split_slices(cases: pd.Series, n_train: int, n_test: int, mode: str, seed: int) -> np.ndarray:
    """Assign each slice to "train", "test" or "" (unused) and return that array.

    ``patient`` mode shuffles patients with ``seed`` and gives whole patients to the test
    set until it holds at least ``n_test`` slices, so no patient is in both sets; each set
    is then subsampled to its count. ``slice`` mode shuffles slices (the paper's protocol,
    which lets one patient's neighbouring slices land in both sets).

    Args:
        cases: the patient id of every slice, in slice order.
        n_train, n_test: wanted counts; fewer are used when the data has fewer.
        mode: "patient" or "slice".
        seed: seeds the shuffles.

    Raises:
        InputDataError: fewer than one slice would be left for either set.
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"unknown split mode {mode!r}; known: {', '.join(SPLIT_MODES)}")
    rng = np.random.default_rng(seed)
    assign = np.full(len(cases), "", dtype=object)
    values = cases.to_numpy()
    if mode == "slice":
        order = rng.permutation(len(values))
        assign[order[:n_test]] = "test"
        assign[order[n_test : n_test + n_train]] = "train"
    else:
        patients = np.array(sorted(set(values)))
        if len(patients) < 2:
            raise InputDataError(f"a patient-level split needs at least 2 patients, found {len(patients)}")
        test_patients: list[str] = []
        n = 0
        for patient in rng.permutation(patients):
            if n >= n_test or len(test_patients) == len(patients) - 1:
                break
            test_patients.append(patient)
            n += int((values == patient).sum())
        in_test = np.isin(values, test_patients)
        for name, mask, count in (("test", in_test, n_test), ("train", ~in_test, n_train)):
            idx = np.flatnonzero(mask)
            assign[np.sort(rng.permutation(idx)[:count])] = name
    for name in ("train", "test"):
        if not (assign == name).any():
            raise InputDataError(f"split left no {name} slice ({len(values)} valid slices available)")
    return assign.astype(str)
