"""GDGP's hybrid first interaction: near-centre foreground points + outer-edge background points.

The paper's user gives a few foreground points deep inside the target and a few background
points just outside its boundary, spread around it; the outer-edge points also give a loose
box that crops the image before encoding. The simulation here:

* near-centre points: pixels whose distance to the target boundary (border counted as
  boundary, as in :mod:`gdgp.clicks.robot`) is at least ``centre_fraction`` x the
  maximum; the first is the deepest pixel (first in raster order), the others are chosen by
  farthest-point sampling among the candidates so they spread over the interior;
* outer-edge points: background pixels at distance 1..``edge_margin`` px from the target
  (the band), one per direction of ``n_edge`` evenly spaced directions starting upwards
  and turning clockwise (4: up, right, down, left; 8 adds the diagonals): the band pixel
  farthest along that direction, i.e. the support point of the band. Ties (a flat side)
  go to the pixel nearest the line through the target's centroid along that direction,
  then to raster order. Because the band reaches past the target's extreme row and
  column on every side, with ``n_edge`` a multiple of 4 the points' bounding box contains
  the whole target, the paper's "loose box that wholly contains the target" (section
  2.1); a user places such points just beyond the target's top, bottom, left and right.
  The earlier rule (the band pixel nearest the band's middle in each angular sector) took
  the first of many exact ties in raster order, so points bunched on the centroid's row
  and the crop cut off part of the target on some slices.

Optional position noise moves each point by a Gaussian offset and snaps it back to the
nearest candidate, so the point stays truthful. Coordinates are (y, x) = (row, column).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt

from gdgp.clicks.robot import error_distance


@dataclass(frozen=True)
class HybridConfig:
    """How the simulated user places the hybrid first interaction.

    Attributes:
        n_centre: near-centre foreground points (k).
        n_edge: outer-edge background points (m).
        centre_fraction: near-centre points lie at >= this fraction of the maximal depth.
        edge_margin: outer-edge points lie 1..edge_margin px outside the target.
        crop_margin: the crop box is the points' bounding box grown by this many px.
        noise_px: std of the Gaussian position noise (0 = deterministic).
    """

    n_centre: int = 3
    n_edge: int = 4
    centre_fraction: float = 0.5
    edge_margin: float = 5.0
    crop_margin: int = 8
    noise_px: float = 0.0

    def __post_init__(self) -> None:
        if self.n_centre < 1 or self.n_edge < 0:
            raise ValueError(f"need n_centre >= 1 and n_edge >= 0, got {self.n_centre}, {self.n_edge}")
        if not 0.0 <= self.centre_fraction <= 1.0:
            raise ValueError(f"centre_fraction must be in [0, 1], got {self.centre_fraction}")
        if self.edge_margin < 1.0:
            raise ValueError(f"edge_margin must be >= 1 px, got {self.edge_margin}")


@dataclass(frozen=True)
class HybridPoints:
    """The hybrid interaction: point arrays (n, 2) of (y, x) and the crop box."""

    centre: np.ndarray
    edge: np.ndarray
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open)


def _farthest_points(candidates: np.ndarray, first: np.ndarray, n: int) -> np.ndarray:
    chosen = [first]
    dist = np.hypot(*(candidates - first).T)
    while len(chosen) < min(n, len(candidates)):
        nxt = candidates[int(np.argmax(dist))]
        chosen.append(nxt)
        dist = np.minimum(dist, np.hypot(*(candidates - nxt).T))
    return np.array(chosen, dtype=np.int64)


def snap_with_noise(
    points: np.ndarray, candidates: np.ndarray, noise_px: float, rng: np.random.Generator | None
) -> np.ndarray:
    """Gaussian position noise (std ``noise_px``) on (n, 2) points, each snapped to the nearest candidate.

    Simulated points stay on valid pixels (inside the target, in the edge band...), so their
    labels stay truthful; ``noise_px <= 0`` returns the points unchanged.
    """
    if noise_px <= 0 or len(points) == 0:
        return points
    if rng is None:
        raise ValueError("noise_px > 0 needs an np.random.Generator")
    noisy = points + rng.normal(0.0, noise_px, size=points.shape)
    d = ((noisy[:, None, :] - candidates[None, :, :]) ** 2).sum(-1)
    return candidates[np.argmin(d, axis=1)]


def near_centre_points(gt: np.ndarray, n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(points, candidates): ``n`` spread interior points at depth >= fraction x max depth."""
    depth = error_distance(gt.astype(bool))
    candidates = np.argwhere(depth >= fraction * depth.max())
    deepest = np.argwhere(depth == depth.max())[0]
    return _farthest_points(candidates, deepest, n), candidates


