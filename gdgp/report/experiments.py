"""The paper's GDGP experiment tables and figure: Table 2, Tables 3/5/6 and Fig. 2.

* Table 2: initial vs learned sigma, alpha1, alpha2, tau, l, one row per dataset, read
  from the trained ``gdgp`` models' ``loss.csv`` (last epoch).
* Tables 3, 5, 6: GDGP vs its variants (fixed parameters; EDV/GH/GEO encodings;
  ablations) on the experiment datasets: Dice and ASSD (px) mean ± std over test slices
  at one total-click budget (first interaction included; every variant's first
  interaction costs 7 clicks like GDGP's, :mod:`gdgp.report.budgets`), and a paired
  Wilcoxon of GDGP against each variant over *patients* (per-patient means,
  :func:`gdgp.report.stats.paired_patient_tests`, Holm-corrected per dataset). Several
  clicks files of one (dataset, method) are training-seed replicates
  (``train.seeds``, files in ``seed<k>`` folders): each slice's metrics are
  averaged over the seeds (each patient's over its slices and seeds), and the spread of
  the per-seed means is reported beside them.
* Fig. 2: GDGP's composite training loss per epoch and its parts (0.5 Dice + 0.5 CE, NLL,
  KL), one panel per dataset; with several training seeds, each curve is their mean per
  epoch and a band spans the seeds' total losses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from gdgp.atomic import write_text_atomic
from gdgp.errors import InputDataError
from gdgp.experiment_plan import LEARNED_PARAMETERS, ROW_LABELS, TABLES, TITLES
from gdgp.report import budgets as cost
from gdgp.report import figures, stats, tables
from gdgp.report.build import _read_csv, load_clicks, write_csv

PARAMETERS = LEARNED_PARAMETERS


def _markdown(df: pd.DataFrame) -> str:
    """A GitHub-markdown table of a small frame (all cells as strings)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- Table 2
def learned_parameters_table(
    losses: Sequence[Path], datasets: Sequence[str], initial: Mapping[str, float]
) -> pd.DataFrame:
    """Initial values (the configured ``methods.gdgp`` settings) and learned values per dataset.

    The learned values are the last epoch's row of each training's ``loss.csv``, where the
    trainer logs them after every epoch (the values the final checkpoint holds), so the report
    reads five numbers per model instead of loading it. A dataset named for several trainings
    (its training-seed replicates) gets one row with the mean over them, ``<param>_std``
    (ddof 1) and ``n_seeds``.

    Raises:
        InputDataError: counts that differ, an initial value missing or not a number, or a
            ``loss.csv`` without the five parameters (not a full gdgp model) or without any
            epoch, naming the file.
    """
    if len(losses) != len(datasets):
        raise InputDataError(f"table2: {len(losses)} loss files but {len(datasets)} dataset names")
    missing = [k for k in PARAMETERS if k not in initial]
    if missing:
        raise InputDataError(
            f"table2: no initial value for {missing} (give --initial KEY=VALUE for {list(PARAMETERS)})"
        )
    not_numbers = {
        k: initial[k] for k in PARAMETERS if isinstance(initial[k], bool) or not isinstance(initial[k], int | float)
    }
    if not_numbers:
        raise InputDataError(f"table2: initial values must be numbers, got {not_numbers}")
    initial_row = {"row": "initial", **{k: float(initial[k]) for k in PARAMETERS}}
    learned_rows = []
    for path, dataset in zip(losses, datasets, strict=True):
        # a model without the GP (gdgp_abl_cnn) logs no kernel parameters: a clear error naming the file
        curve = _read_csv(path, ("epoch", *PARAMETERS), "Table 2's gdgp loss")
        last = curve.sort_values("epoch").iloc[-1]
        learned_rows.append(
            {
                "dataset": dataset,
                **{k: float(last[k]) for k in PARAMETERS},
                **{f"{k}_initial": initial_row[k] for k in PARAMETERS},
            }
        )
    per_seed = pd.DataFrame(learned_rows)
    grouped = per_seed.groupby("dataset", sort=False)
    out = grouped.mean(numeric_only=True).reset_index()
    std = grouped[list(PARAMETERS)].std(ddof=1).add_suffix("_std").reset_index(drop=True)
    out = pd.concat([out, std], axis=1)
    out["n_seeds"] = grouped.size().to_numpy()
    out.insert(0, "row", [f"learned ({d})" for d in out.pop("dataset")])
    return pd.concat([pd.DataFrame([initial_row]), out], ignore_index=True)


