"""Protocol sensitivity (gdgp.report.protocols): budget Dice, ranks and Kendall tau per protocol."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gdgp.cli import main
from gdgp.errors import ConfigError
from gdgp.report.protocols import protocol_columns, protocol_sensitivity, tau_column
from gdgp.report.tables import CLICKS_COLUMNS

PROTOCOLS = ("ritm", "largest_component_centre", "weighted_random")
#: First-interaction cost (clicks) of each synthetic method.
COST = {"auto": 0, "click": 1, "dextr": 4, "gdgp": 7}
BUDGETS = (2, 4, 8, 12)


def synthetic_clicks(
    rng: np.random.Generator,
    methods: dict[str, int] = COST,
    datasets=("lung", "spleen"),
    seeds=(0, 3),
    n_slices: int = 5,
    n_rounds: int = 6,
) -> pd.DataFrame:
    """Clicks rows of every dataset x method x seed x slice x round: n_clicks = the method's
    first-interaction cost, then +1 per round except where the robot found nothing (+0);
    Dice random (distinct floats, so no ties)."""
    rows = []
    for d, (m, cost), k in itertools.product(datasets, methods.items(), seeds):
        for s in range(n_slices):
            n = cost
            for r in range(n_rounds + 1):
                if r > 0:
                    n += int(rng.random() < 0.8)
                rows.append(
                    {
                        "dataset": d,
                        "method": m,
                        "seed": k,
                        "slice_id": 10 + s,
                        "case": f"p{s // 2}",
                        "round": r,
                        "n_clicks": n,
                        "dice": float(rng.uniform(0.05, 0.95)),
                    }
                )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- brute force (plain loops)
def bf_dice(rows: list[dict], dataset: str, method: str, budget: int) -> float:
    """Table 4's Dice at a budget: per (seed, slice) run the last round with n_clicks <= budget;
    NaN if any run's first interaction alone exceeds it; seeds averaged per slice, then slices."""
    runs: dict[tuple[int, int], list[dict]] = {}
    for r in rows:
        if r["dataset"] == dataset and r["method"] == method:
            runs.setdefault((r["seed"], r["slice_id"]), []).append(r)
    if not runs:
        return math.nan
    per_slice: dict[int, list[float]] = {}
    for (_, slice_id), run in runs.items():
        run = sorted(run, key=lambda x: x["round"])
        within = [x for x in run if x["n_clicks"] <= budget]
        if not within:
            return math.nan
        per_slice.setdefault(slice_id, []).append(within[-1]["dice"])
    means = [sum(v) / len(v) for v in per_slice.values()]
    return sum(means) / len(means)


def bf_rank(values: dict[str, float], method: str) -> float:
    v = values[method]
    if math.isnan(v):
        return math.nan
    others = [w for w in values.values() if not math.isnan(w)]
    higher = sum(w > v for w in others)
    equal = sum(w == v for w in others)
    return 1 + higher + (equal - 1) / 2


def bf_tau(ranks_a: dict[str, float], ranks_b: dict[str, float]) -> float:
    common = [m for m in ranks_a if not math.isnan(ranks_a[m]) and not math.isnan(ranks_b.get(m, math.nan))]
    n = len(common)
    if n < 2:
        return math.nan
    concordant = discordant = 0
    for i in range(n):
        for j in range(i + 1, n):
            s = (ranks_a[common[i]] - ranks_a[common[j]]) * (ranks_b[common[i]] - ranks_b[common[j]])
            concordant += s > 0
            discordant += s < 0
    return (concordant - discordant) / (n * (n - 1) / 2)


def test_matches_a_brute_force_computation() -> None:
    rng = np.random.default_rng(7)
    clicks = {p: synthetic_clicks(rng) for p in PROTOCOLS}
    # one method not evaluated under one protocol: it has no value, no rank and stays out of the taus there
    clicks["weighted_random"] = clicks["weighted_random"][clicks["weighted_random"]["method"] != "click"]
    table = protocol_sensitivity(clicks, BUDGETS, method_order=["gdgp", "dextr", "click", "auto"])
    assert list(table.columns) == protocol_columns(PROTOCOLS)
    assert len(table) == 2 * len(BUDGETS) * len(COST)
    assert list(table["method"][:4]) == ["gdgp", "dextr", "click", "auto"]
    records = {p: df.to_dict("records") for p, df in clicks.items()}
    checked_taus = 0
    for (d, b), cell in table.groupby(["dataset", "budget"]):
        values = {p: {m: bf_dice(records[p], d, m, b) for m in COST} for p in PROTOCOLS}
        ranks = {p: {m: bf_rank(values[p], m) for m in COST} for p in PROTOCOLS}
        for row in cell.itertuples(index=False):
            for p in PROTOCOLS:
                want, got = values[p][row.method], getattr(row, f"dice_{p}")
                assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, abs=1e-12)
                want, got = ranks[p][row.method], getattr(row, f"rank_{p}")
                assert (math.isnan(want) and math.isnan(got)) or got == want
            for a, c in itertools.combinations(PROTOCOLS, 2):
                want, got = bf_tau(ranks[a], ranks[c]), getattr(row, tau_column(a, c))
                assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, abs=1e-12)
                checked_taus += not math.isnan(want)
        # the same tau on every row of the (dataset, budget)
        for a, c in itertools.combinations(PROTOCOLS, 2):
            assert cell[tau_column(a, c)].nunique(dropna=False) == 1
    assert checked_taus > 0
    # budget 2: only auto (0 clicks) and click (1) have values; click lacks weighted_random -> fewer than 2 methods
    at2 = table[table["budget"] == 2]
    assert at2[tau_column("ritm", "weighted_random")].isna().all()
    assert at2[tau_column("ritm", "largest_component_centre")].notna().all()


