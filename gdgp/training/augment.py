"""Training augmentation as MONAI dictionary transforms on keys ``image`` and ``label``."""

from __future__ import annotations

import math

import numpy as np
from monai.transforms import Compose, RandFlipd, RandRotated, RandZoomd


def build_augmentation(rotate_deg: float, scale: float, flip_prob: float, prob: float = 0.5) -> Compose:
    """Random rotation (+-``rotate_deg``), isotropic scaling (1 +- ``scale``), horizontal flip.

    The paper's augmentation (rotation, scaling, horizontal flip). Images are resampled
    bilinearly, labels with nearest neighbour so they stay binary.
    """
    keys = ["image", "label"]
    return Compose([
        RandRotated(keys, range_x=math.radians(rotate_deg), prob=prob, mode=("bilinear", "nearest"),
                    padding_mode="zeros"),
        RandZoomd(keys, prob=prob, min_zoom=1.0 - scale, max_zoom=1.0 + scale, mode=("bilinear", "nearest"),
                  padding_mode="constant", keep_size=True),
        RandFlipd(keys, prob=flip_prob, spatial_axis=1),
    ])


def augment_batch(aug: Compose, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``aug`` to each (H, W) image/label pair of a batch; returns numpy copies."""
    out_img, out_lab = [], []
    for img, lab in zip(images, labels, strict=True):
        d = aug({"image": img[None], "label": lab[None].astype(np.float32)})
        out_img.append(np.asarray(d["image"], dtype=np.float32)[0])
        out_lab.append((np.asarray(d["label"])[0] > 0.5).astype(np.uint8))
    return np.stack(out_img), np.stack(out_lab)
