"""DIOS's random click sets: training clicks that do not depend on the network's current errors.

Xu et al., "Deep Interactive Object Selection" (CVPR 2016), Sec. 3.2, sample the training
clicks of each object at random: 1..``max_positive`` positive clicks on object pixels at least
``margin`` from the object's boundary, and 0..``max_negative`` negative clicks on background
pixels between ``margin`` and ``band`` from the object, clicks of one class at least ``step``
apart (the paper: 5 positive and 10 negative at most, margin 5 px, step 10 px, band 40 px,
on images of a few hundred pixels). Here the three distances are fractions of the image side
(the defaults are the paper's pixels at a 256-px image), so one setting serves the 64-px demo
and 256-px CT alike.

Why they were tried: under RITM-style iterative training alone, the robot's corrective clicks are
placed on the network's own training errors; once it fits the few training slices of a small
dataset those errors are thin slivers and the clicks carry little (on the demo ``click_unet``'s
first corrective click moves its probability at the clicked pixel by 0.02). Clicks drawn from the
ground truth do not depend on those errors. ``click_unet`` offers them (``random_click_sets``),
off by default: they lost on real-CT validation (docs/methods.md).

The object's own shape gives the candidates; where it is too thin for ``margin`` (a small
target), the positive candidates are its deepest pixels instead, so every object gets at least
one positive click.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt

from gdgp.clicks.robot import Click

#: DIOS's distances (5, 10, 40 px) as fractions of a 256-px image side.
DIOS_MARGIN = 5 / 256
DIOS_STEP = 10 / 256
DIOS_BAND = 40 / 256


def spaced_sample(candidates: np.ndarray, n: int, min_distance: float, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` pixels (k, 2) of ``candidates`` in random order, each >= ``min_distance`` from
    those taken before it (greedy: fewer than ``n`` when the candidates run out)."""
    pixels = np.argwhere(candidates)
    taken: list[np.ndarray] = []
    if n <= 0 or len(pixels) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    for pixel in pixels[rng.permutation(len(pixels))]:
        if all(np.hypot(*(pixel - t)) >= min_distance for t in taken):
            taken.append(pixel)
            if len(taken) == n:
                break
    return np.asarray(taken, dtype=np.int64).reshape(-1, 2)


def dios_click_set(
    gt: np.ndarray,
    rng: np.random.Generator,
    *,
    start: list[Click] | None = None,
    max_positive: int = 5,
    max_negative: int = 10,
    margin: float = DIOS_MARGIN,
    step: float = DIOS_STEP,
    band: float = DIOS_BAND,
) -> list[Click]:
    """A random DIOS click set for the (H, W) mask ``gt``.

    Args:
        gt: target mask (nonzero = object); an empty mask gives ``start`` (or no click).
        rng: the only source of randomness (a training epoch's generator).
        start: clicks already given (the method's first interaction): kept first, counted among
            the positive ones, and new clicks keep ``step`` from them.
        max_positive, max_negative: the number of each class is drawn uniformly from
            1..max_positive (including ``start``'s positive clicks) and 0..max_negative.
        margin, step, band: fractions of the image side (see the module docstring).

    Returns:
        ``start``, then the new positive clicks, then the negative ones, indexed in that order.
    """
    obj = np.asarray(gt) != 0
    clicks = list(start or [])
    if not obj.any():
        return clicks
    side = max(obj.shape)
    margin_px, step_px, band_px = margin * side, step * side, band * side
    depth = distance_transform_edt(obj)
    positive = depth >= min(margin_px, depth.max())
    outside = distance_transform_edt(~obj)
    negative = (outside >= margin_px) & (outside <= band_px)
    n_positive = int(rng.integers(1, max_positive + 1)) - sum(c.positive for c in clicks)
    n_negative = int(rng.integers(0, max_negative + 1))
    yy, xx = np.ogrid[: obj.shape[0], : obj.shape[1]]
    for c in clicks:  # keep new clicks `step` away from the given ones
        positive &= np.hypot(yy - c.y, xx - c.x) >= step_px
    for candidates, n, label in ((positive, n_positive, True), (negative, n_negative, False)):
        for y, x in spaced_sample(candidates, n, step_px, rng):
            clicks.append(Click(int(y), int(x), label, len(clicks)))
    return clicks
