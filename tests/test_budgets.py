"""Fair-cost tables (gdgp.report.budgets) against brute-force re-implementations.

The synthetic clicks frames mix methods whose first interaction costs 0, 1, 4 and 7 clicks,
two seeds, 3-6 patients per dataset, random Dice and rounds where ``n_clicks`` does not grow.
Dice/NSD/ASSD are multiples of 1/64 or 1/8, so sums and seed means are exact in binary
floating point and the brute-force means can be compared with ``==``; only standard
deviations (and AUC means, whose per-run values are inexact) are compared to 1e-12.
"""

from __future__ import annotations

import math
import statistics
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from gdgp.report import budgets

#: First-interaction cost of each synthetic method; "varying" costs 5, 6 or 7 per slice.
FIRST_COST = {"nnunet": 0, "click_unet": 1, "dextr": 4, "gdgp": 7, "varying": None}


def synth_clicks(seed: int, n_rounds: int = 6, seeds=(0, 1), datasets=("Heart", "Spleen")) -> pd.DataFrame:
    """Random clicks rows: every slice of every patient, every method, seed and round."""
    rng = np.random.default_rng(seed)
    rows = []
    for dataset in datasets:
        slices = []
        for p in range(int(rng.integers(3, 7))):
            for _ in range(int(rng.integers(1, 4))):
                slices.append((len(slices) + 100, f"{dataset}_{p:03d}"))
        varying_cost = {sid: int(rng.integers(5, 8)) for sid, _ in slices}
        for method, cost in FIRST_COST.items():
            for s in seeds:
                for sid, case in slices:
                    n = varying_cost[sid] if cost is None else cost
                    for r in range(n_rounds + 1):
                        if r > 0 and rng.random() > 0.3:  # about 30 % of rounds add no click
                            n += 1
                        dice = int(rng.integers(0, 65)) / 64
                        rows.append(
                            {
                                "dataset": dataset,
                                "method": method,
                                "seed": s,
                                "slice_id": sid,
                                "case": case,
                                "round": r,
                                "n_clicks": n,
                                "dice": dice,
                                "nsd": int(rng.integers(0, 65)) / 64,
                                "assd_px": 90.5 if dice == 0 else int(rng.integers(0, 200)) / 8,
                                "assd_mm": int(rng.integers(0, 200)) / 8,
                                "empty_pred": dice == 0,
                            }
                        )
    df = pd.DataFrame(rows)
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # row order must not matter


# --------------------------------------------------------------------------- brute force


def bf_runs(df: pd.DataFrame) -> dict[tuple, list[dict]]:
    """{(dataset, method, seed, slice_id): rows sorted by round} with plain Python."""
    runs: dict[tuple, list[dict]] = {}
    for row in df.to_dict("records"):
        runs.setdefault((row["dataset"], row["method"], row["seed"], row["slice_id"]), []).append(row)
    for rows in runs.values():
        rows.sort(key=lambda r: r["round"])
    return runs


def bf_cut_short(rows: list[dict], budget: int) -> bool:
    """The rounds ran out below the budget while the last round still added a click."""
    last = rows[-1]["n_clicks"]
    return last < budget and last > (rows[-2]["n_clicks"] if len(rows) > 1 else 0)


def bf_value_at(rows: list[dict], k: int) -> dict | None:
    """The row of the last round with n_clicks <= k, or None."""
    best = None
    for row in rows:
        if row["n_clicks"] <= k and (best is None or row["round"] > best["round"]):
            best = row
    return best


def bf_pairs(runs: dict) -> dict[tuple, dict]:
    """{(dataset, method): {slice_id: {seed: rows}}}."""
    pairs: dict[tuple, dict] = {}
    for (dataset, method, seed, sid), rows in runs.items():
        pairs.setdefault((dataset, method), {}).setdefault(sid, {})[seed] = rows
    return pairs


def mean(xs) -> float:
    return sum(xs) / len(xs)


def sd(xs) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else math.nan


