"""Train/validation/test splits of valid slices: by patient (default) or by random slice (paper)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gdgp.errors import InputDataError

log = logging.getLogger(__name__)

SPLIT_MODES = ("patient", "slice")
#: Split names in the order patients are handed out: test first, so adding a validation set
#: (``n_val > 0``) never changes the test patients; training gets whoever is left.
SPLITS = ("test", "val", "train")


def _take_patients(patients: np.ndarray, values: np.ndarray, wanted: int, keep_free: int) -> list[str]:
    """Patients from the front of ``patients`` until they hold >= ``wanted`` slices,
    always leaving at least ``keep_free`` patients for the later sets."""
    taken: list[str] = []
    n = 0
    for patient in patients:
        if n >= wanted or len(taken) >= len(patients) - keep_free:
            break
        taken.append(patient)
        n += int((values == patient).sum())
    return taken


def split_slices(cases: pd.Series, n_train: int, n_test: int, mode: str, seed: int, n_val: int = 0) -> np.ndarray:
    """Assign each slice to "train", "val", "test" or "" (unused) and return that array.

    ``patient`` mode shuffles patients with ``seed`` and gives whole patients to the test
    set until it holds at least ``n_test`` slices, then (``n_val > 0``) to the validation
    set until it holds ``n_val``, so no patient is in two sets; each set is then subsampled
    to its count. With ``n_val > 0`` but fewer than 3 patients (or none left after the test
    set but one), validation gets no patient and a warning says so. The test set does not
    depend on ``n_val``. ``slice`` mode shuffles slices (the paper's protocol, which lets
    one patient's neighbouring slices land in several sets).

    Args:
        cases: the patient id of every slice, in slice order.
        n_train, n_test, n_val: wanted counts; fewer are used when the data has fewer.
        mode: "patient" or "slice".
        seed: seeds the shuffles.

    Raises:
        InputDataError: fewer than one slice would be left for the train or test set.
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"unknown split mode {mode!r}; known: {', '.join(SPLIT_MODES)}")
    if min(n_train, n_test, n_val) < 0:
        raise ValueError(f"split counts must be >= 0, got n_train={n_train}, n_val={n_val}, n_test={n_test}")
    rng = np.random.default_rng(seed)
    assign = np.full(len(cases), "", dtype=object)
    values = cases.to_numpy()
    if mode == "slice":
        order = rng.permutation(len(values))
        assign[order[:n_test]] = "test"
        assign[order[n_test : n_test + n_train]] = "train"
        assign[order[n_test + n_train : n_test + n_train + n_val]] = "val"
    else:
        patients = np.array(sorted(set(values)))
        if len(patients) < 2:
            raise InputDataError(f"a patient-level split needs at least 2 patients, found {len(patients)}")
        shuffled = rng.permutation(patients)
        test = _take_patients(shuffled, values, n_test, keep_free=1)
        rest = shuffled[len(test) :]
        val: list[str] = []
        if n_val > 0:
            val = _take_patients(rest, values, n_val, keep_free=1)
            if not val:
                log.warning(
                    "only %d patient(s): too few for train, validation and test sets; "
                    "no validation set (n_val=%d ignored)",
                    len(patients),
                    n_val,
                )
        sets = {"test": np.isin(values, test), "val": np.isin(values, val)}
        sets["train"] = ~(sets["test"] | sets["val"])
        for name, count in (("test", n_test), ("train", n_train), ("val", n_val)):
            idx = np.flatnonzero(sets[name])
            assign[np.sort(rng.permutation(idx)[:count])] = name
    for name in ("train", "test"):
        if not (assign == name).any():
            raise InputDataError(f"split left no {name} slice ({len(values)} valid slices available)")
    return assign.astype(str)
