"""``auto_unet``: automatic 2D MONAI U-Net, no clicks (nnU-Net's stand-in until the baselines).

Its prediction never changes with clicks, so its per-click curve is flat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from gdgp.clicks.robot import Click
from gdgp.methods.base import EncodedNetworkMethod, monai_unet
from gdgp.methods.settings import UNetSettings


class AutoUNet(EncodedNetworkMethod):
    """Image in, mask out."""

    name = "auto_unet"
    interactive = False
    Settings = UNetSettings

    def build_network(self) -> nn.Module:
        return monai_unet(1, self.hparams["channels"], self.hparams["dropout"], self.hparams["res_units"])

    def encode(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        return image[None].astype(np.float32)
