"""The box start: a box around the target as the first interaction, counted as 2 clicks.

The simulated user draws the target's bounding box (its extent: first and last target row and
column, inclusive), optionally loosened by jitter: each side moves outwards by its own
uniform integer draw in 0..``jitter_px`` (one draw of four integers per box: top, left, bottom,
right), clipped to the slice. That is the perturbation MedSAM trained with (``bbox_shift`` =
20 px on 1024-px images, ``train_one_gpu.py``), here in slice pixels. The box is recorded in
the robot as its two corners, top-left then bottom-right, both positive clicks of kind
``"box"``, so the click count charges it as 2 clicks (a box is two corner placements);
corrective clicks then follow as points, the protocol of the CVPR 2025 interactive 3D
segmentation challenge (a box prompt, then corrective clicks).

A box corner usually lies outside the target: it is a positive click only in that it belongs to
the foreground prompt. Methods that take a box (the SAM family, :mod:`gdgp.methods.sam`) find it
with :func:`box_from_clicks` and the other clicks with :func:`point_clicks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gdgp.clicks.robot import Click, Robot

__all__ = ["BoxPrompt", "box_from_clicks", "box_interaction", "point_clicks", "target_box"]


@dataclass(frozen=True)
class BoxPrompt:
    """A box prompt: corner pixels (y0, x0) top-left and (y1, x1) bottom-right, both inclusive."""

    y0: int
    x0: int
    y1: int
    x1: int

    def __post_init__(self) -> None:
        if not (self.y0 <= self.y1 and self.x0 <= self.x1):
            raise ValueError(f"box corners must be top-left then bottom-right, got {self}")

    def xyxy(self) -> np.ndarray:
        """``[x0, y0, x1, y1]`` (float), the order SAM's predictors take a box in."""
        return np.array([self.x0, self.y0, self.x1, self.y1], dtype=np.float64)


def target_box(gt: np.ndarray, jitter_px: int = 0, rng: np.random.Generator | None = None) -> BoxPrompt:
    """The bounding box of ``gt`` (H, W), each side moved outwards by 0..``jitter_px`` px at random.

    Raises:
        ValueError: ``gt`` is empty or not 2D, ``jitter_px`` < 0, or jitter without ``rng``.
    """
    if gt.ndim != 2:
        raise ValueError(f"gt must be 2D (H, W), got shape {gt.shape}")
    if jitter_px < 0:
        raise ValueError(f"box jitter must be >= 0 px, got {jitter_px}")
    ys, xs = np.nonzero(gt)
    if len(ys) == 0:
        raise ValueError("a box start needs a non-empty target")
    y0, x0, y1, x1 = int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())
    if jitter_px > 0:
        if rng is None:
            raise ValueError("box jitter > 0 needs an np.random.Generator")
        top, left, bottom, right = (int(v) for v in rng.integers(0, jitter_px, size=4, endpoint=True))
        height, width = gt.shape
        y0, x0 = max(y0 - top, 0), max(x0 - left, 0)
        y1, x1 = min(y1 + bottom, height - 1), min(x1 + right, width - 1)
    return BoxPrompt(y0, x0, y1, x1)


def box_interaction(robot: Robot, jitter_px: int = 0) -> list[Click]:
    """The box start on ``robot``'s target: its two corners recorded as positive ``"box"`` clicks
    (jitter drawn from ``robot.rng``); no click when the target is empty (as the click start)."""
    if not robot.gt.any():
        return []
    box = target_box(robot.gt, jitter_px, robot.rng)
    return [robot.add(box.y0, box.x0, True, kind="box"), robot.add(box.y1, box.x1, True, kind="box")]


def box_from_clicks(clicks: Sequence[Click]) -> BoxPrompt | None:
    """The box among ``clicks`` (its two ``"box"`` corners), None without one.

    Raises:
        ValueError: a number of box corners other than 0 or 2.
    """
    corners = [c for c in clicks if c.kind == "box"]
    if not corners:
        return None
    if len(corners) != 2:
        raise ValueError(f"a box is 2 corner clicks, got {len(corners)}: {corners}")
    (a, b) = corners
    return BoxPrompt(min(a.y, b.y), min(a.x, b.x), max(a.y, b.y), max(a.x, b.x))


def point_clicks(clicks: Sequence[Click]) -> list[Click]:
    """The clicks that are points (not box corners), in order."""
    return [c for c in clicks if c.kind == "point"]
