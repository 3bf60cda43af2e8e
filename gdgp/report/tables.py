"""Report tables: assembling and formatting the equal-cost tables, pure pandas, no file access.

The numbers come from :mod:`gdgp.report.budgets` (values at a total-click budget, NoC within
one common budget, Dice AUC, per-click curves) and :mod:`gdgp.report.stats` (patient-level
bootstrap CIs and paired Wilcoxon tests). This module joins them into the report's tables
and writes their Markdown/LaTeX views, so each number in a paper table can be checked
against an independent computation in the tests.

Conventions, fixed here so that every view agrees:

* **Budget** = total clicks the user placed, first interaction included (a point = 1 click,
  a box = 2). A method whose first interaction alone exceeds a budget has no entry there:
  NaN in the CSV, "–" in the views, never a number from another budget.
* **Dice cell** = ``dice_mean`` (mean over test slices of the seed-averaged Dice) with the
  95 % CI of the mean of per-patient means (patient-level bootstrap); ``dice_patient_mean``
  is the centre of that CI, so the two differ when patients have unequal slice counts.
* **Empty predictions** stay in the means with their documented penalty (Dice 0, ASSD =
  slice diagonal, see :mod:`gdgp.evaluation.metrics`) and are counted (``n_empty``), so a method
  cannot look better by failing silently.
* **Caveats** (:mod:`gdgp.report.caveats`): a pretrained model trained on the collection a dataset
  comes from has its entries there marked ‡ (``contaminated``); a pretrained method run with random
  weights is named "(random weights, not a result)" (``random_weights``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

import numpy as np
import pandas as pd

from gdgp.evaluation.columns import CLICKS_COLUMNS as WRITTEN_CLICKS_COLUMNS
from gdgp.evaluation.columns import OPTIONAL_CLICKS_COLUMNS
from gdgp.report.caveats import Caveats

#: Columns every clicks.csv must have: the evaluator's, less those older files lack (``seed`` is
#: optional too: the folder names it).
CLICKS_COLUMNS: tuple[str, ...] = tuple(c for c in WRITTEN_CLICKS_COLUMNS if c not in OPTIONAL_CLICKS_COLUMNS)
#: Columns every loss.csv must have.
LOSS_COLUMNS: tuple[str, ...] = ("epoch", "loss", "lr", "seconds")

_KEYS = ["dataset", "method"]
_CELL = ["dataset", "method", "budget"]

#: table4.csv, in this order (the ``nsd_*`` columns only when the clicks have NSD).
TABLE4_COLUMNS: tuple[str, ...] = (
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
)
#: empty_predictions.csv.
EMPTY_COLUMNS: tuple[str, ...] = ("dataset", "method", "budget", "reachable", "n_slices", "n_seeds", "n_empty")


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


# --------------------------------------------------------------------------- assembling


def reachable_rows(per_slice: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The per-slice rows of the (dataset, method, budget) cells that ``summary`` marks reachable.

    A method with a value on only some runs at a budget has no entry there (all or nothing,
    see :mod:`gdgp.report.budgets`), so its partial rows must not reach a CI or a test either.
    """
    cells = summary.loc[summary["reachable"].astype(bool), _CELL]
    return per_slice.merge(cells, on=_CELL, how="inner")


def table4_frame(summary: pd.DataFrame, cis: Sequence[pd.DataFrame], caveats: Caveats | None = None) -> pd.DataFrame:
    """table4.csv: :func:`gdgp.report.budgets.budget_table` joined with patient CIs and the caveats.

    Args:
        summary: ``budget_table`` rows (with ``n_patients``: the clicks have ``case``).
        cis: :func:`gdgp.report.stats.patient_ci_table` of Dice (and of NSD), on the
            reachable cells only.
        caveats: fills ``contaminated`` and ``random_weights`` (None: neither on any row).

    Returns:
        :data:`TABLE4_COLUMNS` (``nsd_*`` only when ``summary`` has ``nsd_mean``), one row
        per (dataset, method, budget); CI columns NaN where the cell has no entry.
    """
    out = summary.copy()
    for ci in cis:
        out = out.merge(ci.drop(columns="n_patients"), on=_CELL, how="left")
    caveats = caveats or Caveats()
    pairs = list(zip(out["dataset"].astype(str), out["method"].astype(str), strict=True))
    out["contaminated"] = pd.Series([caveats.contaminated(d, m) for d, m in pairs], index=out.index, dtype=bool)
    out["random_weights"] = pd.Series([m in caveats.random_weights for _, m in pairs], index=out.index, dtype=bool)
    cols = [c for c in TABLE4_COLUMNS if c in out.columns and (not c.startswith("nsd_") or "nsd_mean" in summary)]
    missing = [c for c in TABLE4_COLUMNS if c not in out.columns and not c.startswith("nsd_")]
    if missing:
        raise ValueError(f"table4_frame: the summary and CIs lack column(s) {missing}")
    return out[cols].sort_values(_CELL, kind="stable").reset_index(drop=True)


