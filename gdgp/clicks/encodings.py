"""Click encodings: functions (clicks, shape) -> map, one map per click class.

Each encoding returns float32 maps in [0, 1]. Only the Euclidean ones live here for now;
the geodesic family (GEO, exponentialised geodesic, Gaussian geodesic) joins with GDGP.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import distance_transform_edt

from gdgp.clicks.robot import Click


def click_map(clicks: Sequence[Click], shape: tuple[int, int], positive: bool) -> np.ndarray:
    """Binary (H, W) map with ones at the clicks of one class."""
    out = np.zeros(shape, dtype=bool)
    for c in clicks:
        if c.positive == positive:
            out[c.y, c.x] = True
    return out


def euclidean_distance_map(
    clicks: Sequence[Click], shape: tuple[int, int], positive: bool, scale: float = 255.0
) -> np.ndarray:
    """EDV encoding (Xu et al., DIOS): distance to the nearest click of a class, / ``scale``, clipped to 1.

    With no click of that class the map is all ones (infinitely far).
    """
    seeds = click_map(clicks, shape, positive)
    if not seeds.any():
        return np.ones(shape, dtype=np.float32)
    return np.minimum(distance_transform_edt(~seeds) / scale, 1.0).astype(np.float32)


def gaussian_heatmap(
    clicks: Sequence[Click], shape: tuple[int, int], positive: bool, sigma: float = 10.0
) -> np.ndarray:
    """GH encoding: max over clicks of exp(-d^2 / (2 sigma^2)); 1 on each click, 0 if none."""
    seeds = click_map(clicks, shape, positive)
    if not seeds.any():
        return np.zeros(shape, dtype=np.float32)
    d = distance_transform_edt(~seeds)
    return np.exp(-(d**2) / (2.0 * sigma**2)).astype(np.float32)
