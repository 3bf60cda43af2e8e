"""Fair-cost tables: every method compared at the same number of clicks the user placed.

Comparing methods after the same number of *corrective* rounds would be unfair, because the
first interactions cost the user different amounts (GDGP's hybrid points 7 clicks, DEXTR's
extreme points 4, click_unet 1, nnU-Net none). The functions here index everything by the
*total* clicks ``n_clicks`` instead, as a budget; :mod:`gdgp.report.build` builds every
report table from them.

Input: rows of one or more ``clicks.csv`` files, concatenated, with at least the columns
``dataset, method, seed, slice_id, round, n_clicks, dice`` (``seed`` = training seed; a
single-seed evaluation uses one constant). A *run* is one (dataset, method, seed, slice_id):
its rounds 0..N, ``n_clicks`` never decreasing (it stays put when the robot found no error
pixel). Pure pandas, no file access.

Conventions, fixed here so that every table agrees:

* **Value at a budget B** (:func:`at_budget`). A run's value at B is its row of the *last*
  round whose ``n_clicks`` <= B. A run that ended before spending B (last ``n_clicks`` < B)
  keeps its last value; it is flagged ``run_ended`` only if the user was still clicking in
  its last round (the evaluation ran out of rounds): an automatic method (never a click) or
  a run where the robot found no error left is final, not cut short. A run whose first
  interaction alone costs more than B (round-0 ``n_clicks`` > B) has *no* value at B, never one from another budget.
* **Seeds.** Each slice's value is first averaged over the seeds; means, std and medians are
  then taken over test slices. ``*_seed_std`` is the sample std (ddof 1) over seeds of the
  per-seed mean (NaN for one seed).
* **All or nothing.** A (dataset, method) summary at B is computed only when *every* run of
  that method on that dataset has a value at B (``reachable``); otherwise its values are NaN
  (shown "–"), because a mean over the slices where the first interaction happened to be
  cheap would compare the method on an easier subset.
* **NoC@t within a common budget B** (:func:`noc_table`): per run, the smallest ``n_clicks``
  <= B at which Dice >= t. A run that does not reach t within B (including one whose rounds
  end before B) is a *failure* and counts NoC = B (the RITM convention: a failure costs the
  full click budget), whatever the method's own number of rounds.
* **Dice AUC** (:func:`dice_auc`): the mean of the step curve D(k), k = 0..B, see there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import cast

import numpy as np
import pandas as pd

from gdgp.report.tables import threshold_label

#: Columns the budget functions need.
REQUIRED_COLUMNS: tuple[str, ...] = ("dataset", "method", "seed", "slice_id", "round", "n_clicks", "dice")
#: Identity of one run: one test slice evaluated by one method trained with one seed.
RUN_KEYS: list[str] = ["dataset", "method", "seed", "slice_id"]
_PAIR = ["dataset", "method"]
#: Optional metric columns summarised by :func:`budget_table` when present.
OPTIONAL_METRICS: tuple[str, ...] = ("nsd", "assd_px", "assd_mm")


def prepare_runs(clicks: pd.DataFrame) -> pd.DataFrame:
    """Check the clicks rows and sort them by run and round.

    Raises:
        ValueError: a required column is missing, a run repeats a round, or ``n_clicks``
            decreases from one round to the next within a run.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in clicks.columns]
    if missing:
        raise ValueError(
            f"clicks rows lack column(s) {missing}; a single-seed evaluation needs a constant 'seed' column"
        )
    runs = clicks.sort_values([*RUN_KEYS, "round"], kind="stable").reset_index(drop=True)
    same_run = (runs[RUN_KEYS].shift() == runs[RUN_KEYS]).all(axis=1)
    if (same_run & (runs["round"].diff() == 0)).any():
        raise ValueError("a (dataset, method, seed, slice_id) run lists the same round twice")
    if (same_run & (runs["n_clicks"].diff() < 0)).any():
        raise ValueError("n_clicks decreases between rounds of a run; it must count every click so far")
    return runs


def _at_budget(runs: pd.DataFrame, budget: int) -> pd.DataFrame:
    """:func:`at_budget` on rows already checked and sorted by :func:`prepare_runs`."""
    by_run = runs.groupby(RUN_KEYS, sort=False)["n_clicks"]
    added = runs["n_clicks"] - by_run.shift(1).fillna(0)  # clicks each round added (round 0: all of them)
    added_last = added.groupby([runs[k] for k in RUN_KEYS], sort=False).transform("last")
    cut_short = (by_run.transform("last") < budget) & (added_last > 0)  # rounds ran out while still clicking
    keep = runs["n_clicks"] <= budget
    out = runs.loc[keep].assign(_cut=cut_short[keep]).groupby(RUN_KEYS, sort=True).tail(1)
    out = out.assign(budget=int(budget), run_ended=out["_cut"].astype(bool)).drop(columns="_cut")
    return out.reset_index(drop=True)


