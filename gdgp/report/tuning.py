"""The tuning sweep's table: which value of each method's tuned hyperparameter validation prefers.

Input: the sweep's validation runs (``results/tuning/val/<dataset>/<method>/<key>=<value>/
seed<k>/clicks.csv``), grouped by (method, setting) by the caller (the workflow passes each
group explicitly, so nothing depends on the folder layout but the ``seed<k>`` folder that
names the training seed, as everywhere in the report). ``tuning.csv`` (:data:`TUNING_COLUMNS`)
has one row per (method, value, dataset):

* ``dice_mean`` / ``dice_std``: validation Dice at the total-click ``budget`` (first interaction
  included), exactly as Table 4 computes it (:func:`gdgp.report.budgets.budget_table`: each
  slice's Dice averaged over the training seeds, then mean / sample std over slices). NaN
  when some run's first interaction alone costs more than the budget (``reachable`` False):
  that value has no Dice there and is never chosen.
* ``dice_patient_mean``: the mean over patients of each patient's mean (seed-averaged) slice Dice.
* ``n_slices`` / ``n_patients`` / ``n_seeds``: validation slices, patients and seeds scored.
* ``dice_over_datasets``: the mean of ``dice_mean`` over the method's tuning datasets (NaN if
  any is NaN or missing), the same on each row of a (method, value). The **chosen** value is
  the one with the highest ``dice_over_datasets``; ties go to the value listed first (the
  grid's order). ``chosen`` / ``configured`` flag the rows of the chosen value and of the
  value the config uses now.

``tuning.md`` shows the same per method, and says where the configured value differs from the
chosen one (also logged as a warning). Copying a chosen value into the config is left to a
person; nothing here looks at the test split.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gdgp.atomic import write_text_atomic
from gdgp.errors import ConfigError, InputDataError
from gdgp.report import budgets as cost
from gdgp.report.build import load_clicks, write_csv
from gdgp.report.tables import order_methods
from gdgp.tuning_plan import parse_setting

log = logging.getLogger(__name__)

#: tuning.csv, in this order.
TUNING_COLUMNS: tuple[str, ...] = (
    "method",
    "key",
    "value",
    "setting",
    "dataset",
    "budget",
    "reachable",
    "n_slices",
    "n_patients",
    "n_seeds",
    "dice_mean",
    "dice_std",
    "dice_patient_mean",
    "dice_over_datasets",
    "chosen",
    "configured",
)


@dataclass(frozen=True)
class SettingRuns:
    """The validation runs of one (method, setting): ``key`` = ``value`` (a
    :func:`gdgp.tuning_plan.value_label`)."""

    method: str
    key: str
    value: str
    clicks: pd.DataFrame

    @property
    def setting(self) -> str:
        return f"{self.key}={self.value}"


def _check_groups(groups: Sequence[SettingRuns]) -> dict[str, list[SettingRuns]]:
    """Group by method (first-seen order), values in the given order; one key per method."""
    by_method: dict[str, list[SettingRuns]] = {}
    for g in groups:
        same = by_method.setdefault(g.method, [])
        if same and same[0].key != g.key:
            raise ConfigError(
                f"{g.method}: two hyperparameters tuned ({same[0].key}, {g.key}); the sweep varies one key per method"
            )
        if any(s.value == g.value for s in same):
            raise ConfigError(f"{g.method}: the setting {g.setting} is given twice")
        if not g.clicks.empty:
            methods = sorted(set(g.clicks["method"].astype(str)))
            if methods != [g.method]:
                raise InputDataError(f"the runs given for {g.method} {g.setting} are of method(s) {methods}")
        same.append(g)
    return by_method


def _dataset_rows(g: SettingRuns, budget: int) -> dict[str, dict]:
    """Per dataset of the group's runs: counts and the Dice values at the budget."""
    if g.clicks.empty:
        return {}
    rows = g.clicks
    summary = {r["dataset"]: r for r in cost.budget_table(rows, [budget]).to_dict("records")}  # one row a dataset
    at = cost.at_budget(rows, budget)
    out = {}
    for dataset, d in rows.groupby("dataset", sort=True):
        s = summary[dataset]
        rec = {
            "reachable": bool(s["reachable"]),
            "n_slices": int(d["slice_id"].nunique()),
            "n_patients": int(d["case"].nunique()) if "case" in d.columns else 0,
            "n_seeds": int(d["seed"].nunique()),
            "dice_mean": float(s["dice_mean"]),
            "dice_std": float(s["dice_std"]),
            "dice_patient_mean": math.nan,
        }
        if rec["reachable"] and "case" in d.columns:
            per_slice = at.loc[at["dataset"] == dataset].groupby(["case", "slice_id"])["dice"].mean()
            rec["dice_patient_mean"] = float(per_slice.groupby(level="case").mean().mean())
        out[str(dataset)] = rec
    return out


