"""The columns of the evaluate job's files: one list, read by the evaluator that writes them and
by the report that checks them (which needs no torch, so they live apart from the evaluator)."""

from __future__ import annotations

#: Columns of clicks.csv, one row per slice and round (the metrics as
#: :func:`gdgp.evaluation.metrics.score` returns them).
CLICKS_COLUMNS: tuple[str, ...] = (
    "dataset",
    "method",
    "slice_id",
    "case",
    "slice_z",
    "round",
    "n_clicks",
    "click_y",
    "click_x",
    "click_positive",
    "dice",
    "assd_px",
    "assd_mm",
    "tp",
    "fp",
    "fn",
    "empty_pred",
    "nsd",
)
#: Columns of clicks.csv that files written before they existed lack (the report reads those too).
OPTIONAL_CLICKS_COLUMNS: tuple[str, ...] = ("nsd",)
#: Columns of first_interaction.csv, one row per first-interaction click.
FIRST_INTERACTION_COLUMNS: tuple[str, ...] = ("dataset", "method", "slice_id", "case", "index", "y", "x", "positive")