def table2_markdown(df: pd.DataFrame) -> str:
    shown = df[["row", *PARAMETERS]].copy()
    seeds = df["n_seeds"].fillna(1)  # the initial row has none
    for k in PARAMETERS:
        shown[k] = [
            f"{v:.2f} ± {sd:.2f}" if n > 1 else f"{v:.2f}"
            for v, sd, n in zip(shown[k], df[f"{k}_std"], seeds, strict=True)
        ]
    note = ""
    if (seeds > 1).any():
        shown["seeds"] = [str(int(n)) if r != "initial" else "" for n, r in zip(seeds, df["row"], strict=True)]
        note = "\nWith several training seeds: mean ± std over the seeds' learned values.\n"
    return "# Table 2: initial and learned parameters\n\n" + _markdown(shown.rename(columns={"row": ""})) + note


# --------------------------------------------------------------------------- Tables 3, 5, 6
#: Columns of variant_table (and of table3/5/6.csv).
VARIANT_COLUMNS: tuple[str, ...] = (
    "dataset",
    "method",
    "row",
    "budget",
    "reachable",
    "n_slices",
    "n_patients",
    "n_seeds",
    "dice_mean",
    "dice_std",
    "dice_seed_std",
    "assd_px_mean",
    "assd_px_std",
    "n_run_ended",
    "n_units",
    "mean_diff",
    "ci_low",
    "ci_high",
    "p",
    "p_holm",
)


def variant_table(
    clicks_csvs: Sequence[Path], table: str, budget: int, n_boot: int = 10000, seed: int = 0, default_seed: int = 0
) -> pd.DataFrame:
    """One row per (dataset, gdgp or variant): Dice/ASSD at a total-click budget, and the test vs gdgp.

    Args:
        clicks_csvs: clicks.csv of gdgp and the table's variants; files in ``seed<k>``
            folders are training-seed replicates (:func:`gdgp.report.build.load_clicks`).
        table: ``table3``, ``table5`` or ``table6``.
        budget: total clicks, first interaction included.
        n_boot, seed: of the bootstrap CI of the paired difference.
        default_seed: seed of the files outside a ``seed<k>`` folder (older layouts; the
            workflow writes every run into one).

    Returns:
        :data:`VARIANT_COLUMNS`: Dice/ASSD mean ± std over slices of the seed-averaged
        values and ``dice_seed_std`` (:func:`gdgp.report.budgets.budget_table`; NaN where
        the method's first interaction exceeds the budget), ``n_units`` (paired patients),
        ``mean_diff`` = mean over patients of (gdgp − variant) with its bootstrap CI, the
        two-sided Wilcoxon ``p`` and its Holm correction ``p_holm`` (NaN for gdgp).
    """
    if table not in TABLES:
        raise InputDataError(f"unknown experiment table {table!r}; known: {sorted(TABLES)}")
    clicks = load_clicks(list(map(Path, clicks_csvs)), default_seed)
    expected = {"gdgp", *TABLES[table]}
    extra = sorted(set(clicks["method"]) - expected)
    if extra:
        raise InputDataError(f"{table}: clicks of {extra} do not belong to this table (expects {sorted(expected)})")
    if "gdgp" not in set(clicks["method"]):
        raise InputDataError(f"{table}: no gdgp clicks among {list(map(str, clicks_csvs))}")
    summary = cost.budget_table(clicks, [budget])
    per_slice = tables.reachable_rows(cost.at_budgets(clicks, [budget]), summary)
    tests = stats.paired_patient_tests(per_slice, "gdgp", budget, n_boot=n_boot, seed=seed)
    out = summary.merge(
        tests[["dataset", "method", "budget", "n_units", "mean_diff", "ci_low", "ci_high", "p", "p_holm"]],
        on=["dataset", "method", "budget"],
        how="left",
    )
    order = {m: i for i, m in enumerate(["gdgp", *TABLES[table]])}
    out["row"] = out["method"].map(ROW_LABELS)
    out = out.sort_values(["dataset", "method"], key=lambda s: s.map(order) if s.name == "method" else s)
    return out[list(VARIANT_COLUMNS)].reset_index(drop=True)


