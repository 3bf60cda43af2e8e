"""What the crop-based point methods (DEXTR, MIDeepSeg) share: a jittering training robot
and their cropped U-Net and its checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from gdgp.clicks.hybrid import snap_with_noise
from gdgp.clicks.robot import Click, Robot
from gdgp.methods.base import monai_unet
from gdgp.methods.settings import require

#: ``(target mask, jitter px, rng) -> (K, 2)`` first-interaction points (row, column); ``rng`` is
#: the robot's, None for an evaluation robot without noise (whose jitter is 0).
PointFinder = Callable[[np.ndarray, float, np.random.Generator | None], np.ndarray]


class JitterRobot(Robot):
    """Training-time robot: the RITM corrective protocol, plus the first-interaction jitter.

    ``point_jitter`` (px) is how far the simulated first-interaction points may move off
    their exact place (DEXTR's ``pert``; MIDeepSeg's interior points likewise); the
    evaluation robot is a plain :class:`Robot` (no jitter).
    """

    def __init__(self, gt: np.ndarray, point_jitter: float, rng: np.random.Generator) -> None:
        super().__init__(gt, rng=rng)
        self.point_jitter = float(point_jitter)


def check_crop_size(s: Any) -> None:
    """A ``crop_size`` the U-Net of ``channels`` can downsample ``len(channels) - 1`` times."""
    factor = 2 ** (len(s.channels) - 1)
    require(
        s.crop_size >= 16 and s.crop_size % factor == 0,
        "crop_size",
        f"an integer >= 16 divisible by {factor} (the U-Net downsamples {len(s.channels) - 1} times)",
        s.crop_size,
    )


def cropped_unet(hp: dict[str, Any], in_channels: int) -> nn.Module:
    """The method's MONAI U-Net on its crops."""
    return monai_unet(in_channels, hp["channels"], hp["dropout"], hp["res_units"])


def place_first_points(robot: Robot, find_points: PointFinder) -> list[Click]:
    """The first interaction of a point method, recorded in ``robot`` as foreground clicks.

    A training :class:`JitterRobot` jitters the points; the evaluation robot's position
    noise, if any, moves them too (snapped back into the target). An empty target gets no click.
    """
    if not robot.gt.any():
        return []
    jitter = robot.point_jitter if isinstance(robot, JitterRobot) else 0.0
    pts = find_points(robot.gt, jitter, robot.rng)
    pts = snap_with_noise(pts, np.argwhere(robot.gt), robot.noise_px, robot.rng)
    return [robot.add(int(y), int(x), True) for y, x in pts]
