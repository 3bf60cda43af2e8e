"""``click_unet``: the plain fg/bg interactive baseline.

A MONAI U-Net fed the image plus two Euclidean-distance click maps (foreground,
background; Xu et al. 2016 "DIOS"). First interaction: one click at the innermost target
pixel; then the robot user's corrective clicks. Trained with simulated clicks (RITM-style
iterative rounds, see :meth:`gdgp.methods.base.Method.simulate_interaction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from gdgp.clicks.encodings import euclidean_distance_map
from gdgp.clicks.robot import Click
from gdgp.methods.base import EncodedNetworkMethod, monai_unet
from gdgp.methods.settings import UNetSettings, require, setting


class ClickUNet(EncodedNetworkMethod):
    """Image + fg/bg EDV maps in, mask out."""

    name = "click_unet"
    interactive = True

    @dataclass(frozen=True)
    class Settings(UNetSettings):
        edv_scale: float = setting(64.0, "Distance (px) at which the EDV map saturates to 1.")
        max_train_rounds: int = setting(
            3, "Max simulated corrective rounds per training batch (RITM iterative training)."
        )

        def check(self) -> None:
            super().check()
            require(self.edv_scale > 0, "edv_scale", "> 0 px", self.edv_scale)
            require(self.max_train_rounds >= 0, "max_train_rounds", "an integer >= 0", self.max_train_rounds)

    def build_network(self) -> nn.Module:
        return monai_unet(3, self.hparams["channels"], self.hparams["dropout"], self.hparams["res_units"])

    def encode(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        shape = image.shape
        scale = self.hparams["edv_scale"]
        return np.stack(
            [
                image.astype(np.float32),
                euclidean_distance_map(clicks, shape, positive=True, scale=scale),
                euclidean_distance_map(clicks, shape, positive=False, scale=scale),
            ]
        )
