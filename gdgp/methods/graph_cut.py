"""Binary graph cut of a probability map with a contrast-sensitive pairwise term and hard seeds.

One function, :func:`graph_cut`, serves DeepIGeoS (8-neighbour, ``1 - p`` as the background
probability) and MIDeepSeg (4-neighbour, its own background map); each method's parameters
are spelled out at its call. The energy of a labelling L (True = foreground) is

    E(L) = sum_p U_p(L_p) + sum_{p~q, L_p != L_q} w_pq,
    U_p(fg) = -log P_fg(p),  U_p(bg) = -log P_bg(p),
    w_pq = weight * exp(-(I_p - I_q)^2 / (2 sigma^2)) / |p - q|,

and seed pixels have an infinite (``HARD_SEED``) cost for the other label. Max flow is
PyMaxflow's Boykov-Kolmogorov, exact for this submodular energy.

Why the graph is built as it is (256 x 256, confident map: 10.7 -> 7.2 ms, docs/benchmarks.md):
``add_grid_edges`` walks every node through a NumPy multi-index iterator in C++, ~2x slower
than ``add_edges`` on index arrays, which adds the very same arcs in the very same order (so
max flow, and every label, is unchanged); the graph is sized up front (no growing of its arc
array); and the edges go in one direction at a time, because one call with all four
directions' arrays (and PyMaxflow's copies of them) allocated enough fresh memory for ~9000
page faults per cut, which made it slower than the old code.
"""

from __future__ import annotations

import math
from typing import Literal

import maxflow
import numpy as np

#: Terminal capacity that pins a seed pixel to its label (far above any unary + pairwise sum).
HARD_SEED = 1e9
#: Half of each neighbourhood (edges are symmetric); 4 is a prefix of 8, in the order arcs are added.
_OFFSETS = {4: ((0, 1), (1, 0)), 8: ((0, 1), (1, 0), (1, 1), (1, -1))}


def graph_cut(
    prob: np.ndarray,
    image: np.ndarray,
    fg_seeds: np.ndarray | None = None,
    bg_seeds: np.ndarray | None = None,
    *,
    weight: float,
    sigma: float,
    neighbours: Literal[4, 8] = 8,
    bg_prob: np.ndarray | None = None,
    eps: float = 1e-4,
    ties: Literal["background", "foreground"] = "background",
) -> np.ndarray:
    """Minimum-energy binary labelling of ``prob`` (see the module docstring for the energy).

    Args:
        prob: (H, W) probability that a pixel is foreground; its cost of being foreground
            is -log prob.
        image: (H, W) intensities; only differences of neighbours enter (the pairwise term).
        fg_seeds, bg_seeds: (H, W) bool masks (or None) of pixels forced to foreground /
            background whatever ``prob`` says; a pixel in both ends up background.
        weight: pairwise weight (>= 0): what a label change between two neighbours of equal
            intensity costs, against the unary -log probabilities; 0 gives the per-pixel
            argmax (``prob > bg_prob``) outside the seeds.
        sigma: intensity scale (> 0): neighbours whose intensities differ by a few sigma
            cost almost nothing to separate, so the cut follows image edges.
        neighbours: 4 (axis neighbours) or 8 (also diagonals, their weight divided by sqrt 2).
        bg_prob: (H, W) probability of background, when it is not ``1 - prob`` (MIDeepSeg's
            fused maps). Without it ``prob`` is clipped to [eps, 1 - eps] and ``1 - prob`` used;
            with it each map is clipped to [eps, 1]. The costs are computed in the maps' own
            float precision (float32 maps, float32 -log), so each caller keeps its rounding.
        eps: floor of the probabilities, which bounds a unary cost by -log eps.
        ties: which of several minimum-energy labellings is returned: the one with the fewest
            foreground pixels (``"background"``: a pixel with prob = bg_prob is background)
            or the most (``"foreground"``). It sets the graph's orientation (foreground on
            the sink side, or on the source side), as Boykov-Kolmogorov returns the smallest
            sink side.

    Returns:
        (H, W) bool mask, True = foreground; every fg seed not also a bg seed is True, every
        bg seed False.

    Raises:
        ValueError: on maps that are not 2D of one shape, or on invalid parameters.
    """
    _check(prob, image, fg_seeds, bg_seeds, bg_prob, weight, sigma, neighbours, eps, ties)
    if not np.issubdtype(prob.dtype, np.floating):
        prob = prob.astype(np.float64)
    if bg_prob is None:
        p = np.clip(prob, eps, 1.0 - eps)
        cost_fg, cost_bg = -np.log(p), -np.log(1.0 - p)
    else:
        if not np.issubdtype(bg_prob.dtype, np.floating):
            bg_prob = bg_prob.astype(np.float64)
        cost_fg, cost_bg = -np.log(np.clip(prob, eps, 1.0)), -np.log(np.clip(bg_prob, eps, 1.0))
    cost_fg, cost_bg = cost_fg.astype(np.float64), cost_bg.astype(np.float64)
    for seeds, fg_cost, bg_cost in ((fg_seeds, 0.0, HARD_SEED), (bg_seeds, HARD_SEED, 0.0)):
        if seeds is not None:
            cost_fg[seeds], cost_bg[seeds] = fg_cost, bg_cost

    h, w = prob.shape
    offsets = _OFFSETS[neighbours] if weight > 0 else ()
    graph = maxflow.Graph[float](h * w, sum((h - dy) * (w - abs(dx)) for dy, dx in offsets))
    nodes = graph.add_grid_nodes((h, w))
    _add_pairwise_edges(graph, nodes, image.astype(np.float64), offsets, weight, sigma)
    # A node on the sink side pays its source capacity: the sink side is the foreground for
    # ties="background" (BK's sink side is the smallest optimal one), the background otherwise.
    sink_is_fg = ties == "background"
    graph.add_grid_tedges(nodes, *((cost_fg, cost_bg) if sink_is_fg else (cost_bg, cost_fg)))
    graph.maxflow()
    sink = graph.get_grid_segments(nodes)
    return sink if sink_is_fg else ~sink