def _one_slice(dice: dict[str, float], dataset: str = "spleen") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"dataset": dataset, "method": m, "seed": 0, "slice_id": 1, "round": 0, "n_clicks": 1, "dice": v}
            for m, v in dice.items()
        ]
    )


@pytest.mark.parametrize(
    ("a", "b", "tau"),
    [
        # one adjacent swap among n methods: tau = 1 - 4 / (n (n - 1))
        ({"x": 0.9, "y": 0.8, "z": 0.5}, {"x": 0.8, "y": 0.9, "z": 0.5}, 1 / 3),
        ({"x": 0.9, "y": 0.8, "z": 0.5, "w": 0.1}, {"x": 0.9, "y": 0.5, "z": 0.8, "w": 0.1}, 1 - 4 / 12),
        ({"x": 0.9, "y": 0.8}, {"x": 0.8, "y": 0.9}, -1.0),
        ({"x": 0.9, "y": 0.8, "z": 0.5}, {"x": 0.6, "y": 0.3, "z": 0.2}, 1.0),
        ({"x": 0.9, "y": 0.8}, {"x": 0.8}, math.nan),  # one method under both: no tau
    ],
)
def test_two_protocols_swapping_methods(a: dict, b: dict, tau: float) -> None:
    table = protocol_sensitivity({"ritm": _one_slice(a), "weighted_random": _one_slice(b)}, [1])
    got = table[tau_column("ritm", "weighted_random")]
    if math.isnan(tau):
        assert got.isna().all()
    else:
        assert np.allclose(got, tau)
    ranks = dict(zip(table["method"], table["rank_ritm"], strict=True))
    assert ranks["x"] == 1.0 and ranks["y"] == 2.0


def test_ties_share_their_mean_rank_and_a_tied_ranking_has_no_tau() -> None:
    table = protocol_sensitivity(
        {
            "ritm": _one_slice({"x": 0.5, "y": 0.5, "z": 0.9}),
            "largest_component_centre": _one_slice({"x": 0.4, "y": 0.4, "z": 0.4}),
        },
        [1],
    )
    assert dict(zip(table["method"], table["rank_ritm"], strict=True)) == {"z": 1.0, "x": 2.5, "y": 2.5}
    assert table[tau_column("ritm", "largest_component_centre")].isna().all()


def test_unknown_or_repeated_protocols_and_bad_budgets_are_config_errors() -> None:
    rows = _one_slice({"x": 0.5})
    with pytest.raises(ConfigError, match="clicky"):
        protocol_sensitivity({"ritm": rows, "clicky": rows}, [1])
    with pytest.raises(ConfigError, match="no click protocol"):
        protocol_sensitivity({}, [1])
    with pytest.raises(ConfigError, match="budgets"):
        protocol_sensitivity({"ritm": rows}, [])


def _write_runs(root: Path, clicks: pd.DataFrame) -> list[Path]:
    """clicks.csv files as the workflow writes them: <root>/<dataset>/<method>/seed<k>/clicks.csv."""
    paths = []
    for (d, m, k), g in clicks.groupby(["dataset", "method", "seed"]):
        full = g.drop(columns="seed").assign(
            slice_z=g["slice_id"],
            click_y=1.0,
            click_x=2.0,
            click_positive=1.0,
            assd_px=1.0,
            assd_mm=1.0,
            tp=1,
            fp=0,
            fn=0,
            empty_pred=False,
        )
        path = root / d / m / f"seed{k}" / "clicks.csv"
        path.parent.mkdir(parents=True)
        full[list(CLICKS_COLUMNS)].to_csv(path, index=False)
        paths.append(path)
    return paths


def test_cli_reads_the_seed_folders_and_skips_empty_runs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    clicks = {p: synthetic_clicks(rng, datasets=("spleen",), n_slices=4) for p in ("ritm", "weighted_random")}
    files = {p: _write_runs(tmp_path / p, df) for p, df in clicks.items()}
    out = tmp_path / "report" / "protocol_sensitivity.csv"
    args = [
        "report-protocols",
        "--clicks",
        "ritm",
        *map(str, files["ritm"]),
        "--clicks",
        "weighted_random",
        *map(str, files["weighted_random"]),
        "--budgets",
        "2",
        "8",
        "--out-csv",
        str(out),
    ]
    assert main(args) == 0
    expected = protocol_sensitivity(clicks, [2, 8])
    pd.testing.assert_frame_equal(pd.read_csv(out), expected, check_dtype=False)
    # a header-only run (an empty split) is an error, unless --skip-empty
    empty = tmp_path / "empty" / "spleen" / "extra" / "seed0" / "clicks.csv"
    empty.parent.mkdir(parents=True)
    empty.write_text(",".join(CLICKS_COLUMNS) + "\n")
    args[2:3] = ["ritm", str(empty)]
    assert main(args) == 1
    assert main([*args, "--skip-empty"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), expected, check_dtype=False)
    # a protocol named twice, or without files, is refused
    assert (
        main(
            [
                "report-protocols",
                "--clicks",
                "ritm",
                str(files["ritm"][0]),
                "--clicks",
                "ritm",
                str(files["ritm"][1]),
                "--budgets",
                "2",
                "--out-csv",
                str(out),
            ]
        )
        == 1
    )
    assert main(["report-protocols", "--clicks", "ritm", "--budgets", "2", "--out-csv", str(out)]) == 1
