"""Report stage: every table number checked against an independent brute-force computation.

Synthetic clicks/loss/overlay files are written to ``tmp_path`` by hand; the expected values
are recomputed from those files with plain loops over slices, seeds and rounds (the csv
module, no pandas, no gdgp code), so a bug in the report cannot hide in the expectation.
Methods are compared at equal total clicks (first interaction included) and the patient is
the statistical unit.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from gdgp.cli import main
from gdgp.data.slice_set import SKIPPED_COLUMNS
from gdgp.errors import ConfigError, InputDataError
from gdgp.report import build_report, figures, stats, tables
from gdgp.report.build import identify, seed_of_path, write_dvc_files
from tests.test_budgets import bf_value_at  # the row of the last round with n_clicks <= budget, or None

# Hand-chosen Dice, rows = slices (slice_id 10, 11, 12: one patient), columns = rounds 0..3.
DICE_A = np.array(
    [
        [0.70, 0.86, 0.91, 0.95],
        [0.80, 0.84, 0.88, 0.93],
        [0.50, 0.60, 0.70, 0.80],  # never reaches 0.85
    ]
)
DICE_B = np.array(
    [
        [0.60, 0.70, 0.80, 0.90],
        [0.90, 0.92, 0.93, 0.94],  # reaches both at round 0
        [0.00, 0.40, 0.50, 0.86],  # empty prediction at round 0
    ]
)
SLICES = np.array([10, 11, 12])
#: Slices of three patients (case = slice_id // 10), for the patient-level statistics.
THREE_PATIENTS = np.array([10, 11, 20, 30, 31])
N_BOOT = 500


def make_clicks(
    dataset: str,
    method: str,
    dice: np.ndarray,
    slice_ids=SLICES,
    n_first: int = 3,
    automatic: bool = False,
    seed: int = 0,
    n_clicks: np.ndarray | None = None,
    cases=None,
) -> pd.DataFrame:
    """A clicks.csv table with every column the evaluator writes; ASSD/NSD derived from Dice.

    ``n_clicks`` (slices x rounds) overrides the default total clicks ``n_first + round``
    (0 for an ``automatic`` method); ``cases`` the default patient ``case_<slice_id // 10>``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for s, sid in enumerate(slice_ids):
        for r in range(dice.shape[1]):
            d = float(dice[s, r])
            empty = d == 0.0
            n = int(n_clicks[s, r]) if n_clicks is not None else (0 if automatic else n_first + r)
            rows.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "slice_id": int(sid),
                    "case": cases[s] if cases is not None else f"case_{sid // 10:03d}",
                    "slice_z": int(sid) * 2,
                    "round": r,
                    "n_clicks": n,
                    "click_y": np.nan if r == 0 or automatic else float(rng.integers(0, 64)),
                    "click_x": np.nan if r == 0 or automatic else float(rng.integers(0, 64)),
                    "click_positive": np.nan if r == 0 or automatic else float(rng.integers(0, 2)),
                    "dice": d,
                    "nsd": round(min(1.0, d + 0.05), 4),
                    "assd_px": 90.5 if empty else round(10 * (1 - d) + 0.1 * s, 4),
                    "assd_mm": 60.0 if empty else round(7 * (1 - d) + 0.05 * s, 4),
                    "tp": int(100 * d),
                    "fp": 5,
                    "fn": int(100 * (1 - d)),
                    "empty_pred": empty,
                }
            )
    return pd.DataFrame(rows)


def write_clicks(root: Path, df: pd.DataFrame, shuffle_seed: int | None = None, seed_folder: int | None = None) -> Path:
    """Write ``root/<dataset>/<method>[/seed<k>]/clicks.csv`` (the workflow's layout)."""
    dataset, method = df["dataset"].iloc[0], df["method"].iloc[0]
    path = root / dataset / method / ("" if seed_folder is None else f"seed{seed_folder}") / "clicks.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if shuffle_seed is not None:
        df = df.sample(frac=1.0, random_state=shuffle_seed)
    df.to_csv(path, index=False)
    return path


def write_loss(
    root: Path, dataset: str, method: str, epochs: int = 12, scale: float = 1.0, extra: bool = False
) -> Path:
    path = root / dataset / method / "loss.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    e = np.arange(1, epochs + 1)
    df = pd.DataFrame(
        {
            "epoch": e,
            "loss": scale * 2.0 * np.exp(-0.4 * e) + 0.05,
            "lr": 1e-4 * 0.5 ** (e // 5),
            "seconds": 1.5 + 0.01 * e,
        }
    )
    if extra:
        df["val_dice"] = 1 - np.exp(-0.3 * e)
        df["note"] = "text"
    df.to_csv(path, index=False)
    return path


def _disk(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r**2).astype(np.uint8)


def write_overlays(
    root: Path, dataset: str, method: str, quality: float, k: int = 3, size: int = 64, rounds=(0, 2), seed: int = 1
) -> Path:
    """Phantom slices (bright disk on noisy texture), a shifted-disk prediction, a few clicks."""
    rng = np.random.default_rng(seed)
    images, gts, preds, clicks = [], [], [], []
    for i in range(k):
        cy, cx, r = 30 + 3 * i, 32 - 2 * i, 12 + i
        gt = _disk(size, size, cy, cx, r)
        img = np.clip(0.3 + 0.4 * gt + 0.08 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)
        per_round = []
        for j, _ in enumerate(rounds):
            shift = (1 - quality) * 8 / (j + 1)
            per_round.append(_disk(size, size, cy + shift, cx - shift, r * (0.8 + 0.2 * quality)))
        images.append(img)
        gts.append(gt)
        preds.append(np.stack(per_round))
        clicks += [
            (i, cy, cx, True, 0),
            (i, cy - r + 1, cx, True, 0),
            (i, cy + r + 3, cx, False, 1),
            (i, cy, cx + r - 1, True, 2),
            (i, cy - r - 3, cx - r, False, 3),
        ]
    c = np.array(clicks, dtype=np.int64)
    path = root / dataset / method / "overlays.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        image=np.stack(images),
        gt=np.stack(gts),
        pred=np.stack(preds).astype(np.uint8),
        rounds=np.array(rounds, dtype=np.int64),
        slice_id=SLICES[:k].astype(np.int64),
        click_slice=c[:, 0],
        click_y=c[:, 1],
        click_x=c[:, 2],
        click_positive=c[:, 3].astype(bool),
        click_round=c[:, 4],
    )
    return path


