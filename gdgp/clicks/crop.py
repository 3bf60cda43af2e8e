"""Crop-and-resize around the clicks, and paste the prediction back into the full slice.

Crop-based interactive methods (GDGP, DEXTR, MIDeepSeg) work on a box around the user's
points, resized to a fixed working size, and their prediction is pasted back into the
full slice for scoring (outside the box: background). The box is recomputed from *all*
clicks so far, so a corrective click outside the first box grows it instead of being lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gdgp.clicks.robot import Click


@dataclass(frozen=True)
class Box:
    """Half-open pixel box ``[y0, y1) x [x0, x1)`` inside a slice."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0


def _grow_to(lo: int, hi: int, size: int, limit: int) -> tuple[int, int]:
    """Widen ``[lo, hi)`` symmetrically to at least ``size`` pixels, kept inside ``[0, limit)``."""
    size = min(size, limit)
    missing = size - (hi - lo)
    if missing > 0:
        lo -= missing // 2
        hi += missing - missing // 2
    shift = max(0, -lo) - max(0, hi - limit)
    return lo + shift, hi + shift


def click_box(
    clicks: Sequence[Click], shape: tuple[int, int], margin: int, min_size: int = 16, square: bool = True
) -> Box:
    """Bounding box of the clicks grown by ``margin`` px, made square and at least ``min_size``.

    Square boxes keep the aspect ratio when resized to the square working size, so the
    geodesic and Euclidean encodings are not distorted. The box is shifted (not clipped)
    at the slice border where it fits, so it keeps its size.

    Raises:
        ValueError: no click (a crop needs at least one point).
    """
    if not clicks:
        raise ValueError("click_box needs at least one click")
    ys = np.array([c.y for c in clicks])
    xs = np.array([c.x for c in clicks])
    y0, y1 = int(ys.min()) - margin, int(ys.max()) + margin + 1
    x0, x1 = int(xs.min()) - margin, int(xs.max()) + margin + 1
    side = max(y1 - y0, x1 - x0, min_size) if square else min_size
    y0, y1 = _grow_to(y0, y1, side, shape[0])
    x0, x1 = _grow_to(x0, x1, side, shape[1])
    return Box(max(y0, 0), min(y1, shape[0]), max(x0, 0), min(x1, shape[1]))


def crop_resize(image: np.ndarray, box: Box, size: int, mode: str = "bilinear") -> torch.Tensor:
    """The box of an (H, W) array resized to (size, size) float32 (antialiased when shrinking)."""
    patch = torch.from_numpy(np.ascontiguousarray(image[box.y0 : box.y1, box.x0 : box.x1], dtype=np.float32))
    if mode == "nearest":
        return F.interpolate(patch[None, None], size=(size, size), mode="nearest-exact")[0, 0]
    return F.interpolate(patch[None, None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[
        0, 0
    ]


def clicks_in_crop(clicks: Sequence[Click], box: Box, size: int) -> list[Click]:
    """The clicks in crop coordinates (pixel centres mapped, then floored), same order and labels."""
    sy, sx = size / box.height, size / box.width
    out = []
    for c in clicks:
        y = min(max(int((c.y - box.y0 + 0.5) * sy), 0), size - 1)
        x = min(max(int((c.x - box.x0 + 0.5) * sx), 0), size - 1)
        out.append(Click(y, x, c.positive, c.index, c.kind))
    return out


def paste_back(prob: torch.Tensor, box: Box, shape: tuple[int, int]) -> torch.Tensor:
    """A (S, S) crop probability resized to the box and placed into zeros of ``shape``."""
    full = prob.new_zeros(shape)
    full[box.y0 : box.y1, box.x0 : box.x1] = F.interpolate(
        prob[None, None], size=(box.height, box.width), mode="bilinear", align_corners=False
    )[0, 0]
    return full


__all__ = ["Box", "click_box", "clicks_in_crop", "crop_resize", "paste_back"]