def bf_budget_table(df: pd.DataFrame, budget_list) -> dict[tuple, dict]:
    out = {}
    for (dataset, method), slices in bf_pairs(bf_runs(df)).items():
        seeds = sorted({s for by_seed in slices.values() for s in by_seed})
        for b in budget_list:
            at = {(sid, s): bf_value_at(rows, b) for sid, by_seed in slices.items() for s, rows in by_seed.items()}
            rec = {
                "reachable": all(v is not None for v in at.values()),
                "n_slices": sum(all(at[(sid, s)] is not None for s in by_seed) for sid, by_seed in slices.items()),
                "n_slices_total": len(slices),
                "n_seeds": len(seeds),
                "n_run_ended": sum(v is not None and bf_cut_short(slices[sid][s], b) for (sid, s), v in at.items()),
                "n_patients": len(
                    {
                        rows[0]["case"]
                        for sid, by_seed in slices.items()
                        for rows in by_seed.values()
                        if all(at[(sid, s)] is not None for s in by_seed)
                    }
                ),
            }
            if rec["reachable"]:
                per_slice = {
                    m: [mean([at[(sid, s)][m] for s in slices[sid]]) for sid in sorted(slices)]
                    for m in ("dice", "nsd", "assd_px", "assd_mm")
                }
                per_seed = [mean([at[(sid, s)]["dice"] for sid in slices]) for s in seeds]
                rec |= {
                    "dice_mean": mean(per_slice["dice"]),
                    "dice_std": sd(per_slice["dice"]),
                    "dice_seed_std": sd(per_seed),
                    "nsd_mean": mean(per_slice["nsd"]),
                    "nsd_std": sd(per_slice["nsd"]),
                    "assd_px_mean": mean(per_slice["assd_px"]),
                    "assd_px_median": statistics.median(per_slice["assd_px"]),
                    "assd_px_std": sd(per_slice["assd_px"]),
                    "assd_mm_std": sd(per_slice["assd_mm"]),
                    "assd_mm_mean": mean(per_slice["assd_mm"]),
                    "assd_mm_median": statistics.median(per_slice["assd_mm"]),
                    "n_empty": sum(bool(v["empty_pred"]) for v in at.values()),
                }
            out[(dataset, method, b)] = rec
    return out


def bf_noc(df: pd.DataFrame, thresholds, budget: int) -> dict[tuple, dict]:
    out = {}
    for (dataset, method), slices in bf_pairs(bf_runs(df)).items():
        reachable = all(rows[0]["n_clicks"] <= budget for by_seed in slices.values() for rows in by_seed.values())
        rec = {"reachable": reachable, "n_slices": len(slices)}
        for t in thresholds:
            lab = str(round(100 * t))
            if not reachable:
                rec[f"noc_{lab}"] = rec[f"nof_{lab}"] = math.nan
                continue
            slice_noc, slice_fail = [], []
            for sid in sorted(slices):
                nocs, fails = [], []
                for rows in slices[sid].values():
                    noc = None
                    for row in rows:  # rounds in order
                        if row["n_clicks"] > budget:
                            break
                        if row["dice"] >= t:
                            noc = row["n_clicks"]
                            break
                    nocs.append(budget if noc is None else noc)
                    fails.append(1.0 if noc is None else 0.0)
                slice_noc.append(mean(nocs))
                slice_fail.append(mean(fails))
            rec[f"noc_{lab}"] = mean(slice_noc)
            rec[f"nof_{lab}"] = sum(slice_fail)
        out[(dataset, method)] = rec
    return out


def bf_auc_run(rows: list[dict], budget: int) -> Fraction:
    total = Fraction(0)
    for k in range(budget + 1):
        v = bf_value_at(rows, k)
        total += Fraction(v["dice"]) if v is not None else 0
    return total / (budget + 1)


def assert_same(got: float, want: float, tol: float = 0.0) -> None:
    if isinstance(want, float) and math.isnan(want):
        assert got is None or pd.isna(got), (got, want)  # to_dict turns the <NA> of Int64 into None
    elif tol:
        assert got == pytest.approx(want, rel=tol, abs=1e-15), (got, want)
    else:
        assert got == want, (got, want)


# --------------------------------------------------------------------------- hand-written cases


def one_run(method: str, n_clicks, dice, seed: int = 0, slice_id: int = 1, dataset: str = "D") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": dataset,
            "method": method,
            "seed": seed,
            "slice_id": slice_id,
            "case": "p1",
            "round": range(len(dice)),
            "n_clicks": n_clicks,
            "dice": dice,
            "assd_px": 1.0,
            "assd_mm": 1.0,
            "empty_pred": False,
        }
    )


def test_at_budget_takes_last_round_within_budget():
    df = one_run("dextr", [4, 5, 5, 6], [0.1, 0.2, 0.3, 0.4])
    assert budgets.at_budget(df, 5)[["round", "dice"]].values.tolist() == [[2, 0.3]]  # last of the tied rounds
    ten = budgets.at_budget(df, 10)
    assert ten[["round", "dice", "budget"]].values.tolist() == [[3, 0.4, 10]] and bool(ten["run_ended"].iloc[0])
    assert not bool(budgets.at_budget(df, 6)["run_ended"].iloc[0])
    assert budgets.at_budget(df, 3).empty  # first interaction (4 clicks) exceeds the budget


