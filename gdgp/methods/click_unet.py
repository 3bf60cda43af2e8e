"""``click_unet``: the plain fg/bg interactive baseline.

A MONAI U-Net fed the image plus two Euclidean-distance click maps (foreground,
background; Xu et al. 2016 "DIOS") and the previous round's mask (RITM's mask guidance,
``mask_guidance``). First interaction: one click at the innermost target
pixel; then the robot user's corrective clicks. Trained with simulated clicks: for each training
item, with probability ``random_click_sets`` a DIOS random click set drawn from the ground truth
(:mod:`gdgp.clicks.random_sets`, DIOS's own training clicks), otherwise RITM-style iterative
rounds of the robot user (:meth:`gdgp.methods.base.Method.simulate_interaction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from gdgp.clicks.encodings import euclidean_distance_map
from gdgp.clicks.random_sets import dios_click_set
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
            20,
            "Max simulated corrective rounds per training batch (RITM iterative training); 20, the "
            "evaluation's rounds, with mask_guidance (chosen on validation, docs/methods.md).",
        )
        random_click_sets: float = setting(
            0.0,
            "Share of training items given a DIOS random click set (1-5 positive, 0-10 negative "
            "clicks drawn from the ground truth) instead of the robot's iterative rounds; 0 = rounds "
            "only (chosen on validation: 0.5 lost 0.12 Dice on real CT, docs/methods.md).",
        )
        mask_guidance: bool = setting(
            True,
            "Feed the previous round's mask as a fourth input channel (RITM's mask guidance, "
            "Sofiiuk et al. 2022): the network sees what it predicted and where the click says it erred.",
        )

        def check(self) -> None:
            super().check()
            require(self.edv_scale > 0, "edv_scale", "> 0 px", self.edv_scale)
            require(self.max_train_rounds >= 0, "max_train_rounds", "an integer >= 0", self.max_train_rounds)
            require(0 <= self.random_click_sets <= 1, "random_click_sets", "in [0, 1]", self.random_click_sets)

    def simulate_interaction(
        self, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[list[Click]], np.ndarray]:
        """The robot's iterative rounds, then a DIOS click set (after the first interaction) in
        place of the rounds' clicks for a ``random_click_sets`` share of the items."""
        clicks, prev = super().simulate_interaction(images, labels, rng)
        if self.hparams["random_click_sets"] == 0:  # draw nothing: the rounds-only stream of before
            return clicks, prev
        for i in np.flatnonzero(rng.random(len(labels)) < self.hparams["random_click_sets"]):
            clicks[i] = dios_click_set(labels[i], rng, start=clicks[i][:1])
            prev[i] = 0.0
        return clicks, prev

    def build_network(self) -> nn.Module:
        n_inputs = 4 if self.hparams["mask_guidance"] else 3
        return monai_unet(n_inputs, self.hparams["channels"], self.hparams["dropout"], self.hparams["res_units"])

    def encode(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        shape = image.shape
        scale = self.hparams["edv_scale"]
        channels = [
            image.astype(np.float32),
            euclidean_distance_map(clicks, shape, positive=True, scale=scale),
            euclidean_distance_map(clicks, shape, positive=False, scale=scale),
        ]
        if self.hparams["mask_guidance"]:
            channels.append(np.asarray(prev_mask, dtype=np.float32))
        return np.stack(channels)