def edge_directions(n: int) -> np.ndarray:
    """(n, 2) unit (dy, dx) directions, the first upwards, then clockwise in steps of 360/n degrees."""
    angle = 2.0 * np.pi * np.arange(n) / n
    return np.stack([-np.cos(angle), np.sin(angle)], axis=1)


def outer_edge_points(gt: np.ndarray, n: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(points, candidates): the band's support point in each of ``n`` directions (module docstring).

    Points are distinct: a direction whose tied extreme pixels another direction already
    took is skipped, so fewer than ``n`` points come back only on tiny bands.
    """
    g = gt.astype(bool)
    outside = distance_transform_edt(~g)
    candidates = np.argwhere((outside >= 1) & (outside <= margin))
    if n == 0 or len(candidates) == 0:
        return np.zeros((0, 2), dtype=np.int64), candidates
    offsets = candidates - np.argwhere(g).mean(axis=0)
    dirs = edge_directions(n)
    along = offsets @ dirs.T  # (N, n) projection on each direction
    across = np.abs(offsets @ np.stack([dirs[:, 1], -dirs[:, 0]], axis=1).T)  # distance to the axis
    points: list[np.ndarray] = []
    taken: set[tuple[int, int]] = set()
    for s in range(n):
        extreme = np.flatnonzero(along[:, s] >= along[:, s].max() - 1e-6)
        order = extreme[np.lexsort((extreme, across[extreme, s]))]  # nearest the axis, then raster
        free = [i for i in order if tuple(candidates[i]) not in taken]
        if not free:
            continue
        taken.add(tuple(candidates[free[0]]))
        points.append(candidates[free[0]])
    return np.array(points, dtype=np.int64).reshape(-1, 2), candidates


def crop_box(points: np.ndarray, shape: tuple[int, int], margin: int) -> tuple[int, int, int, int]:
    """Bounding box (y0, y1, x0, x1), half-open, of ``points`` grown by ``margin``, clipped to the image."""
    y0, x0 = points.min(axis=0) - margin
    y1, x1 = points.max(axis=0) + margin + 1
    return int(max(y0, 0)), int(min(y1, shape[0])), int(max(x0, 0)), int(min(x1, shape[1]))


def hybrid_interaction(gt: np.ndarray, cfg: HybridConfig, rng: np.random.Generator | None = None) -> HybridPoints:
    """Simulate the hybrid first interaction on ground truth ``gt`` (H, W).

    Raises:
        ValueError: ``gt`` is empty (no target to click).
    """
    if not gt.any():
        raise ValueError("hybrid interaction needs a non-empty target")
    centre, c_cand = near_centre_points(gt, cfg.n_centre, cfg.centre_fraction)
    edge, e_cand = outer_edge_points(gt, cfg.n_edge, cfg.edge_margin)
    centre = snap_with_noise(centre, c_cand, cfg.noise_px, rng)
    edge = snap_with_noise(edge, e_cand, cfg.noise_px, rng)
    box = crop_box(np.concatenate([centre, edge]), gt.shape, cfg.crop_margin)
    return HybridPoints(centre=centre, edge=edge, box=box)


def plain_interaction(gt: np.ndarray, cfg: HybridConfig, rng: np.random.Generator) -> HybridPoints:
    """Conventional fg/bg clicks with the same counts (GDGP ablation 1, paper Table 6).

    DIOS-style sampling (Xu et al. 2016): ``n_centre`` foreground points drawn at random
    anywhere in the target (no depth constraint) and ``n_edge`` background points drawn at
    random among background pixels 1..3 x ``edge_margin`` px from the target (no spread
    around it). The box is the clicks' bounding box, as for the hybrid interaction, so it
    may miss part of the target; corrective clicks then grow it.

    Raises:
        ValueError: ``gt`` is empty.
    """
    g = gt.astype(bool)
    if not g.any():
        raise ValueError("plain fg/bg interaction needs a non-empty target")
    inside = np.argwhere(g)
    outside_d = distance_transform_edt(~g)
    band = np.argwhere((outside_d >= 1) & (outside_d <= 3 * cfg.edge_margin))
    centre = inside[rng.choice(len(inside), size=min(cfg.n_centre, len(inside)), replace=False)]
    n_bg = min(cfg.n_edge, len(band))
    edge = band[rng.choice(len(band), size=n_bg, replace=False)] if n_bg else np.zeros((0, 2), np.int64)
    box = crop_box(np.concatenate([centre, edge]), gt.shape, cfg.crop_margin)
    return HybridPoints(centre=centre.astype(np.int64), edge=edge.astype(np.int64), box=box)
