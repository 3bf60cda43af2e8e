"""``intercnn``: an automatic U-Net, then a segmentation-editing U-Net fed square scribbles.

Bredell, Tanner & Konukoglu, "Iterative interaction training for segmentation editing
networks", MLMI workshop at MICCAI 2018 (public code: github.com/gbredell/interCNN).

* **First prediction** (round 0, no interaction): an automatic CNN (autoCNN) segments the
  image alone; :meth:`InterCNN.first_interaction` therefore returns no click.
* **Interaction**: each robot click (:class:`gdgp.clicks.robot.Robot`, the RITM protocol
  shared by every method) is painted into a *scribble map* as a ``scribble_size`` x
  ``scribble_size`` square centred on the click (clipped at the image border) with the
  click's class: +1 foreground, -1 background, 0 where the user drew nothing. One channel,
  as the paper's code (its single scribble channel holds the class number, 5 = none);
  a later square overwrites an earlier one where they overlap.
* **Editing network** (interCNN): a U-Net on [image, previous binary prediction, scribble
  map] (3 channels, as the paper's ``interCNN(image, prediction, scribbles)``) outputs
  the refined mask; its prediction and the growing scribble map feed the next round.
* **Training** (:meth:`InterCNN.train_step`): the autoCNN takes one Adam step on Dice + CE;
  then ``train_rounds`` interaction iterations on the same batch, each adding one robot
  click on the current error, running interCNN on [image, previous prediction, scribbles],
  taking one Adam step on its loss, and passing its detached, thresholded prediction on
  to the next iteration (the paper's code: 10 iterations, one optimizer step each).

What is simplified vs the paper:

* 2D binary segmentation (the paper: 3 prostate classes), MONAI U-Nets with instance norm
  and ``channels`` per level for both nets instead of the paper's 4-level 64..1024-channel
  batch-norm U-Nets; the scribble channel uses +1/-1/0 instead of class ids 0/1/2 and 5.
* The paper trains the autoCNN first and then the interCNN on the frozen autoCNN's
  outputs; here both live in one module and train together, so early interCNN inputs come
  from a still-learning autoCNN.
* The paper's robot places one 7x7 square (at 320 px) per wrongly segmented class at a
  *random* error pixel, if that class has > 20 error pixels; here the shared RITM robot
  places one click per round at the point deepest inside the larger error, painted as a
  ``scribble_size`` square (default 3 px at the demo's 64 px slices).
* ``train_rounds`` defaults to 8 iterations per batch (the paper found gains up to 10) to
  keep the demo's training within its CPU time budget (360 steps: about 33 s of one core).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from gdgp.clicks.robot import Click, Robot
from gdgp.methods.base import EncodedNetworkMethod, monai_unet, route_first_or_refine
from gdgp.methods.settings import UNetSettings, require, setting


def scribble_map(clicks: Sequence[Click], shape: tuple[int, int], size: int) -> np.ndarray:
    """Square scribbles of the clicks: +1 foreground, -1 background, 0 elsewhere.

    Args:
        clicks: clicks (y, x, positive, index), painted in order (later ones win on overlap).
        shape: (H, W) of the map.
        size: odd side of each square in pixels, centred on the click and clipped to the image.

    Returns:
        (H, W) float32 map with values in {-1, 0, 1}.
    """
    out = np.zeros(shape, dtype=np.float32)
    half = size // 2
    for c in clicks:
        out[max(0, c.y - half) : c.y + half + 1, max(0, c.x - half) : c.x + half + 1] = 1.0 if c.positive else -1.0
    return out


class InterCNNNetwork(nn.Module):
    """The autoCNN and the interCNN in one module (one state dict, one optimizer).

    :meth:`forward` takes the method's 3-channel encoding [image, previous prediction,
    scribbles] and routes each batch item: no scribble -> autoCNN on the image channel
    (round 0), otherwise interCNN on all three channels.
    """

    def __init__(self, channels: Sequence[int], dropout: float, res_units: int) -> None:
        super().__init__()
        self.auto = monai_unet(1, channels, dropout, res_units)
        self.inter = monai_unet(3, channels, dropout, res_units)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) encoding -> (B, 1, H, W) logits."""
        scribbled = x[:, 2].flatten(1).abs().amax(dim=1) > 0
        return route_first_or_refine(x, scribbled, self.auto, self.inter)


