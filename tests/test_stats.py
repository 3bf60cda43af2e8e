"""Patient-level statistics (gdgp.report.stats): bootstrap CIs against closed forms, Wilcoxon
over hand-computed per-patient means against scipy, Holm across methods, degenerate inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from gdgp.report import budgets, stats

# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_matches_normal_closed_form():
    rng = np.random.default_rng(1)
    x = rng.normal(0.8, 0.1, size=2000)
    low, high = stats.bootstrap_ci(x, n_boot=10000, seed=0)
    half = 1.959964 * x.std(ddof=0) / math.sqrt(x.size)  # the bootstrap resamples the empirical law
    assert low == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert high == pytest.approx(x.mean() + half, abs=0.1 * half)
    assert (high - low) == pytest.approx(2 * half, rel=0.05)
    low90, high90 = stats.bootstrap_ci(x, n_boot=10000, seed=0, level=0.90)
    assert (high90 - low90) == pytest.approx(2 * 1.644854 / 1.959964 * half, rel=0.05)


def test_bootstrap_ci_degenerate_and_seeded():
    low, high = stats.bootstrap_ci(np.full(30, 0.7), n_boot=500, seed=3)
    assert low == high == pytest.approx(0.7, abs=1e-12)
    x = np.random.default_rng(0).uniform(size=12)
    assert stats.bootstrap_ci(x, seed=5) == stats.bootstrap_ci(x, seed=5)
    assert stats.bootstrap_ci(x, seed=5) != stats.bootstrap_ci(x, seed=6)
    assert stats.bootstrap_ci(pd.Series(x), seed=5) == stats.bootstrap_ci(list(x), seed=5)
    assert all(math.isnan(v) for v in stats.bootstrap_ci([0.4]))
    assert all(math.isnan(v) for v in stats.bootstrap_ci([]))
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_ci([0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_ci(x, level=95)


def test_bootstrap_ci_of_paired_differences():
    rng = np.random.default_rng(2)
    a = rng.normal(0.85, 0.05, size=1500)
    b = a - 0.02 + rng.normal(0, 0.01, size=a.size)  # paired: differences have sd 0.01, not 0.07
    d = a - b
    low, high = stats.bootstrap_ci(d, n_boot=10000, seed=0)
    half = 1.959964 * d.std(ddof=0) / math.sqrt(d.size)
    assert low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert high == pytest.approx(d.mean() + half, abs=0.1 * half)
    assert low < 0.02 < high


def test_bootstrap_ci_chunking_equals_one_draw(monkeypatch):
    """The chunked loop draws the same numbers as one (n_boot, n) draw would."""
    x = np.random.default_rng(4).uniform(size=9)
    monkeypatch.setattr(stats, "_BOOT_CHUNK_VALUES", 10**9)
    one = stats.bootstrap_ci(x, n_boot=300, seed=7)
    rng = np.random.default_rng(7)
    means = x[rng.integers(0, 9, size=(300, 9))].mean(axis=1)
    assert one == tuple(float(v) for v in np.quantile(means, [0.025, 0.975]))
    monkeypatch.setattr(stats, "_BOOT_CHUNK_VALUES", 9 * 300)  # exactly one chunk again
    assert stats.bootstrap_ci(x, n_boot=300, seed=7) == one


# --------------------------------------------------------------------------- patient means and Wilcoxon


def per_slice_frame(
    seed: int = 0, n_patients: int = 8, methods=("gdgp", "dextr", "unet"), budget_list=(7, 10), dataset: str = "Heart"
) -> pd.DataFrame:
    """Per (method, budget, seed, slice) rows like at_budgets' output; gdgp better on average."""
    rng = np.random.default_rng(seed)
    slices = [(100 * p + j, f"p{p:02d}") for p in range(n_patients) for j in range(int(rng.integers(1, 4)))]
    rows = []
    for method in methods:
        shift = 0.05 if method == "gdgp" else 0.0
        for b in budget_list:
            for s in (0, 1):
                for sid, case in slices:
                    rows.append(
                        {
                            "dataset": dataset,
                            "method": method,
                            "budget": b,
                            "seed": s,
                            "slice_id": sid,
                            "case": case,
                            "dice": min(1.0, int(rng.integers(30, 60)) / 64 + shift),
                        }
                    )
    return pd.DataFrame(rows)


