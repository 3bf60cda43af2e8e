"""Segmentation scores, wrapping medpy once, with the empty-mask policy in one place.

Policy: medpy's ``assd`` raises on an empty mask. Targets are never empty here (only valid
slices are scored). An empty prediction of a non-empty target is a failure: Dice 0 and a
penalty ASSD equal to the slice diagonal (in pixels, and in mm with the slice spacing),
flagged ``empty_pred`` so reports can count such cases instead of silently dropping NaNs.
If both masks are empty, Dice 1 and ASSD 0.
"""

from __future__ import annotations

import math

import numpy as np
from medpy.metric.binary import assd, dc


def slice_diagonal(shape: tuple[int, int], spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """Length of the slice diagonal in the units of ``spacing``."""
    return math.hypot(shape[0] * spacing[0], shape[1] * spacing[1])


def score(pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float]) -> dict[str, float | int | bool]:
    """Dice, ASSD (pixels and mm) and the confusion counts of one binary 2D prediction.

    Args:
        pred, gt: (H, W) masks; nonzero = target.
        spacing: (row, column) pixel size in mm, i.e. (spacing_y, spacing_x).

    Returns:
        dict with ``dice, assd_px, assd_mm, tp, fp, fn, empty_pred``.
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
    return {"dice": dice, "assd_px": assd_px, "assd_mm": assd_mm, "tp": tp, "fp": fp, "fn": fn,
            "empty_pred": bool(empty_pred)}
