"""Report figures: Dice-vs-total-clicks curves, training-loss curves and qualitative overlays.

Each function returns a matplotlib ``Figure`` and writes nothing, so :mod:`gdgp.report.build`
decides the file names and writes them atomically. The Agg backend is forced because the
report runs on headless cluster nodes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

DPI = 120
_GT_COLOUR = "#ffd60a"
_PRED_COLOUR = "#00b4d8"
_POS_COLOUR = "#2dc653"
_NEG_COLOUR = "#e63946"


@dataclass(frozen=True)
class Overlay:
    """The contents of one ``overlays.npz`` (see :func:`gdgp.evaluation.evaluate.evaluate_method`)."""

    image: np.ndarray  # (K, H, W) float in [0, 1]
    gt: np.ndarray  # (K, H, W) uint8
    pred: np.ndarray  # (K, R, H, W) uint8
    rounds: np.ndarray  # (R,) int
    slice_id: np.ndarray  # (K,) int
    click_slice: np.ndarray  # (M,) int index into K
    click_y: np.ndarray  # (M,)
    click_x: np.ndarray  # (M,)
    click_positive: np.ndarray  # (M,) bool
    click_round: np.ndarray  # (M,) int

    def round_index(self, target_round: int) -> int:
        """Index into ``rounds`` of the largest stored round ≤ ``target_round`` (the smallest if none is)."""
        rounds = np.asarray(self.rounds)
        ok = np.flatnonzero(rounds <= target_round)
        if ok.size:
            return int(ok[np.argmax(rounds[ok])])
        return int(np.argmin(rounds))


@dataclass(frozen=True)
class PanelRound:
    """Which stored prediction of one overlay slice a panel shows, and what it cost."""

    index: int  # index into Overlay.rounds
    round: int  # the round shown
    n_clicks: int  # total clicks at that round (first interaction included)
    over_budget: bool  # the first interaction alone exceeds the budget: round 0 is shown anyway


def panel_round(overlay: Overlay, n_clicks_by_round: Mapping[int, int], budget: int) -> PanelRound:
    """The prediction of one slice to show at a total-click budget.

    The target is the last round whose total clicks are <= ``budget`` (round 0 when the first
    interaction alone costs more: ``over_budget``); the panel shows the largest *stored*
    round <= that target (:meth:`Overlay.round_index`).

    Args:
        overlay: the method's overlays (only ``rounds`` is used).
        n_clicks_by_round: round -> ``n_clicks`` of this slice, from clicks.csv.
        budget: total clicks.
    """
    within = [r for r, n in n_clicks_by_round.items() if n <= budget]
    target = max(within) if within else 0
    index = overlay.round_index(target)
    shown = int(np.asarray(overlay.rounds)[index])
    if shown not in n_clicks_by_round:
        raise ValueError(f"overlay round {shown} is not among the rounds of clicks.csv {sorted(n_clicks_by_round)}")
    return PanelRound(index, shown, int(n_clicks_by_round[shown]), not within)


def method_colours(methods: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """One colour per method, fixed by the global method order so every figure agrees."""
    cmap = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


def plot_dice_per_click(
    curve: pd.DataFrame,
    dataset: str,
    methods: Sequence[str],
    colours: Mapping[str, tuple] | None = None,
    thresholds: Sequence[float] = (),
    budgets: Sequence[int] = (),
) -> Figure:
    """Mean Dice vs total clicks for one dataset, one line per method, ± SEM shaded.

    Args:
        curve: ``dice_per_click.csv`` rows of this dataset (:func:`gdgp.report.tables.curve_frame`):
            ``method, clicks, dice_mean, dice_sem``; ``dice_mean`` is NaN below a method's
            first-interaction cost, so each line starts where that method's user has paid it.
        dataset: used as the title.
        methods: legend order (methods absent from ``curve`` are skipped).
        colours: method -> colour; defaults to :func:`method_colours` of ``methods``.
        thresholds: NoC thresholds drawn as dotted horizontal lines.
        budgets: Table-4 budgets drawn as dotted vertical lines.
    """
    colours = colours or method_colours(methods)
    fig, ax = plt.subplots(figsize=(7.6, 4.4), dpi=DPI)
    max_x = int(curve["clicks"].max()) if len(curve) else 1
    for m in methods:
        c = curve.loc[(curve["method"] == m) & curve["dice_mean"].notna()].sort_values("clicks")
        if c.empty:
            continue
        x, y = c["clicks"].to_numpy(), c["dice_mean"].to_numpy(float)
        sem = np.nan_to_num(c["dice_sem"].to_numpy(float))
        ax.step(x, y, where="post", lw=1.8, color=colours[m], label=m)
        ax.plot(x[:1], y[:1], marker="o", ms=4, color=colours[m])  # the first interaction's cost
        ax.fill_between(x, y - sem, y + sem, step="post", color=colours[m], alpha=0.18, lw=0)
    for t in thresholds:
        ax.axhline(t, color="0.5", lw=0.8, ls=":", zorder=0)
        ax.annotate(
            f"{t:.2f}",
            xy=(1.0, t),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="0.4",
        )
    for b in budgets:
        ax.axvline(b, color="0.6", lw=0.8, ls=":", zorder=0)
    ax.set_xlabel("total clicks (first interaction included)")
    ax.set_ylabel("Dice (mean ± SEM over test slices)")
    ax.set_title(dataset)
    ax.set_xlim(-0.3, max(max_x, 1) + 0.3)
    if max_x <= 30:
        ax.set_xticks(range(0, max_x + 1, 1 if max_x <= 10 else 2))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.07, 1.0), fontsize=9, frameon=False, title="method")
    fig.tight_layout()
    return fig


def plot_loss_curves(
    losses: pd.DataFrame, datasets: Sequence[str], methods: Sequence[str], colours: Mapping[str, tuple] | None = None
) -> Figure:
    """Training loss vs epoch, one subplot per dataset, one line per method.

    The y axis is logarithmic when the losses of a subplot span more than a factor 10, so
    both the first epochs and the plateau stay readable.
    """
    if losses.empty:  # only pretrained methods (their loss.csv holds no epoch): nothing was trained
        fig, ax = plt.subplots(figsize=(4.8, 3.6), dpi=DPI)
        ax.text(0.5, 0.5, "no training curves:\nevery method here is pretrained", ha="center", va="center")
        ax.set_axis_off()
        return fig
    colours = colours or method_colours(methods)
    n = max(len(datasets), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.6 * nrows), dpi=DPI, squeeze=False)
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        d = losses.loc[losses["dataset"] == dataset]
        for m in methods:
            c = d.loc[d["method"] == m].sort_values("epoch")
            if not c.empty:
                ax.plot(
                    c["epoch"], c["loss"], lw=1.6, color=colours[m], label=m, marker="o" if len(c) <= 30 else None, ms=3
                )
        values = d["loss"].to_numpy(float)
        values = values[np.isfinite(values)]
        if values.size and values.min() > 0 and values.max() / values.min() > 10:
            ax.set_yscale("log")
        ax.set_title(dataset)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _dice(pred: np.ndarray, gt: np.ndarray) -> float:
    p, g = pred.astype(bool), gt.astype(bool)
    denom = p.sum() + g.sum()
    return 1.0 if denom == 0 else float(2 * (p & g).sum() / denom)


def _show_image(ax: plt.Axes, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_mask(ax: plt.Axes, mask: np.ndarray, colour: str, fill_alpha: float, ls: str = "-") -> None:
    mask = mask.astype(bool)
    if not mask.any():
        return
    if fill_alpha > 0:
        rgba = np.zeros((*mask.shape, 4))
        rgba[mask] = (*matplotlib.colors.to_rgb(colour), fill_alpha)
        ax.imshow(rgba, interpolation="nearest")
    ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=1.2, linestyles=ls)


def _draw_clicks(ax: plt.Axes, ov: Overlay, k: int, up_to_round: int) -> None:
    sel = (np.asarray(ov.click_slice) == k) & (np.asarray(ov.click_round) <= up_to_round)
    pos = np.asarray(ov.click_positive, dtype=bool)
    for mask, colour, marker in ((sel & pos, _POS_COLOUR, "o"), (sel & ~pos, _NEG_COLOUR, "X")):
        if mask.any():
            ax.scatter(
                np.asarray(ov.click_x)[mask],
                np.asarray(ov.click_y)[mask],
                s=36,
                c=colour,
                marker=marker,
                edgecolors="white",
                linewidths=0.8,
                zorder=5,
            )


def _blank(ax: plt.Axes, text: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def _panel_title(method: str | None, p: PanelRound, budget: int) -> str:
    """``"7 clicks (round 3)"``; ``"round 0: 7 clicks > budget 4"`` when the first interaction
    alone exceeds the budget; the method's name on a line above when given (first row)."""
    info = (
        f"round 0: {p.n_clicks} clicks > budget {budget}" if p.over_budget else f"{p.n_clicks} clicks (round {p.round})"
    )
    return info if method is None else f"{method}\n{info}"


