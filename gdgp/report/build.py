"""Report stage: read every method's evaluation outputs, write the paper tables and figures.

Inputs per (dataset, method), as the evaluate and train stages write them:

* ``clicks.csv`` carries its own ``dataset`` and ``method`` columns. Its training seed is its
  own ``seed`` column if it has one, else ``k`` when the file lies in a folder named
  ``seed<k>`` (the workflow writes every run there:
  ``results/runs/<dataset>/<method>/seed<k>/clicks.csv``), else ``default_seed`` (0 unless
  told otherwise; files of older layouts). With ``skip_empty``, a clicks file with a header
  but no rows (an evaluation of an empty split, e.g. a dataset without validation slices)
  is passed over; otherwise it is an error.
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
import re
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from gdgp.atomic import atomic_path, write_text_atomic
from gdgp.data.slice_set import SKIPPED_COLUMNS
from gdgp.errors import ConfigError, InputDataError
from gdgp.report import budgets as cost
from gdgp.report import figures, stats, tables
from gdgp.report.caveats import Caveats
from gdgp.report.figures import Overlay, PanelRound

log = logging.getLogger(__name__)

Pair = tuple[str, str]

_INT_COLUMNS = ("slice_id", "slice_z", "round", "n_clicks", "tp", "fp", "fn")
_FLOAT_COLUMNS = ("dice", "assd_px", "assd_mm")
#: Metric columns that old clicks.csv files may lack.
_OPTIONAL_FLOAT_COLUMNS = ("nsd",)
_SEED_FOLDER = re.compile(r"seed(\d+)")
#: One evaluation: a (dataset, method) of one training seed.
_EVALUATION = ["dataset", "method", "seed"]
_OVERLAY_KEYS = (
    "image",
    "gt",
    "pred",
    "rounds",
    "slice_id",
    "click_slice",
    "click_y",
    "click_x",
    "click_positive",
    "click_round",
)


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


def seed_of_path(path: Path, default_seed: int = 0) -> int:
    """The training seed a file's folder names: ``k`` for ``.../seed<k>/<file>``, else ``default_seed``."""
    match = _SEED_FOLDER.fullmatch(Path(path).parent.name)
    return int(match.group(1)) if match else int(default_seed)


def _with_seed(df: pd.DataFrame, path: Path, default_seed: int) -> pd.DataFrame:
    """Add the ``seed`` column: the file's own, else from its folder (:func:`seed_of_path`)."""
    if "seed" not in df.columns:
        return df.assign(seed=seed_of_path(path, default_seed))
    seeds = pd.to_numeric(df["seed"], errors="coerce")
    if seeds.isna().any() or (seeds != seeds.round()).any():
        raise InputDataError(f"{path}: column 'seed' has missing or non-integer values")
    return df.assign(seed=seeds.astype(int))