def noc_frame(noc: pd.DataFrame, auc: pd.DataFrame) -> pd.DataFrame:
    """noc.csv: :func:`gdgp.report.budgets.noc_table` with ``dice_auc`` (and its std over slices)
    of :func:`gdgp.report.budgets.dice_auc` at the same budget."""
    extra = auc[[*_KEYS, "dice_auc_mean", "dice_auc_std"]].rename(columns={"dice_auc_mean": "dice_auc"})
    return noc.merge(extra, on=_KEYS, how="left")


def empty_prediction_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """empty_predictions.csv: per (dataset, method, budget) the (seed, slice) runs whose
    prediction at the budget is empty (``<NA>`` where the method has no entry)."""
    return summary[list(EMPTY_COLUMNS)].copy()


def curve_frame(curve: pd.DataFrame) -> pd.DataFrame:
    """dice_per_click.csv: :func:`gdgp.report.budgets.curve_by_clicks` with x named ``clicks``."""
    return curve.rename(columns={"budget": "clicks"})


# --------------------------------------------------------------------------- formatting


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``"0.912 ± 0.031"``; only the mean when std is undefined; ``"–"`` when there is no mean."""
    if _missing(mean):
        return "–"
    if _missing(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_ci(mean: float, low: float, high: float, digits: int = 3) -> str:
    """``"0.801 [0.772, 0.830]"``; only the mean when the CI is undefined; ``"–"`` without a mean."""
    if _missing(mean):
        return "–"
    if _missing(low) or _missing(high):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _dice_text(r: Mapping) -> str:
    return format_ci(r["dice_mean"], r["dice_ci_low"], r["dice_ci_high"], 3)


def _assd_text(r: Mapping) -> str:
    if _missing(r["assd_px_median"]):
        return "–"
    return f"{r['assd_px_median']:.2f} ({int(r['n_empty'])})"


#: (block title, text of one table4 row, value deciding "best", higher is better, digits).
TABLE4_BLOCKS: tuple[tuple[str, Callable[[Mapping], str], str, bool, int], ...] = (
    ("Dice", _dice_text, "dice_mean", True, 3),
    ("ASSD (px) median (empty predictions)", _assd_text, "assd_px_median", False, 2),
)


def table4_cells(
    table4: pd.DataFrame, method_order: Sequence[str] | None = None
) -> tuple[list[tuple[str, int]], list[str], dict[tuple[str, str, int, str], tuple[str, bool, bool]]]:
    """The content of Table 4 independent of output format.

    Returns:
        (columns, methods, cells): ``columns`` = (dataset, budget) pairs, ``methods`` in
        table order, ``cells[(method, dataset, budget, block)]`` = ``(text, is_best,
        held)`` for the entries that exist (``held``: some runs ended before the budget, so
        their last value is held). Best = the best value as displayed (ties all win).
    """
    columns = sorted({(str(d), int(b)) for d, b in zip(table4["dataset"], table4["budget"], strict=True)})
    methods = order_methods(table4["method"], method_order)
    cells: dict[tuple[str, str, int, str], tuple[str, bool, bool]] = {}
    for key, g in table4.groupby(["dataset", "budget"], sort=True):
        dataset, budget = cast(tuple[str, int], key)
        present = g.loc[g["reachable"].astype(bool)]
        for title, text, value, higher, digits in TABLE4_BLOCKS:
            shown = present[value].astype(float).round(digits)
            best = shown.max() if higher else shown.min()
            for r, v in zip(present.to_dict("records"), shown, strict=True):
                is_best = not math.isnan(v) and v == best
                cells[(r["method"], str(dataset), int(budget), title)] = (text(r), is_best, int(r["n_run_ended"]) > 0)
    return columns, methods, cells


def table4_caption(budgets: Sequence[int], n_boot: int, split: str = "test") -> str:
    """The caption line shared by the Markdown and LaTeX views; ``split`` names the slices
    the runs scored (``test``, or ``validation`` for the validation report)."""
    return (
        f"Dice at total-click budgets of {', '.join(map(str, budgets))} clicks (first interaction included: a "
        f"point = 1 click, a box = 2): mean over {split} slices of the seed-averaged Dice [95 % CI, "
        f"patient-level bootstrap of the mean of per-patient means, {n_boot} resamples]; below, ASSD (px) "
        f"median over {split} slices (empty predictions among the seed × slice runs). Best per dataset and "
        "budget in bold; – = the method's first interaction alone costs more than the budget."
    )


_HELD_NOTE = (
    "some runs of this method ended (no more rounds) before this budget; their last value is held "
    "(raise evaluate.rounds to spend the whole budget)."
)


def skipped_note(skipped: pd.DataFrame) -> list[str]:
    """Lines naming every case the extraction skipped (empty when none): never a silent drop."""
    if skipped.empty:
        return []
    lines = [
        f"**{len(skipped)} case(s) skipped** as unreadable or without the target (`preprocess.on_bad_case: skip`; "
        "see `skipped.csv`):"
    ]
    lines += [f"- {r.task} / {r.case}: {r.reason}" for r in skipped.itertuples(index=False)]
    return lines


#: Marks an entry whose model may have seen the dataset's images (:mod:`gdgp.report.caveats`).
CONTAMINATED = "‡"
_RANDOM_LABEL = " (random weights, not a result)"


def method_label(method: str, caveats: Caveats) -> str:
    """The method's row label: its name, and "(random weights, not a result)" where it ran without its weights."""
    return method + (_RANDOM_LABEL if method in caveats.random_weights else "")