def test_final_runs_are_not_flagged_as_cut_short():
    """An automatic method never clicks and a robot with no error left stops: their values at
    any budget are final, not held for lack of rounds."""
    auto = budgets.at_budget(one_run("nnunet", [0, 0, 0], [0.5, 0.5, 0.5]), 12)
    done = budgets.at_budget(one_run("dextr", [4, 5, 5], [0.8, 1.0, 1.0]), 12)
    assert not auto["run_ended"].item() and not done["run_ended"].item()


def test_unreachable_budget_gives_nan_never_a_number():
    df = pd.concat([one_run("gdgp", [7, 8, 9], [0.9, 0.95, 0.97]), one_run("nnunet", [0, 1, 2], [0.5, 0.6, 0.7])])
    table = budgets.budget_table(df, [0, 5, 7]).set_index(["method", "budget"])
    for b in (0, 5):
        row = table.loc[("gdgp", b)]
        assert not row["reachable"] and row["n_slices"] == 0
        assert all(math.isnan(row[c]) for c in ("dice_mean", "dice_std", "assd_px_mean", "assd_px_median"))
        assert row["n_empty"] is pd.NA
    assert table.loc[("gdgp", 7), "dice_mean"] == 0.9
    assert table.loc[("nnunet", 5), "dice_mean"] == 0.7  # held from its last round
    assert table.loc[("nnunet", 5), "n_run_ended"] == 1
    curve = budgets.curve_by_clicks(df, 8).set_index(["method", "budget"])["dice_mean"]
    assert curve.loc["gdgp"].iloc[:7].isna().all() and curve.loc[("gdgp", 7)] == 0.9
    assert curve.loc[("nnunet", 0)] == 0.5
    noc = budgets.noc_table(df, (0.9,), budget=5).set_index("method")
    assert math.isnan(noc.loc["gdgp", "noc_90"]) and math.isnan(noc.loc["gdgp", "nof_90"])
    assert not noc.loc["gdgp", "reachable"]


def test_partial_reach_is_nan_not_a_subset_mean():
    # slice 2's first interaction costs 8: at budget 7 only slice 1 has a value, the cell must stay NaN.
    df = pd.concat([one_run("gdgp", [7, 8], [0.8, 0.9], slice_id=1), one_run("gdgp", [8, 9], [0.6, 0.7], slice_id=2)])
    row = budgets.budget_table(df, [7]).iloc[0]
    assert not row["reachable"] and row["n_slices"] == 1 and math.isnan(row["dice_mean"])
    assert budgets.budget_table(df, [8]).iloc[0]["dice_mean"] == (0.9 + 0.6) / 2


def test_noc_failure_counts_budget_hand_case():
    df = pd.concat(
        [
            one_run("dextr", [4, 5, 6, 7], [0.5, 0.86, 0.88, 0.95], slice_id=1),
            one_run("dextr", [4, 5, 5, 6], [0.5, 0.6, 0.7, 0.8], slice_id=2),  # ends early, fails
            one_run("dextr", [4, 5, 6, 7], [0.91, 0.9, 0.9, 0.9], slice_id=3),
        ]
    )
    noc = budgets.noc_table(df, (0.85, 0.95), budget=6).iloc[0]
    assert noc["noc_85"] == (5 + 6 + 4) / 3 and noc["nof_85"] == 1
    assert noc["noc_95"] == 6 and noc["nof_95"] == 3  # 0.95 reached only at 7 clicks > budget


def test_auc_hand_case():
    df = pd.concat(
        [one_run("dextr", [4, 5, 5, 7], [0.5, 0.6, 0.7, 0.9]), one_run("nnunet", [0, 1, 2], [0.8, 0.85, 0.9])]
    )
    auc = budgets.run_dice_auc(df, 8).set_index("method")["dice_auc"]
    # D(0..3) = 0, D(4) = .5, D(5) = D(6) = .7 (last of the rounds with 5 clicks), D(7) = D(8) = .9
    assert auc["dextr"] == pytest.approx((0.5 + 0.7 + 0.7 + 0.9 + 0.9) / 9, rel=1e-15)
    assert auc["nnunet"] == pytest.approx((0.8 + 0.85 + 0.9 * 7) / 9, rel=1e-15)
    assert budgets.run_dice_auc(df, 0).set_index("method")["dice_auc"].tolist() == [0.0, 0.8]


def test_rejects_malformed_runs():
    with pytest.raises(ValueError, match="seed"):
        budgets.at_budget(one_run("x", [1, 2], [0.1, 0.2]).drop(columns="seed"), 3)
    with pytest.raises(ValueError, match="decreases"):
        budgets.at_budget(one_run("x", [3, 2], [0.1, 0.2]), 3)


# --------------------------------------------------------------------------- random frames vs brute force

