"""Geodesic click encodings: GEO, exponentialised geodesic (MIDeepSeg) and Gaussian geodesic (GDGP).

All three start from the image-gradient geodesic distance D of :mod:`gdgp.clicks.geodesic`
(8-neighbour raster scan; step cost sqrt((1 - lamb) d^2 + lamb dI^2); ``lamb = 1``, the
default, is the paper's purely intensity-based eq. 2) from the set S of clicks of one
class, and normalise it per image:

    D_norm = D / max_pixels(D)                       (in [0, 1]; 0 on the clicks)

so that the maps do not depend on the intensity scale or the image size (with
``lamb = 1`` D is in intensity units; with ``lamb < 1`` partly in pixels). If the maximum
is 0 (a perfectly flat image with ``lamb = 1``: every pixel is geodesically at the
clicks) D_norm is 0 everywhere. Every map is a function of the distance to the *nearest*
click, ``D(i, S) = min_j D(i, j)``, so one geodesic pass from all seeds at once gives it.
For the Gaussian geodesic map that is ``exp(-min_j D(i, j) / (2 sigma^2)) =
max_j exp(-D(i, j) / (2 sigma^2))``: the nearest click sets the value. The paper's eq. 1
writes ``min_j`` in front of the exponential, which would be ``exp(-max_j D / (2 sigma^2))``,
the *farthest* click (a map that fades as clicks are added); we read it as the nearest
click, as every distance-based click encoding does (see :class:`GaussianGeodesicEncoding`).

Units: D is divided by its per-crop maximum, so sigma is unitless here and its values are
not comparable with the paper's Table 2 (sigma 0.9 on distances in the paper's own units).

Maps for a class with no click: GEO = 1 (infinitely far, as the EDV encoding), the
exponentialised and Gaussian geodesic maps = 0 (as the Gaussian heatmap).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from gdgp.clicks.encodings import click_map
from gdgp.clicks.geodesic import geodesic_distance
from gdgp.clicks.robot import Click


def _normalised_distance_np(image: np.ndarray, seeds: np.ndarray, lamb: float, iterations: int) -> np.ndarray:
    """D / max(D) as float32 (H, W) for a (H, W) image and a non-empty (H, W) bool seed mask."""
    dist = geodesic_distance(
        torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
        torch.from_numpy(seeds),
        lamb=lamb,
        iterations=iterations,
    ).numpy()
    peak = float(dist.max())
    if peak <= 0.0:
        return np.zeros_like(dist, dtype=np.float32)
    return (dist / peak).astype(np.float32)


def _check_image(image: np.ndarray) -> None:
    """Raise ValueError unless ``image`` is a 2D array."""
    if image.ndim != 2:
        raise ValueError(f"image must be 2D (H, W), got shape {image.shape}")


def geodesic_map(
    image: np.ndarray, clicks: Sequence[Click], positive: bool, lamb: float = 1.0, iterations: int = 4
) -> np.ndarray:
    """GEO encoding: geodesic distance to the nearest click of a class, normalised to [0, 1].

    Args:
        image: (H, W) float image (the pipeline's [0, 1] intensities).
        clicks: clicks (y, x, positive, index); only those with ``c.positive == positive``
            count.
        positive: which class's map to build.
        lamb: Euclidean (0) / intensity (1) weight of the geodesic step cost.
        iterations: raster-scan iterations (see :func:`gdgp.clicks.geodesic.geodesic_distance`).

    Returns:
        (H, W) float32 map in [0, 1]: D / max(D) (0 on the clicks, 1 at the geodesically
        farthest pixel); all ones when the class has no click.
    """
    _check_image(image)
    seeds = click_map(clicks, image.shape, positive)
    if not seeds.any():
        return np.ones(image.shape, dtype=np.float32)
    return _normalised_distance_np(image, seeds, lamb, iterations)


def exp_geodesic_map(
    image: np.ndarray, clicks: Sequence[Click], positive: bool, lamb: float = 1.0, iterations: int = 4
) -> np.ndarray:
    """Exponentialised geodesic encoding (MIDeepSeg, Luo et al. 2021): exp(-D_norm).

    Args:
        image: (H, W) float image.
        clicks: clicks; only those of class ``positive`` count.
        positive: which class's map to build.
        lamb: Euclidean (0) / intensity (1) weight of the geodesic step cost.
        iterations: raster-scan iterations.

    Returns:
        (H, W) float32 map exp(-D / max(D)) in [exp(-1), 1], 1 on the clicks; all zeros
        when the class has no click.
    """
    _check_image(image)
    seeds = click_map(clicks, image.shape, positive)
    if not seeds.any():
        return np.zeros(image.shape, dtype=np.float32)
    return np.exp(-_normalised_distance_np(image, seeds, lamb, iterations)).astype(np.float32)


def gaussian_geodesic_map(
    image: np.ndarray,
    clicks: Sequence[Click],
    positive: bool,
    sigma: float = 1.0,
    lamb: float = 1.0,
    iterations: int = 4,
) -> np.ndarray:
    """Fixed-sigma Gaussian geodesic map as a plain (image, clicks) -> map function.

    Same map as :class:`GaussianGeodesicEncoding` with its default (per-image max)
    normalisation and a fixed ``sigma``: exp(-D_norm / (2 sigma^2)); zeros with no click.

    Returns:
        (H, W) float32 map in (0, 1], exactly 1 on the clicks.
    """
    _check_image(image)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    seeds = click_map(clicks, image.shape, positive)
    if not seeds.any():
        return np.zeros(image.shape, dtype=np.float32)
    dnorm = _normalised_distance_np(image, seeds, lamb, iterations)
    return np.exp(-dnorm / (2.0 * sigma**2)).astype(np.float32)


def gaussian_geodesic(distance: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """G = exp(-distance / (2 sigma^2)), differentiable in ``sigma`` (and ``distance``).

    Args:
        distance: (...) non-negative (normalised) geodesic distances.
        sigma: scalar (0-dim) positive tensor.

    Returns:
        Tensor shaped like ``distance``; exactly 1 where ``distance == 0``.
    """
    return torch.exp(-distance / (2.0 * sigma * sigma))


class GaussianGeodesicEncoding(torch.nn.Module):
    """GDGP's Gaussian geodesic encoding with a learnable sigma (paper eq. 1).

    ``G(i, S) = exp(-D(i, S) / (2 sigma^2)) = max_{j in S} exp(-D(i, j) / (2 sigma^2))`` with
    ``D(i, S) = min_j D(i, j)``, the distance to the nearest click: a single geodesic pass
    from the whole seed set S gives the map. This is our reading of the paper's eq. 1,
    whose ``min_j`` in front of the exponential would literally select the farthest click
    (``exp(-max_j D / (2 sigma^2))``); see the module docstring. D is the geodesic distance of
    :mod:`gdgp.clicks.geodesic`, computed without gradient, then scaled:

    * ``distance_scale=None`` (default): divided by its per-image maximum, so D is in
      [0, 1] whatever the intensity range, image size or ``lamb``; sigma then has a
      scale-free meaning (the map falls to exp(-1 / (2 sigma^2)) at the geodesically
      farthest pixel: 0.61 at the initial sigma = 1, 0.004 at sigma = 0.3). Raw D with
      sigma = 1 would make the map either vanish within a few pixels (lamb < 1, pixel
      units) or barely change (lamb = 1, intensities in [0, 1]); the per-image
      normalisation is also what the GEO and MIDeepSeg maps use, so Table 5 compares
      encodings, not scalings.
    * ``distance_scale=s`` (> 0): divided by the fixed ``s`` instead (e.g. the image
      diagonal in pixels for ``lamb = 0``), when maps must be comparable across images.

    sigma is stored as log-sigma (initial value ``log(sigma)``, so the initial sigma is
    exactly ``sigma``) and clamped to ``sigma_bounds`` in the forward pass, so it stays
    positive and finite after any optimiser step.

    Args:
        sigma: initial sigma (> 0); the paper starts at 1.0.
        lamb: Euclidean (0) / intensity (1) weight of the geodesic step cost.
        learnable: if False sigma is a buffer (fixed-parameter ablation, Table 3).
        distance_scale: None (per-image max) or a fixed positive divisor, see above.
        iterations: raster-scan iterations of the geodesic distance.
        sigma_bounds: (low, high) clamp of sigma in the forward pass.
    """

    def __init__(
        self,
        sigma: float = 1.0,
        lamb: float = 1.0,
        learnable: bool = True,
        distance_scale: float | None = None,
        iterations: int = 4,
        sigma_bounds: tuple[float, float] = (1e-3, 1e3),
    ) -> None:
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        if distance_scale is not None and not distance_scale > 0:
            raise ValueError(f"distance_scale must be > 0 or None, got {distance_scale}")
        if not 0 < sigma_bounds[0] <= sigma <= sigma_bounds[1]:
            raise ValueError(f"sigma {sigma} outside sigma_bounds {sigma_bounds}")
        log_sigma = torch.tensor(math.log(sigma), dtype=torch.float32)
        if learnable:
            self.log_sigma = torch.nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)
        self.lamb = float(lamb)
        self.distance_scale = distance_scale
        self.iterations = int(iterations)
        self.log_bounds = (math.log(sigma_bounds[0]), math.log(sigma_bounds[1]))

    @property
    def sigma(self) -> torch.Tensor:
        """Current sigma, a positive 0-dim tensor (differentiable w.r.t. ``log_sigma``)."""
        return torch.exp(self.log_sigma.clamp(*self.log_bounds))

    def scaled_distance(self, image: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
        """Scaled geodesic distance (no gradient) and the mask of batch items with a seed.

        Args:
            image: (B, H, W) float image.
            seeds: (B, H, W) bool seed mask.

        Returns:
            (B, H, W) tensor of the image's dtype: D / max(D) per item (or D /
            ``distance_scale``); 0 for items without a seed (their map is zeroed later).
        """
        with torch.no_grad():
            dist = geodesic_distance(image, seeds, lamb=self.lamb, iterations=self.iterations)
            has_seed = seeds.flatten(1).any(dim=1)[:, None, None]
            dist = torch.where(has_seed, dist, torch.zeros_like(dist))
            if self.distance_scale is None:
                peak = dist.flatten(1).amax(dim=1)[:, None, None]
                dist = torch.where(peak > 0, dist / peak.clamp_min(torch.finfo(dist.dtype).tiny), 0.0)
            else:
                dist = dist / self.distance_scale
        return dist

    def forward(self, image: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
        """Gaussian geodesic map of each batch item.

        Args:
            image: (B, H, W) float image.
            seeds: (B, H, W) bool mask of the clicks of one class.

        Returns:
            (B, H, W) map in (0, 1] (dtype of the image and sigma promoted), exactly 1 on
            the seeds; all zeros for an item without a seed. Gradient flows to sigma only.
        """
        dist = self.scaled_distance(image, seeds)
        has_seed = seeds.flatten(1).any(dim=1)[:, None, None]
        out = gaussian_geodesic(dist, self.sigma)
        return torch.where(has_seed, out, torch.zeros_like(out))

    def extra_repr(self) -> str:
        """Show sigma, lamb and the distance scaling in ``print(module)``."""
        return (
            f"sigma={float(self.sigma):.4g}, lamb={self.lamb}, "
            f"distance_scale={self.distance_scale}, learnable={isinstance(self.log_sigma, torch.nn.Parameter)}"
        )