def plot_overlays(
    dataset: str,
    overlays: Mapping[str, Overlay],
    methods: Sequence[str],
    shown: Mapping[str, Mapping[int, PanelRound]],
    budget: int,
) -> Figure:
    """Qualitative grid: rows = slices; columns = image | ground truth | each method's prediction.

    Each prediction is the one ``shown[method][slice_id]`` names (:func:`panel_round`: the
    last round within the total-click ``budget``), filled + outlined, with the ground-truth
    outline dashed for comparison, the clicks placed up to that round (green circles
    positive, red crosses negative), the panel's Dice in the corner and its click count in
    the panel title (which says so when the first interaction alone exceeds the budget).
    Rows follow the slices of the first method; a method lacking a slice gets a blank panel.
    """
    methods = [m for m in methods if m in overlays]
    first = overlays[methods[0]]
    slice_ids = [int(s) for s in first.slice_id]
    nrows, ncols = max(len(slice_ids), 1), 2 + len(methods)
    h, w = first.image.shape[1:]
    panel = 2.3
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel * ncols * max(w / h, 0.5), (panel + 0.25) * nrows + 1.0), dpi=DPI, squeeze=False
    )
    axes[0, 0].set_title("image", fontsize=10)
    axes[0, 1].set_title("ground truth", fontsize=10)
    for row, sid in enumerate(slice_ids):
        image, gt = first.image[row], first.gt[row]
        _show_image(axes[row, 0], image)
        axes[row, 0].set_ylabel(f"slice {sid}", fontsize=9)
        _show_image(axes[row, 1], image)
        _draw_mask(axes[row, 1], gt, _GT_COLOUR, 0.35)
        for col, m in enumerate(methods):
            ax, ov = axes[row, 2 + col], overlays[m]
            ks = np.flatnonzero(np.asarray(ov.slice_id) == sid)
            if ks.size == 0:
                _blank(ax, "not evaluated")
                ax.set_title(m if row == 0 else "", fontsize=9)
                continue
            k, p = int(ks[0]), shown[m][sid]
            pred = ov.pred[k, p.index]
            _show_image(ax, ov.image[k])
            _draw_mask(ax, pred, _PRED_COLOUR, 0.35)
            _draw_mask(ax, ov.gt[k], _GT_COLOUR, 0.0, ls="--")
            _draw_clicks(ax, ov, k, p.round)
            ax.set_title(
                _panel_title(m if row == 0 else None, p, budget),
                fontsize=8,
                color="#b00020" if p.over_budget else "black",
            )
            ax.text(
                0.03,
                0.97,
                f"Dice {_dice(pred, ov.gt[k]):.3f}",
                transform=ax.transAxes,
                va="top",
                ha="left",
                fontsize=8,
                color="white",
                bbox={"facecolor": "black", "alpha": 0.6, "pad": 1.5, "lw": 0},
            )
    handles = [
        Patch(facecolor=_GT_COLOUR, alpha=0.6, label="ground truth"),
        Patch(facecolor=_PRED_COLOUR, alpha=0.6, label="prediction"),
        Line2D([], [], color=_GT_COLOUR, ls="--", label="ground-truth outline"),
        Line2D([], [], marker="o", ls="", color=_POS_COLOUR, markeredgecolor="white", label="positive click"),
        Line2D([], [], marker="X", ls="", color=_NEG_COLOUR, markeredgecolor="white", label="negative click"),
    ]
    fig.suptitle(f"{dataset}: each method at a budget of {budget} total clicks", fontsize=12)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def close(fig: Figure) -> None:
    """Release a figure's memory (pyplot keeps every figure alive until closed)."""
    plt.close(fig)
