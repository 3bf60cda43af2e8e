"""``click_unet``: the plain fg/bg interactive baseline.

A MONAI U-Net fed the image plus two Euclidean-distance click maps (foreground,
background; Xu et al. 2016 "DIOS"). First interaction: one click at the innermost target
pixel; then the robot user's corrective clicks. Trained with simulated clicks (RITM-style
iterative rounds, see :meth:`gdgp.methods.base.Method.simulate_interaction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from torch import nn

from gdgp.encodings import euclidean_distance_map
from gdgp.interaction.robot import Click
from gdgp.methods.base import Method, monai_unet


class ClickUNet(Method):
    """Image + fg/bg EDV maps in, mask out."""

    name = "click_unet"
    interactive = True
    defaults: ClassVar[dict[str, Any]] = {
        "channels": [16, 32, 64, 128],
        "res_units": 0,
        "dropout": 0.0,
        "edv_scale": 64.0,
        "max_train_rounds": 3,
    }

    def build_network(self) -> nn.Module:
        return monai_unet(3, self.hparams["channels"], self.hparams["dropout"], self.hparams["res_units"])

    def encode(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        shape = image.shape
        scale = self.hparams["edv_scale"]
        return np.stack([
            image.astype(np.float32),
            euclidean_distance_map(clicks, shape, positive=True, scale=scale),
            euclidean_distance_map(clicks, shape, positive=False, scale=scale),
        ])
