"""Table maths of the report: pure pandas functions from ``clicks.csv`` rows to summary tables.

Everything here takes and returns DataFrames (no file access), so each number in the paper
tables can be checked against an independent computation in the tests.

Conventions, chosen once here so that every table agrees:

* **Table round.** Summaries are taken at ``table_round`` corrective clicks. A method whose
  evaluation stopped earlier (N < ``table_round``) is scored at its last round N; the
  summary says so (``clipped``) and the formatted tables mark the cell with a dagger.
* **Standard deviation** is the sample standard deviation over test slices (``ddof=1``),
  the usual "mean ± std" of segmentation papers; it is NaN for a single slice.
* **Empty predictions** are kept in the means with their documented penalty (Dice 0, ASSD
  = slice diagonal, see :mod:`gdgp.metrics`) and counted separately, so a method cannot
  look better by failing silently.
* **NoC@t** (number of clicks to reach Dice ≥ t) counts ``n_clicks`` at the first round that
  reaches t; a slice that never does counts ``n_clicks`` at its last round and is a failure
  (``nof_t``), the usual NoC/NoF protocol of interactive segmentation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Columns every clicks.csv must have (the evaluator writes exactly these).
CLICKS_COLUMNS: tuple[str, ...] = (
    "dataset", "method", "slice_id", "case", "slice_z", "round", "n_clicks", "click_y", "click_x",
    "click_positive", "dice", "assd_px", "assd_mm", "tp", "fp", "fn", "empty_pred",
)
#: Columns every loss.csv must have.
LOSS_COLUMNS: tuple[str, ...] = ("epoch", "loss", "lr", "seconds")

SUMMARY_COLUMNS: tuple[str, ...] = (
    "dataset", "method", "round", "n_slices", "dice_mean", "dice_std", "assd_px_mean", "assd_px_std",
    "assd_mm_mean", "assd_mm_std", "n_empty_pred", "requested_round", "clipped",
)
CURVE_COLUMNS: tuple[str, ...] = ("dataset", "method", "round", "dice_mean", "dice_std", "dice_sem", "n")
SIGNIFICANCE_COLUMNS: tuple[str, ...] = (
    "dataset", "method", "reference", "round", "n", "mean_diff", "statistic", "p_value", "p_holm",
)
EMPTY_COLUMNS: tuple[str, ...] = ("dataset", "method", "n_rows_empty_pred", "n_slices_empty_at_table_round")

_KEYS = ["dataset", "method"]


def threshold_label(t: float) -> str:
    """Column suffix of a Dice threshold: 0.85 -> ``"85"`` (``round(100 * t)``)."""
    return str(round(100 * t))


def order_methods(methods: Iterable[str], method_order: Sequence[str] | None = None) -> list[str]:
    """Order methods for tables and legends.

    Methods named in ``method_order`` come first, in that order (names not present are
    ignored, so one config order serves every dataset); the rest follow alphabetically, so
    a method missing from the order is still shown rather than silently dropped.
    """
    present = sorted(set(methods))
    first = [m for m in dict.fromkeys(method_order or []) if m in present]
    return first + [m for m in present if m not in first]


def rows_at_round(clicks: pd.DataFrame, table_round: int) -> pd.DataFrame:
    """The rows of each (dataset, method) at ``min(table_round, N)``.

    N is the method's last round. Clipping rather than dropping keeps a method evaluated
    with fewer rounds in the table; the caller marks it.

    Returns:
        The selected rows plus ``requested_round`` and ``clipped`` columns.
    """
    last = clicks.groupby(_KEYS)["round"].transform("max")
    used = np.minimum(last, table_round)
    out = clicks.loc[clicks["round"] == used].copy()
    out["requested_round"] = int(table_round)
    out["clipped"] = out["round"] < table_round
    return out


def _std(x: pd.Series) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else math.nan


def summarise_round(clicks: pd.DataFrame, table_round: int) -> pd.DataFrame:
    """Per (dataset, method): Dice and ASSD mean ± std over test slices at the table round.

    Args:
        clicks: validated clicks rows of any number of (dataset, method) pairs.
        table_round: requested number of corrective clicks (clipped per method to its N).

    Returns:
        Long tidy table with :data:`SUMMARY_COLUMNS`, one row per (dataset, method).
    """
    at = rows_at_round(clicks, table_round)
    records = []
    for (dataset, method), g in at.groupby(_KEYS, sort=True):
        records.append({
            "dataset": dataset, "method": method, "round": int(g["round"].iloc[0]), "n_slices": len(g),
            "dice_mean": float(g["dice"].mean()), "dice_std": _std(g["dice"]),
            "assd_px_mean": float(g["assd_px"].mean()), "assd_px_std": _std(g["assd_px"]),
            "assd_mm_mean": float(g["assd_mm"].mean()), "assd_mm_std": _std(g["assd_mm"]),
            "n_empty_pred": int(g["empty_pred"].sum()), "requested_round": int(table_round),
            "clipped": bool(g["clipped"].iloc[0]),
        })
    return pd.DataFrame(records, columns=list(SUMMARY_COLUMNS))


def _slice_noc(g: pd.DataFrame, threshold: float) -> tuple[int, bool]:
    """(clicks needed, failed) of one slice's rounds, sorted by round.

    A slice that never reaches the threshold counts the whole click budget: its final click
    count, and at least the number of corrective rounds offered, so that an automatic
    method (no clicks) that fails is not scored as needing none.
    """
    reached = g["dice"].to_numpy() >= threshold
    n_clicks = g["n_clicks"].to_numpy()
    if reached.any():
        return int(n_clicks[int(np.argmax(reached))]), False
    return max(int(n_clicks[-1]), int(g["round"].to_numpy()[-1])), True


def noc_table(clicks: pd.DataFrame, thresholds: Sequence[float] = (0.85, 0.90)) -> pd.DataFrame:
    """NoC@t and NoF@t per (dataset, method).

    Args:
        clicks: validated clicks rows.
        thresholds: Dice thresholds in (0, 1]; columns are named ``noc_<round(100 t)>`` and
            ``nof_<round(100 t)>``.

    Returns:
        Columns ``dataset, method, n_slices`` then ``noc_XX, nof_XX`` per threshold.
    """
    per_slice = clicks.sort_values([*_KEYS, "slice_id", "round"]).groupby([*_KEYS, "slice_id"], sort=True)
    rows: dict[tuple[str, str], dict] = {}
    for (dataset, method, _sid), g in per_slice:
        row = rows.setdefault((dataset, method), {"dataset": dataset, "method": method, "n_slices": 0,
                                                  **{f"_clicks_{i}": [] for i in range(len(thresholds))},
                                                  **{f"_fail_{i}": 0 for i in range(len(thresholds))}})
        row["n_slices"] += 1
        for i, t in enumerate(thresholds):
            n, failed = _slice_noc(g, t)
            row[f"_clicks_{i}"].append(n)
            row[f"_fail_{i}"] += int(failed)
    columns = ["dataset", "method", "n_slices"]
    for t in thresholds:
        columns += [f"noc_{threshold_label(t)}", f"nof_{threshold_label(t)}"]
    records = []
    for row in rows.values():
        rec = {"dataset": row["dataset"], "method": row["method"], "n_slices": row["n_slices"]}
        for i, t in enumerate(thresholds):
            rec[f"noc_{threshold_label(t)}"] = float(np.mean(row[f"_clicks_{i}"]))
            rec[f"nof_{threshold_label(t)}"] = int(row[f"_fail_{i}"])
        records.append(rec)
    return pd.DataFrame(records, columns=columns)


def per_click_curve(clicks: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, SEM and count of Dice per (dataset, method, round): the per-click curves.

    SEM = std / sqrt(n) (NaN for one slice) is what the figures shade: it shows how well the
    mean is known, which is what comparing curves needs.
    """
    g = clicks.groupby([*_KEYS, "round"], sort=True)["dice"]
    out = g.agg(dice_mean="mean", dice_std=lambda x: x.std(ddof=1), n="count").reset_index()
    out["dice_sem"] = out["dice_std"] / np.sqrt(out["n"])
    out["round"] = out["round"].astype(int)
    out["n"] = out["n"].astype(int)
    return out[list(CURVE_COLUMNS)]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaN entries are left NaN and not counted).

    Several baselines are each tested against one reference, so the family-wise error of the
    comparisons of one dataset is controlled with Holm's step-down method.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out.tolist()