def _empty_row() -> dict:
    return {
        "reachable": False,
        "n_slices": 0,
        "n_patients": 0,
        "n_seeds": 0,
        "dice_mean": math.nan,
        "dice_std": math.nan,
        "dice_patient_mean": math.nan,
    }


def choose(values: Sequence[str], scores: Sequence[float]) -> str | None:
    """The value with the highest finite score; ties go to the one listed first; None if none is finite."""
    best, best_score = None, -math.inf
    for value, score in zip(values, scores, strict=True):
        if not math.isnan(score) and score > best_score:
            best, best_score = value, score
    return best


def tuning_table(
    groups: Sequence[SettingRuns],
    budget: int,
    configured: Mapping[str, tuple[str, str]] | None = None,
    method_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The tuning table (:data:`TUNING_COLUMNS`; see the module docstring).

    Args:
        groups: the runs of every (method, setting); a method's settings in their grid order
            (the order that breaks ties). An empty frame = nothing evaluated (an empty
            validation split): its rows are NaN with zero counts.
        budget: total-click budget (first interaction included), ``max(report.budgets)``.
        configured: method -> (key, value label) the config uses now; a method without an
            entry has ``configured`` False everywhere.
        method_order: row order of the methods; unlisted ones follow alphabetically.

    Raises:
        ConfigError: two keys for one method, a setting given twice, a configured key that is
            not the tuned one, or a negative budget.
        InputDataError: a group whose runs are of another method.
    """
    if isinstance(budget, bool) or int(budget) != budget or budget < 0:
        raise ConfigError(f"the tuning budget must be a non-negative integer (total clicks), got {budget!r}")
    budget = int(budget)
    configured = dict(configured or {})
    by_method = _check_groups(groups)
    for method, (key, _) in configured.items():
        if method in by_method and by_method[method][0].key != key:
            raise ConfigError(
                f"{method}: the configured value is of {key}, but the sweep tunes {by_method[method][0].key}"
            )
    records = []
    for method in order_methods(by_method, method_order):
        settings = by_method[method]
        per_value = [_dataset_rows(g, budget) for g in settings]
        datasets = sorted({d for rows in per_value for d in rows})
        scores = []
        for rows in per_value:
            means = [rows[d]["dice_mean"] if d in rows else math.nan for d in datasets]
            scores.append(float(sum(means) / len(means)) if means and not any(map(math.isnan, means)) else math.nan)
        chosen = choose([g.value for g in settings], scores)
        conf_value = configured.get(method, (None, None))[1]
        for g, rows, score in zip(settings, per_value, scores, strict=True):
            for dataset in datasets or [""]:
                rec = rows.get(dataset, _empty_row())
                records.append(
                    {
                        "method": method,
                        "key": g.key,
                        "value": g.value,
                        "setting": g.setting,
                        "dataset": dataset,
                        "budget": budget,
                        **rec,
                        "dice_over_datasets": score,
                        "chosen": g.value == chosen,
                        "configured": g.value == conf_value,
                    }
                )
    table = pd.DataFrame(records, columns=list(TUNING_COLUMNS))
    for col in ("dice_mean", "dice_std", "dice_patient_mean", "dice_over_datasets"):
        table[col] = table[col].astype(float)
    for col in ("reachable", "chosen", "configured"):
        table[col] = table[col].astype(bool)
    return table


@dataclass(frozen=True)
class Decision:
    """One method's outcome: the tuned key, the chosen value (None: no value has a Dice at the
    budget), the configured value (None: not given) and their validation Dice."""

    method: str
    key: str
    chosen: str | None
    configured: str | None
    chosen_dice: float
    configured_dice: float
    values: tuple[str, ...]
    evaluated: bool = True

    @property
    def agrees(self) -> bool | None:
        """Whether the config already uses the chosen value (None when either is unknown)."""
        if self.chosen is None or self.configured is None:
            return None
        return self.chosen == self.configured


def decisions(table: pd.DataFrame, configured: Mapping[str, tuple[str, str]] | None = None) -> list[Decision]:
    """Per method of the table (in its order): chosen vs configured value."""
    configured = dict(configured or {})
    out = []
    for method, g in table.groupby("method", sort=False):
        per_value = g.drop_duplicates("value")
        score = dict(zip(per_value["value"], per_value["dice_over_datasets"], strict=True))
        chosen = per_value.loc[per_value["chosen"], "value"]
        chosen_value = str(chosen.iloc[0]) if len(chosen) else None
        conf_value = configured.get(str(method), (None, None))[1]
        out.append(
            Decision(
                method=str(method),
                key=str(g["key"].iloc[0]),
                chosen=chosen_value,
                configured=conf_value,
                chosen_dice=score.get(chosen_value, math.nan) if chosen_value else math.nan,
                configured_dice=score.get(conf_value, math.nan) if conf_value else math.nan,
                values=tuple(per_value["value"]),
                evaluated=bool((g["n_slices"] > 0).any()),
            )
        )
    return out


def _num(v: float, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _verdict(d: Decision, budget: int) -> str:
    if d.chosen is None and not d.evaluated:
        return "no validation slice was evaluated (empty validation split?): nothing chosen"
    if d.chosen is None:
        return (
            f"no value has a validation Dice at {budget} clicks (the first interaction alone costs more): "
            "nothing chosen"
        )
    if d.configured is None:
        return f"chooses {d.key} = {d.chosen} (Dice {_num(d.chosen_dice)}); configured value not given"
    if d.configured not in d.values:
        return (
            f"chooses {d.key} = {d.chosen} (Dice {_num(d.chosen_dice)}); the configured {d.configured} is not in "
            "the grid"
        )
    if d.agrees:
        return f"configured {d.key} = {d.configured} is the chosen value (Dice {_num(d.chosen_dice)})"
    tie = " (a tie: the value listed first is chosen)" if d.configured_dice == d.chosen_dice else ""
    return (
        f"**differs**: configured {d.key} = {d.configured} (Dice {_num(d.configured_dice)}), validation chooses "
        f"{d.chosen} (Dice {_num(d.chosen_dice)}){tie}"
    )


def tuning_markdown(table: pd.DataFrame, budget: int, configured: Mapping[str, tuple[str, str]] | None = None) -> str:
    """The Markdown view of the tuning table: Dice per value and dataset, the mean over the
    datasets (the chosen value in bold), and per method the verdict against the config."""
    intro = (
        f"Validation Dice at **{budget}** total clicks (first interaction included): each validation slice "
        "averaged over the training seeds, then the mean over slices, per tuning dataset; *mean* = mean over "
        "the tuning datasets, which chooses the value (**bold**; ties go to the value listed first). "
        '"–" = no Dice at this budget (the method\'s first interaction alone costs more clicks, or no '
        "validation slice was evaluated). Copy a chosen value into config/config.yaml by hand; the test "
        "split is never used here."
    )
    lines = ["# Tuning on the validation split", "", intro, ""]
    if table.empty:
        return "\n".join([*lines, "No tuning runs were given.", ""])
    datasets = sorted(d for d in table["dataset"].unique() if d)
    header = ["method", "setting", *datasets, "mean", "configured"]
    lines += [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":--"] * 2 + ["--:"] * (len(datasets) + 1) + [":--"]) + "|",
    ]
    for method, g in table.groupby("method", sort=False):
        for i, (_value, v) in enumerate(g.groupby("value", sort=False)):
            cells = {
                d: _num(float(v.loc[v["dataset"] == d, "dice_mean"].iloc[0])) if (v["dataset"] == d).any() else ""
                for d in datasets
            }
            bold = bool(v["chosen"].iloc[0])
            setting = str(v["setting"].iloc[0])
            row = [
                str(method) if i == 0 else "",
                f"**{setting}**" if bold else setting,
                *(f"**{cells[d]}**" if bold and cells[d] not in ("", "–") else cells[d] for d in datasets),
            ]
            mean = _num(float(v["dice_over_datasets"].iloc[0]))
            row += [f"**{mean}**" if bold and mean != "–" else mean, "yes" if v["configured"].any() else ""]
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Per method:", ""]
    lines += [f"* {d.method}: {_verdict(d, budget)}" for d in decisions(table, configured)]
    counts = table.loc[table["dataset"] != ""].groupby("dataset")
    if len(counts):
        lines += [
            "",
            "Validation slices / patients / seeds per dataset (min–max over the runs): "
            + "; ".join(
                f"{d}: {_span(c['n_slices'])} / {_span(c['n_patients'])} / {_span(c['n_seeds'])}" for d, c in counts
            )
            + ".",
        ]
    else:
        lines += ["", "No validation slice was evaluated (every run is empty: is the validation split empty?)."]
    return "\n".join([*lines, ""])


def _span(values: pd.Series) -> str:
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def load_setting_runs(
    groups: Sequence[tuple[str, str, Sequence[Path]]], skip_empty: bool = False, default_seed: int = 0
) -> list[SettingRuns]:
    """Read each (method, ``key=value``, clicks.csv files) group (:func:`gdgp.report.build.load_clicks`;
    the training seed from the ``seed<k>`` folder). The setting's value is normalised by
    :func:`gdgp.tuning_plan.parse_setting` (``50`` and ``50.0`` are one value)."""
    out = []
    for method, setting, files in groups:
        key, value = parse_setting(setting)
        out.append(
            SettingRuns(
                method=method,
                key=key,
                value=value,
                clicks=load_clicks([Path(f) for f in files], default_seed=default_seed, skip_empty=skip_empty),
            )
        )
    return out


def parse_configured(items: Sequence[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """``[(method, "key=value"), ...]`` -> method -> (key, value label); a method given twice is an error."""
    out: dict[str, tuple[str, str]] = {}
    for method, setting in items:
        if method in out:
            raise ConfigError(f"--configured {method} is given twice")
        out[method] = parse_setting(setting)
    return out


def warn_differences(table: pd.DataFrame, budget: int, configured: Mapping[str, tuple[str, str]] | None) -> None:
    """Log a warning for each method whose configured value is not the chosen one (or nothing was chosen)."""
    for d in decisions(table, configured):
        if d.chosen is None or (d.agrees is False) or (d.configured is not None and d.configured not in d.values):
            log.warning("tuning %s: %s", d.method, _verdict(d, budget).replace("**", ""))


def write_tuning_report(
    groups: Sequence[tuple[str, str, Sequence[Path]]],
    budget: int,
    out_csv: Path,
    out_md: Path,
    configured: Sequence[tuple[str, str]] = (),
    method_order: Sequence[str] | None = None,
    skip_empty: bool = False,
    default_seed: int = 0,
) -> pd.DataFrame:
    """Read the sweep's runs, write ``tuning.csv`` and ``tuning.md`` atomically, return the table.

    Args:
        groups: (method, ``key=value``, clicks.csv files of every tuning dataset and seed) per setting,
            a method's settings in grid order.
        budget: total-click budget (``max(report.budgets)``).
        out_csv, out_md: the outputs.
        configured: (method, ``key=value``) the config uses now, per tuned method.
        method_order: row order of the methods.
        skip_empty: pass over clicks files with a header but no rows (an empty validation split).
        default_seed: seed of a file in no ``seed<k>`` folder and without a seed column.
    """
    conf = parse_configured(configured)
    table = tuning_table(load_setting_runs(groups, skip_empty, default_seed), budget, conf, method_order)
    write_csv(table, Path(out_csv))
    write_text_atomic(Path(out_md), tuning_markdown(table, budget, conf))
    warn_differences(table, budget, conf)
    log.info("tuning: %d methods, %d rows -> %s, %s", table["method"].nunique(), len(table), out_csv, out_md)
    return table


__all__ = [
    "TUNING_COLUMNS",
    "Decision",
    "SettingRuns",
    "choose",
    "decisions",
    "load_setting_runs",
    "parse_configured",
    "tuning_markdown",
    "tuning_table",
    "warn_differences",
    "write_tuning_report",
]