def _numeric(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Coerce the numeric clicks columns, refusing NaN where the evaluator never writes one."""
    df = df.copy()
    for col in (*_INT_COLUMNS, *_FLOAT_COLUMNS, *(c for c in _OPTIONAL_FLOAT_COLUMNS if c in df.columns)):
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
    for col in ("dice", "nsd"):
        if col in df.columns and ((df[col] < -1e-9) | (df[col] > 1 + 1e-9)).any():
            raise InputDataError(f"{path}: {col!r} values outside [0, 1]")
    if ((df["assd_px"] < 0) | (df["assd_mm"] < 0)).any():
        raise InputDataError(f"{path}: negative ASSD values")
    if (df["round"] < 0).any():
        raise InputDataError(f"{path}: negative 'round' values")
    dup = df.duplicated([*_EVALUATION, "slice_id", "round"])
    if dup.any():
        r = df.loc[dup].iloc[0]
        raise InputDataError(
            f"{path}: duplicate row for dataset={r['dataset']!r} method={r['method']!r} "
            f"seed={r['seed']} slice_id={r['slice_id']} round={r['round']}"
        )
    for (dataset, method, seed), g in df.groupby(_EVALUATION):
        per_slice = g.groupby("slice_id")["round"].agg(["min", "max", "count"])
        n = int(per_slice["max"].max())
        bad = per_slice[(per_slice["min"] != 0) | (per_slice["max"] != n) | (per_slice["count"] != n + 1)]
        if not bad.empty:
            raise InputDataError(
                f"{path}: ({dataset}, {method}, seed {seed}) slice_id {bad.index[0]} does not have "
                f"every round 0..{n} like the other slices (truncated evaluation?)"
            )
        if (g.sort_values(["slice_id", "round"]).groupby("slice_id")["n_clicks"].diff() < 0).any():
            raise InputDataError(
                f"{path}: ({dataset}, {method}, seed {seed}) n_clicks decreases between rounds; it "
                "must count every click so far, the first interaction included"
            )


def load_clicks(paths: Sequence[Path], default_seed: int = 0, skip_empty: bool = False) -> pd.DataFrame:
    """Read, validate and concatenate the clicks tables, with a ``seed`` column.

    Args:
        paths: clicks.csv files; each (dataset, method, seed) in exactly one of them.
        default_seed: seed of a file with neither a ``seed`` column nor a ``seed<k>`` folder.
        skip_empty: pass over files with a header but no rows (an evaluation of an empty
            split); when every file is empty the result has the columns and no rows.

    Raises:
        InputDataError: naming the file, for a missing column, an empty file, bad values,
            incomplete rounds, a file given twice, a (dataset, method, seed) found in two
            files (naming both), or a seed of a method that covers other slices or rounds
            than its first seed.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputDataError("no clicks.csv files were given to the report")
    repeated = sorted({str(p) for p in paths if paths.count(p) > 1})
    if repeated:
        raise InputDataError(f"clicks files given more than once: {repeated}")
    frames: list[pd.DataFrame] = []
    empty: list[pd.DataFrame] = []
    owner: dict[tuple[str, str, int], Path] = {}
    coverage: dict[tuple[str, str], tuple[Path, int, frozenset]] = {}
    for path in paths:
        df = _read_csv(path, tables.CLICKS_COLUMNS, "clicks", allow_empty=skip_empty)
        df = _numeric(_with_seed(df, path, default_seed), path)
        if df.empty:
            log.info("%s has no rows (an evaluation of an empty split): skipped", path)
            empty.append(df)
            continue
        _check_clicks(df, path)
        for group, g in df.groupby(_EVALUATION, sort=True):
            dataset, method, seed = cast(tuple[str, str, int], group)
            key = (str(dataset), str(method), int(seed))
            if key in owner:
                raise InputDataError(f"(dataset, method, seed) = {key} appears in both {owner[key]} and {path}")
            owner[key] = path
            cover = frozenset(zip(g["slice_id"], g["round"], strict=True))
            first_path, first_seed, first_cover = coverage.setdefault(key[:2], (path, key[2], cover))
            if cover != first_cover:
                raise InputDataError(
                    f"{path}: {dataset}/{method} seed {seed} covers other slices or rounds than "
                    f"seed {first_seed} in {first_path}; the seeds of a method must be evaluated "
                    "alike"
                )
        frames.append(df)
    if not frames:
        log.warning("every clicks file is empty (%d files): the tables have no rows", len(empty))
        return pd.concat(empty, ignore_index=True)
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
        raise InputDataError(
            f"cannot tell which (dataset, method) {path} belongs to: no known pair "
            f"{sorted(known)} has both names as folders of its path"
        )
    top = max(i for i, _ in best)
    winners = sorted({pair for i, pair in best if i == top})
    if len(winners) > 1:
        raise InputDataError(f"{path} matches several (dataset, method) pairs: {winners}")
    return winners[0]


def load_losses(paths: Sequence[Path], known: Sequence[Pair]) -> pd.DataFrame:
    """Read the per-epoch loss tables, tagged with dataset and method.

    Numeric extra columns are kept (they go to ``loss_curves.csv``); non-numeric extras are
    dropped because nothing downstream can plot them. A file with a header and no epoch is a
    pretrained method's (not trained here: :mod:`gdgp.training.pretrained`) and has no curve.
    """
    frames: list[pd.DataFrame] = []
    owner: dict[tuple[str, str], Path] = {}
    for path in map(Path, paths):
        df = _read_csv(path, tables.LOSS_COLUMNS, "loss", allow_empty=True)
        if df.empty:
            log.info("%s has no epochs (a pretrained method): no loss curve", path)
            continue
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
        extras = [
            c
            for c in df.columns
            if c not in ("dataset", "method", *tables.LOSS_COLUMNS) and pd.api.types.is_numeric_dtype(df[c])
        ]
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
    ok = (
        img.ndim == 3
        and gt.shape == img.shape
        and pred.ndim == 4
        and pred.shape[0] == k
        and pred.shape[2:] == img.shape[1:]
        and rounds.shape == (pred.shape[1],)
        and rounds.size > 0
        and arrays["slice_id"].shape == (k,)
    )
    m_clicks = arrays["click_slice"].shape
    ok = (
        ok
        and all(arrays[c].shape == m_clicks for c in ("click_y", "click_x", "click_positive", "click_round"))
        and len(m_clicks) == 1
    )
    if not ok:
        raise InputDataError(
            f"overlay file {path} has inconsistent shapes: "
            + ", ".join(f"{key}{arrays[key].shape}" for key in _OVERLAY_KEYS)
        )
    if k == 0:
        raise InputDataError(f"overlay file {path} holds no slices")
    if m_clicks[0] and (arrays["click_slice"].min() < 0 or arrays["click_slice"].max() >= k):
        raise InputDataError(f"overlay file {path}: click_slice indexes outside 0..{k - 1}")
    overlay = Overlay(**{key: arrays[key] for key in _OVERLAY_KEYS})
    return overlay, ((d, m) if d is not None and m is not None else None)


def _overlay_slices(path: Path) -> int | None:
    """Number of slices an overlays.npz holds (None if that cannot be read: load_overlay says why)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return int(data["image"].shape[0]) if "image" in data.files and data["image"].ndim == 3 else None
    except (OSError, ValueError):
        return None


def load_overlays(
    paths: Sequence[Path], known: Sequence[Pair], default_seed: int = 0, skip_empty: bool = False
) -> dict[Pair, tuple[Overlay, int]]:
    """Read every overlays.npz, keyed by (dataset, method), with the training seed its folder
    names (:func:`seed_of_path`); a pair given twice is an error. With ``skip_empty``, a file
    holding no slices (an evaluation of an empty split) is passed over."""
    out: dict[Pair, tuple[Overlay, int]] = {}
    owner: dict[Pair, Path] = {}
    for path in map(Path, paths):
        if skip_empty and path.is_file() and _overlay_slices(path) == 0:
            log.info("%s holds no slices (an evaluation of an empty split): skipped", path)
            continue
        overlay, pair = load_overlay(path)
        pair = pair or identify(path, known)
        if pair in out:
            raise InputDataError(f"overlays of (dataset, method) = {pair} appear in both {owner[pair]} and {path}")
        out[pair], owner[pair] = (overlay, seed_of_path(path, default_seed)), path
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


def check_budgets(budgets: Sequence[int]) -> list[int]:
    """The total-click budgets, sorted; a ConfigError for none, a negative or non-integer one, or a repeat."""
    values = list(budgets)
    if not values:
        raise ConfigError("report budgets must not be empty")
    if any(isinstance(b, bool) or int(b) != b or b < 0 for b in values):
        raise ConfigError(f"report budgets must be non-negative integers (total clicks), got {values}")
    if len(set(values)) != len(values):
        raise ConfigError(f"report budgets repeat a value: {values}")
    return sorted(int(b) for b in values)


def _check_options(noc_budget: int, noc_thresholds: Sequence[float], n_boot: int) -> None:
    if isinstance(noc_budget, bool) or int(noc_budget) != noc_budget or noc_budget < 1:
        raise ConfigError(f"report noc_budget must be an integer >= 1 (total clicks), got {noc_budget!r}")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ConfigError(f"report n_boot must be an integer >= 1, got {n_boot!r}")
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


def significance_table(
    clicks: pd.DataFrame,
    per_slice: pd.DataFrame,
    reference: str | None,
    budgets: Sequence[int],
    noc_budget: int,
    n_boot: int,
    seed: int,
) -> pd.DataFrame:
    """significance.csv: patient-level paired Wilcoxon of every method against ``reference``.

    Rows with ``value`` = "dice" test the Dice at each budget where both methods have an
    entry (``per_slice``: :func:`gdgp.report.budgets.at_budgets` restricted to reachable
    cells); rows with ``value`` = "dice_auc" test the Dice AUC up to ``noc_budget`` (their
    ``budget``). Holm-corrected within (dataset, budget, value). Header only without a reference.
    """
    if reference is None:
        return pd.DataFrame(columns=list(stats.PATIENT_TEST_COLUMNS))
    if reference not in set(clicks["method"]):
        log.warning("reference method %r is in no clicks table; significance.csv has no rows", reference)
    dice = stats.paired_patient_tests(per_slice, reference, budgets, n_boot=n_boot, seed=seed)
    auc = stats.paired_patient_tests(
        cost.run_dice_auc(clicks, noc_budget), reference, value_col="dice_auc", n_boot=n_boot, seed=seed
    )
    return pd.concat([dice, auc], ignore_index=True)


_NO_RUNS = "No evaluated slices: every clicks file was empty."


def _write_tables(
    clicks: pd.DataFrame,
    out_dir: Path,
    budget_list: list[int],
    noc_budget: int,
    thresholds: Sequence[float],
    reference_method: str | None,
    method_order: Sequence[str] | None,
    skipped: pd.DataFrame,
    n_boot: int,
    seed: int,
    split: str,
    caveats: Caveats,
) -> tuple[dict, pd.DataFrame]:
    summary = cost.budget_table(clicks, budget_list)
    per_slice = tables.reachable_rows(cost.at_budgets(clicks, budget_list), summary)
    cis = [
        stats.patient_ci_table(per_slice, v, n_boot=n_boot, seed=seed) for v in ("dice", "nsd") if v in clicks.columns
    ]
    table4 = tables.table4_frame(summary, cis, caveats)
    write_csv(table4, out_dir / "table4.csv")
    write_csv(skipped, out_dir / "skipped.csv")
    if not skipped.empty:
        log.warning(
            "%d case(s) were skipped at extraction: %s",
            len(skipped),
            ", ".join(f"{t}/{c}" for t, c in zip(skipped["task"], skipped["case"], strict=True)),
        )
    if table4.empty:  # every clicks file was empty (skip_empty): header-only tables
        write_text_atomic(
            out_dir / "table4.md",
            _NO_RUNS
            + "\n\n"
            + tables.table4_markdown(table4, budget_list, n_boot, method_order, skipped, split, caveats),
        )
        write_text_atomic(out_dir / "table4.tex", f"% {_NO_RUNS}\n")
    else:
        write_text_atomic(
            out_dir / "table4.md",
            tables.table4_markdown(table4, budget_list, n_boot, method_order, skipped, split, caveats),
        )
        write_text_atomic(
            out_dir / "table4.tex", tables.table4_latex(table4, budget_list, n_boot, method_order, split, caveats)
        )
    noc = tables.noc_frame(cost.noc_table(clicks, thresholds, noc_budget), cost.dice_auc(clicks, noc_budget))
    write_csv(noc, out_dir / "noc.csv")
    write_text_atomic(out_dir / "noc.md", tables.noc_markdown(noc, method_order))
    # The curve covers every table budget and the NoC budget.
    curve = tables.curve_frame(cost.curve_by_clicks(clicks, max(noc_budget, *budget_list)))
    write_csv(curve, out_dir / "dice_per_click.csv")
    write_csv(
        significance_table(clicks, per_slice, reference_method, budget_list, noc_budget, n_boot, seed),
        out_dir / "significance.csv",
    )
    write_csv(tables.empty_prediction_frame(summary), out_dir / "empty_predictions.csv")
    metrics = tables.headline_metrics(table4, noc, thresholds)
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return metrics, curve


def panel_rounds(clicks: pd.DataFrame, pair: Pair, seed: int, overlay: Overlay, budget: int) -> dict[int, PanelRound]:
    """Per overlay slice_id, the round its panel shows at ``budget`` total clicks
    (:func:`gdgp.report.figures.panel_round`), with ``n_clicks`` from the clicks of that seed."""
    rows = clicks.loc[(clicks["dataset"] == pair[0]) & (clicks["method"] == pair[1]) & (clicks["seed"] == seed)]
    by_slice: dict[int, dict[int, int]] = {}
    for sid, rnd, n in zip(
        rows["slice_id"].astype(int), rows["round"].astype(int), rows["n_clicks"].astype(int), strict=True
    ):
        by_slice.setdefault(sid, {})[rnd] = n
    out = {}
    for sid in map(int, overlay.slice_id):
        if sid not in by_slice:
            raise InputDataError(f"overlays of {pair} (seed {seed}) show slice_id {sid}, which has no clicks rows")
        try:
            out[sid] = figures.panel_round(overlay, by_slice[sid], budget)
        except ValueError as exc:
            raise InputDataError(f"overlays of {pair} (seed {seed}), slice_id {sid}: {exc}") from exc
    return out


def _write_figures(
    clicks: pd.DataFrame,
    curve: pd.DataFrame,
    losses: pd.DataFrame,
    overlays: dict[Pair, tuple[Overlay, int]],
    out_dir: Path,
    budget_list: list[int],
    thresholds: Sequence[float],
    method_order: Sequence[str] | None,
    losses_given: bool,
) -> None:
    """The figures; ``loss_curves.png`` whenever loss files were given, even if none holds an epoch
    (every method pretrained: the figure says so), since the workflow declares it."""
    all_methods = tables.order_methods([*clicks["method"], *losses["method"]], method_order)
    colours = figures.method_colours(all_methods)
    for dataset in sorted(clicks["dataset"].unique()):
        c = curve.loc[curve["dataset"] == dataset]
        methods = tables.order_methods(c["method"], method_order)
        save_figure(
            figures.plot_dice_per_click(c, dataset, methods, colours, thresholds, budget_list),
            out_dir / f"dice_per_click_{dataset}.png",
        )
    if losses_given:
        save_figure(
            figures.plot_loss_curves(
                losses,
                sorted(losses["dataset"].unique()),
                tables.order_methods(losses["method"], method_order),
                colours,
            ),
            out_dir / "loss_curves.png",
        )
    budget = max(budget_list)
    for dataset in sorted({d for d, _ in overlays}):
        per_method = {m: ov for (d, m), (ov, _) in overlays.items() if d == dataset}
        shown = {m: panel_rounds(clicks, (d, m), k, ov, budget) for (d, m), (ov, k) in overlays.items() if d == dataset}
        methods = tables.order_methods(per_method, method_order)
        save_figure(
            figures.plot_overlays(dataset, per_method, methods, shown, budget), out_dir / f"overlays_{dataset}.png"
        )


def build_report(
    clicks_csvs: Sequence[Path],
    loss_csvs: Sequence[Path],
    overlay_npzs: Sequence[Path],
    out_dir: Path,
    budgets: Sequence[int] = (4, 8, 12),
    noc_budget: int = 20,
    noc_thresholds: Sequence[float] = (0.85, 0.90),
    reference_method: str | None = None,
    method_order: Sequence[str] | None = None,
    skipped_csvs: Sequence[Path] = (),
    n_boot: int = 10000,
    seed: int = 0,
    default_seed: int = 0,
    skip_empty: bool = False,
    with_figures: bool = True,
    split: str = "test",
    caveats: Caveats | None = None,
) -> dict:
    """Write every table and figure of the report into ``out_dir``, methods compared at equal cost.

    The cost axis is the total number of clicks the user placed, first interaction included
    (:mod:`gdgp.report.budgets`); the statistical unit is the patient (:mod:`gdgp.report.stats`).

    Files (column lists in :mod:`gdgp.report.tables` and the functions named):

    * ``table4.csv`` (:data:`gdgp.report.tables.TABLE4_COLUMNS`, one row per dataset, method
      and budget; NaN where a method's first interaction alone exceeds the budget),
      ``table4.md`` and ``table4.tex`` (its views: Dice mean [95 % patient-bootstrap CI],
      ASSD (px) median with the empty-prediction count; cases the extraction skipped listed
      under the markdown);
    * ``noc.{csv,md}``: NoC/NoF at the common ``noc_budget`` and the Dice AUC up to it;
    * ``dice_per_click.csv`` and ``dice_per_click_<dataset>.png``: mean Dice against total
      clicks 0..max(noc_budget, budgets);
    * ``significance.csv``: :data:`gdgp.report.stats.PATIENT_TEST_COLUMNS`, Dice at every
      budget and Dice AUC, each method against ``reference_method``;
    * ``empty_predictions.csv``, ``skipped.csv`` (header only when none), ``metrics.json``
      (``{dataset: {method: {"dice@<B>", "noc<t>", "auc"}}}``), ``loss_curves.{csv,png}``
      (PNG only with loss files), ``overlays_<dataset>.png`` (each method at the largest
      budget; datasets with overlay files).

    Args:
        clicks_csvs: clicks.csv files; each (dataset, method, seed) in exactly one.
        loss_csvs: loss.csv files (may be empty: no loss figure).
        overlay_npzs: overlays.npz files (may be empty: no overlay figures).
        out_dir: created if missing.
        budgets: total-click budgets of Table 4, the significance tests and metrics.json.
        noc_budget: the common total-click budget of NoC/NoF and of the Dice AUC.
        noc_thresholds: Dice thresholds of NoC/NoF (column suffix ``round(100 t)``).
        reference_method: method tested against every other one (paired Wilcoxon over
            patients); None writes a header-only significance.csv.
        method_order: table/legend order; unknown names ignored, unlisted methods follow
            alphabetically.
        skipped_csvs: skipped.csv files of the extractions (may be empty).
        n_boot: bootstrap resamples of every CI.
        seed: seed of the bootstrap resampling.
        default_seed: training seed of a clicks file with neither a ``seed`` column nor a
            ``seed<k>`` folder.
        skip_empty: pass over clicks files with a header but no rows and overlay files
            with no slices (evaluations of an empty split, e.g. the validation runs); if
            every clicks file is empty, the tables are header-only. Otherwise such a file
            is an error.
        with_figures: False writes the tables only (no PNG; ``loss_curves.csv`` still).
        split: which slices the runs scored, as the table captions name them (``test``;
            ``validation`` for the validation report).
        caveats: the datasets' sources, the pretrained methods' training collections and the
            methods run with random weights, which mark Table 4 (:mod:`gdgp.report.caveats`;
            None: no mark).

    Returns:
        The headline metrics (also written to ``metrics.json``).

    Raises:
        InputDataError: a bad or duplicated input file (the message names it).
        ConfigError: an invalid option.
    """
    budget_list = check_budgets(budgets)
    _check_options(noc_budget, noc_thresholds, n_boot)
    thresholds = [float(t) for t in noc_thresholds]
    clicks = load_clicks(clicks_csvs, default_seed, skip_empty=skip_empty)
    known = sorted(
        {(str(d), str(m)) for d, m in clicks[["dataset", "method"]].drop_duplicates().itertuples(index=False)}
    )
    losses = load_losses(loss_csvs, known)
    overlays = load_overlays(overlay_npzs, known, default_seed, skip_empty=skip_empty)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped = load_skipped(skipped_csvs)
    metrics, curve = _write_tables(
        clicks,
        out_dir,
        budget_list,
        int(noc_budget),
        thresholds,
        reference_method,
        method_order,
        skipped,
        int(n_boot),
        int(seed),
        split,
        caveats or Caveats(),
    )
    write_csv(losses, out_dir / "loss_curves.csv")
    if with_figures:
        _write_figures(clicks, curve, losses, overlays, out_dir, budget_list, thresholds, method_order, bool(loss_csvs))
    return metrics


def write_dvc_files(out_dir: Path, metrics_path: Path | None, curves_path: Path | None) -> None:
    """Copy the headline metrics and write the per-click curve in the wide form DVC plots reads.

    DVC outputs may not overlap, so the metrics file and the plot data live outside the
    report folder. The curve has one row per total-click count (``clicks``) and one
    ``<dataset>/<method>`` column of mean Dice, so ``dvc plots show`` draws one line per
    series; a cell is empty below the method's first-interaction cost.
    """
    if metrics_path is not None:
        write_text_atomic(metrics_path, (out_dir / "metrics.json").read_text())
    if curves_path is not None:
        long = pd.read_csv(out_dir / "dice_per_click.csv", dtype={"dataset": str, "method": str})
        long["series"] = long["dataset"] + "/" + long["method"]
        wide = long.pivot(index="clicks", columns="series", values="dice_mean")
        wide = wide[list(dict.fromkeys(long["series"]))].reset_index()
        write_csv(wide.round(6), curves_path)


__all__ = [
    "build_report",
    "check_budgets",
    "identify",
    "load_clicks",
    "load_losses",
    "load_overlay",
    "load_overlays",
    "seed_of_path",
    "write_dvc_files",
]
