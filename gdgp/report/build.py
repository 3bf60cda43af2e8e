"""Report stage: read every method's evaluation outputs, write the paper tables and figures.

Inputs per (dataset, method), as the evaluate and train stages write them:

* ``clicks.csv`` carries its own ``dataset`` and ``method`` columns.
* ``loss.csv`` and ``overlays.npz`` do not; they are matched to a (dataset, method) pair of
  the clicks tables by their path: the pair whose dataset and method names both appear as
  folders of the path, dataset first (e.g. ``results/spleen/gdgp/loss.csv``). An explicit
  ``dataset``/``method`` column (CSV) or array (npz) takes precedence when present.

Every output is written atomically (:mod:`gdgp.atomic`), so an interrupted job never
leaves a half-written table that Snakemake or DVC could take for a finished one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gdgp.atomic import atomic_path, write_text_atomic
from gdgp.errors import ConfigError, InputDataError
from gdgp.extract import SKIPPED_COLUMNS
from gdgp.report import figures, tables
from gdgp.report.figures import Overlay

log = logging.getLogger(__name__)

Pair = tuple[str, str]

_INT_COLUMNS = ("slice_id", "slice_z", "round", "n_clicks", "tp", "fp", "fn")
_FLOAT_COLUMNS = ("dice", "assd_px", "assd_mm")
_OVERLAY_KEYS = ("image", "gt", "pred", "rounds", "slice_id", "click_slice", "click_y", "click_x",
                 "click_positive", "click_round")


# --------------------------------------------------------------------------- reading


def _read_csv(path: Path, required: Sequence[str], kind: str, allow_empty: bool = False) -> pd.DataFrame:
    """Read a CSV and check it has the ``required`` columns and (unless ``allow_empty``) rows;
    errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{kind} file not found: {path}")
    try:
        df = pd.read_csv(path, dtype={"dataset": str, "method": str, "case": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{kind} file {path} is empty or not a readable CSV: {exc}") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputDataError(f"{kind} file {path} lacks required column(s) {missing}; it has {list(df.columns)}")
    if df.empty and not allow_empty:
        raise InputDataError(f"{kind} file {path} has a header but no rows")
    return df


def _as_bool(values: pd.Series, path: Path, column: str) -> pd.Series:
    """Parse a boolean column written as True/False, 1/0 or strings thereof."""
    if values.dtype == bool:
        return values
    mapping = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    parsed = values.astype(str).str.strip().str.lower().map(mapping)
    if parsed.isna().any():
        bad = values[parsed.isna()].iloc[0]
        raise InputDataError(f"{path}: column {column!r} must be boolean, found {bad!r}")
    return parsed.astype(bool)


def _numeric(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Coerce the numeric clicks columns, refusing NaN where the evaluator never writes one."""
    df = df.copy()
    for col in (*_INT_COLUMNS, *_FLOAT_COLUMNS):
        vals = pd.to_numeric(df[col], errors="coerce")
        if vals.isna().any():
            raise InputDataError(f"{path}: column {col!r} has missing or non-numeric values")
        df[col] = vals.astype(int) if col in _INT_COLUMNS else vals.astype(float)
    for col in ("click_y", "click_x", "click_positive"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["empty_pred"] = _as_bool(df["empty_pred"], path, "empty_pred")
    return df


def _check_clicks(df: pd.DataFrame, path: Path) -> None:
    """Range and completeness checks: a truncated or merged file must not yield a silent table."""
    if df["dataset"].isna().any() or df["method"].isna().any():
        raise InputDataError(f"{path}: empty 'dataset' or 'method' values")
    if ((df["dice"] < -1e-9) | (df["dice"] > 1 + 1e-9)).any():
        raise InputDataError(f"{path}: 'dice' values outside [0, 1]")
    if ((df["assd_px"] < 0) | (df["assd_mm"] < 0)).any():
        raise InputDataError(f"{path}: negative ASSD values")
    if (df["round"] < 0).any():
        raise InputDataError(f"{path}: negative 'round' values")
    dup = df.duplicated(["dataset", "method", "slice_id", "round"])
    if dup.any():
        r = df.loc[dup].iloc[0]
        raise InputDataError(f"{path}: duplicate row for dataset={r['dataset']!r} method={r['method']!r} "
                             f"slice_id={r['slice_id']} round={r['round']}")
    for (dataset, method), g in df.groupby(["dataset", "method"]):
        per_slice = g.groupby("slice_id")["round"].agg(["min", "max", "count"])
        n = int(per_slice["max"].max())
        bad = per_slice[(per_slice["min"] != 0) | (per_slice["max"] != n) | (per_slice["count"] != n + 1)]
        if not bad.empty:
            raise InputDataError(f"{path}: ({dataset}, {method}) slice_id {bad.index[0]} does not have every "
                                 f"round 0..{n} like the other slices (truncated evaluation?)")


def load_clicks(paths: Sequence[Path]) -> pd.DataFrame:
    """Read, validate and concatenate the clicks tables.

    Raises:
        InputDataError: naming the file, for a missing column, an empty file, bad values,
            incomplete rounds, or a (dataset, method) pair that appears in two files.
    """
    if not paths:
        raise InputDataError("no clicks.csv files were given to the report")
    frames, owner = [], {}
    for path in map(Path, paths):
        df = _numeric(_read_csv(path, tables.CLICKS_COLUMNS, "clicks"), path)
        _check_clicks(df, path)
        for pair in df[["dataset", "method"]].drop_duplicates().itertuples(index=False):
            pair = (str(pair[0]), str(pair[1]))
            if pair in owner:
                raise InputDataError(f"(dataset, method) = {pair} appears in both {owner[pair]} and {path}")
            owner[pair] = path
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def identify(path: Path, known: Sequence[Pair]) -> Pair:
    """The (dataset, method) pair a loss/overlay file belongs to, from its folder names.

    A pair matches when its dataset name and its method name are both path components
    (the file name counts without its suffixes), dataset before method. If several match,
    the one whose method is nearest the file wins; a remaining tie is an error.
    """
    path = Path(path)
    parts = [*path.parent.parts, path.name.split(".")[0]]
    best: list[tuple[int, Pair]] = []
    for dataset, method in known:
        m_idx = [i for i, p in enumerate(parts) if p == method]
        d_idx = [i for i, p in enumerate(parts) if p == dataset]
        hits = [mi for mi in m_idx if any(di < mi for di in d_idx)]
        if hits:
            best.append((max(hits), (dataset, method)))
    if not best:
        raise InputDataError(f"cannot tell which (dataset, method) {path} belongs to: no known pair "
                             f"{sorted(known)} has both names as folders of its path")
    top = max(i for i, _ in best)
    winners = sorted({pair for i, pair in best if i == top})
    if len(winners) > 1:
        raise InputDataError(f"{path} matches several (dataset, method) pairs: {winners}")
    return winners[0]


def load_losses(paths: Sequence[Path], known: Sequence[Pair]) -> pd.DataFrame:
    """Read the per-epoch loss tables, tagged with dataset and method.

    Numeric extra columns are kept (they go to ``loss_curves.csv``); non-numeric extras are
    dropped because nothing downstream can plot them.
    """
    frames, owner = [], {}
    for path in map(Path, paths):
        df = _read_csv(path, tables.LOSS_COLUMNS, "loss")
        if "dataset" in df.columns and "method" in df.columns:
            pairs = {(str(d), str(m)) for d, m in df[["dataset", "method"]].drop_duplicates().itertuples(index=False)}
        else:
            pair = identify(path, known)
            df = df.assign(dataset=pair[0], method=pair[1])
            pairs = {pair}
        for col in tables.LOSS_COLUMNS:
            vals = pd.to_numeric(df[col], errors="coerce")
            if vals.isna().all():
                raise InputDataError(f"{path}: column {col!r} has no numeric values")
            df[col] = vals
        for pair in pairs:
            if pair in owner:
                raise InputDataError(f"loss of (dataset, method) = {pair} appears in both {owner[pair]} and {path}")
            owner[pair] = path
        extras = [c for c in df.columns if c not in ("dataset", "method", *tables.LOSS_COLUMNS)
                  and pd.api.types.is_numeric_dtype(df[c])]
        frames.append(df[["dataset", "method", *tables.LOSS_COLUMNS, *extras]])
    if not frames:
        return pd.DataFrame(columns=["dataset", "method", *tables.LOSS_COLUMNS])
    return pd.concat(frames, ignore_index=True).sort_values(["dataset", "method", "epoch"], ignore_index=True)


def _npz_name(data: np.lib.npyio.NpzFile, key: str) -> str | None:
    return str(data[key].item()) if key in data.files else None


def load_overlay(path: Path) -> tuple[Overlay, Pair | None]:
    """Read and shape-check one ``overlays.npz``; also return its explicit (dataset, method) if stored."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"overlay file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _OVERLAY_KEYS if k not in data.files]
            if missing:
                raise InputDataError(f"overlay file {path} lacks array(s) {missing}")
            arrays = {k: np.asarray(data[k]) for k in _OVERLAY_KEYS}
            d, m = _npz_name(data, "dataset"), _npz_name(data, "method")
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputDataError):
            raise
        raise InputDataError(f"overlay file {path} is not a readable .npz: {exc}") from exc
    img, gt, pred, rounds = arrays["image"], arrays["gt"], arrays["pred"], arrays["rounds"]
    k = img.shape[0] if img.ndim == 3 else -1
    ok = (img.ndim == 3 and gt.shape == img.shape and pred.ndim == 4 and pred.shape[0] == k
          and pred.shape[2:] == img.shape[1:] and rounds.shape == (pred.shape[1],) and rounds.size > 0
          and arrays["slice_id"].shape == (k,))
    m_clicks = arrays["click_slice"].shape
    ok = ok and all(arrays[c].shape == m_clicks for c in
                    ("click_y", "click_x", "click_positive", "click_round")) and len(m_clicks) == 1
    if not ok:
        raise InputDataError(f"overlay file {path} has inconsistent shapes: "
                             + ", ".join(f"{key}{arrays[key].shape}" for key in _OVERLAY_KEYS))
    if k == 0:
        raise InputDataError(f"overlay file {path} holds no slices")
    if m_clicks[0] and (arrays["click_slice"].min() < 0 or arrays["click_slice"].max() >= k):
        raise InputDataError(f"overlay file {path}: click_slice indexes outside 0..{k - 1}")
    overlay = Overlay(**{key: arrays[key] for key in _OVERLAY_KEYS})
    return overlay, ((d, m) if d is not None and m is not None else None)


def load_overlays(paths: Sequence[Path], known: Sequence[Pair]) -> dict[Pair, Overlay]:
    """Read every overlays.npz, keyed by (dataset, method); a pair given twice is an error."""
    out: dict[Pair, Overlay] = {}
    owner: dict[Pair, Path] = {}
    for path in map(Path, paths):
        overlay, pair = load_overlay(path)
        pair = pair or identify(path, known)
        if pair in out:
            raise InputDataError(f"overlays of (dataset, method) = {pair} appear in both {owner[pair]} and {path}")
        out[pair], owner[pair] = overlay, path
    return out


# --------------------------------------------------------------------------- writing


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a table atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def save_figure(fig: figures.Figure, path: Path) -> None:
    """Write a PNG atomically and release the figure."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=figures.DPI, format="png")
    finally:
        figures.close(fig)


def _check_options(table_round: int, noc_thresholds: Sequence[float]) -> None:
    if int(table_round) != table_round or table_round < 0:
        raise ConfigError(f"report table_round must be a non-negative integer, got {table_round!r}")
    if not noc_thresholds:
        raise ConfigError("report noc_thresholds must not be empty")
    if any(not 0.0 < t <= 1.0 for t in noc_thresholds):
        raise ConfigError(f"report noc_thresholds must lie in (0, 1], got {list(noc_thresholds)}")
    labels = [tables.threshold_label(t) for t in noc_thresholds]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"report noc_thresholds {list(noc_thresholds)} give duplicate column names {labels}")


def load_skipped(paths: Sequence[Path]) -> pd.DataFrame:
    """The cases every extraction skipped (skipped.csv files), one row per task and case."""
    frames = [_read_csv(Path(p), SKIPPED_COLUMNS, "skipped cases", allow_empty=True) for p in paths]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=SKIPPED_COLUMNS)
    both = pd.concat(frames, ignore_index=True)[SKIPPED_COLUMNS].astype(str)
    return both.drop_duplicates(["task", "case"]).sort_values(["task", "case"]).reset_index(drop=True)


def _write_tables(clicks: pd.DataFrame, out_dir: Path, table_round: int, thresholds: Sequence[float],
                  reference_method: str | None, method_order: Sequence[str] | None,
                  skipped: pd.DataFrame) -> dict:
    summary = tables.summarise_round(clicks, table_round)
    write_csv(summary, out_dir / "table4.csv")
    write_csv(skipped, out_dir / "skipped.csv")
    if not skipped.empty:
        log.warning("%d case(s) were skipped at extraction: %s", len(skipped),
                    ", ".join(f"{t}/{c}" for t, c in zip(skipped["task"], skipped["case"], strict=True)))
    write_text_atomic(out_dir / "table4.md", tables.table4_markdown(summary, method_order, skipped))
    write_text_atomic(out_dir / "table4.tex", tables.table4_latex(summary, method_order))
    noc = tables.noc_table(clicks, thresholds)
    write_csv(noc, out_dir / "noc.csv")
    write_text_atomic(out_dir / "noc.md", tables.noc_markdown(noc, method_order))
    write_csv(tables.per_click_curve(clicks), out_dir / "dice_per_click.csv")
    if reference_method is not None and reference_method not in set(clicks["method"]):
        log.warning("reference method %r is in no clicks table; significance.csv has no rows", reference_method)
    # At the first interaction (round 0) and at the table round: the two points of comparison
    # the paper's claims rest on (Holm-corrected per dataset and round).
    tests = [tables.paired_tests(clicks, reference_method, r) for r in sorted({0, table_round})]
    write_csv(pd.concat(tests, ignore_index=True), out_dir / "significance.csv")
    write_csv(tables.empty_prediction_table(clicks, table_round), out_dir / "empty_predictions.csv")
    metrics = tables.headline_metrics(summary, noc, thresholds)
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return metrics


def _write_figures(clicks: pd.DataFrame, losses: pd.DataFrame, overlays: dict[Pair, Overlay], out_dir: Path,
                   table_round: int, thresholds: Sequence[float], method_order: Sequence[str] | None) -> None:
    all_methods = tables.order_methods([*clicks["method"], *losses["method"]], method_order)
    colours = figures.method_colours(all_methods)
    curve = tables.per_click_curve(clicks)
    for dataset in sorted(clicks["dataset"].unique()):
        c = curve.loc[curve["dataset"] == dataset]
        methods = tables.order_methods(c["method"], method_order)
        save_figure(figures.plot_dice_per_click(c, dataset, methods, colours, thresholds),
              out_dir / f"dice_per_click_{dataset}.png")
    if not losses.empty:
        save_figure(figures.plot_loss_curves(losses, sorted(losses["dataset"].unique()),
                                       tables.order_methods(losses["method"], method_order), colours),
              out_dir / "loss_curves.png")
    for dataset in sorted({d for d, _ in overlays}):
        per_method = {m: ov for (d, m), ov in overlays.items() if d == dataset}
        methods = tables.order_methods(per_method, method_order)
        save_figure(figures.plot_overlays(dataset, per_method, methods, table_round), out_dir / f"overlays_{dataset}.png")


def build_report(clicks_csvs: Sequence[Path], loss_csvs: Sequence[Path], overlay_npzs: Sequence[Path],
                 out_dir: Path, table_round: int = 5, noc_thresholds: Sequence[float] = (0.85, 0.90),
                 reference_method: str | None = None, method_order: Sequence[str] | None = None,
                 skipped_csvs: Sequence[Path] = ()) -> dict:
    """Write every table and figure of the report into ``out_dir``.

    Files: ``table4.{csv,md,tex}``, ``noc.{csv,md}``, ``dice_per_click.csv``,
    ``dice_per_click_<dataset>.png``, ``loss_curves.{png,csv}`` (PNG only with loss files),
    ``overlays_<dataset>.png`` (datasets with overlay files), ``significance.csv``,
    ``empty_predictions.csv``, ``skipped.csv`` (cases the extraction skipped, also listed
    under Table 4's markdown; header only when none) and ``metrics.json``. Conventions
    (clipping of the table round, sample std, NoC of never-reaching slices,
    empty-prediction penalty) are those of :mod:`gdgp.report.tables`.

    Args:
        clicks_csvs: one or more clicks.csv; each (dataset, method) pair in exactly one.
        loss_csvs: loss.csv files (may be empty: no loss figure).
        overlay_npzs: overlays.npz files (may be empty: no overlay figures).
        out_dir: created if missing.
        table_round: corrective clicks at which Table 4, significance (also at round 0) and
            metrics are taken.
        noc_thresholds: Dice thresholds of NoC/NoF (column suffix ``round(100 t)``).
        reference_method: method tested against every other one (paired Wilcoxon); None
            writes a header-only significance.csv.
        method_order: table/legend order; unknown names ignored, unlisted methods follow
            alphabetically.
        skipped_csvs: skipped.csv files of the extractions (may be empty).

    Returns:
        The headline metrics ``{dataset: {method: {dice, assd_px, assd_mm, noc85, noc90}}}``
        (also written to ``metrics.json``).

    Raises:
        InputDataError: a bad or duplicated input file (the message names it).
        ConfigError: an invalid option.
    """
    _check_options(table_round, noc_thresholds)
    table_round = int(table_round)
    thresholds = [float(t) for t in noc_thresholds]
    clicks = load_clicks(clicks_csvs)
    known = sorted({(str(d), str(m)) for d, m in clicks[["dataset", "method"]].drop_duplicates().itertuples(index=False)})
    losses = load_losses(loss_csvs, known)
    overlays = load_overlays(overlay_npzs, known)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped = load_skipped(skipped_csvs)
    metrics = _write_tables(clicks, out_dir, table_round, thresholds, reference_method, method_order, skipped)
    write_csv(losses, out_dir / "loss_curves.csv")
    _write_figures(clicks, losses, overlays, out_dir, table_round, thresholds, method_order)
    return metrics


__all__ = ["build_report", "identify", "load_clicks", "load_losses", "load_overlay", "load_overlays"]


def write_dvc_files(out_dir: Path, metrics_path: Path | None, curves_path: Path | None) -> None:
    """Copy the headline metrics and write the per-click curve in the wide form DVC plots reads.

    DVC outputs may not overlap, so the metrics file and the plot data live outside the
    report folder. The curve has one row per round and one ``<dataset>/<method>`` column of
    mean Dice, so ``dvc plots show`` draws one line per series.
    """
    if metrics_path is not None:
        write_text_atomic(metrics_path, (out_dir / "metrics.json").read_text())
    if curves_path is not None:
        long = pd.read_csv(out_dir / "dice_per_click.csv", dtype={"dataset": str, "method": str})
        long["series"] = long["dataset"] + "/" + long["method"]
        wide = long.pivot(index="round", columns="series", values="dice_mean")
        wide = wide[list(dict.fromkeys(long["series"]))].reset_index()
        write_csv(wide.round(6), curves_path)