def wilcoxon_paired(reference: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples, safe for degenerate input.

    scipy warns and may return NaN when every difference is zero; that case means "no
    difference at all", reported as statistic 0 and p = 1. With no pairs the test is
    undefined (NaN, NaN).

    Returns:
        (statistic, p_value).
    """
    diff = np.asarray(reference, dtype=float) - np.asarray(other, dtype=float)
    if diff.size == 0:
        return math.nan, math.nan
    if np.all(diff == 0):
        return 0.0, 1.0
    res = stats.wilcoxon(reference, other)
    return float(res.statistic), float(res.pvalue)


def paired_tests(clicks: pd.DataFrame, reference: str | None, table_round: int) -> pd.DataFrame:
    """Wilcoxon signed-rank test of Dice at the table round: reference vs every other method.

    Pairs are matched by ``slice_id`` (not row order), over the slices both methods scored.
    Each method is taken at its own (possibly clipped) table round, as in Table 4, so the
    test is about the numbers the table shows. Datasets without the reference are skipped.

    Returns:
        :data:`SIGNIFICANCE_COLUMNS`; ``round`` = the requested ``table_round``,
        ``mean_diff`` = mean(reference − method), and ``p_holm`` the Holm-adjusted p-value
        within the dataset.
    """
    if reference is None:
        return pd.DataFrame(columns=list(SIGNIFICANCE_COLUMNS))
    at = rows_at_round(clicks, table_round)
    records = []
    for dataset, d in at.groupby("dataset", sort=True):
        ref = d.loc[d["method"] == reference, ["slice_id", "dice"]]
        if ref.empty:
            continue
        block = []
        for method in sorted(set(d["method"]) - {reference}):
            other = d.loc[d["method"] == method, ["slice_id", "dice"]]
            pairs = ref.merge(other, on="slice_id", suffixes=("_ref", "_other")).sort_values("slice_id")
            a, b = pairs["dice_ref"].to_numpy(float), pairs["dice_other"].to_numpy(float)
            statistic, p = wilcoxon_paired(a, b)
            block.append({"dataset": dataset, "method": method, "reference": reference,
                          "round": int(table_round), "n": len(pairs),
                          "mean_diff": float(np.mean(a - b)) if len(pairs) else math.nan,
                          "statistic": statistic, "p_value": p})
        for rec, ph in zip(block, holm([r["p_value"] for r in block]), strict=True):
            rec["p_holm"] = ph
        records += block
    return pd.DataFrame(records, columns=list(SIGNIFICANCE_COLUMNS))


def empty_prediction_table(clicks: pd.DataFrame, table_round: int) -> pd.DataFrame:
    """How often each method predicted nothing on a non-empty target (all rounds, and at the table round)."""
    total = clicks.groupby(_KEYS, sort=True)["empty_pred"].sum().rename("n_rows_empty_pred")
    at = rows_at_round(clicks, table_round).groupby(_KEYS, sort=True)["empty_pred"].sum()
    out = pd.concat([total, at.rename("n_slices_empty_at_table_round")], axis=1).reset_index()
    return out.astype({"n_rows_empty_pred": int, "n_slices_empty_at_table_round": int})[list(EMPTY_COLUMNS)]


# --------------------------------------------------------------------------- formatting


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``"0.912 ± 0.031"``; only the mean when std is undefined; ``"–"`` when there is no mean."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


#: (summary column prefix, header, digits, higher is better) of the Table-4 metrics.
TABLE4_METRICS: tuple[tuple[str, str, int, bool], ...] = (
    ("dice", "Dice", 3, True),
    ("assd_px", "ASSD (px)", 2, False),
)


def best_methods(summary: pd.DataFrame, column: str, higher_is_better: bool, digits: int) -> dict[str, set[str]]:
    """Per dataset, the method(s) with the best mean as displayed (ties after rounding all win)."""
    out: dict[str, set[str]] = {}
    for dataset, g in summary.groupby("dataset"):
        vals = g[column].round(digits)
        if vals.isna().all():
            out[dataset] = set()
            continue
        best = vals.max() if higher_is_better else vals.min()
        out[dataset] = set(g.loc[vals == best, "method"])
    return out


def table4_cells(summary: pd.DataFrame, method_order: Sequence[str] | None = None
                 ) -> tuple[list[str], list[str], dict[tuple[str, str, str], tuple[str, bool, bool]]]:
    """The content of Table 4 independent of output format.

    Returns:
        (datasets, methods, cells) where ``cells[(method, dataset, metric)]`` is
        ``(text, is_best, clipped)`` and missing (method, dataset) pairs are absent.
    """
    datasets = sorted(summary["dataset"].unique())
    methods = order_methods(summary["method"], method_order)
    best = {col: best_methods(summary, f"{col}_mean", hib, dig) for col, _, dig, hib in TABLE4_METRICS}
    cells: dict[tuple[str, str, str], tuple[str, bool, bool]] = {}
    for row in summary.itertuples(index=False):
        for col, _, digits, _ in TABLE4_METRICS:
            text = format_mean_std(getattr(row, f"{col}_mean"), getattr(row, f"{col}_std"), digits)
            cells[(row.method, row.dataset, col)] = (text, row.method in best[col][row.dataset], bool(row.clipped))
    return datasets, methods, cells


def clip_notes(summary: pd.DataFrame) -> list[str]:
    """Footnotes for methods scored at their last round because N < table round."""
    notes = []
    for row in summary.loc[summary["clipped"]].sort_values(_KEYS).itertuples(index=False):
        notes.append(f"{row.method} on {row.dataset}: evaluated for only {row.round} rounds, "
                     f"reported at round {row.round} instead of {row.requested_round}.")
    return notes


def skipped_note(skipped: pd.DataFrame) -> list[str]:
    """Lines naming every case the extraction skipped (empty when none): never a silent drop."""
    if skipped.empty:
        return []
    lines = [f"**{len(skipped)} case(s) skipped** as unreadable (`preprocess.on_bad_case: skip`; "
             "see `skipped.csv`):"]
    lines += [f"- {r.task} / {r.case}: {r.reason}" for r in skipped.itertuples(index=False)]
    return lines


def table4_markdown(summary: pd.DataFrame, method_order: Sequence[str] | None = None,
                    skipped: pd.DataFrame | None = None) -> str:
    """Table 4 as GitHub markdown: rows = methods, two columns per dataset, best in bold;
    notes on clipped rounds and on skipped cases follow the table."""
    datasets, methods, cells = table4_cells(summary, method_order)
    header = ["Method"] + [f"{d} {name}" for d in datasets for _, name, _, _ in TABLE4_METRICS]
    rows = []
    for m in methods:
        row = [m]
        for d in datasets:
            for col, _, _, _ in TABLE4_METRICS:
                if (m, d, col) not in cells:
                    row.append("–")
                    continue
                text, is_best, clipped = cells[(m, d, col)]
                text = f"**{text}**" if is_best else text
                row.append(text + ("†" if clipped else ""))
        rows.append(row)
    table = pd.DataFrame(rows, columns=header).to_markdown(index=False, disable_numparse=True)
    rounds = sorted(set(summary["requested_round"]))
    lines = [f"Dice and ASSD (pixels) after {', '.join(map(str, rounds))} corrective clicks, mean ± std over "
             "test slices; best per dataset in bold.", "", table]
    notes = clip_notes(summary)
    if notes:
        lines += [""] + [f"† {n}" for n in notes]
    if skipped is not None and not skipped.empty:
        lines += [""] + skipped_note(skipped)
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (method and dataset names often contain ``_``)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex_cell(cell: tuple[str, bool, bool] | None) -> str:
    if cell is None:
        return "--"
    text, is_best, clipped = cell
    text = text.replace(" ± ", r" $\pm$ ").replace("–", "--")
    text = rf"\textbf{{{text}}}" if is_best else text
    return text + (r"$^\dagger$" if clipped else "")


def table4_latex(summary: pd.DataFrame, method_order: Sequence[str] | None = None) -> str:
    """Table 4 as a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), best in ``\\textbf``."""
    datasets, methods, cells = table4_cells(summary, method_order)
    k = len(TABLE4_METRICS)
    ncols = 1 + k * len(datasets)
    lines = [
        "% Dice and ASSD (px), mean +- std over test slices at round "
        f"{', '.join(map(str, sorted(set(summary['requested_round']))))}; written by gdgp.report",
        r"\begin{tabular}{l" + ("c" * k) * len(datasets) + "}",
        r"\toprule",
        " & ".join([""] + [rf"\multicolumn{{{k}}}{{c}}{{{latex_escape(d)}}}" for d in datasets]) + r" \\",
        "".join(rf"\cmidrule(lr){{{2 + k * i}-{1 + k * (i + 1)}}}" for i in range(len(datasets))),
        " & ".join(["Method"] + [latex_escape(name) for _ in datasets for _, name, _, _ in TABLE4_METRICS]) + r" \\",
        r"\midrule",
    ]
    for m in methods:
        row = [latex_escape(m)] + [_latex_cell(cells.get((m, d, col))) for d in datasets
                                   for col, _, _, _ in TABLE4_METRICS]
        lines.append(" & ".join(row) + r" \\")
    lines.append(r"\bottomrule")
    for note in clip_notes(summary):
        lines.append(rf"\multicolumn{{{ncols}}}{{l}}{{\footnotesize $^\dagger$ {latex_escape(note)}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def noc_markdown(noc: pd.DataFrame, method_order: Sequence[str] | None = None) -> str:
    """NoC/NoF table as markdown, one block of rows per dataset in method order."""
    parts = []
    for dataset in sorted(noc["dataset"].unique()):
        d = noc.loc[noc["dataset"] == dataset].set_index("method")
        d = d.loc[order_methods(d.index, method_order)].reset_index()
        parts.append(d[list(noc.columns)])
    table = pd.concat(parts, ignore_index=True) if parts else noc
    fmt = table.copy()
    for c in fmt.columns:
        if c.startswith("noc_"):
            fmt[c] = fmt[c].map(lambda v: f"{v:.2f}")
    fmt = fmt.rename(columns={c: f"NoC@{c[4:]}" if c.startswith("noc_") else
                              f"NoF@{c[4:]}" if c.startswith("nof_") else c for c in fmt.columns})
    text = fmt.to_markdown(index=False, disable_numparse=True) if len(fmt) else "(no data)"
    return ("Mean number of clicks to reach each Dice threshold (NoC; a slice that never reaches it counts "
            "the click budget: its final click count, at least the number of rounds) and number of slices that never reach it (NoF).\n\n" + text + "\n")


def headline_metrics(summary: pd.DataFrame, noc: pd.DataFrame, thresholds: Sequence[float]) -> dict:
    """``{dataset: {method: {dice, assd_px, assd_mm, noc85, noc90}}}``, floats rounded to 4 decimals.

    NaN becomes ``None`` so the JSON stays valid for DVC.
    """
    def num(v: float) -> float | None:
        v = float(v)
        return None if math.isnan(v) else round(v, 4)

    merged = summary.merge(noc, on=_KEYS, how="left")
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for row in merged.to_dict("records"):
        entry = {"dice": num(row["dice_mean"]), "assd_px": num(row["assd_px_mean"]),
                 "assd_mm": num(row["assd_mm_mean"])}
        for t in thresholds:
            entry[f"noc{threshold_label(t)}"] = num(row[f"noc_{threshold_label(t)}"])
        out.setdefault(str(row["dataset"]), {})[str(row["method"])] = entry
    return out
