"""The robot user: one corrective click per round, placed by a named protocol.

With ground truth ``gt`` and a binary prediction, FN = gt & ~pred and FP = ~gt & pred on
non-ignored pixels. The protocol (``gdgp.clicks.protocols``) picks the click:

* ``"ritm"`` (default; RITM's ``Clicker``, Sofiiuk et al. 2022): each error mask is
  zero-padded by one pixel (so the image border counts as boundary), its exact Euclidean
  distance transform taken, the pad cropped, and already-clicked pixels zeroed. The click is
  positive (foreground) iff max FN distance > max FP distance, and lands on the first
  maximal pixel in raster (row-major) order.
* ``"largest_component_centre"`` (CVPR 2025 interactive 3D challenge): the deepest pixel of
  the largest 8-connected component of FN | FP.
* ``"weighted_random"`` (MONAI DeepGrow): a pixel of the larger error drawn with
  probability ∝ exp(distance) − 1; needs ``rng``.

No protocol clicks a pixel twice. Coordinates are (y, x) = (row, column).

The same class serves training-time simulation and evaluation so that they never drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from gdgp.clicks.protocols import NEEDS_RNG, error_distance, get_protocol

# error_distance lives with the protocols and is re-exported here for existing importers.
__all__ = ["Click", "ClickKind", "Robot", "error_distance"]

#: What a click is: a point, or one of the two corners of a box (:mod:`gdgp.clicks.box`).
ClickKind = Literal["point", "box"]


@dataclass(frozen=True)
class Click:
    """One click: pixel (y, x), foreground if ``positive``, ``index`` = order of placement;
    ``kind`` tells a box corner from a point (the files written keep y, x, positive and index only)."""

    y: int
    x: int
    positive: bool
    index: int
    kind: ClickKind = "point"


class Robot:
    """Simulated user who knows the ground truth and keeps the list of clicks.

    Args:
        gt: (H, W) ground-truth mask (nonzero = target).
        ignore: optional (H, W) bool mask of pixels never clicked nor counted as error.
        noise_px: standard deviation (pixels) of a Gaussian position error; the noisy
            click, applied after any protocol, is snapped to the nearest unclicked pixel of
            the same error kind (FN or FP), so its label stays truthful. 0 = no noise.
        rng: generator for the position noise (required when ``noise_px > 0``) and for
            random protocols (required for ``"weighted_random"``).
        protocol: name of the corrective-click rule, a key of
            ``gdgp.clicks.protocols.PROTOCOLS``.

    Raises:
        ValueError: bad ``gt`` shape, unknown ``protocol`` (a ``ConfigError`` listing the
            known names), or a missing ``rng`` where one is needed.
    """

    def __init__(
        self,
        gt: np.ndarray,
        ignore: np.ndarray | None = None,
        noise_px: float = 0.0,
        rng: np.random.Generator | None = None,
        protocol: str = "ritm",
    ) -> None:
        if gt.ndim != 2:
            raise ValueError(f"gt must be 2D (H, W), got shape {gt.shape}")
        if noise_px > 0 and rng is None:
            raise ValueError("noise_px > 0 needs an np.random.Generator")
        self.rule = get_protocol(protocol)
        if protocol in NEEDS_RNG and rng is None:
            raise ValueError(f"protocol {protocol!r} draws at random and needs an np.random.Generator")
        self.protocol = protocol
        self.gt = gt.astype(bool)
        self.valid = np.ones_like(self.gt) if ignore is None else ~ignore.astype(bool)
        self.not_clicked = np.ones_like(self.gt)
        self.noise_px = noise_px
        self.rng = rng
        self.clicks: list[Click] = []

    def add(self, y: int, x: int, positive: bool, kind: ClickKind = "point") -> Click:
        """Record a click placed by a first-interaction rule (not by the error protocol)."""
        click = Click(int(y), int(x), bool(positive), len(self.clicks), kind)
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
        pick = self.rule(fn, fp, self.not_clicked, self.rng)
        if pick is None:
            return None
        y, x, positive = pick
        if self.noise_px > 0:
            y, x = self._jitter(y, x, (fn if positive else fp) & self.not_clicked)
        return self.add(y, x, positive)

    def _jitter(self, y: int, x: int, region: np.ndarray) -> tuple[int, int]:
        assert self.rng is not None
        ty, tx = np.array([y, x]) + self.rng.normal(0.0, self.noise_px, size=2)
        ys, xs = np.nonzero(region)
        best = np.argmin((ys - ty) ** 2 + (xs - tx) ** 2)
        return int(ys[best]), int(xs[best])
