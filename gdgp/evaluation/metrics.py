"""Segmentation scores, wrapping medpy once, with the empty-mask policy in one place.

Policy: medpy's ``assd`` raises on an empty mask. Targets are never empty here (only valid
slices are scored). An empty prediction of a non-empty target is a failure: Dice 0 and a
penalty ASSD equal to the slice diagonal (in pixels, and in mm with the slice spacing),
flagged ``empty_pred`` so reports can count such cases instead of silently dropping NaNs.
If both masks are empty, Dice 1 and ASSD 0.

Normalised Surface Dice (NSD, Nikolov et al. 2021, https://arxiv.org/abs/1809.04430) follows
the same policy: both masks empty gives 1, exactly one empty gives 0 (a failure), never NaN.
See :func:`surface_dice` for the definition used (DeepMind's surface elements, as in the
``SurfaceDice.py`` that MedSAM and the CVPR 2025 interactive segmentation challenge score with).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from medpy.metric.binary import assd, dc


def slice_diagonal(shape: tuple[int, int], spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """Length of the slice diagonal in the units of ``spacing``."""
    return math.hypot(shape[0] * spacing[0], shape[1] * spacing[1])


@functools.lru_cache(maxsize=256)
def _surfel_tables(spacing: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """MONAI's 2D neighbour-code kernel (2x2) and code -> contour length (mm) table for ``spacing``."""
    from monai.metrics.utils import get_code_to_measure_table  # deferred, see surface_dice

    table, kernel = get_code_to_measure_table(spacing)
    return table.cpu().numpy().astype(np.float64), kernel.cpu().numpy().reshape(2, 2).astype(np.int64)