@pytest.fixture()
def two_methods(tmp_path: Path) -> list[Path]:
    """gdgp (first interaction 7 clicks) and dextr (4 clicks), rounds 0..3, one patient."""
    root = tmp_path / "results"
    return [
        write_clicks(root, make_clicks("spleen", "gdgp", DICE_A, n_first=7), shuffle_seed=3),
        write_clicks(root, make_clicks("spleen", "dextr", DICE_B, n_first=4)),
    ]


def _at(df: pd.DataFrame, method: str, budget: int | None = None) -> pd.Series:
    sel = df["method"] == method
    if budget is not None:
        sel &= df["budget"] == budget
    return df.loc[sel].iloc[0]


# --------------------------------------------------------------------------- brute force


def bf_runs(paths: list[Path]) -> dict[tuple[str, str], dict[int, dict[int, list[dict]]]]:
    """{(dataset, method): {slice_id: {seed: rows sorted by round}}} read with the csv module.

    The seed is the file's ``seed`` column, else its ``seed<k>`` folder, else 0.
    """
    out: dict = {}
    for path in paths:
        folder = re.fullmatch(r"seed(\d+)", path.parent.name)
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                seed = int(row["seed"]) if "seed" in row else int(folder.group(1)) if folder else 0
                rec = {
                    "round": int(row["round"]),
                    "n_clicks": int(row["n_clicks"]),
                    "dice": float(row["dice"]),
                    "empty": row["empty_pred"] == "True",
                    "case": row["case"],
                }
                out.setdefault((row["dataset"], row["method"]), {}).setdefault(int(row["slice_id"]), {}).setdefault(
                    seed, []
                ).append(rec)
    for slices in out.values():
        for by_seed in slices.values():
            for rows in by_seed.values():
                rows.sort(key=lambda r: r["round"])
    return out


def bf_cell(slices: dict[int, dict[int, list[dict]]], budget: int) -> dict:
    """Table-4 numbers of one (dataset, method) at one budget, with plain loops."""
    at = {(sid, s): bf_value_at(rows, budget) for sid, by_seed in slices.items() for s, rows in by_seed.items()}
    rec = {"reachable": all(v is not None for v in at.values()), "n_seeds": len({s for _, s in at})}
    if not rec["reachable"]:
        return rec
    per_slice, per_patient = [], {}
    for sid, by_seed in sorted(slices.items()):
        per_slice.append(sum(at[(sid, s)]["dice"] for s in by_seed) / len(by_seed))
        for s in by_seed:
            per_patient.setdefault(at[(sid, s)]["case"], []).append(at[(sid, s)]["dice"])
    rec["dice_mean"] = sum(per_slice) / len(per_slice)
    rec["n_empty"] = sum(v["empty"] for v in at.values())
    rec["n_slices"] = len(per_slice)
    rec["patients"] = {case: sum(v) / len(v) for case, v in per_patient.items()}
    return rec


def bf_noc_auc(slices: dict, budget: int, t: float) -> tuple[float, float, float]:
    """(NoC@t with failures counted as the budget, NoF@t, Dice AUC over 0..budget), seeds averaged per slice."""
    if any(rows[0]["n_clicks"] > budget for by_seed in slices.values() for rows in by_seed.values()):
        noc = nof = math.nan
    else:
        noc_sum = nof_sum = 0.0
        for by_seed in slices.values():
            nocs, fails = [], []
            for rows in by_seed.values():
                hit = next((r["n_clicks"] for r in rows if r["n_clicks"] <= budget and r["dice"] >= t), None)
                nocs.append(budget if hit is None else hit)
                fails.append(hit is None)
            noc_sum += sum(nocs) / len(nocs)
            nof_sum += sum(fails) / len(fails)
        noc, nof = noc_sum / len(slices), nof_sum
    auc_sum = 0.0
    for by_seed in slices.values():
        per_seed = []
        for rows in by_seed.values():
            total = 0.0
            for k in range(budget + 1):
                v = bf_value_at(rows, k)
                total += v["dice"] if v is not None else 0.0
            per_seed.append(total / (budget + 1))
        auc_sum += sum(per_seed) / len(per_seed)
    return noc, nof, auc_sum / len(slices)


#: First-interaction cost of the random study's methods (None: 5, 6 or 7 clicks by slice).
COSTS = {"nnunet": 0, "click_unet": 1, "dextr": 4, "gdgp": 7, "varying": None}


def random_study(
    root: Path, rng_seed: int, seeds=(0, 3), n_patients: int = 7, n_rounds: int = 5, dataset: str = "Heart"
) -> list[Path]:
    """Every method of COSTS on 1-3 slices per patient, two training seeds (the second in a
    seed<k> folder), rounds that sometimes add no click, Dice in multiples of 1/64 (some 0: empty)."""
    rng = np.random.default_rng(rng_seed)
    slice_ids, cases = [], []
    for p in range(n_patients):
        for j in range(int(rng.integers(1, 4))):
            slice_ids.append(10 * p + j)
            cases.append(f"{dataset}_P{p:02d}")
    first_varying = rng.integers(5, 8, size=len(slice_ids))
    paths = []
    for method, cost in COSTS.items():
        for k in seeds:
            n_clicks = np.zeros((len(slice_ids), n_rounds + 1), dtype=int)
            for s in range(len(slice_ids)):
                n = int(first_varying[s]) if cost is None else cost
                for r in range(n_rounds + 1):
                    if r > 0 and rng.random() < 0.7:
                        n += 1
                    n_clicks[s, r] = n
            dice = rng.integers(0, 65, size=n_clicks.shape) / 64
            df = make_clicks(dataset, method, dice, slice_ids, n_clicks=n_clicks, cases=cases, seed=k)
            paths.append(write_clicks(root, df, shuffle_seed=k, seed_folder=None if k == seeds[0] else k))
    return paths