EXACT_COLS = (
    "reachable",
    "n_slices",
    "n_slices_total",
    "n_seeds",
    "n_patients",
    "n_run_ended",
    "n_empty",
    "dice_mean",
    "nsd_mean",
    "assd_px_mean",
    "assd_px_median",
    "assd_mm_mean",
    "assd_mm_median",
)
STD_COLS = ("dice_std", "dice_seed_std", "nsd_std", "assd_px_std", "assd_mm_std")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_budget_table_matches_brute_force(seed):
    df = synth_clicks(seed)
    budget_list = [0, 1, 3, 4, 5, 6, 7, 9, 12, 20]
    got = budgets.budget_table(df, budget_list)
    want = bf_budget_table(df, budget_list)
    assert len(got) == len(want) == 2 * len(FIRST_COST) * len(budget_list)
    reached = 0
    for row in got.to_dict("records"):
        exp = want[(row["dataset"], row["method"], row["budget"])]
        reached += exp["reachable"]
        for c in EXACT_COLS:
            assert_same(row[c], exp.get(c, math.nan))
        for c in STD_COLS:
            assert_same(row[c], exp.get(c, math.nan), tol=1e-12)
    assert 0 < reached < len(got)  # the case mix covers both reachable and unreachable cells
    partial = got.loc[~got["reachable"] & (got["n_slices"] > 0)]
    assert len(partial) and (partial["n_patients"] > 0).all()  # counted on the slices with a value, even so


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_curve_by_clicks_matches_brute_force(seed):
    df = synth_clicks(seed)
    got = budgets.curve_by_clicks(df, 15)
    want = bf_budget_table(df, range(16))
    assert len(got) == 2 * len(FIRST_COST) * 16
    for row in got.to_dict("records"):
        exp = want[(row["dataset"], row["method"], row["budget"])]
        assert_same(row["dice_mean"], exp.get("dice_mean", math.nan))
        if row["method"] in ("gdgp", "dextr", "click_unet"):
            assert math.isnan(row["dice_mean"]) == (row["budget"] < FIRST_COST[row["method"]])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("budget", [3, 7, 10, 20])
def test_noc_table_matches_brute_force(seed, budget):
    df = synth_clicks(seed)
    thresholds = (0.5, 0.85, 0.9)
    got = budgets.noc_table(df, thresholds, budget)
    want = bf_noc(df, thresholds, budget)
    assert len(got) == len(want)
    for row in got.to_dict("records"):
        exp = want[(row["dataset"], row["method"])]
        assert row["budget"] == budget and row["n_seeds"] == 2
        for c, v in exp.items():
            assert_same(row[c], v)
    if budget >= 7:
        assert got["reachable"].sum() >= 8
        assert (got["nof_90"] > 0).any() and (got["noc_50"] < budget).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("budget", [0, 3, 7, 12])
def test_dice_auc_matches_brute_force(seed, budget):
    df = synth_clicks(seed)
    runs = bf_runs(df)
    per_run = budgets.run_dice_auc(df, budget)
    assert len(per_run) == len(runs)
    for row in per_run.to_dict("records"):
        key = (row["dataset"], row["method"], row["seed"], row["slice_id"])
        assert row["dice_auc"] == float(bf_auc_run(runs[key], budget))  # correctly rounded, both
    got = budgets.dice_auc(df, budget)
    for row in got.to_dict("records"):
        slices = bf_pairs(runs)[(row["dataset"], row["method"])]
        per_slice = [mean([float(bf_auc_run(r, budget)) for r in slices[sid].values()]) for sid in sorted(slices)]
        per_seed = [mean([float(bf_auc_run(slices[sid][s], budget)) for sid in slices]) for s in (0, 1)]
        assert row["n_slices"] == len(slices) and row["n_seeds"] == 2
        assert_same(row["dice_auc_mean"], mean(per_slice), tol=1e-12)
        assert_same(row["dice_auc_std"], sd(per_slice), tol=1e-12)
        assert_same(row["dice_auc_seed_std"], sd(per_seed), tol=1e-12)
        assert 0.0 <= row["dice_auc_mean"] <= 1.0
        if FIRST_COST[row["method"]] is not None and budget < FIRST_COST[row["method"]]:
            assert row["dice_auc_mean"] == 0.0


def test_at_budgets_stacks_budgets():
    df = synth_clicks(5)
    stacked = budgets.at_budgets(df, [4, 9])
    for b in (4, 9):
        part = stacked.loc[stacked["budget"] == b].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, budgets.at_budget(df, b))
    runs = bf_runs(df)
    for row in stacked.to_dict("records"):
        exp = bf_value_at(runs[(row["dataset"], row["method"], row["seed"], row["slice_id"])], row["budget"])
        assert exp is not None and row["round"] == exp["round"] and row["dice"] == exp["dice"]
    n_with_value = sum(bf_value_at(rows, b) is not None for rows in runs.values() for b in (4, 9))
    assert len(stacked) == n_with_value
