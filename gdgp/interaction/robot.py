"""The robot user: one corrective click at the point deepest inside the larger error.

Protocol (RITM's ``Clicker``, Sofiiuk et al. 2022): with ground truth ``gt`` and a binary
prediction, FN = gt & ~pred and FP = ~gt & pred on non-ignored pixels. Each error mask is
zero-padded by one pixel (so the image border counts as boundary), its exact Euclidean
distance transform taken, the pad cropped, and already-clicked pixels zeroed. The click is
positive (foreground) iff max FN distance > max FP distance, and lands on the first
maximal pixel in raster (row-major) order. Coordinates are (y, x) = (row, column).

The same class serves training-time simulation and evaluation so that they never drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt


@dataclass(frozen=True)
class Click:
    """One click: pixel (y, x), foreground if ``positive``, ``index`` = order of placement."""

    y: int
    x: int
    positive: bool
    index: int


def error_distance(mask: np.ndarray) -> np.ndarray:
    """Distance of each pixel of ``mask`` to the nearest non-mask pixel or the image border."""
    padded = np.pad(mask.astype(bool), 1, constant_values=False)
    return distance_transform_edt(padded)[1:-1, 1:-1]


class Robot:
    """Simulated user who knows the ground truth and keeps the list of clicks.

    Args:
        gt: (H, W) ground-truth mask (nonzero = target).
        ignore: optional (H, W) bool mask of pixels never clicked nor counted as error.
        noise_px: standard deviation (pixels) of a Gaussian position error; the noisy
            click is snapped to the nearest pixel of the same error region, so its label
            stays truthful. 0 = the deterministic RITM protocol.
        rng: generator for the position noise (required when ``noise_px > 0``).
    """

    def __init__(self, gt: np.ndarray, ignore: np.ndarray | None = None,
                 noise_px: float = 0.0, rng: np.random.Generator | None = None) -> None:
        if gt.ndim != 2:
            raise ValueError(f"gt must be 2D (H, W), got shape {gt.shape}")
        if noise_px > 0 and rng is None:
            raise ValueError("noise_px > 0 needs an np.random.Generator")
        self.gt = gt.astype(bool)
        self.valid = np.ones_like(self.gt) if ignore is None else ~ignore.astype(bool)
        self.not_clicked = np.ones_like(self.gt)
        self.noise_px = noise_px
        self.rng = rng
        self.clicks: list[Click] = []

    def add(self, y: int, x: int, positive: bool) -> Click:
        """Record a click placed by a first-interaction rule (not by the error protocol)."""
        click = Click(int(y), int(x), bool(positive), len(self.clicks))
        self.clicks.append(click)
        self.not_clicked[click.y, click.x] = False
        return click

    def next_click(self, pred: np.ndarray) -> Click | None:
        """Place the next corrective click for binary prediction ``pred`` (H, W).

        Returns:
            The new click, or None when no unclicked error pixel is left.
        """
        pred = pred.astype(bool)
        fn = self.gt & ~pred & self.valid
        fp = ~self.gt & pred & self.valid
        fn_dist = error_distance(fn) * self.not_clicked
        fp_dist = error_distance(fp) * self.not_clicked
        fn_max, fp_max = fn_dist.max(), fp_dist.max()
        if max(fn_max, fp_max) == 0:
            return None
        positive = bool(fn_max > fp_max)
        dist = fn_dist if positive else fp_dist
        y, x = np.argwhere(dist == dist.max())[0]
        if self.noise_px > 0:
            y, x = self._jitter(int(y), int(x), dist > 0)
        return self.add(int(y), int(x), positive)

    def _jitter(self, y: int, x: int, region: np.ndarray) -> tuple[int, int]:
        assert self.rng is not None
        ty, tx = np.array([y, x]) + self.rng.normal(0.0, self.noise_px, size=2)
        ys, xs = np.nonzero(region)
        best = np.argmin((ys - ty) ** 2 + (xs - tx) ** 2)
        return int(ys[best]), int(xs[best])