def caveat_notes(table4: pd.DataFrame, methods: Sequence[str], caveats: Caveats) -> list[tuple[bool, str]]:
    """The notes under Table 4, ``(marked ‡, text)``: its contaminated entries, its random-weight rows."""
    pairs = sorted(set(zip(table4["dataset"].astype(str), table4["method"].astype(str), strict=True)))
    notes = [(True, caveats.contamination_note(pairs)), (False, caveats.random_note(methods))]
    return [(marked, text) for marked, text in notes if text]


def table4_markdown(
    table4: pd.DataFrame,
    budgets: Sequence[int],
    n_boot: int,
    method_order: Sequence[str] | None = None,
    skipped: pd.DataFrame | None = None,
    split: str = "test",
    caveats: Caveats | None = None,
) -> str:
    """Table 4 as GitHub markdown: rows = methods, columns = dataset × budget, one table per
    block (Dice with CI; ASSD median with the empty-prediction count), best in bold, "–"
    where there is no entry, ‡ on possibly contaminated entries; notes on held values, the
    caveats and skipped cases follow."""
    caveats = caveats or Caveats()
    columns, methods, cells = table4_cells(table4, method_order)
    header = ["Method"] + [f"{d} @{b}" for d, b in columns]
    lines = [table4_caption(budgets, n_boot, split)]
    held = False
    for title, *_ in TABLE4_BLOCKS:
        rows = []
        for m in methods:
            row = [method_label(m, caveats)]
            for d, b in columns:
                cell = cells.get((m, d, b, title))
                text, is_best, h = cell or ("–", False, False)
                held |= h
                mark = CONTAMINATED if cell is not None and caveats.contaminated(d, m) else ""
                row.append((f"**{text}**" if is_best else text) + ("†" if h else "") + mark)
            rows.append(row)
        lines += [
            "",
            f"**{title}**",
            "",
            pd.DataFrame(rows, columns=header).to_markdown(index=False, disable_numparse=True),
        ]
    if held:
        lines += ["", f"† {_HELD_NOTE}"]
    for marked, note in caveat_notes(table4, methods, caveats):
        lines += ["", f"{CONTAMINATED} {note}" if marked else note]
    if skipped is not None and not skipped.empty:
        lines += [""] + skipped_note(skipped)
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (method and dataset names often contain ``_``)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex_cell(cell: tuple[str, bool, bool] | None, contaminated: bool = False) -> str:
    if cell is None:
        return "--"
    text, is_best, held = cell
    text = rf"\textbf{{{text}}}" if is_best else text
    return text + (r"$^\dagger$" if held else "") + (r"$^\ddagger$" if contaminated else "")


