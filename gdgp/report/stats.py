"""Statistics with the patient as the unit: per-patient means, bootstrap CIs, paired Wilcoxon.

Slices of one patient (and the seeds of one slice) are not independent, so tests and
confidence intervals here are over patients (``case``): each patient's value is the mean
over its slices and seeds, and methods are paired by patient. Pure numpy/pandas/scipy, no
file access.

Conventions:

* ``mean_diff`` = mean over patients of (reference − method): positive when the reference
  is higher.
* Wilcoxon signed-rank, two-sided, ``scipy.stats.wilcoxon`` defaults (zero differences
  dropped, ``zero_method="wilcox"``). Fewer than ``min_nonzero`` non-zero differences, or
  any input scipy refuses, gives NaN statistic and p-value, never an exception.
* Holm correction (:func:`gdgp.report.tables.holm`) over the methods compared with the
  reference within one (dataset, budget); NaN p-values are not counted.
* Bootstrap: percentile interval of the mean over patients resampled with replacement,
  seeded; for paired comparisons it resamples the per-patient differences (a patient is
  drawn with both of its values).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from gdgp.report.tables import holm

#: Statistical unit of every test here.
UNIT = "patient"

PATIENT_TEST_COLUMNS: tuple[str, ...] = (
    "dataset",
    "method",
    "reference",
    "budget",
    "value",
    "unit",
    "n_units",
    "n_nonzero",
    "mean_diff",
    "ci_low",
    "ci_high",
    "statistic",
    "p",
    "p_holm",
)

#: Most resampled values held in memory at once by :func:`bootstrap_ci`.
_BOOT_CHUNK_VALUES = 4_000_000


def patient_means(values: pd.DataFrame, value_col: str = "dice") -> pd.DataFrame:
    """Per (dataset, method[, budget], case): the mean of ``value_col`` over the patient's slices and seeds.

    Args:
        values: per-slice rows (e.g. :func:`gdgp.report.budgets.at_budgets`) with columns
            ``dataset, method, case`` and ``value_col``; a ``budget`` column, if present, is
            kept as a key.
        value_col: the column to average.

    Returns:
        Keys, ``value_col`` (the plain mean of the patient's rows: with every seed scoring
        every slice, the same as averaging seeds per slice first), ``n_slices`` (distinct
        ``slice_id`` if present, else rows) and ``n_rows``. A NaN value makes the patient's
        mean NaN (it is not silently dropped).
    """
    keys = ["dataset", "method"] + (["budget"] if "budget" in values.columns else []) + ["case"]
    missing = [c for c in [*keys, value_col] if c not in values.columns]
    if missing:
        raise ValueError(f"per-slice values lack column(s) {missing}")
    g = values.groupby(keys, sort=True)
    out = g[value_col].agg(lambda x: float(x.mean(skipna=False))).rename(value_col).to_frame()
    out["n_slices"] = g["slice_id"].nunique() if "slice_id" in values.columns else g.size()
    out["n_rows"] = g.size()
    return out.reset_index()


def bootstrap_ci(
    per_patient_values: Iterable[float] | np.ndarray | pd.Series,
    n_boot: int = 10000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean over patients.

    Patients are resampled with replacement ``n_boot`` times (one generator
    ``np.random.default_rng(seed)``, so the result is reproducible); the interval is the
    ``(1 − level) / 2`` and ``(1 + level) / 2`` quantiles (numpy's linear interpolation) of
    the resampled means. For a paired comparison pass the per-patient differences.

    Args:
        per_patient_values: one value per patient, shape (n,).
        n_boot: number of bootstrap resamples (>= 1).
        seed: seed of the resampling generator.
        level: confidence level in (0, 1).

    Returns:
        (low, high); (NaN, NaN) with fewer than two patients, where resampling cannot
        express any uncertainty.

    Raises:
        ValueError: NaN in the values, ``level`` outside (0, 1) or ``n_boot`` < 1.
    """
    x = np.asarray(per_patient_values, dtype=float).ravel()
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if np.isnan(x).any():
        raise ValueError("bootstrap_ci got NaN values; drop or fill them explicitly first")
    n = x.size
    if n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CHUNK_VALUES // n)
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = x[idx].mean(axis=1)
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)