def _add_pairwise_edges(
    graph: maxflow.GraphFloat,
    nodes: np.ndarray,
    image: np.ndarray,
    offsets: tuple[tuple[int, int], ...],
    weight: float,
    sigma: float,
) -> None:
    """Add the n-links direction by direction, row-major within one.

    This is the order ``add_grid_edges`` with one single-offset structure per direction adds
    them in (the earlier code), which keeps the max-flow search, and so every tie, unchanged.
    """
    h, w = image.shape
    for dy, dx in offsets:
        src = (slice(0, h - dy), slice(max(0, -dx), w - max(0, dx)))
        dst = (slice(dy, h), slice(max(0, dx), w + min(0, dx)))
        diff = image[dst] - image[src]
        caps = weight * np.exp(-(diff**2) / (2.0 * sigma**2)) / math.hypot(dy, dx)
        graph.add_edges(nodes[src], nodes[dst], caps, caps)


def _check(
    prob: np.ndarray,
    image: np.ndarray,
    fg_seeds: np.ndarray | None,
    bg_seeds: np.ndarray | None,
    bg_prob: np.ndarray | None,
    weight: float,
    sigma: float,
    neighbours: int,
    eps: float,
    ties: str,
) -> None:
    """Raise ValueError naming the first bad argument (PyMaxflow's own errors name none)."""
    if prob.ndim != 2:
        raise ValueError(f"graph_cut: prob must be 2D (H, W), got shape {prob.shape}")
    maps = {"image": image, "fg_seeds": fg_seeds, "bg_seeds": bg_seeds, "bg_prob": bg_prob}
    for name, arr in maps.items():
        if arr is not None and arr.shape != prob.shape:
            raise ValueError(f"graph_cut: {name} has shape {arr.shape}, prob {prob.shape}")
    for name, seeds in (("fg_seeds", fg_seeds), ("bg_seeds", bg_seeds)):
        if seeds is not None and seeds.dtype != bool:
            raise ValueError(f"graph_cut: {name} must be a bool mask, got dtype {seeds.dtype}")
    if not weight >= 0:
        raise ValueError(f"graph_cut: weight must be >= 0, got {weight!r}")
    if not sigma > 0:
        raise ValueError(f"graph_cut: sigma must be > 0, got {sigma!r}")
    if neighbours not in _OFFSETS:
        raise ValueError(f"graph_cut: neighbours must be 4 or 8, got {neighbours!r}")
    if not 0 < eps < 0.5:
        raise ValueError(f"graph_cut: eps must be in (0, 0.5), got {eps!r}")
    if ties not in ("background", "foreground"):
        raise ValueError(f"graph_cut: ties must be 'background' or 'foreground', got {ties!r}")