def at_budget(clicks: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Each run's row at a total-click budget.

    Args:
        clicks: clicks rows (see the module docstring), any number of datasets, methods, seeds.
        budget: total clicks the user may place, first interaction included (>= 0).

    Returns:
        Per (dataset, method, seed, slice_id) the row of the last round with ``n_clicks`` <=
        ``budget``, all input columns kept, plus ``budget`` and ``run_ended`` (the rounds ran
        out while the user was still clicking, below the budget: the final value is held).
        Runs whose round-0 ``n_clicks`` exceeds the budget have no row. Sorted by run.
    """
    return _at_budget(prepare_runs(clicks), budget)


def at_budgets(clicks: pd.DataFrame, budgets: Iterable[int]) -> pd.DataFrame:
    """:func:`at_budget` for several budgets, concatenated (long form with a ``budget`` column).

    This is the per-slice input of :func:`gdgp.report.stats.paired_patient_tests`.
    """
    runs = prepare_runs(clicks)
    parts = [_at_budget(runs, int(b)) for b in budgets]
    return pd.concat(parts, ignore_index=True) if parts else _at_budget(runs, -1)


def _std(x: pd.Series) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else math.nan


def _pair_totals(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method): number of runs, of slices and of seeds."""
    g = runs.drop_duplicates(RUN_KEYS).groupby(_PAIR, sort=True)
    return pd.DataFrame({"n_runs": g.size(), "n_slices_total": g["slice_id"].nunique(), "n_seeds": g["seed"].nunique()})


def _pair_rows(totals: pd.DataFrame) -> Iterator[tuple[str, str, pd.Series]]:
    """(dataset, method, row) per row of :func:`_pair_totals` (indexed by the pair)."""
    for pair, row in totals.iterrows():
        dataset, method = cast(tuple[str, str], pair)
        yield dataset, method, row


def _summary_columns(metrics: Sequence[str], has_empty: bool, has_case: bool) -> list[str]:
    cols = ["dataset", "method", "budget", "reachable", "n_slices", "n_slices_total", "n_seeds"]
    cols += ["n_patients"] if has_case else []
    cols += ["dice_mean", "dice_std", "dice_seed_std"]
    if "nsd" in metrics:
        cols += ["nsd_mean", "nsd_std"]
    for m in ("assd_px", "assd_mm"):
        if m in metrics:
            cols += [f"{m}_mean", f"{m}_std", f"{m}_median"]
    if has_empty:
        cols.append("n_empty")
    return cols + ["n_run_ended"]


def budget_table(clicks: pd.DataFrame, budgets: Iterable[int]) -> pd.DataFrame:
    """Dice (and NSD/ASSD where present) of every method at each total-click budget.

    Args:
        clicks: clicks rows with a ``seed`` column (see the module docstring).
        budgets: total-click budgets (first interaction included).

    Returns:
        Long table, one row per (dataset, method, budget) for every (dataset, method) in
        ``clicks`` and every budget, sorted by those keys. Columns:

        * ``reachable``: every run of the method has a value at the budget; if not, all
          value columns are NaN (``n_empty`` is ``<NA>``).
        * ``n_slices``: slices with a value for every seed; ``n_slices_total``: test slices;
          ``n_seeds``: seeds of the method; ``n_patients`` (if ``case`` is present): patients
          (``case``) of the ``n_slices`` slices.
        * ``dice_mean`` / ``dice_std``: mean / sample std over slices of the seed-averaged Dice;
          ``dice_seed_std``: std (ddof 1) over seeds of the per-seed mean Dice (NaN for one seed).
        * ``nsd_mean`` / ``nsd_std`` if ``nsd`` is present; ``assd_px_mean`` / ``assd_px_std``
          / ``assd_px_median`` and ``assd_mm_*`` likewise (over slices of the seed-averaged value).
        * ``n_empty``: (seed, slice) runs whose prediction at the budget is empty (if
          ``empty_pred`` is present; counted over runs, so over all seeds).
        * ``n_run_ended``: (seed, slice) runs whose rounds ran out below the budget while the
          user was still clicking (value held; see :func:`at_budget`).
    """
    runs = prepare_runs(clicks)
    metrics = ["dice"] + [m for m in OPTIONAL_METRICS if m in runs.columns]
    has_empty = "empty_pred" in runs.columns
    has_case = "case" in runs.columns
    totals = _pair_totals(runs)
    records = []
    for b in budgets:
        at = _at_budget(runs, int(b))
        groups = dict(tuple(at.groupby(_PAIR, sort=True)))
        for dataset, method, tot in _pair_rows(totals):
            g = groups.get((dataset, method), at.iloc[:0])
            per_slice_n = g.groupby("slice_id")["seed"].nunique()
            full = per_slice_n.index[per_slice_n == tot["n_seeds"]]
            rec = {
                "dataset": dataset,
                "method": method,
                "budget": int(b),
                "reachable": len(g) == tot["n_runs"],
                "n_slices": len(full),
                "n_slices_total": int(tot["n_slices_total"]),
                "n_seeds": int(tot["n_seeds"]),
                "n_run_ended": int(g["run_ended"].sum()),
            }
            if has_case:
                rec["n_patients"] = int(g.loc[g["slice_id"].isin(full), "case"].nunique())
            if rec["reachable"]:
                per_slice = g.groupby("slice_id", sort=True)[metrics].mean()
                rec |= {
                    "dice_mean": float(per_slice["dice"].mean()),
                    "dice_std": _std(per_slice["dice"]),
                    "dice_seed_std": _std(g.groupby("seed")["dice"].mean()),
                }
                if "nsd" in metrics:
                    rec |= {"nsd_mean": float(per_slice["nsd"].mean()), "nsd_std": _std(per_slice["nsd"])}
                for m in ("assd_px", "assd_mm"):
                    if m in metrics:
                        rec |= {
                            f"{m}_mean": float(per_slice[m].mean()),
                            f"{m}_std": _std(per_slice[m]),
                            f"{m}_median": float(per_slice[m].median()),
                        }
                if has_empty:
                    rec["n_empty"] = int(g["empty_pred"].astype(bool).sum())
            records.append(rec)
    out = pd.DataFrame(records, columns=_summary_columns(metrics, has_empty, has_case))
    value_cols = [c for c in out.columns if c.endswith(("_mean", "_std", "_median"))]
    out[value_cols] = out[value_cols].astype(float)
    if has_empty:
        out["n_empty"] = out["n_empty"].astype("Int64")
    return out.sort_values(["dataset", "method", "budget"], kind="stable").reset_index(drop=True)


def noc_table(clicks: pd.DataFrame, thresholds: Sequence[float] = (0.85, 0.90), budget: int = 20) -> pd.DataFrame:
    """NoC@t and NoF@t with one total-click budget common to every method.

    Per run, considering only rounds with ``n_clicks`` <= ``budget``: NoC = the smallest
    ``n_clicks`` at which Dice >= t. A run that never reaches t there (also when its rounds
    end before the budget) is a failure with NoC = ``budget``. Each slice's NoC and failure
    indicator are averaged over seeds; ``noc_XX`` is the mean over slices and ``nof_XX`` the
    sum over slices of the seed-averaged failure indicator, i.e. the mean over seeds of the
    number of failing slices (an integer for one seed). If any run of a (dataset, method)
    has its first interaction above the budget, that method cannot be assessed at this
    budget: ``reachable`` is False and ``noc_XX``/``nof_XX`` are NaN (pick a budget of at
    least every method's first-interaction cost).

    Args:
        clicks: clicks rows with a ``seed`` column.
        thresholds: Dice thresholds; columns ``noc_<round(100 t)>`` and ``nof_<round(100 t)>``.
        budget: the common total-click budget (first interaction included).

    Returns:
        Columns ``dataset, method, budget, reachable, n_slices, n_seeds`` then ``noc_XX,
        nof_XX`` per threshold, one row per (dataset, method).
    """
    runs = prepare_runs(clicks)
    totals = _pair_totals(runs)
    within = runs.loc[runs["n_clicks"] <= budget]
    run_index = pd.MultiIndex.from_frame(within[RUN_KEYS].drop_duplicates())
    per_run = pd.DataFrame(index=run_index)
    for t in thresholds:
        lab = threshold_label(t)
        first = within.loc[within["dice"] >= t].groupby(RUN_KEYS, sort=False)["n_clicks"].min()
        first = first.reindex(run_index)
        per_run[f"noc_{lab}"] = first.fillna(budget).astype(float)
        per_run[f"nof_{lab}"] = first.isna().astype(float)
    value_cols = list(per_run.columns)
    per_slice = per_run.groupby(["dataset", "method", "slice_id"], sort=True).mean()
    agg = {c: ("mean" if c.startswith("noc_") else "sum") for c in value_cols}
    per_pair = per_slice.groupby(_PAIR, sort=True).agg(agg) if len(per_slice) else per_slice
    n_runs_within = per_run.groupby(_PAIR).size() if len(per_run) else pd.Series(dtype=int)
    records = []
    for dataset, method, tot in _pair_rows(totals):
        reachable = int(n_runs_within.get((dataset, method), 0)) == tot["n_runs"]
        rec = {
            "dataset": dataset,
            "method": method,
            "budget": int(budget),
            "reachable": reachable,
            "n_slices": int(tot["n_slices_total"]),
            "n_seeds": int(tot["n_seeds"]),
        }
        for c in value_cols:
            rec[c] = float(per_pair[c].loc[(dataset, method)]) if reachable else math.nan
        records.append(rec)
    columns = ["dataset", "method", "budget", "reachable", "n_slices", "n_seeds"]
    for t in thresholds:
        columns += [f"noc_{threshold_label(t)}", f"nof_{threshold_label(t)}"]
    return pd.DataFrame(records, columns=columns)


def run_dice_auc(clicks: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Each run's normalised area under its Dice-vs-total-clicks step curve (see :func:`dice_auc`).

    Returns:
        One row per run: ``dataset, method, seed, slice_id``, ``case`` if present,
        ``budget`` and ``dice_auc`` in [0, 1]; usable as per-slice values of
        :func:`gdgp.report.stats.paired_patient_tests` with ``value_col="dice_auc"``.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    runs = prepare_runs(clicks)
    # One row per (run, n_clicks): the last round with that click count.
    steps = runs.drop_duplicates([*RUN_KEYS, "n_clicks"], keep="last")
    nxt = steps.groupby(RUN_KEYS, sort=False)["n_clicks"].shift(-1).fillna(budget + 1)
    # D(k) = dice of this step for k in [n_clicks, next n_clicks), clipped to k <= budget.
    width = (np.minimum(nxt, budget + 1) - steps["n_clicks"]).clip(lower=0)
    area = (steps["dice"] * width).groupby([steps[k] for k in RUN_KEYS], sort=True).sum()
    keys = runs.drop_duplicates(RUN_KEYS)[RUN_KEYS + (["case"] if "case" in runs.columns else [])]
    out = keys.merge(area.rename("_area").reset_index(), on=RUN_KEYS, how="left")
    out["budget"] = int(budget)
    out["dice_auc"] = out.pop("_area").astype(float) / (budget + 1)
    return out.sort_values(RUN_KEYS, kind="stable").reset_index(drop=True)


def dice_auc(clicks: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Normalised area under the Dice-vs-total-clicks step curve, 0..``budget`` clicks.

    Definition, per run: D(k) for k = 0, 1, ..., B (B = ``budget``) is the Dice of the last
    round with ``n_clicks`` <= k, and 0 when there is none (before the first interaction is
    complete the user has no segmentation). Between click counts the Dice of the last
    reached round holds (a step function; a run that ended before B holds its last value).
    Each click count k in 0..B is one unit-wide step, so

        AUC_B = (1 / (B + 1)) * sum_{k=0}^{B} D(k)   in [0, 1],

    the mean Dice over the budgets 0..B (equivalently the area under the step curve on
    [0, B + 1) divided by B + 1). An automatic method earns D(0) from the start; a method
    whose first interaction costs c earns nothing for k < c. Each slice's AUC is averaged
    over seeds, then summarised over slices.

    Returns:
        One row per (dataset, method): ``dataset, method, budget, n_slices, n_seeds,
        dice_auc_mean, dice_auc_std`` (sample std over slices), ``dice_auc_seed_std``
        (std over seeds of the per-seed mean; NaN for one seed).
    """
    per_run = run_dice_auc(clicks, budget)
    records = []
    for (dataset, method), g in per_run.groupby(_PAIR, sort=True):
        per_slice = g.groupby("slice_id", sort=True)["dice_auc"].mean()
        records.append(
            {
                "dataset": dataset,
                "method": method,
                "budget": int(budget),
                "n_slices": len(per_slice),
                "n_seeds": int(g["seed"].nunique()),
                "dice_auc_mean": float(per_slice.mean()),
                "dice_auc_std": _std(per_slice),
                "dice_auc_seed_std": _std(g.groupby("seed")["dice_auc"].mean()),
            }
        )
    return pd.DataFrame(
        records,
        columns=[
            "dataset",
            "method",
            "budget",
            "n_slices",
            "n_seeds",
            "dice_auc_mean",
            "dice_auc_std",
            "dice_auc_seed_std",
        ],
    )


def curve_by_clicks(clicks: pd.DataFrame, max_clicks: int) -> pd.DataFrame:
    """Mean Dice against total clicks k = 0..``max_clicks``: the per-click curves at equal cost.

    The value at k is :func:`budget_table`'s at budget k (last round with ``n_clicks`` <= k,
    seeds averaged per slice, mean over slices), NaN where some run of the method has not
    completed its first interaction with k clicks.

    Returns:
        Columns ``dataset, method, budget`` (= k), ``reachable, n_slices, dice_mean,
        dice_std, dice_sem`` (std / sqrt(n_slices)), one row per (dataset, method, k).
    """
    table = budget_table(clicks, range(int(max_clicks) + 1))
    out = table[["dataset", "method", "budget", "reachable", "n_slices", "dice_mean", "dice_std"]].copy()
    out["dice_sem"] = out["dice_std"] / np.sqrt(out["n_slices"].where(out["reachable"]))
    return out