class InterCNN(EncodedNetworkMethod):
    """Automatic U-Net, then scribble-driven editing U-Net; see the module docstring."""

    name = "intercnn"
    interactive = True
    first_interaction_cost = "none (round 0 is the automatic CNN's prediction)"
    network: InterCNNNetwork  # what build_network returns, for the sub-networks' types

    @dataclass(frozen=True)
    class Settings(UNetSettings):
        channels: list[int] = setting(
            [8, 16, 32, 64], "U-Net channels per level, for both the automatic and the editing net."
        )
        scribble_size: int = setting(
            3, "Side (px, odd) of the square scribble painted at each click (paper code: 7 px at 320 px)."
        )
        train_rounds: int = setting(
            8, "Interaction iterations per training batch, one editing-net Adam step each (paper: up to 10)."
        )

        def check(self) -> None:
            super().check()
            require(
                self.scribble_size >= 1 and self.scribble_size % 2 == 1,
                "scribble_size",
                "an odd positive integer (a square centred on the click)",
                self.scribble_size,
            )
            require(self.train_rounds >= 1, "train_rounds", "an integer >= 1", self.train_rounds)

    def build_network(self) -> InterCNNNetwork:
        hp = self.hparams
        return InterCNNNetwork(hp["channels"], hp["dropout"], hp["res_units"])

    def first_interaction(self, image: np.ndarray, robot: Robot) -> list[Click]:
        """None: round 0 is the autoCNN's prediction."""
        return []

    def encode(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        """(3, H, W): image, previous binary prediction, scribble map."""
        return np.stack(
            [
                image.astype(np.float32),
                prev_mask.astype(np.float32),
                scribble_map(clicks, image.shape, self.hparams["scribble_size"]),
            ]
        )

    def train_step(
        self, images: np.ndarray, labels: np.ndarray, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> dict[str, float]:
        """One autoCNN step, then ``train_rounds`` interCNN steps, each after one more robot click.

        Returns:
            ``loss`` (autoCNN loss + mean interCNN loss), ``auto``, ``inter`` (mean over the
            iterations) and ``inter_last`` (the last iteration's loss).
        """
        net = self.network
        robots = self.training_robots(labels, rng)
        target = torch.from_numpy(labels[:, None].astype(np.float32)).to(self.device)
        net.train()
        optimizer.zero_grad(set_to_none=True)
        logits = net.auto(torch.from_numpy(images[:, None].astype(np.float32)).to(self.device))
        loss_auto = self.loss_fn(logits, target)
        loss_auto.backward()
        optimizer.step()
        prev = (logits.detach()[:, 0] > 0).float().cpu().numpy()
        inter: list[float] = []
        for _ in range(self.hparams["train_rounds"]):
            for robot, mask in zip(robots, prev, strict=True):
                robot.next_click(mask)
            x = self.encode_batch(images, [r.clicks for r in robots], prev)
            optimizer.zero_grad(set_to_none=True)
            logits = net.inter(x)
            loss = self.loss_fn(logits, target)
            loss.backward()
            optimizer.step()
            inter.append(float(loss.detach()))
            prev = (logits.detach()[:, 0] > 0).float().cpu().numpy()
        mean_inter = float(np.mean(inter))
        return {
            "loss": float(loss_auto.detach()) + mean_inter,
            "auto": float(loss_auto.detach()),
            "inter": mean_inter,
            "inter_last": inter[-1],
        }
