"""Protocol sensitivity: how much the ranking of the methods moves between click protocols.

The same trained models are evaluated (test split) under several corrective-click rules
(``evaluate.protocols``: ``ritm``, ``largest_component_centre``, ``weighted_random``, see
:mod:`gdgp.clicks.protocols`); no model is retrained. This module compares them at
the report's total-click budgets and writes ``protocol_sensitivity.csv``
(:data:`PROTOCOL_KEYS` + :func:`protocol_columns`), one row per (dataset, budget, method):

* ``dice_<p>``: the method's Dice under protocol ``p`` at the budget, exactly as Table 4
  computes it (:func:`gdgp.report.budgets.budget_table`: each slice's Dice averaged over
  the training seeds, then the mean over slices); NaN where the method has no entry (its
  first interaction alone exceeds the budget) or was not evaluated under ``p``.
* ``rank_<p>``: the method's rank by ``dice_<p>`` among the methods of that (dataset,
  budget) with a value under ``p``; 1 = highest Dice, ties share their mean rank.
* ``kendall_tau_<a>__<b>`` for each protocol pair (a before b in the given order):
  :func:`scipy.stats.kendalltau` (tau-b) between the rankings under ``a`` and under ``b``
  of the methods that have a value under both; NaN with fewer than 2 such methods (or when
  one ranking is all ties). The same value on every row of the (dataset, budget). 1 = the
  protocols order the methods alike, -1 = reversed.

Pure pandas/scipy on clicks rows; :func:`write_protocol_sensitivity` adds the file I/O.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from scipy.stats import kendalltau

from gdgp.clicks.protocols import PROTOCOLS
from gdgp.errors import ConfigError
from gdgp.report import budgets as cost
from gdgp.report.build import check_budgets, load_clicks, write_csv
from gdgp.report.tables import order_methods

log = logging.getLogger(__name__)

#: The key columns of protocol_sensitivity.csv, first.
PROTOCOL_KEYS: tuple[str, ...] = ("dataset", "budget", "method")


def tau_column(a: str, b: str) -> str:
    """Name of the Kendall tau column of the protocol pair (a, b)."""
    return f"kendall_tau_{a}__{b}"


def protocol_columns(protocols: Sequence[str]) -> list[str]:
    """The columns of protocol_sensitivity.csv for these protocols, in order."""
    protocols = list(protocols)
    return [
        *PROTOCOL_KEYS,
        *(f"dice_{p}" for p in protocols),
        *(f"rank_{p}" for p in protocols),
        *(tau_column(a, b) for a, b in itertools.combinations(protocols, 2)),
    ]


def _check_protocols(protocols: Sequence[str]) -> list[str]:
    names = list(protocols)
    unknown = sorted(set(names) - set(PROTOCOLS))
    if unknown:
        raise ConfigError(f"unknown click protocol(s) {unknown}; known: {sorted(PROTOCOLS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"a click protocol is given twice: {names}")
    if not names:
        raise ConfigError("no click protocol given")
    return names


def _kendall(x: pd.Series, y: pd.Series) -> float:
    both = pd.concat([x, y], axis=1).dropna()
    if len(both) < 2:
        return math.nan
    if both.iloc[:, 0].nunique() < 2 or both.iloc[:, 1].nunique() < 2:
        return math.nan  # a ranking that is all ties has no tau (scipy would warn and return NaN)
    return float(kendalltau(both.iloc[:, 0], both.iloc[:, 1]).statistic)


def protocol_sensitivity(
    clicks: Mapping[str, pd.DataFrame], budgets: Sequence[int], method_order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Dice, rank and pairwise Kendall tau of the methods under each click protocol.

    Args:
        clicks: protocol name -> clicks rows of every (dataset, method, seed) evaluated under
            it (the columns :func:`gdgp.report.budgets.budget_table` needs, ``seed``
            included); an empty frame = nothing evaluated under that protocol. The dict
            order is the column order.
        budgets: total-click budgets, first interaction included (``report.budgets``).
        method_order: row order of the methods within a (dataset, budget); unlisted
            methods follow alphabetically.

    Returns:
        One row per (dataset, budget, method) seen under any protocol, columns
        :func:`protocol_columns`, sorted by dataset, budget and method order.

    Raises:
        ConfigError: an unknown or repeated protocol name, none at all, or bad budgets.
    """
    protocols = _check_protocols(list(clicks))
    budget_list = check_budgets(budgets)
    merged: pd.DataFrame | None = None
    for p in protocols:
        rows = clicks[p]
        if rows.empty:
            part = pd.DataFrame(
                {
                    "dataset": pd.Series(dtype=object),
                    "method": pd.Series(dtype=object),
                    "budget": pd.Series(dtype=int),
                    f"dice_{p}": pd.Series(dtype=float),
                }
            )
        else:
            part = cost.budget_table(rows, budget_list)[["dataset", "method", "budget", "dice_mean"]]
            part = part.rename(columns={"dice_mean": f"dice_{p}"})
        merged = part if merged is None else merged.merge(part, on=["dataset", "method", "budget"], how="outer")
    assert merged is not None
    merged["budget"] = merged["budget"].astype(int)
    cell = merged.groupby(["dataset", "budget"], sort=False)
    for p in protocols:
        merged[f"rank_{p}"] = cell[f"dice_{p}"].rank(ascending=False, method="average")
    for a, b in itertools.combinations(protocols, 2):
        taus = {key: _kendall(g[f"rank_{a}"], g[f"rank_{b}"]) for key, g in cell}
        merged[tau_column(a, b)] = [taus[(d, int(k))] for d, k in zip(merged["dataset"], merged["budget"], strict=True)]
    position = {m: i for i, m in enumerate(order_methods(merged["method"], method_order))}
    merged = merged.assign(_order=merged["method"].map(position))
    merged = merged.sort_values(["dataset", "budget", "_order"], kind="stable").drop(columns="_order")
    return merged[protocol_columns(protocols)].reset_index(drop=True)


def load_protocol_clicks(
    clicks_csvs: Mapping[str, Sequence[Path]], skip_empty: bool = False
) -> dict[str, pd.DataFrame]:
    """Read each protocol's clicks.csv files (:func:`gdgp.report.build.load_clicks`; the
    training seed comes from the ``seed<k>`` folder)."""
    return {p: load_clicks([Path(f) for f in files], skip_empty=skip_empty) for p, files in clicks_csvs.items()}


def write_protocol_sensitivity(
    clicks_csvs: Mapping[str, Sequence[Path]],
    budgets: Sequence[int],
    out_csv: Path,
    method_order: Sequence[str] | None = None,
    skip_empty: bool = False,
) -> pd.DataFrame:
    """Read the runs of every protocol, write ``protocol_sensitivity.csv`` atomically, return it.

    Args:
        clicks_csvs: protocol name -> its clicks.csv files (every dataset, method and seed).
        budgets, method_order: as :func:`protocol_sensitivity`.
        out_csv: the output file.
        skip_empty: pass over clicks files with a header but no rows (else an error).
    """
    _check_protocols(list(clicks_csvs))
    table = protocol_sensitivity(load_protocol_clicks(clicks_csvs, skip_empty), budgets, method_order)
    write_csv(table, Path(out_csv))
    log.info("protocol sensitivity of %s: %d rows -> %s", ", ".join(clicks_csvs), len(table), out_csv)
    return table


__all__ = [
    "PROTOCOL_KEYS",
    "load_protocol_clicks",
    "protocol_columns",
    "protocol_sensitivity",
    "tau_column",
    "write_protocol_sensitivity",
]
