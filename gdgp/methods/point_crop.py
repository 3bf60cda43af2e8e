"""What the crop-based point methods (DEXTR, MIDeepSeg) share: a jittering training robot
and the checks of their cropped U-Net's settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from gdgp.errors import ConfigError
from gdgp.interaction.hybrid import snap_with_noise
from gdgp.interaction.robot import Click, Robot
from gdgp.methods.base import monai_unet

#: ``(target mask, jitter px, rng) -> (K, 2)`` first-interaction points (row, column).
PointFinder = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


class JitterRobot(Robot):
    """Training-time robot: the RITM corrective protocol, plus the first-interaction jitter.

    ``point_jitter`` (px) is how far the simulated first-interaction points may move off
    their exact place (DEXTR's ``pert``; MIDeepSeg's interior points likewise); the
    evaluation robot is a plain :class:`Robot` (no jitter).
    """

    def __init__(self, gt: np.ndarray, point_jitter: float, rng: np.random.Generator) -> None:
        super().__init__(gt, rng=rng)
        self.point_jitter = float(point_jitter)


def check_unet_crop(name: str, hp: dict[str, Any]) -> None:
    """ConfigError unless ``crop_size``, ``channels`` and ``dropout`` make a valid MONAI U-Net."""
    channels = hp["channels"]
    if not isinstance(channels, (list, tuple)) or len(channels) < 2 or \
            not all(isinstance(c, int) and c >= 1 for c in channels):
        raise ConfigError(f"method {name!r}: channels must be a list of >= 2 positive integers, got {channels!r}")
    size, factor = hp["crop_size"], 2 ** (len(channels) - 1)
    if not isinstance(size, int) or size < 16 or size % factor:
        raise ConfigError(f"method {name!r}: crop_size must be an integer >= 16 divisible by {factor} "
                          f"(the U-Net downsamples {len(channels) - 1} times), got {size!r}")
    if not 0.0 <= hp["dropout"] < 1.0:
        raise ConfigError(f"method {name!r}: dropout must be in [0, 1), got {hp['dropout']!r}")
    if not isinstance(hp["res_units"], int) or hp["res_units"] < 0:
        raise ConfigError(f"method {name!r}: res_units must be an integer >= 0, got {hp['res_units']!r}")


def cropped_unet(name: str, hp: dict[str, Any], in_channels: int) -> nn.Module:
    """The method's MONAI U-Net on its crops, its settings checked first so bad sizes fail clearly."""
    check_unet_crop(name, hp)
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