def surface_dice(pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float], tolerance_mm: float) -> float:
    """Normalised Surface Dice of two binary 2D masks at a tolerance in mm.

    NSD = (length of the predicted boundary within ``tolerance_mm`` of the reference boundary
    + length of the reference boundary within ``tolerance_mm`` of the predicted boundary)
    / (total length of both boundaries); a distance exactly equal to the tolerance counts.

    This is MONAI's ``compute_surface_dice`` with ``distance_metric="euclidean"``,
    ``spacing=spacing`` (so distances and the tolerance are in mm), ``use_subvoxels=True`` and the
    foreground as the only channel (``include_background=True`` on a single-channel one-hot, i.e.
    the background's boundary, which would include the image border, is never scored).
    ``use_subvoxels=True`` is what makes it DeepMind's ``surface-distance`` definition, the one
    Nikolov et al. published and that MedSAM's / the CVPR 2025 challenge's ``SurfaceDice.py``
    copies: the boundary is made of surface elements ("surfels") at the pixel corners, one per
    2x2 neighbourhood of the zero-padded mask that holds both inside and outside pixels, each
    weighted by the length (in mm) of the marching-squares contour through it (half the pixel
    diagonal per cut corner, the pixel side for a straight edge). With ``use_subvoxels=False``
    MONAI would instead count boundary pixels with equal weight, which is not the published
    metric (on a 256x256 disc pair the two differ by about 0.02).

    It gives ``compute_surface_dice``'s result (the tests check it against it and against a
    brute-force implementation) at a fraction of its cost, which matters because ``score`` runs
    once per slice and round: ``compute_surface_dice`` takes ~3.5 ms per 256x256 slice with one
    torch thread and 12-20 ms with two on a busy CPU, mostly MONAI's per-call tensor overhead
    (MetaTensor foreground crop, float16 ops, a tiny conv2d), while this takes ~0.7 ms whatever
    torch's thread count. It keeps MONAI's maintained pieces, the neighbour-code kernel and
    code -> contour-length table (``get_code_to_measure_table``, DeepMind's table) and the
    distance computation (``get_surface_distance``, exact Euclidean nearest-surfel distances
    with the spacing, a KD-tree on CPU), and replaces only the glue of ``get_mask_edges``: the
    crop to the bounding box of the union plus a one-pixel zero border (MONAI's foreground crop
    with margin 1, zero-padded where the margin leaves the image) and the 2x2 correlation with
    that kernel, done in NumPy. Like MONAI, distances are float32 and compared with the
    tolerance in float32, so a distance that equals the tolerance on the pixel lattice (e.g. a
    one-pixel shift at a tolerance of one pixel spacing) counts as within it.

    Args:
        pred, gt: (H, W) masks; nonzero = target.
        spacing: (row, column) pixel size in mm, i.e. (spacing_y, spacing_x).
        tolerance_mm: the accepted boundary deviation in mm, finite and >= 0.

    Returns:
        NSD in [0, 1]; 1.0 if both masks are empty, 0.0 if exactly one is (never NaN).
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground truth shape {gt.shape}")
    if pred.ndim != 2:
        raise ValueError(f"surface_dice expects 2D masks, got shape {pred.shape}")
    if not (math.isfinite(tolerance_mm) and tolerance_mm >= 0):
        raise ValueError(f"tolerance_mm must be finite and >= 0, got {tolerance_mm}")
    sp = (float(spacing[0]), float(spacing[1]))
    if not all(math.isfinite(s) and s > 0 for s in sp):
        raise ValueError(f"spacing must be two positive numbers, got {spacing}")
    p, g = pred.astype(bool), gt.astype(bool)
    if not p.any() and not g.any():
        return 1.0
    if not p.any() or not g.any():
        return 0.0
    # Deferred: importing MONAI costs seconds, and most users of this module never score NSD.
    from monai.metrics.utils import get_surface_distance

    table, kernel = _surfel_tables(sp)
    union = p | g
    rows, cols = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    codes = []
    for m in (p, g):
        m = np.pad(m[box], 1).astype(np.int64)
        codes.append(
            kernel[0, 0] * m[:-1, :-1]
            + kernel[0, 1] * m[:-1, 1:]
            + kernel[1, 0] * m[1:, :-1]
            + kernel[1, 1] * m[1:, 1:]
        )
    code_p, code_g = codes
    all_in = len(table) - 1
    edges_p, edges_g = (code_p != 0) & (code_p != all_in), (code_g != 0) & (code_g != all_in)
    dist_pg = get_surface_distance(edges_p, edges_g, distance_metric="euclidean", spacing=sp)
    dist_gp = get_surface_distance(edges_g, edges_p, distance_metric="euclidean", spacing=sp)
    length_p, length_g = table[code_p[edges_p]], table[code_g[edges_g]]
    within = length_p[dist_pg <= tolerance_mm].sum() + length_g[dist_gp <= tolerance_mm].sum()
    return float(within / (length_p.sum() + length_g.sum()))


def score(
    pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float], nsd_tolerance_mm: float = 2.0
) -> dict[str, float | int | bool]:
    """Dice, ASSD (pixels and mm), NSD and the confusion counts of one binary 2D prediction.

    Args:
        pred, gt: (H, W) masks; nonzero = target.
        spacing: (row, column) pixel size in mm, i.e. (spacing_y, spacing_x).
        nsd_tolerance_mm: tolerance of the Normalised Surface Dice, in mm (2 mm as in the
            CVPR 2025 interactive segmentation challenge).

    Returns:
        dict with ``dice, assd_px, assd_mm, tp, fp, fn, empty_pred, nsd``.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground truth shape {gt.shape}")
    p, g = pred.astype(bool), gt.astype(bool)
    tp, fp, fn = int((p & g).sum()), int((p & ~g).sum()), int((~p & g).sum())
    empty_pred = not p.any() and g.any()
    if not p.any() and not g.any():
        dice, assd_px, assd_mm = 1.0, 0.0, 0.0
    elif not p.any() or not g.any():
        dice = 0.0
        assd_px = slice_diagonal(p.shape)
        assd_mm = slice_diagonal(p.shape, spacing)
    else:
        dice = float(dc(p, g))
        assd_px = float(assd(p, g, voxelspacing=None, connectivity=1))
        assd_mm = float(assd(p, g, voxelspacing=spacing, connectivity=1))
    return {
        "dice": dice,
        "assd_px": assd_px,
        "assd_mm": assd_mm,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "empty_pred": bool(empty_pred),
        "nsd": surface_dice(p, g, spacing, nsd_tolerance_mm),
    }
