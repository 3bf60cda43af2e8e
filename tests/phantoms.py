"""Synthetic test images shared by the method tests: a disc target on a noisy background."""

from __future__ import annotations

import numpy as np


def disc(shape: tuple[int, int] = (48, 48), centre: tuple[float, float] = (24, 20), r: float = 8.0) -> np.ndarray:
    """Boolean (H, W) disc of radius ``r`` px at ``centre`` (y, x)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= r * r


def image_of(gt: np.ndarray, seed: int = 0) -> np.ndarray:
    """A float32 image in [0, 1]: 0.3 background, 0.7 target, Gaussian noise of std 0.05."""
    rng = np.random.default_rng(seed)
    return np.clip(0.3 + 0.4 * gt + 0.05 * rng.standard_normal(gt.shape), 0, 1).astype(np.float32)