def hand_patient_means(df: pd.DataFrame, dataset: str, method: str, budget: int) -> dict[str, float]:
    acc: dict[str, list[float]] = {}
    for row in df.to_dict("records"):
        if (row["dataset"], row["method"], row["budget"]) == (dataset, method, budget):
            acc.setdefault(row["case"], []).append(row["dice"])
    return {case: sum(v) / len(v) for case, v in acc.items()}


def hand_holm(p: list[float]) -> list[float]:
    """Holm step-down written out: sort, multiply by (m - rank), running max, cap at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def test_patient_means_by_hand():
    df = per_slice_frame(0)
    pm = stats.patient_means(df, "dice")
    assert list(pm.columns) == ["dataset", "method", "budget", "case", "dice", "n_slices", "n_rows"]
    for row in pm.to_dict("records"):
        hand = hand_patient_means(df, row["dataset"], row["method"], row["budget"])
        assert row["dice"] == pytest.approx(hand[row["case"]], rel=1e-15)
        assert row["n_rows"] == 2 * row["n_slices"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_patient_tests_equal_scipy_on_hand_means(seed):
    df = per_slice_frame(seed)
    df = df.loc[~((df["method"] == "dextr") & (df["case"] == "p03"))]  # dextr lacks one patient
    res = stats.paired_patient_tests(df, "gdgp", n_boot=2000, seed=11)
    assert len(res) == 4 and set(res["unit"]) == {"patient"} and set(res["budget"]) == {7, 10}
    for (dataset, b), block in res.groupby(["dataset", "budget"]):
        ref = hand_patient_means(df, dataset, "gdgp", b)
        ps = []
        for row in block.to_dict("records"):
            other = hand_patient_means(df, dataset, row["method"], b)
            cases = sorted(set(ref) & set(other))
            a = np.array([ref[c] for c in cases])
            o = np.array([other[c] for c in cases])
            want = sps.wilcoxon(a, o)
            assert row["n_units"] == len(cases) == (7 if row["method"] == "dextr" else 8)
            assert row["statistic"] == pytest.approx(want.statistic, rel=1e-12)
            assert row["p"] == pytest.approx(want.pvalue, rel=1e-12)
            assert row["mean_diff"] == pytest.approx(float(np.mean(a - o)), rel=1e-12)
            low, high = stats.bootstrap_ci(a - o, n_boot=2000, seed=11)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-12)
            assert row["reference"] == "gdgp" and row["value"] == "dice"
            ps.append(want.pvalue)
        assert block["p_holm"].tolist() == pytest.approx(hand_holm(ps), rel=1e-12)


def test_holm_is_across_methods_within_dataset_and_budget():
    df = pd.concat(
        [
            per_slice_frame(3, methods=("gdgp", "a", "b", "c")),
            per_slice_frame(4, methods=("gdgp", "a", "b"), dataset="Spleen", budget_list=(7,)),
        ]
    )
    res = stats.paired_patient_tests(df, "gdgp", n_boot=200)
    assert len(res) == 3 * 2 + 2
    for _, block in res.groupby(["dataset", "budget"]):
        assert block["p_holm"].tolist() == pytest.approx(hand_holm(block["p"].tolist()), rel=1e-12)
        assert (block["p_holm"] >= block["p"]).all()
    one = stats.paired_patient_tests(df, "gdgp", budget=10, n_boot=200)
    assert set(one["budget"]) == {10} and set(one["dataset"]) == {"Heart"} and len(one) == 3


def test_too_few_patients_gives_nan_without_error():
    df = per_slice_frame(0, n_patients=1)
    res = stats.paired_patient_tests(df, "gdgp", n_boot=100)
    assert len(res) == 4 and (res["n_units"] == 1).all()
    assert res[["p", "p_holm", "statistic", "ci_low", "ci_high"]].isna().all().all()
    assert res["mean_diff"].notna().all()
    equal = per_slice_frame(0, n_patients=6, methods=("gdgp",))
    equal = pd.concat([equal, equal.assign(method="copy")])  # all differences zero
    res = stats.paired_patient_tests(equal, "gdgp", n_boot=100)
    assert (res["n_nonzero"] == 0).all() and res["p"].isna().all() and (res["mean_diff"] == 0).all()
    assert (res["ci_low"] == 0).all() and (res["ci_high"] == 0).all()
    assert all(math.isnan(v) for v in stats.wilcoxon_safe(np.array([0.5, 0.6]), np.array([0.5, 0.4])))
    assert all(math.isnan(v) for v in stats.wilcoxon_safe(np.array([]), np.array([])))


def test_skips_budgets_missing_a_method():
    df = per_slice_frame(0)
    df = df.loc[~((df["method"] == "unet") & (df["budget"] == 7))]  # unet absent at 7
    df = df.loc[~((df["method"] == "gdgp") & (df["budget"] == 10))]  # reference absent at 10
    res = stats.paired_patient_tests(df, "gdgp", n_boot=100)
    assert res[["method", "budget"]].values.tolist() == [["dextr", 7]]
    assert stats.paired_patient_tests(df, "absent", n_boot=100).empty


def test_from_clicks_through_at_budgets():
    """End to end: unreachable budgets produce no rows, reachable ones pair patients."""
    rows = []
    rng = np.random.default_rng(9)
    for method, cost in (("gdgp", 7), ("nnunet", 0)):
        for s in (0, 1):
            for p in range(5):
                for j in range(2):
                    for r in range(4):
                        rows.append(
                            {
                                "dataset": "D",
                                "method": method,
                                "seed": s,
                                "slice_id": 10 * p + j,
                                "case": f"p{p}",
                                "round": r,
                                "n_clicks": cost + r,
                                "dice": int(rng.integers(0, 65)) / 64,
                            }
                        )
    per_slice = budgets.at_budgets(pd.DataFrame(rows), [3, 8])
    res = stats.paired_patient_tests(per_slice, "gdgp", n_boot=100)
    assert res["budget"].tolist() == [8] and res["n_units"].tolist() == [5]
    auc = budgets.run_dice_auc(pd.DataFrame(rows), 10)
    res_auc = stats.paired_patient_tests(auc, "gdgp", value_col="dice_auc", n_boot=100)
    assert res_auc["value"].tolist() == ["dice_auc"] and res_auc["n_units"].tolist() == [5]


def test_patient_ci_table_is_bootstrap_of_hand_patient_means():
    df = per_slice_frame(6, n_patients=7)
    df = pd.concat([df, per_slice_frame(7, n_patients=1, dataset="Lone")])
    got = stats.patient_ci_table(df, "dice", n_boot=400, seed=3)
    assert list(got.columns) == [
        "dataset",
        "method",
        "budget",
        "n_patients",
        "dice_patient_mean",
        "dice_ci_low",
        "dice_ci_high",
    ]
    assert len(got) == 2 * 3 * 2
    for row in got.to_dict("records"):
        hand = hand_patient_means(df, row["dataset"], row["method"], row["budget"])
        values = np.array([hand[c] for c in sorted(hand)])
        assert row["n_patients"] == len(values) == (1 if row["dataset"] == "Lone" else 7)
        assert row["dice_patient_mean"] == pytest.approx(values.mean(), rel=1e-12)
        want = stats.bootstrap_ci(values, n_boot=400, seed=3)
        if row["dataset"] == "Lone":  # one patient: no interval, no error
            assert math.isnan(row["dice_ci_low"]) and math.isnan(row["dice_ci_high"])
        else:
            assert (row["dice_ci_low"], row["dice_ci_high"]) == pytest.approx(want, rel=1e-12)
            assert row["dice_ci_low"] <= row["dice_patient_mean"] <= row["dice_ci_high"]
    with_nan = df.assign(dice=df["dice"].where(~((df["method"] == "unet") & (df["case"] == "p02"))))
    nan_rows = stats.patient_ci_table(with_nan, "dice", n_boot=50)
    unet = nan_rows.loc[(nan_rows["method"] == "unet") & (nan_rows["dataset"] == "Heart")]
    assert unet[["dice_patient_mean", "dice_ci_low", "dice_ci_high"]].isna().all().all()  # never silently dropped
    assert stats.patient_ci_table(df.iloc[:0], "dice").empty