# --------------------------------------------------------------------------- Table 4, curve, NoC at equal cost


@pytest.mark.parametrize("rng_seed", [0, 1, 2])
def test_table4_curve_noc_equal_brute_force(tmp_path: Path, rng_seed: int) -> None:
    paths = random_study(tmp_path / "runs", rng_seed)
    budget_list, noc_budget = [0, 1, 4, 6, 8, 12], 12
    metrics = build_report(
        paths, [], [], tmp_path / "out", budgets=budget_list, noc_budget=noc_budget, n_boot=N_BOOT, seed=4
    )
    t4 = pd.read_csv(tmp_path / "out" / "table4.csv")
    runs = bf_runs(paths)
    assert len(t4) == len(COSTS) * len(budget_list)
    reached = 0
    for row in t4.to_dict("records"):
        want = bf_cell(runs[(row["dataset"], row["method"])], row["budget"])
        assert bool(row["reachable"]) == want["reachable"] and row["n_seeds"] == want["n_seeds"] == 2
        reached += want["reachable"]
        if not want["reachable"]:
            assert math.isnan(row["dice_mean"]) and math.isnan(row["n_empty"]) and math.isnan(row["dice_ci_low"])
            assert metrics["Heart"][row["method"]][f"dice@{row['budget']}"] is None
            continue
        assert row["dice_mean"] == pytest.approx(want["dice_mean"], rel=1e-12)
        assert row["n_empty"] == want["n_empty"] and row["n_slices"] == want["n_slices"]
        assert row["n_patients"] == len(want["patients"]) == 7
        hand = np.array([want["patients"][c] for c in sorted(want["patients"])])
        assert row["dice_patient_mean"] == pytest.approx(hand.mean(), rel=1e-12)
        low, high = stats.bootstrap_ci(hand, n_boot=N_BOOT, seed=4)
        assert (row["dice_ci_low"], row["dice_ci_high"]) == pytest.approx((low, high), rel=1e-12)
        assert metrics["Heart"][row["method"]][f"dice@{row['budget']}"] == round(want["dice_mean"], 4)
    assert 0 < reached < len(t4)  # both kinds of cells occur
    # a first interaction above the budget never borrows another budget's number
    gdgp = t4.loc[t4["method"] == "gdgp"].set_index("budget")
    assert gdgp.loc[[0, 1, 4, 6], "dice_mean"].isna().all() and gdgp.loc[[8, 12], "dice_mean"].notna().all()
    assert not t4.set_index(["method", "budget"]).loc[("varying", 6), "reachable"]  # some slices cost 7

    curve = pd.read_csv(tmp_path / "out" / "dice_per_click.csv")
    assert list(curve.columns) == [
        "dataset",
        "method",
        "clicks",
        "reachable",
        "n_slices",
        "dice_mean",
        "dice_std",
        "dice_sem",
    ]
    assert len(curve) == len(COSTS) * (noc_budget + 1)
    for row in curve.to_dict("records"):
        want = bf_cell(runs[(row["dataset"], row["method"])], row["clicks"])
        if want["reachable"]:
            assert row["dice_mean"] == pytest.approx(want["dice_mean"], rel=1e-12)
        else:
            assert math.isnan(row["dice_mean"])

    noc = pd.read_csv(tmp_path / "out" / "noc.csv")
    assert list(noc.columns) == [
        "dataset",
        "method",
        "budget",
        "reachable",
        "n_slices",
        "n_seeds",
        "noc_85",
        "nof_85",
        "noc_90",
        "nof_90",
        "dice_auc",
        "dice_auc_std",
    ]
    for row in noc.to_dict("records"):
        for t in (0.85, 0.90):
            want_noc, want_nof, want_auc = bf_noc_auc(runs[(row["dataset"], row["method"])], noc_budget, t)
            lab = round(100 * t)
            assert row[f"noc_{lab}"] == pytest.approx(want_noc, rel=1e-12, nan_ok=True)
            assert row[f"nof_{lab}"] == pytest.approx(want_nof, rel=1e-12, nan_ok=True)
            assert row["dice_auc"] == pytest.approx(want_auc, rel=1e-12)
            assert metrics["Heart"][row["method"]][f"noc{lab}"] == pytest.approx(round(want_noc, 4), nan_ok=True)
        assert metrics["Heart"][row["method"]]["auc"] == round(row["dice_auc"], 4)