def table4_latex(
    table4: pd.DataFrame,
    budgets: Sequence[int],
    n_boot: int,
    method_order: Sequence[str] | None = None,
    split: str = "test",
    caveats: Caveats | None = None,
) -> str:
    """Table 4 as booktabs ``tabular``s (needs ``\\usepackage{booktabs}``), one per block:
    a dataset header spanning its budgets, best in ``\\textbf``, ``--`` where there is no entry,
    ``$^\\ddagger$`` on possibly contaminated entries, the caveats as notes."""
    caveats = caveats or Caveats()
    columns, methods, cells = table4_cells(table4, method_order)
    datasets = list(dict.fromkeys(d for d, _ in columns))
    spans = [sum(1 for d2, _ in columns if d2 == d) for d in datasets]
    starts = np.cumsum([2, *spans[:-1]]).tolist()
    held = any(h for _, _, h in cells.values())
    lines = [f"% {table4_caption(budgets, n_boot, split)}", "% Written by gdgp.report."]
    for title, *_ in TABLE4_BLOCKS:
        lines += [
            "",
            f"% {title}",
            r"\begin{tabular}{l" + "c" * len(columns) + "}",
            r"\toprule",
            " & ".join(
                [""] + [rf"\multicolumn{{{n}}}{{c}}{{{latex_escape(d)}}}" for d, n in zip(datasets, spans, strict=True)]
            )
            + r" \\",
            "".join(rf"\cmidrule(lr){{{s}-{s + n - 1}}}" for s, n in zip(starts, spans, strict=True)),
            " & ".join([latex_escape(title)] + [f"{b} clicks" for _, b in columns]) + r" \\",
            r"\midrule",
        ]
        for m in methods:
            entries = [_latex_cell(cells.get((m, d, b, title)), caveats.contaminated(d, m)) for d, b in columns]
            lines.append(" & ".join([latex_escape(method_label(m, caveats)), *entries]) + r" \\")
        lines.append(r"\bottomrule")
        if held:
            lines.append(
                rf"\multicolumn{{{1 + len(columns)}}}{{l}}{{\footnotesize $^\dagger$ "
                rf"{latex_escape(_HELD_NOTE)}}} \\"
            )
        for marked, note in caveat_notes(table4, methods, caveats):
            mark = r"$^\ddagger$ " if marked else ""
            lines.append(rf"\multicolumn{{{1 + len(columns)}}}{{l}}{{\footnotesize {mark}{latex_escape(note)}}} \\")
        lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def _fmt(v: float, digits: int) -> str:
    return "–" if _missing(v) else f"{float(v):.{digits}f}"


def noc_markdown(noc: pd.DataFrame, method_order: Sequence[str] | None = None) -> str:
    """noc.csv as markdown, one block of rows per dataset in method order."""
    parts = []
    for dataset in sorted(noc["dataset"].unique()):
        d = noc.loc[noc["dataset"] == dataset].set_index("method")
        parts.append(d.loc[order_methods(d.index, method_order)].reset_index()[list(noc.columns)])
    table = pd.concat(parts, ignore_index=True) if parts else noc
    fmt = table.drop(columns=["reachable", "dice_auc_std"], errors="ignore").copy()
    for c in fmt.columns:
        if c.startswith(("noc_", "nof_")):
            fmt[c] = fmt[c].map(lambda v: _fmt(v, 2))
        elif c == "dice_auc":
            fmt[c] = fmt[c].map(lambda v: _fmt(v, 3))
    fmt = fmt.rename(
        columns={
            c: f"NoC@{c[4:]}"
            if c.startswith("noc_")
            else f"NoF@{c[4:]}"
            if c.startswith("nof_")
            else "Dice AUC"
            if c == "dice_auc"
            else c
            for c in fmt.columns
        }
    )
    text = fmt.to_markdown(index=False, disable_numparse=True) if len(fmt) else "(no data)"
    budget = int(noc["budget"].iloc[0]) if len(noc) else 0
    return (
        f"Within one common budget of {budget} total clicks (first interaction included): NoC@t = mean number "
        "of clicks to reach Dice >= t, a slice that does not reach it within the budget counting the whole "
        "budget; NoF@t = slices that never reach it (mean over seeds); – = the method's first interaction "
        f"alone exceeds the budget. Dice AUC = mean Dice over budgets 0..{budget} (0 before the first "
        "interaction is complete), i.e. the normalised area under the Dice-vs-clicks curve.\n\n" + text + "\n"
    )


def headline_metrics(table4: pd.DataFrame, noc: pd.DataFrame, thresholds: Sequence[float]) -> dict:
    """``{dataset: {method: {"dice@<B>": ..., "noc85": ..., "noc90": ..., "auc": ...}}}``,
    floats rounded to 4 decimals; NaN (no entry) becomes ``None`` so the JSON stays valid for DVC."""

    def num(v: float) -> float | None:
        return None if _missing(v) else round(float(v), 4)

    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for r in table4.to_dict("records"):
        out.setdefault(str(r["dataset"]), {}).setdefault(str(r["method"]), {})[f"dice@{int(r['budget'])}"] = num(
            r["dice_mean"]
        )
    for r in noc.to_dict("records"):
        entry = out.setdefault(str(r["dataset"]), {}).setdefault(str(r["method"]), {})
        for t in thresholds:
            entry[f"noc{threshold_label(t)}"] = num(r[f"noc_{threshold_label(t)}"])
        entry["auc"] = num(r["dice_auc"])
    return out
