"""Training augmentation: random rotation, isotropic zoom and horizontal flip of a batch.

The paper's augmentation (rotation within +-``rotate_deg``, zoom in ``[1 - scale, 1 + scale]``,
each applied with probability ``prob``; horizontal flip with probability ``flip_prob``; the
output keeps the input size).  Images are resampled bilinearly with zero padding, labels
with nearest neighbour so they stay binary.

Why not MONAI's per-sample dictionary transforms (``RandRotated`` + ``RandZoomd`` +
``RandFlipd`` in a ``Compose``, the previous implementation): they cost ~5.5 ms per 64x64
sample, ~20% of a demo training job.  Here the parameters of the whole batch are drawn with
one numpy Generator, rotation and zoom are composed into one 2D affine matrix per sample
(one resampling instead of two, so also one interpolation blur instead of two) and the
whole batch is resampled in one call of MONAI's batched
:class:`monai.networks.layers.AffineTransform` (torch ``grid_sample`` underneath).  The
flip is an exact index reversal (``np.flip``), not a resampling, and samples that are
neither rotated nor zoomed are not resampled at all, so they come back bit-identical.
``benchmarks/bench_augment.py`` times the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from monai.networks.layers import AffineTransform


@dataclass(frozen=True)
class AugmentParams:
    """Per-sample parameters of one batch (arrays of length B).

    ``angles``: rotation in radians about the image centre, counter-clockwise as displayed
    (row 0 at the top; the convention of ``scipy.ndimage.rotate``), 0 when not rotated.
    ``zooms``: isotropic zoom factor about the image centre (> 1 enlarges), 1 when not zoomed.
    ``flips``: whether the sample is flipped left-right (after rotation and zoom).
    """

    angles: np.ndarray
    zooms: np.ndarray
    flips: np.ndarray


def pull_matrices(angles: np.ndarray, zooms: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Homogeneous (B, 3, 3) pull matrices in (row, col) pixel-index coordinates.

    Each maps an output pixel index to the input position it samples (the convention of
    ``scipy.ndimage.affine_transform``'s ``matrix`` and of MONAI's ``AffineTransform`` with
    ``normalized=False, reverse_indexing=True``): ``x = c + R(angle)^-1 (y - c) / zoom`` with
    ``c = ((H - 1) / 2, (W - 1) / 2)``, the centre of the pixel grid.
    """
    angles = np.asarray(angles, dtype=np.float64)
    zooms = np.asarray(zooms, dtype=np.float64)
    cos, sin = np.cos(angles) / zooms, np.sin(angles) / zooms
    centre = (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0
    m = np.zeros((len(angles), 3, 3))
    # the forward rotation in (row, col) is [[cos, -sin], [sin, cos]]; the pull is its inverse
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, sin, -sin, cos
    m[:, :2, 2] = centre - np.einsum("bij,j->bi", m[:, :2, :2], centre)
    m[:, 2, 2] = 1.0
    return m


# normalized=False: theta is in pixel indices, MONAI converts it to torch's [-1, 1] grid with
# the same align_corners that grid_sample then uses, so the result is scipy's (tests/test_augment.py)
_RESAMPLE_IMAGE = AffineTransform(
    normalized=False,
    mode="bilinear",
    padding_mode="zeros",
    align_corners=True,
    reverse_indexing=True,
    zero_centered=False,
)
_RESAMPLE_LABEL = AffineTransform(
    normalized=False,
    mode="nearest",
    padding_mode="zeros",
    align_corners=True,
    reverse_indexing=True,
    zero_centered=False,
)


def apply_augmentation(images: np.ndarray, labels: np.ndarray, params: AugmentParams) -> tuple[np.ndarray, np.ndarray]:
    """Apply known per-sample parameters to a batch; deterministic (the random one calls it).

    Args:
        images: (B, H, W) intensities.
        labels: (B, H, W) binary labels.
        params: what to do to each sample.

    Returns:
        New arrays: float32 images and uint8 labels in {0, 1}, of the input shape.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or images.shape != labels.shape:
        raise ValueError(f"images and labels must be (B, H, W) of one shape, got {images.shape} and {labels.shape}")
    out_img = np.array(images, dtype=np.float32)  # copies
    out_lab = (labels > 0).astype(np.uint8)
    angles, zooms = np.asarray(params.angles, dtype=np.float64), np.asarray(params.zooms, dtype=np.float64)
    flips = np.asarray(params.flips, dtype=bool)
    if not (len(angles) == len(zooms) == len(flips) == len(images)):
        raise ValueError(f"parameters for {len(angles)}/{len(zooms)}/{len(flips)} samples, batch of {len(images)}")
    # only the samples that move are resampled: the others stay bit-identical
    moved = np.flatnonzero((angles != 0.0) | (zooms != 1.0))
    if len(moved):
        theta = torch.from_numpy(pull_matrices(angles[moved], zooms[moved], images.shape[1:]).astype(np.float32))
        with torch.no_grad():
            img = torch.from_numpy(out_img[moved])[:, None]
            out_img[moved] = _RESAMPLE_IMAGE(img, theta)[:, 0].numpy()
            lab = torch.from_numpy(out_lab[moved].astype(np.float32))[:, None]
            out_lab[moved] = (_RESAMPLE_LABEL(lab, theta)[:, 0] > 0.5).numpy()
    if flips.any():
        out_img[flips] = out_img[flips][:, :, ::-1]
        out_lab[flips] = out_lab[flips][:, :, ::-1]
    return out_img, out_lab


class BatchAugmentation:
    """The random augmentation of a batch, with its own seedable numpy Generator.

    Every call draws the same number of random numbers (5 per sample, whatever is applied),
    so a seed fixes the whole sequence of batches.
    """

    def __init__(
        self, rotate_deg: float, scale: float, flip_prob: float, prob: float = 0.5, seed: int | None = None
    ) -> None:
        if rotate_deg < 0 or not 0 <= scale < 1 or not 0 <= prob <= 1 or not 0 <= flip_prob <= 1:
            raise ValueError(
                f"augmentation needs rotate_deg >= 0, 0 <= scale < 1 and probabilities in [0, 1], got "
                f"rotate_deg={rotate_deg}, scale={scale}, prob={prob}, flip_prob={flip_prob}"
            )
        self.max_angle = math.radians(rotate_deg)
        self.scale = scale
        self.flip_prob = flip_prob
        self.prob = prob
        self.rng = np.random.default_rng(seed)

    def set_random_state(self, seed: int | None = None, state: np.random.Generator | None = None) -> BatchAugmentation:
        """Reseed (MONAI ``Randomizable``'s API, which the trainer calls once per epoch)."""
        self.rng = state if state is not None else np.random.default_rng(seed)
        return self

    def draw(self, n: int) -> AugmentParams:
        """Draw the parameters of ``n`` samples."""
        rotate = self.rng.random(n) < self.prob
        angles = self.rng.uniform(-self.max_angle, self.max_angle, n)
        zoom = self.rng.random(n) < self.prob
        zooms = self.rng.uniform(1.0 - self.scale, 1.0 + self.scale, n)
        flips = self.rng.random(n) < self.flip_prob
        return AugmentParams(np.where(rotate, angles, 0.0), np.where(zoom, zooms, 1.0), flips)

    def __call__(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Augment a (B, H, W) batch; see :func:`apply_augmentation`."""
        return apply_augmentation(images, labels, self.draw(len(images)))


def build_augmentation(rotate_deg: float, scale: float, flip_prob: float, prob: float = 0.5) -> BatchAugmentation:
    """Random rotation (+-``rotate_deg``), isotropic scaling (1 +- ``scale``), horizontal flip."""
    return BatchAugmentation(rotate_deg, scale, flip_prob, prob)


def augment_batch(aug: BatchAugmentation, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``aug`` to a (B, H, W) image/label batch; returns new float32/uint8 arrays."""
    return aug(images, labels)