def variant_markdown(df: pd.DataFrame, table: str) -> str:
    """Rows = settings, column pairs = datasets, as the paper lays Tables 3, 5 and 6 out."""
    datasets = list(dict.fromkeys(df["dataset"]))
    methods = list(dict.fromkeys(df["method"]))
    rows = []
    for m in methods:
        cells = {"setting": ROW_LABELS.get(m, m)}
        for d in datasets:
            r = df[(df["dataset"] == d) & (df["method"] == m)]
            if r.empty or not bool(r.iloc[0]["reachable"]):
                cells[f"{d} Dice (%)"] = cells[f"{d} ASSD (px)"] = "–"
                continue
            r = r.iloc[0]
            p = ""
            if m != "gdgp" and not pd.isna(r["mean_diff"]):
                p_text = "–" if pd.isna(r["p_holm"]) else f"{r['p_holm']:.2g}"
                p = f" (Δ {100 * r['mean_diff']:+.1f}, p={p_text})"
            seeds = f" [seeds ± {100 * r['dice_seed_std']:.1f}]" if r["n_seeds"] > 1 else ""
            cells[f"{d} Dice (%)"] = tables.format_mean_std(100 * r["dice_mean"], 100 * r["dice_std"], 2) + seeds + p
            cells[f"{d} ASSD (px)"] = tables.format_mean_std(r["assd_px_mean"], r["assd_px_std"], 2)
        rows.append(cells)
    budget = int(df["budget"].max()) if len(df) else 0
    n_seeds = int(df["n_seeds"].max()) if len(df) else 1
    seeds = (
        f" Each slice's metrics are the mean over {n_seeds} training seeds; [seeds ± s] is the std "
        "of the per-seed mean Dice (points)."
        if n_seeds > 1
        else ""
    )
    note = (
        f"\nDice and ASSD at a budget of {budget} total clicks (first interaction included), mean ± std over "
        "test slices; – = the first interaction alone exceeds the budget. Δ = GDGP − row (Dice points, mean "
        "over patients of the per-patient mean difference; positive: GDGP better), p = two-sided paired Wilcoxon "
        f"over patients, Holm-corrected per dataset (– with too few patients).{seeds}\n"
    )
    return f"# {TITLES[table]}\n\n" + _markdown(pd.DataFrame(rows)) + note


# --------------------------------------------------------------------------- Fig. 2
def _seed_mean_loss(paths: Sequence[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-epoch mean over the seeds' loss tables, and the min/max of the total loss."""
    frames = [_read_csv(path, ("epoch", "loss", "seg"), "Fig. 2's gdgp loss") for path in paths]
    both = pd.concat(frames, ignore_index=True)
    cols = [c for c in ("loss", "seg", "nll", "kl") if c in both.columns]
    per_epoch = both.groupby("epoch", sort=True)
    return per_epoch[cols].mean().reset_index(), per_epoch["loss"].agg(["min", "max"]).reset_index()


def plot_gdgp_loss(loss_csvs: Sequence[Path], datasets: Sequence[str]) -> plt.Figure:
    """Composite loss and its parts per epoch (the paper's Fig. 2), one panel per dataset.

    ``datasets[i]`` names the dataset of ``loss_csvs[i]``; a name given for several files
    (its training seeds) gets one panel with the per-epoch mean over them and a band from
    the lowest to the highest seed's total loss.
    """
    if len(loss_csvs) != len(datasets):
        raise InputDataError(f"fig2: {len(loss_csvs)} loss files but {len(datasets)} dataset names")
    by_dataset: dict[str, list[Path]] = {}
    for path, dataset in zip(loss_csvs, datasets, strict=True):
        by_dataset.setdefault(dataset, []).append(Path(path))
    ncols = min(len(by_dataset), 3)
    nrows = -(-len(by_dataset) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False, dpi=figures.DPI)
    for ax in list(axes.flat)[len(by_dataset) :]:
        ax.set_visible(False)
    for ax, (dataset, paths) in zip(axes.flat, by_dataset.items(), strict=False):
        df, band = _seed_mean_loss(paths)
        ax.plot(
            df["epoch"],
            df["loss"],
            lw=2,
            label="L (total)" + (f", mean of {len(paths)} seeds" if len(paths) > 1 else ""),
        )
        if len(paths) > 1:
            ax.fill_between(band["epoch"], band["min"], band["max"], alpha=0.2, label="L, seed range")
        ax.plot(df["epoch"], df["seg"], lw=1.2, ls="--", label="0.5 Dice + 0.5 CE")
        ax.set_title(dataset)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.grid(True, alpha=0.3)
        if "nll" in df.columns and df["nll"].abs().sum() > 0:
            twin = ax.twinx()
            twin.plot(df["epoch"], df["nll"], lw=1, color="tab:red", alpha=0.7, label="GP NLL")
            twin.plot(df["epoch"], df["kl"], lw=1, color="tab:green", alpha=0.7, label="GP KL")
            twin.set_ylabel("NLL, KL")
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = twin.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, fontsize=7)
        else:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_table2(
    losses: Sequence[Path], datasets: Sequence[str], initial: Mapping[str, float], out_csv: Path, out_md: Path
) -> pd.DataFrame:
    df = learned_parameters_table(losses, datasets, initial)
    write_csv(df, out_csv)
    write_text_atomic(out_md, table2_markdown(df))
    return df


def write_variant_table(
    clicks_csvs: Sequence[Path],
    table: str,
    budget: int,
    out_csv: Path,
    out_md: Path,
    n_boot: int = 10000,
    seed: int = 0,
    default_seed: int = 0,
) -> pd.DataFrame:
    df = variant_table(clicks_csvs, table, budget, n_boot=n_boot, seed=seed, default_seed=default_seed)
    write_csv(df, out_csv)
    write_text_atomic(out_md, variant_markdown(df, table))
    return df
