"""Per-slice preprocessing as in the paper: CT window (or, for non-CT data, the volume's
intensity percentiles), [0, 1], non-local means, resize."""

from __future__ import annotations

import numpy as np
from skimage.restoration import denoise_nl_means, estimate_sigma
from skimage.transform import resize


def window_normalise(hu: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Clip HU to the window [lower, upper] and scale it to [0, 1] (float32)."""
    if not upper > lower:
        raise ValueError(f"CT window upper ({upper}) must exceed lower ({lower})")
    return ((np.clip(hu, lower, upper) - lower) / (upper - lower)).astype(np.float32)


#: Percentiles (%) of a volume's intensities that bound its normalisation when the dataset has
#: no CT window (``window: null``, non-CT data). nnU-Net clips CT to the 0.5 and 99.5
#: percentiles of the foreground intensities (documentation/explanation_normalization.md of
#: MIC-DKFZ/nnUNet) before z-scoring; here the percentiles are per volume (MR and the like
#: have no absolute intensity scale) and the clipped values are scaled to [0, 1], the range
#: every method expects.
PERCENTILES = (0.5, 99.5)


def percentile_window(
    volume: np.ndarray, lower: float = PERCENTILES[0], upper: float = PERCENTILES[1]
) -> tuple[float, float]:
    """The ``lower`` and ``upper`` percentiles of a whole volume: the window
    :func:`window_normalise` clips to and scales to [0, 1] when the dataset has no CT window."""
    lo, hi = np.percentile(np.asarray(volume, dtype=np.float64), [lower, upper])
    return float(lo), float(hi)


def denoise(image: np.ndarray, strength: float) -> np.ndarray:
    """Non-local-means denoising with h = strength x the estimated noise sigma.

    ``strength`` is the config's ``preprocess.denoise``; 0 switches denoising off. Patch 5 px,
    search window 13 px (skimage's fast mode), the usual setting for CT slices.
    """
    if strength <= 0:
        return image.astype(np.float32)
    sigma = float(estimate_sigma(image))
    if sigma == 0.0:
        return image.astype(np.float32)
    out = denoise_nl_means(image, h=strength * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def resize_pair(image: np.ndarray, label: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image (anti-aliased, linear) and its label (nearest) to ``size`` x ``size``."""
    img = resize(image, (size, size), order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)
    lab = resize(label, (size, size), order=0, anti_aliasing=False, preserve_range=True).astype(np.uint8)
    return img, lab