def test_table4_columns_and_unreachable_budget_shows_dash(two_methods: list[Path], tmp_path: Path) -> None:
    metrics = build_report(two_methods, [], [], tmp_path / "out", budgets=(4, 8), noc_budget=10, n_boot=N_BOOT)
    t4 = pd.read_csv(tmp_path / "out" / "table4.csv")
    assert list(t4.columns) == [
        "dataset",
        "method",
        "budget",
        "dice_mean",
        "dice_std",
        "dice_ci_low",
        "dice_ci_high",
        "dice_patient_mean",
        "dice_seed_std",
        "nsd_mean",
        "nsd_ci_low",
        "nsd_ci_high",
        "assd_px_mean",
        "assd_px_median",
        "assd_mm_mean",
        "assd_mm_median",
        "n_empty",
        "n_run_ended",
        "n_slices",
        "n_patients",
        "n_seeds",
        "reachable",
        "contaminated",
        "random_weights",
    ]
    gdgp4 = _at(t4, "gdgp", 4)  # first interaction 7 clicks > 4
    assert not gdgp4["reachable"] and gdgp4[["dice_mean", "assd_px_median", "n_empty"]].isna().all()
    assert metrics["spleen"]["gdgp"]["dice@4"] is None
    # gdgp at 8 = round 1 (7 + 1 clicks); dextr at 8 = round 3 (its last: 4 + 3 = 7 clicks, held)
    assert _at(t4, "gdgp", 8)["dice_mean"] == pytest.approx(DICE_A[:, 1].mean())
    dextr8 = _at(t4, "dextr", 8)
    assert dextr8["dice_mean"] == pytest.approx(DICE_B[:, 3].mean()) and dextr8["n_run_ended"] == 3
    dextr4 = _at(t4, "dextr", 4)
    assert dextr4["n_empty"] == 1 and dextr4["dice_mean"] == pytest.approx(DICE_B[:, 0].mean())
    assert math.isnan(_at(t4, "dextr", 4)["dice_seed_std"])  # one seed
    md = (tmp_path / "out" / "table4.md").read_text()
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["Method", "spleen @4", "spleen @8"]
    gdgp_row = next(ln for ln in lines if ln.startswith("| gdgp"))
    assert [c.strip() for c in gdgp_row.split("|")[1:-1]][1] == "–"
    assert "patient-level bootstrap" in md and "4, 8" in md and "†" in md  # dextr's held value is marked
    tex = (tmp_path / "out" / "table4.tex").read_text()
    gdgp_tex = next(ln for ln in tex.splitlines() if ln.startswith("gdgp &"))
    assert gdgp_tex.split(" & ")[1] == "--"
    assert "mean over test slices" in md and "mean over test slices" in tex
    # the validation report names its slices so
    build_report(
        two_methods,
        [],
        [],
        tmp_path / "val",
        budgets=(4, 8),
        noc_budget=10,
        n_boot=N_BOOT,
        with_figures=False,
        split="validation",
    )
    for name in ("table4.md", "table4.tex"):
        text = (tmp_path / "val" / name).read_text()
        assert "mean over validation slices" in text and "test slices" not in text, name