def wilcoxon_safe(reference: np.ndarray, other: np.ndarray, min_nonzero: int = 2) -> tuple[float, float]:
    """Two-sided ``scipy.stats.wilcoxon(reference, other)``; (NaN, NaN) when it cannot say anything.

    Returns (NaN, NaN) with fewer than ``min_nonzero`` non-zero differences (so also for
    no pairs or all-equal pairs) and whenever scipy raises or returns NaN.
    """
    a = np.asarray(reference, dtype=float)
    b = np.asarray(other, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("wilcoxon_safe needs two 1-D arrays of the same length")
    if int(np.count_nonzero(a - b)) < max(1, min_nonzero):
        return math.nan, math.nan
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.wilcoxon(a, b)
    except (ValueError, ZeroDivisionError, FloatingPointError):
        return math.nan, math.nan
    return float(res.statistic), float(res.pvalue)


def patient_ci_table(
    per_slice_at_budget: pd.DataFrame, value_col: str = "dice", n_boot: int = 10000, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """Patient-level bootstrap CI of the mean of per-patient means, per (dataset, method, budget).

    Args:
        per_slice_at_budget: per-slice rows with ``dataset, method, budget, case`` and
            ``value_col`` (e.g. :func:`gdgp.report.budgets.at_budgets`, restricted by the
            caller to the cells it reports).
        value_col: the per-slice metric.
        n_boot, seed, level: of :func:`bootstrap_ci` (the same seed for every cell).

    Returns:
        Columns ``dataset, method, budget, n_patients, <v>_patient_mean, <v>_ci_low,
        <v>_ci_high`` (``<v>`` = ``value_col``). The mean and the interval are NaN when a
        patient's mean is NaN (a missing metric is never silently dropped); the interval is
        NaN with fewer than two patients.
    """
    keys = ["dataset", "method", "budget"]
    columns = [*keys, "n_patients", f"{value_col}_patient_mean", f"{value_col}_ci_low", f"{value_col}_ci_high"]
    if per_slice_at_budget.empty:
        return pd.DataFrame(columns=columns)
    records = []
    for key, g in patient_means(per_slice_at_budget, value_col).groupby(keys, sort=True):
        values = g[value_col].to_numpy(float)
        if np.isnan(values).any():
            mean, (low, high) = math.nan, (math.nan, math.nan)
        else:
            mean, (low, high) = float(values.mean()), bootstrap_ci(values, n_boot=n_boot, seed=seed, level=level)
        records.append(dict(zip(columns, [*key, len(values), mean, low, high], strict=True)))
    return pd.DataFrame(records, columns=columns)


def _budgets(values: pd.DataFrame, budget: int | Iterable[int] | None) -> list[int]:
    present = sorted(set(values["budget"]))
    if budget is None:
        return present
    wanted = [int(b) for b in budget] if isinstance(budget, Iterable) else [int(budget)]
    return [b for b in wanted if b in present]


def paired_patient_tests(
    per_slice_at_budget: pd.DataFrame,
    reference: str,
    budget: int | Iterable[int] | None = None,
    *,
    value_col: str = "dice",
    n_boot: int = 10000,
    seed: int = 0,
    level: float = 0.95,
    min_nonzero: int = 2,
) -> pd.DataFrame:
    """Paired Wilcoxon signed-rank tests over patients: the reference vs every other method.

    Per dataset and budget, each patient's value is :func:`patient_means` of ``value_col``;
    the reference and a method are paired by ``case`` over the patients both have (a NaN
    patient mean counts as absent). Budgets where either method has no entry are skipped
    (no row). p-values are Holm-corrected over the methods compared within one (dataset,
    budget).

    Args:
        per_slice_at_budget: per-slice rows with ``dataset, method, case, budget`` and
            ``value_col``, e.g. :func:`gdgp.report.budgets.at_budgets` (one row per seed and
            slice) or :func:`gdgp.report.budgets.run_dice_auc`.
        reference: the method every other one is compared with.
        budget: one budget, several, or None for every budget in the rows.
        value_col: the per-slice metric tested.
        n_boot, seed, level: of the bootstrap CI of ``mean_diff`` (:func:`bootstrap_ci`).
        min_nonzero: fewest non-zero patient differences for a p-value (else NaN).

    Returns:
        :data:`PATIENT_TEST_COLUMNS`: ``value`` = ``value_col``, ``unit`` = "patient",
        ``n_units`` = paired patients, ``n_nonzero`` = non-zero differences,
        ``mean_diff`` = mean(reference − method) and its bootstrap CI ``ci_low``/``ci_high``,
        Wilcoxon ``statistic`` and ``p``, and ``p_holm``.
    """
    if "budget" not in per_slice_at_budget.columns:
        raise ValueError("per-slice rows need a 'budget' column (see gdgp.report.budgets.at_budgets)")
    records = []
    for b in _budgets(per_slice_at_budget, budget):
        pm = patient_means(per_slice_at_budget.loc[per_slice_at_budget["budget"] == b], value_col)
        for dataset, d in pm.groupby("dataset", sort=True):
            ref = d.loc[d["method"] == reference, ["case", value_col]].dropna()
            if ref.empty:
                continue
            block = []
            for method in sorted(set(d["method"]) - {reference}):
                other = d.loc[d["method"] == method, ["case", value_col]].dropna()
                if other.empty:
                    continue
                pairs = ref.merge(other, on="case", suffixes=("_ref", "_other")).sort_values("case")
                a = pairs[f"{value_col}_ref"].to_numpy(float)
                o = pairs[f"{value_col}_other"].to_numpy(float)
                diff = a - o
                statistic, p = wilcoxon_safe(a, o, min_nonzero)
                low, high = bootstrap_ci(diff, n_boot=n_boot, seed=seed, level=level)
                block.append(
                    {
                        "dataset": dataset,
                        "method": method,
                        "reference": reference,
                        "budget": int(b),
                        "value": value_col,
                        "unit": UNIT,
                        "n_units": len(pairs),
                        "n_nonzero": int(np.count_nonzero(diff)),
                        "mean_diff": float(diff.mean()) if len(diff) else math.nan,
                        "ci_low": low,
                        "ci_high": high,
                        "statistic": statistic,
                        "p": p,
                    }
                )
            for rec, ph in zip(block, holm([r["p"] for r in block]), strict=True):
                rec["p_holm"] = ph
            records += block
    out = pd.DataFrame(records, columns=list(PATIENT_TEST_COLUMNS))
    return out.sort_values(["dataset", "budget", "method"], kind="stable").reset_index(drop=True)