def test_table4_best_in_bold_with_patient_ci(tmp_path: Path) -> None:
    root = tmp_path / "r"
    rng = np.random.default_rng(5)
    a = rng.integers(20, 64, size=(5, 4)) / 64
    b = np.clip(a - 0.1, 0, 1)
    paths = [
        write_clicks(root, make_clicks("my_data", "gdgp", a, slice_ids=THREE_PATIENTS, n_first=1)),
        write_clicks(root, make_clicks("my_data", "fg_bg", b, slice_ids=THREE_PATIENTS, n_first=1)),
    ]
    build_report(
        paths,
        [],
        [],
        tmp_path / "out",
        budgets=(2,),
        noc_budget=4,
        method_order=["fg_bg", "nonexistent"],
        n_boot=N_BOOT,
        seed=1,
    )
    md = (tmp_path / "out" / "table4.md").read_text()
    patients = {}
    for sid, v in zip(THREE_PATIENTS, a[:, 1], strict=True):
        patients.setdefault(sid // 10, []).append(v)
    low, high = stats.bootstrap_ci([np.mean(v) for _, v in sorted(patients.items())], n_boot=N_BOOT, seed=1)
    best = f"{a[:, 1].mean():.3f} [{low:.3f}, {high:.3f}]"
    assert tables.format_ci(a[:, 1].mean(), low, high) == best
    assert f"**{best}**" in md
    other = next(ln for ln in md.splitlines() if ln.startswith("| fg_bg"))
    assert "**" not in other.split("|")[2] and f"{b[:, 1].mean():.3f} [" in other
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert lines[2].startswith("| fg_bg") and lines[3].startswith("| gdgp")  # method_order, then the rest
    tex = (tmp_path / "out" / "table4.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"my\_data" in tex and r"fg\_bg" in tex
    assert r"\textbf{" + best + "}" in tex
    body = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    assert "_" not in body.replace(r"\_", "")  # no unescaped underscore outside the comments


def test_format_helpers() -> None:
    assert tables.format_mean_std(0.91234, 0.03149) == "0.912 ± 0.031"
    assert tables.format_mean_std(0.9, float("nan")) == "0.900"
    assert tables.format_mean_std(float("nan"), 0.1) == "–"
    assert tables.format_ci(0.8012, 0.7719, 0.83) == "0.801 [0.772, 0.830]"
    assert tables.format_ci(0.8, float("nan"), float("nan")) == "0.800"
    assert tables.format_ci(float("nan"), 0.1, 0.2) == "–"


def test_noc_custom_thresholds_and_bad_options(two_methods: list[Path], tmp_path: Path) -> None:
    metrics = build_report(
        two_methods, [], [], tmp_path / "out", budgets=(8,), noc_budget=9, noc_thresholds=(0.8,), n_boot=N_BOOT
    )
    noc = pd.read_csv(tmp_path / "out" / "noc.csv")
    assert list(noc.columns) == [
        "dataset",
        "method",
        "budget",
        "reachable",
        "n_slices",
        "n_seeds",
        "noc_80",
        "nof_80",
        "dice_auc",
        "dice_auc_std",
    ]
    assert set(metrics["spleen"]["gdgp"]) == {"dice@8", "noc80", "auc"}
    # gdgp within 9 clicks (rounds 0..2): slice 10 reaches 0.80 at 8 clicks, 11 at 7, 12 never (counts 9)
    assert _at(noc, "gdgp")["noc_80"] == pytest.approx((8 + 7 + 9) / 3) and _at(noc, "gdgp")["nof_80"] == 1
    assert "NoC@80" in (tmp_path / "out" / "noc.md").read_text()
    for kwargs in (
        {"noc_thresholds": (0.9, 0.901)},
        {"budgets": ()},
        {"budgets": (4, 4)},
        {"budgets": (-1,)},
        {"noc_budget": 0},
    ):
        with pytest.raises(ConfigError):
            build_report(two_methods, [], [], tmp_path / "bad", **{"budgets": (8,), "noc_budget": 9, **kwargs})


# --------------------------------------------------------------------------- significance


def hand_patient_means(paths: list[Path], method: str, budget: int) -> dict[str, float]:
    """Per patient, the mean Dice at ``budget`` over its slices and seeds (plain loops)."""
    acc: dict[str, list[float]] = {}
    for (_, m), slices in bf_runs(paths).items():
        if m != method:
            continue
        for by_seed in slices.values():
            for rows in by_seed.values():
                v = bf_value_at(rows, budget)
                acc.setdefault(rows[0]["case"], []).append(v["dice"])
    return {case: sum(v) / len(v) for case, v in acc.items()}


def test_significance_equals_scipy_on_patient_means(tmp_path: Path) -> None:
    paths = random_study(tmp_path / "runs", 11, n_patients=9)
    build_report(
        paths, [], [], tmp_path / "out", budgets=(4, 8), noc_budget=10, reference_method="gdgp", n_boot=N_BOOT, seed=2
    )
    sig = pd.read_csv(tmp_path / "out" / "significance.csv")
    assert list(sig.columns) == list(stats.PATIENT_TEST_COLUMNS)
    assert set(sig["unit"]) == {"patient"} and set(sig["reference"]) == {"gdgp"}
    assert "gdgp" not in set(sig["method"])
    dice = sig.loc[sig["value"] == "dice"]
    # gdgp's first interaction (7 clicks) exceeds 4: no test there; "varying" (5-7) has no entry at 4 either
    assert set(dice["budget"]) == {8} and set(dice["method"]) == {"nnunet", "click_unet", "dextr", "varying"}
    ref = hand_patient_means(paths, "gdgp", 8)
    ps = []
    for row in dice.to_dict("records"):
        other = hand_patient_means(paths, row["method"], 8)
        cases = sorted(ref)
        a, o = np.array([ref[c] for c in cases]), np.array([other[c] for c in cases])
        want = sps.wilcoxon(a, o)
        assert row["n_units"] == 9
        assert row["statistic"] == pytest.approx(want.statistic, rel=1e-12)
        assert row["p"] == pytest.approx(want.pvalue, rel=1e-12)
        assert row["mean_diff"] == pytest.approx(np.mean(a - o), rel=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(stats.bootstrap_ci(a - o, n_boot=N_BOOT, seed=2))
        ps.append(want.pvalue)
    assert dice["p_holm"].tolist() == pytest.approx(tables.holm(ps), rel=1e-12)
    auc = sig.loc[sig["value"] == "dice_auc"]
    assert set(auc["budget"]) == {10} and len(auc) == len(COSTS) - 1 and auc["p"].notna().all()


def test_significance_too_few_patients_is_nan_and_header_only_without_reference(
    two_methods: list[Path], tmp_path: Path
) -> None:
    build_report(
        two_methods, [], [], tmp_path / "out", budgets=(8,), noc_budget=9, reference_method="gdgp", n_boot=N_BOOT
    )
    sig = pd.read_csv(tmp_path / "out" / "significance.csv")  # one patient: no p-value, no error
    assert len(sig) == 2 and (sig["n_units"] == 1).all() and sig["p"].isna().all() and sig["mean_diff"].notna().all()
    build_report(two_methods, [], [], tmp_path / "out2", budgets=(8,), noc_budget=9, n_boot=N_BOOT)
    empty = pd.read_csv(tmp_path / "out2" / "significance.csv")
    assert empty.empty and "p_holm" in empty.columns and "unit" in empty.columns
    build_report(
        two_methods, [], [], tmp_path / "out3", budgets=(8,), noc_budget=9, reference_method="absent", n_boot=N_BOOT
    )
    assert pd.read_csv(tmp_path / "out3" / "significance.csv").empty


def test_holm_against_hand_values() -> None:
    # sorted p: 0.01 (x3 = 0.03), 0.02 (x2 = 0.04), 0.04 (x1 = 0.04); NaN untouched
    out = tables.holm([0.04, 0.01, float("nan"), 0.02])
    assert out[0] == pytest.approx(0.04) and out[1] == pytest.approx(0.03)
    assert np.isnan(out[2]) and out[3] == pytest.approx(0.04)


# --------------------------------------------------------------------------- empty predictions, metrics


def test_empty_predictions_counted_per_budget(two_methods: list[Path], tmp_path: Path) -> None:
    build_report(two_methods, [], [], tmp_path / "out", budgets=(4, 5, 8), noc_budget=9, n_boot=N_BOOT)
    e = pd.read_csv(tmp_path / "out" / "empty_predictions.csv")
    assert list(e.columns) == ["dataset", "method", "budget", "reachable", "n_slices", "n_seeds", "n_empty"]
    assert _at(e, "dextr", 4)["n_empty"] == 1 and _at(e, "dextr", 5)["n_empty"] == 0  # round 0 only
    assert math.isnan(_at(e, "gdgp", 4)["n_empty"]) and _at(e, "gdgp", 8)["n_empty"] == 0


def test_metrics_json_round_trips(two_methods: list[Path], tmp_path: Path) -> None:
    metrics = build_report(two_methods, [], [], tmp_path / "out", budgets=(4, 8), noc_budget=9, n_boot=N_BOOT)
    text = (tmp_path / "out" / "metrics.json").read_text()
    loaded = json.loads(text)
    assert loaded == metrics
    assert list(loaded) == ["spleen"] and sorted(loaded["spleen"]) == ["dextr", "gdgp"]
    assert set(loaded["spleen"]["gdgp"]) == {"dice@4", "dice@8", "noc85", "noc90", "auc"}
    assert loaded["spleen"]["gdgp"]["dice@8"] == round(float(DICE_A[:, 1].mean()), 4)
    assert loaded["spleen"]["gdgp"]["dice@4"] is None and "null" in text
    assert text.index('"dextr"') < text.index('"gdgp"')  # sorted keys
    assert json.dumps(loaded, sort_keys=True, indent=2) + "\n" == text


def test_multiple_datasets_and_automatic_method(tmp_path: Path) -> None:
    root = tmp_path / "r"
    flat = np.repeat(DICE_B[:, :1], 4, axis=1)
    paths = [
        write_clicks(root, make_clicks("spleen", "gdgp", DICE_A, n_first=7)),
        write_clicks(root, make_clicks("colon", "gdgp", DICE_B, n_first=7)),
        write_clicks(root, make_clicks("colon", "unet", flat, automatic=True)),
    ]
    m = build_report(paths, [], [], tmp_path / "out", budgets=(0, 8), noc_budget=9, n_boot=N_BOOT)
    assert set(m) == {"spleen", "colon"} and set(m["colon"]) == {"gdgp", "unet"}
    noc = pd.read_csv(tmp_path / "out" / "noc.csv")
    unet = noc.loc[noc["method"] == "unet"].iloc[0]
    # an automatic method never clicks: reaching t costs 0 clicks, failing costs the whole budget (9)
    assert unet["nof_85"] == 2 and m["colon"]["unet"]["noc85"] == pytest.approx(2 * 9 / 3)
    assert m["colon"]["unet"]["dice@0"] == pytest.approx(round(DICE_B[:, 0].mean(), 4))
    md = (tmp_path / "out" / "table4.md").read_text()
    unet_row = next(ln for ln in md.splitlines() if ln.startswith("| unet"))
    assert unet_row.count("–") == 2  # no spleen entry at either budget
    assert (tmp_path / "out" / "dice_per_click_colon.png").is_file()
    assert (tmp_path / "out" / "dice_per_click_spleen.png").is_file()


def test_a_dataset_rows_do_not_depend_on_the_other_datasets_of_the_report(tmp_path: Path) -> None:
    """run_datasets' promise (gdgp/run_datasets.py): a run of fewer targets gives those targets'
    rows of a run of more exactly: CIs, p-values and Holm are computed within a dataset."""
    heart = random_study(tmp_path / "runs", 5, dataset="Heart")
    liver = random_study(tmp_path / "runs_liver", 6, dataset="Liver")
    options = {"budgets": (4, 8), "noc_budget": 10, "reference_method": "gdgp", "n_boot": N_BOOT, "with_figures": False}
    build_report(heart + liver, [], [], tmp_path / "both", **options)
    build_report(heart, [], [], tmp_path / "heart", **options)
    for name in ("table4.csv", "noc.csv", "significance.csv", "dice_per_click.csv"):
        both = pd.read_csv(tmp_path / "both" / name)
        alone = pd.read_csv(tmp_path / "heart" / name)
        assert {"Heart", "Liver"} <= set(both["dataset"]) and set(alone["dataset"]) == {"Heart"}, name
        pd.testing.assert_frame_equal(both[both["dataset"] == "Heart"].reset_index(drop=True), alone, obj=name)
    assert pd.read_csv(tmp_path / "heart" / "significance.csv")["p_holm"].notna().any()


# --------------------------------------------------------------------------- seeds and validation


def test_seed_of_path() -> None:
    assert seed_of_path(Path("results/runs/d/gdgp/seed3/clicks.csv")) == 3
    assert seed_of_path(Path("results/runs/d/gdgp/clicks.csv")) == 0
    assert seed_of_path(Path("results/runs/d/gdgp/clicks.csv"), default_seed=2) == 2
    assert seed_of_path(Path("seed4/d/gdgp/clicks.csv")) == 0  # only the file's own folder counts
    assert seed_of_path(Path("results/runs/d/gdgp/seed_3/clicks.csv")) == 0


def test_seed_folders_column_and_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "r"
    main_run = write_clicks(root, make_clicks("spleen", "gdgp", DICE_A, n_first=7))
    seed2 = write_clicks(root, make_clicks("spleen", "gdgp", DICE_B, n_first=7), seed_folder=2)
    build_report([main_run, seed2], [], [], tmp_path / "out", budgets=(8,), noc_budget=9, n_boot=N_BOOT)
    row = pd.read_csv(tmp_path / "out" / "table4.csv").iloc[0]
    assert row["n_seeds"] == 2
    assert row["dice_mean"] == pytest.approx(((DICE_A[:, 1] + DICE_B[:, 1]) / 2).mean())
    per_seed = [DICE_A[:, 1].mean(), DICE_B[:, 1].mean()]
    assert row["dice_seed_std"] == pytest.approx(np.std(per_seed, ddof=1))
    # the file's own seed column wins over its folder: seed 0 again, duplicating the main run
    own = make_clicks("spleen", "gdgp", DICE_B, n_first=7).assign(seed=0)
    seed5 = write_clicks(root, own, seed_folder=5)
    with pytest.raises(InputDataError, match="appears in both") as err:
        build_report([main_run, seed5], [], [], tmp_path / "bad", budgets=(8,), noc_budget=9)
    assert str(main_run) in str(err.value) and str(seed5) in str(err.value)
    seed0 = write_clicks(root, make_clicks("spleen", "gdgp", DICE_B, n_first=7), seed_folder=0)
    with pytest.raises(InputDataError, match="appears in both"):
        build_report([main_run, seed0], [], [], tmp_path / "bad", budgets=(8,), noc_budget=9)
    # ... unless the main run is declared to be another seed (train.seed)
    build_report([main_run, seed0], [], [], tmp_path / "ok", budgets=(8,), noc_budget=9, default_seed=1, n_boot=N_BOOT)
    assert pd.read_csv(tmp_path / "ok" / "table4.csv").iloc[0]["n_seeds"] == 2
    bad_seed = write_clicks(tmp_path / "b", make_clicks("spleen", "dextr", DICE_B).assign(seed="x"))
    with pytest.raises(InputDataError, match="seed") as err:
        build_report([bad_seed], [], [], tmp_path / "bad", budgets=(8,), noc_budget=9)
    assert str(bad_seed) in str(err.value)
    other_slices = write_clicks(
        root, make_clicks("spleen", "gdgp", DICE_B, slice_ids=[10, 11, 13], n_first=7), seed_folder=7
    )
    with pytest.raises(InputDataError, match="other slices or rounds") as err:
        build_report([main_run, other_slices], [], [], tmp_path / "bad", budgets=(8,), noc_budget=9)
    assert str(other_slices) in str(err.value)
    with pytest.raises(InputDataError, match="more than once"):
        build_report([main_run, main_run], [], [], tmp_path / "bad", budgets=(8,), noc_budget=9)


def test_missing_column_raises_naming_file(two_methods: list[Path], tmp_path: Path) -> None:
    df = pd.read_csv(two_methods[1]).drop(columns=["assd_mm"])
    df.to_csv(two_methods[1], index=False)
    with pytest.raises(InputDataError, match="assd_mm") as err:
        build_report(two_methods, [], [], tmp_path / "out", budgets=(8,), noc_budget=9)
    assert str(two_methods[1]) in str(err.value)


def test_old_files_without_nsd_are_read(two_methods: list[Path], tmp_path: Path) -> None:
    for p in two_methods:
        pd.read_csv(p).drop(columns=["nsd"]).to_csv(p, index=False)
    build_report(two_methods, [], [], tmp_path / "out", budgets=(8,), noc_budget=9, n_boot=N_BOOT)
    assert not any(c.startswith("nsd") for c in pd.read_csv(tmp_path / "out" / "table4.csv").columns)


def test_empty_csv_raises_naming_file(two_methods: list[Path], tmp_path: Path) -> None:
    header_only = tmp_path / "header_only.csv"
    header_only.write_text(",".join(tables.CLICKS_COLUMNS) + "\n")
    with pytest.raises(InputDataError, match="header_only.csv"):
        build_report([two_methods[0], header_only], [], [], tmp_path / "out", budgets=(8,), noc_budget=9)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(InputDataError, match="blank.csv"):
        build_report([blank], [], [], tmp_path / "out", budgets=(8,), noc_budget=9)


def test_duplicate_loss_raises(two_methods: list[Path], tmp_path: Path) -> None:
    loss = write_loss(tmp_path / "results", "spleen", "gdgp")
    with pytest.raises(InputDataError, match="appears in both"):
        build_report(two_methods, [loss, loss], [], tmp_path / "out", budgets=(8,), noc_budget=9)


def test_incomplete_rounds_and_decreasing_clicks_raise(two_methods: list[Path], tmp_path: Path) -> None:
    original = pd.read_csv(two_methods[0])
    df = original.drop(original.index[(original["slice_id"] == 11) & (original["round"] == 3)])
    df.to_csv(two_methods[0], index=False)
    with pytest.raises(InputDataError, match="every round"):
        build_report(two_methods, [], [], tmp_path / "out", budgets=(8,), noc_budget=9)
    df = original.copy()
    df.loc[(df["slice_id"] == 11) & (df["round"] == 2), "n_clicks"] = 1
    df.to_csv(two_methods[0], index=False)
    with pytest.raises(InputDataError, match="n_clicks decreases") as err:
        build_report(two_methods, [], [], tmp_path / "out", budgets=(8,), noc_budget=9)
    assert str(two_methods[0]) in str(err.value)


def test_missing_loss_column_and_bad_overlay_raise(two_methods: list[Path], tmp_path: Path) -> None:
    loss = write_loss(tmp_path / "results", "spleen", "gdgp")
    pd.read_csv(loss).drop(columns=["lr"]).to_csv(loss, index=False)
    with pytest.raises(InputDataError, match="lr") as err:
        build_report(two_methods, [loss], [], tmp_path / "out", budgets=(8,), noc_budget=9)
    assert str(loss) in str(err.value)
    bad = tmp_path / "results" / "spleen" / "gdgp" / "overlays.npz"
    np.savez(bad, image=np.zeros((2, 8, 8)))
    with pytest.raises(InputDataError, match="overlays.npz"):
        build_report(two_methods, [], [bad], tmp_path / "out", budgets=(8,), noc_budget=9)


def test_identify_by_path() -> None:
    known = [("spleen", "gdgp"), ("spleen", "dextr"), ("lung", "gdgp")]
    assert identify(Path("results/spleen/gdgp/loss.csv"), known) == ("spleen", "gdgp")
    assert identify(Path("results/lung/train/gdgp/loss.csv"), known) == ("lung", "gdgp")
    assert identify(Path("results/spleen/dextr.npz"), known) == ("spleen", "dextr")
    assert identify(Path("results/spleen/gdgp/seed1/overlays.npz"), known) == ("spleen", "gdgp")
    with pytest.raises(InputDataError, match="cannot tell"):
        identify(Path("results/colon/gdgp/loss.csv"), known)


# --------------------------------------------------------------------------- CLI


def test_cli_budgets_and_deprecated_table_round(
    two_methods: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    argv = [
        "report",
        "--clicks",
        *map(str, two_methods),
        "--out-dir",
        str(out),
        "--budgets",
        "8",
        "4",
        "--noc-budget",
        "9",
        "--n-boot",
        "100",
        "--curves",
        str(tmp_path / "curve.csv"),
    ]
    with caplog.at_level(logging.WARNING, logger="gdgp"):
        assert main([*argv, "--table-round", "5"]) == 0
    assert any("deprecated" in r.getMessage() and "ignored" in r.getMessage() for r in caplog.records)
    assert sorted(set(pd.read_csv(out / "table4.csv")["budget"])) == [4, 8]
    wide = pd.read_csv(tmp_path / "curve.csv")
    assert list(wide.columns) == ["clicks", "spleen/dextr", "spleen/gdgp"]
    assert wide["clicks"].tolist() == list(range(10))
    assert wide["spleen/gdgp"].iloc[:7].isna().all()
    assert wide["spleen/gdgp"].iloc[7] == pytest.approx(DICE_A[:, 0].mean())
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gdgp"):
        assert main([*argv, "--round", "2"]) == 0  # the old spelling too
    assert any("deprecated" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gdgp"):
        assert main(argv) == 0
    assert not any("deprecated" in r.getMessage() for r in caplog.records)
    with pytest.raises(SystemExit):  # --budgets and --noc-budget are required
        main(["report", "--clicks", str(two_methods[0]), "--out-dir", str(out), "--table-round", "5"])


# --------------------------------------------------------------------------- figures


def _assert_png(path: Path) -> None:
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert float(img[..., :3].std()) > 0.02


def test_figures_written_and_non_trivial(two_methods: list[Path], tmp_path: Path) -> None:
    root = tmp_path / "results"
    losses = [write_loss(root, "spleen", "gdgp", extra=True), write_loss(root, "spleen", "dextr", scale=3.0)]
    overlays = [
        write_overlays(root, "spleen", "gdgp", 0.9, rounds=(0, 1, 2, 3)),
        write_overlays(root, "spleen", "dextr", 0.5),
    ]
    out = tmp_path / "out"
    build_report(
        two_methods, losses, overlays, out, budgets=(4, 8), noc_budget=9, reference_method="gdgp", n_boot=N_BOOT
    )
    for name in ("dice_per_click_spleen.png", "loss_curves.png", "overlays_spleen.png"):
        _assert_png(out / name)
    lc = pd.read_csv(out / "loss_curves.csv")
    assert "val_dice" in lc.columns and "note" not in lc.columns  # numeric extras kept
    assert set(lc["method"]) == {"gdgp", "dextr"} and len(lc) == 24
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_panel_round_at_the_largest_budget() -> None:
    ov = figures.Overlay(
        image=np.zeros((1, 4, 4)),
        gt=np.zeros((1, 4, 4)),
        pred=np.zeros((1, 3, 4, 4)),
        rounds=np.array([0, 2, 3]),
        slice_id=np.array([10]),
        click_slice=np.zeros(0, int),
        click_y=np.zeros(0),
        click_x=np.zeros(0),
        click_positive=np.zeros(0, bool),
        click_round=np.zeros(0, int),
    )
    n_clicks = {0: 7, 1: 8, 2: 8, 3: 9}
    assert figures.panel_round(ov, n_clicks, 8) == figures.PanelRound(1, 2, 8, False)  # last round within 8
    assert figures.panel_round(ov, n_clicks, 20) == figures.PanelRound(2, 3, 9, False)
    over = figures.panel_round(ov, n_clicks, 4)  # the first interaction alone exceeds the budget
    assert over == figures.PanelRound(0, 0, 7, True)
    assert figures._panel_title("gdgp", over, 4) == "gdgp\nround 0: 7 clicks > budget 4"
    # round 1 (8 clicks) is the target but not stored: the largest stored round below it is shown
    assert figures.panel_round(ov, {0: 7, 1: 8, 2: 9, 3: 9}, 8) == figures.PanelRound(0, 0, 7, False)


def test_missing_loss_and_overlays_skip_only_those_figures(two_methods: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report(two_methods, [], [], out, budgets=(8,), noc_budget=9, n_boot=N_BOOT)
    assert not (out / "loss_curves.png").exists() and not list(out.glob("overlays_*.png"))
    for name in (
        "table4.csv",
        "table4.md",
        "table4.tex",
        "noc.csv",
        "noc.md",
        "dice_per_click.csv",
        "dice_per_click_spleen.png",
        "significance.csv",
        "empty_predictions.csv",
        "metrics.json",
    ):
        assert (out / name).is_file(), name


def test_write_dvc_files_wide_curve_by_clicks(two_methods: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report(two_methods, [], [], out, budgets=(8,), noc_budget=9, n_boot=N_BOOT)
    write_dvc_files(out, tmp_path / "m.json", tmp_path / "c.csv")
    assert json.loads((tmp_path / "m.json").read_text()) == json.loads((out / "metrics.json").read_text())
    wide = pd.read_csv(tmp_path / "c.csv")
    assert wide.columns[0] == "clicks" and wide["spleen/dextr"].iloc[4] == pytest.approx(DICE_B[:, 0].mean(), abs=1e-6)


# --------------------------------------------------------------------------- skipped cases


def _skipped_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=SKIPPED_COLUMNS).to_csv(path, index=False)
    return path


def test_skipped_cases_are_listed_once_in_csv_and_under_table4(two_methods: list[Path], tmp_path: Path) -> None:
    bad = {
        "task": "Task09_Spleen",
        "case": "spleen_7",
        "image": "i.nii.gz",
        "label": "l.nii.gz",
        "reason": "l.nii.gz: cannot read NIfTI (EOFError)",
    }
    # two datasets of the same task list the same case: reported once
    paths = [_skipped_csv(tmp_path / "s" / name / "skipped.csv", [bad]) for name in ("a", "b")]
    paths.append(_skipped_csv(tmp_path / "s" / "c" / "skipped.csv", []))
    build_report(two_methods, [], [], tmp_path / "out", budgets=(8,), noc_budget=9, skipped_csvs=paths, n_boot=N_BOOT)
    listed = pd.read_csv(tmp_path / "out" / "skipped.csv")
    assert listed.to_dict("records") == [bad]
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "1 case(s) skipped" in md and "Task09_Spleen / spleen_7: l.nii.gz: cannot read NIfTI" in md


def test_no_skipped_case_gives_header_only_csv_and_no_note(two_methods: list[Path], tmp_path: Path) -> None:
    build_report(
        two_methods,
        [],
        [],
        tmp_path / "out",
        budgets=(8,),
        noc_budget=9,
        skipped_csvs=[_skipped_csv(tmp_path / "s.csv", [])],
        n_boot=N_BOOT,
    )
    assert pd.read_csv(tmp_path / "out" / "skipped.csv").empty
    assert "skipped" not in (tmp_path / "out" / "table4.md").read_text()
    with pytest.raises(InputDataError, match="s2.csv"):
        (tmp_path / "s2.csv").write_text("task,case\nT,c\n")  # reason etc. missing
        build_report(
            two_methods, [], [], tmp_path / "out2", budgets=(8,), noc_budget=9, skipped_csvs=[tmp_path / "s2.csv"]
        )


def test_only_pretrained_methods_still_get_the_declared_loss_figure(two_methods: list[Path], tmp_path: Path) -> None:
    """Every loss.csv epoch-less (pretrained methods): the workflow declares loss_curves.png, so it
    is written, saying nothing was trained, instead of the report rule failing on a missing output."""
    losses = [write_loss(tmp_path / "results", "spleen", m, epochs=0) for m in ("gdgp", "dextr")]
    out = tmp_path / "out"
    build_report(two_methods, losses, [], out, budgets=(8,), noc_budget=9, n_boot=N_BOOT)
    _assert_png(out / "loss_curves.png")
    assert pd.read_csv(out / "loss_curves.csv").empty
