"""``deepigeos``: P-Net proposal, R-Net refinement on geodesic click maps, graph cut with hard seeds.

Wang et al., "DeepIGeoS: a deep interactive geodesic framework for medical image
segmentation", IEEE TPAMI 41(7), 2019 (arXiv 1707.00652).

* **P-Net** (round 0, no interaction, so :meth:`DeepIGeoS.first_interaction` returns no
  click): a resolution-preserving CNN, no pooling. Blocks of 3x3 convolutions with
  dilation 1, 2, 4, 8, 16 (the paper: 2, 2, 3, 3, 3 convolutions per block, 64 channels
  each); the outputs of all blocks are concatenated (multi-scale features) and classified
  by 1x1 convolutions. Here block ``i`` has ``channels[i]`` channels and dilation 2^i, so
  the default five blocks are the paper's.
* **Interaction encoding**: the robot user's foreground and background clicks become two
  geodesic distance maps (image-gradient geodesic distance, the paper's eq. 1, by
  :func:`gdgp.clicks.geodesic.geodesic_distance`; ``geodesic_lambda = 1`` is the purely
  intensity-based distance), each divided by its per-image maximum exactly as
  :func:`gdgp.clicks.geodesic_encodings.geodesic_map` does (0 on the clicks; all ones for a
  class without a click).
* **R-Net** (rounds >= 1): the same architecture on [image, previous prediction, fg
  geodesic map, bg geodesic map] (4 channels, as the paper's image + proposal + 2 maps).
* **Refinement with hard constraints**: a max-flow graph cut (:func:`gdgp.methods.graph_cut.graph_cut`,
  PyMaxflow, Boykov-Kolmogorov) on the network's probability p after every prediction (P-Net and R-Net, as the paper
  puts a CRF after both): unary -log p / -log(1 - p), 8-neighbour contrast-sensitive
  pairwise ``graphcut_weight * exp(-(I_p - I_q)^2 / (2 graphcut_sigma^2)) / |p - q|``, and
  clicked pixels as hard seeds (foreground clicks are foreground, background clicks
  background). The method's output is this binary labelling (as float32 0/1).
* **Training** (:meth:`DeepIGeoS.train_step`, one Adam step per batch on the sum of both
  losses, Dice + CE each): P-Net on the images; R-Net RITM-style on simulated rounds: P-Net's
  (graph-cut) proposal, one robot click on its error, then 0..``max_train_rounds`` more
  rounds of R-Net prediction (eval mode, no gradient, graph cut as at test time) + click,
  and the R-Net loss on the last state. ``max_train_rounds`` defaults to 1 for the CPU
  budget (each extra round costs an R-Net pass, a geodesic pass and the graph cuts).

What is simplified vs the paper:

* 2D only; ``channels`` defaults to 16 per block instead of the paper's 64, and instance
  norm follows only the last convolution of each block (ReLU after every one), so that
  the demo's 360 training steps take about a minute of one CPU core; the 1x1 classifier is
  concat -> ``channels[-1]`` -> 1 logit (the paper's block 6: two 1x1 layers on the
  concatenated block outputs). On the demo colon target, 8 channels (with batch or
  instance norm) left R-Net stuck at empty masks; 12-16 channels with instance norm after
  every convolution trained as well but took 1.25-1.7x the time.
* The paper's CRF-Net (a CRF as a trainable RNN with free-form learned pairwise
  potentials, end-to-end with R-Net) is replaced by a fixed graph cut (exact MAP of a
  binary CRF with a hand-set contrast-sensitive pairwise term); it is not trained.
* The user draws scribbles in the paper (and simulated scribbles in training); here the
  shared RITM robot places one click per round, and the geodesic maps come from clicks.
* P-Net and R-Net train jointly from scratch (the paper trains P-Net first, then R-Net on
  simulated interactions on P-Net's output); early R-Net inputs come from a still-learning
  P-Net.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.networks.blocks import Convolution
from torch import Tensor, nn

from gdgp.clicks.encodings import click_map
from gdgp.clicks.geodesic import geodesic_distance
from gdgp.clicks.robot import Click, Robot
from gdgp.methods.base import Images, Method, route_first_or_refine, stack_batch
from gdgp.methods.graph_cut import graph_cut
from gdgp.methods.settings import MethodSettings, require, setting, unet_checks


def geodesic_maps(
    images: np.ndarray, clicks: Sequence[Sequence[Click]], lamb: float, iterations: int = 4
) -> np.ndarray:
    """Normalised fg and bg geodesic distance maps of a batch, in one geodesic pass.

    Same values as :func:`gdgp.clicks.geodesic_encodings.geodesic_map` per image and class (D /
    max D, 0 on the clicks, all ones without a click), batched over images and classes.

    Args:
        images: (B, H, W) float images.
        clicks: per image, its clicks.
        lamb: Euclidean (0) / intensity (1) weight of the geodesic step cost.
        iterations: raster-scan iterations.

    Returns:
        (B, 2, H, W) float32, channel 0 foreground, 1 background.
    """
    shape = images.shape[1:]
    seeds = np.stack([[click_map(c, shape, True), click_map(c, shape, False)] for c in clicks])
    out = np.ones(seeds.shape, dtype=np.float32)
    has = seeds.any(axis=(2, 3))
    if has.any():
        stacked = np.ascontiguousarray(np.repeat(images[:, None], 2, axis=1)[has], dtype=np.float32)
        dist = geodesic_distance(
            torch.from_numpy(stacked), torch.from_numpy(seeds[has]), lamb=lamb, iterations=iterations
        ).numpy()
        peak = dist.max(axis=(1, 2), keepdims=True)
        out[has] = np.where(peak > 0, dist / np.where(peak > 0, peak, 1.0), 0.0).astype(np.float32)
    return out


class PNet(nn.Module):
    """Resolution-preserving dilated CNN (DeepIGeoS P-Net / R-Net); returns one logit channel.

    Args:
        in_channels: input channels (P-Net 1, R-Net 4).
        channels: channels of each block; block i uses dilation 2^i and has 2 convolutions
            (blocks 0, 1) or 3 (the others), as the paper; each convolution is followed by
            ReLU, the block's last one by instance norm + ReLU.
        dropout: dropout before the 1x1 classifier.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], dropout: float) -> None:
        super().__init__()
        blocks, c_in = [], in_channels
        for i, c in enumerate(channels):
            layers = []
            n_conv = 2 if i < 2 else 3
            for j in range(n_conv):
                # instance norm (GroupNorm with one group per channel: the same function, faster
                # on channels-last tensors) after the block's last convolution only
                norm = ("group", {"num_groups": c}) if j == n_conv - 1 else None
                layers.append(Convolution(2, c_in, c, kernel_size=3, dilation=2**i, act="relu", norm=norm))
                c_in = c
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        self.classifier = nn.Sequential(
            Convolution(2, sum(channels), channels[-1], kernel_size=1, act="relu", norm=None, dropout=dropout),
            Convolution(2, channels[-1], 1, kernel_size=1, conv_only=True),
        )
        # channels-last: 2-3x faster small-channel (dilated) convolutions on CPU, same values
        self.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, H, W) -> (B, 1, H, W) logits."""
        features = []
        x = x.contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return self.classifier(torch.cat(features, dim=1))


class DeepIGeoSNetwork(nn.Module):
    """P-Net and R-Net in one module (one state dict, one optimizer).

    :meth:`forward` takes the 4-channel encoding [image, previous prediction, fg map, bg
    map] and routes each item: no click (both maps all ones) -> P-Net on the image,
    otherwise R-Net on all four channels.
    """

    def __init__(self, channels: Sequence[int], dropout: float) -> None:
        super().__init__()
        self.pnet = PNet(1, channels, dropout)
        self.rnet = PNet(4, channels, dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 4, H, W) encoding -> (B, 1, H, W) logits."""
        clicked = x[:, 2:].flatten(1).amin(dim=1) < 0.5  # no click: both maps all ones
        return route_first_or_refine(x, clicked, self.pnet, self.rnet)


class DeepIGeoS(Method):
    """P-Net, then R-Net on geodesic click maps, each followed by a seeded graph cut."""

    name = "deepigeos"
    interactive = True
    first_interaction_cost = "none (round 0 is P-Net's automatic prediction)"
    network: DeepIGeoSNetwork  # what build_network returns, for the sub-networks' types

    @dataclass(frozen=True)
    class Settings(MethodSettings):
        channels: list[int] = setting(
            [16, 16, 16, 16, 16], "Channels of each dilated block; block i has dilation 2^i (paper: 5 blocks of 64)."
        )
        dropout: float = setting(0.0, "Dropout before the 1x1 classifier.")
        geodesic_lambda: float = setting(
            1.0, "Geodesic step cost weight of intensity vs distance (1 = intensity only, the paper's eq. 1)."
        )
        graphcut_weight: float = setting(
            0.3, "Pairwise weight of the graph cut (0 = threshold at 0.5; clicks are still forced)."
        )
        graphcut_sigma: float = setting(0.1, "Intensity scale of the contrast-sensitive pairwise term.")
        max_train_rounds: int = setting(
            1, "Max extra simulated R-Net rounds per training batch after the click on P-Net's proposal (RITM-style)."
        )

        def check(self) -> None:
            unet_checks(self, min_levels=1)
            require(0.0 <= self.geodesic_lambda <= 1.0, "geodesic_lambda", "in [0, 1]", self.geodesic_lambda)
            require(self.graphcut_weight >= 0, "graphcut_weight", ">= 0 (0 = plain thresholding)", self.graphcut_weight)
            require(self.graphcut_sigma > 0, "graphcut_sigma", "> 0", self.graphcut_sigma)
            require(self.max_train_rounds >= 0, "max_train_rounds", "an integer >= 0", self.max_train_rounds)

    def build_network(self) -> DeepIGeoSNetwork:
        return DeepIGeoSNetwork(self.hparams["channels"], self.hparams["dropout"])

    def first_interaction(self, image: np.ndarray, robot: Robot) -> list[Click]:
        """None: round 0 is P-Net's (graph-cut) prediction."""
        return []

    # --- encoding and prediction ----------------------------------------------------------
    def _encode_batch(
        self, images: np.ndarray, clicks: Sequence[Sequence[Click]], prev_masks: np.ndarray
    ) -> np.ndarray:
        """(B, 4, H, W): image, previous binary prediction, fg and bg geodesic maps."""
        maps = geodesic_maps(images, clicks, self.hparams["geodesic_lambda"])
        return np.concatenate([images[:, None], prev_masks[:, None].astype(np.float32), maps], axis=1)

    def encode(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        return self._encode_batch(image[None].astype(np.float32), [clicks], prev_mask[None])[0]

    def refine(self, images: np.ndarray, clicks: Sequence[Sequence[Click]], probs: np.ndarray) -> np.ndarray:
        """Graph cut of each probability map with its clicks as hard seeds; (B, H, W) float32 0/1."""
        hp = self.hparams
        # float64 probabilities: the costs -log p, -log(1 - p) are computed in double precision
        out = [
            graph_cut(
                p.astype(np.float64),
                img,
                click_map(c, img.shape, True),
                click_map(c, img.shape, False),
                weight=hp["graphcut_weight"],
                sigma=hp["graphcut_sigma"],
                neighbours=8,
                eps=1e-4,
                ties="background",
            )
            for p, img, c in zip(probs, images, clicks, strict=True)
        ]
        return np.stack(out).astype(np.float32)

    def predict_batch(self, images: Images, clicks: Sequence[Sequence[Click]], prev_masks: Images) -> np.ndarray:
        """P-Net (no click) or R-Net (clicks), then the seeded graph cut: (B, H, W) in {0, 1}."""
        imgs = stack_batch(images).astype(np.float32)
        x = torch.from_numpy(self._encode_batch(imgs, clicks, stack_batch(prev_masks))).to(self.device)
        with self.inference():
            probs = torch.sigmoid(self.network(x)[:, 0]).float().cpu().numpy()
        return self.refine(imgs, clicks, probs)

    # --- training -------------------------------------------------------------------------
    def train_step(
        self, images: np.ndarray, labels: np.ndarray, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> dict[str, float]:
        """One Adam step on P-Net loss + R-Net loss (Dice + CE each) after simulated rounds.

        Returns:
            ``loss`` (the sum), ``pnet`` and ``rnet``.
        """
        net = self.network
        imgs = images.astype(np.float32)
        target = torch.from_numpy(labels[:, None].astype(np.float32)).to(self.device)
        robots = self.training_robots(labels, rng)
        net.train()
        optimizer.zero_grad(set_to_none=True)
        p_logits = net.pnet(torch.from_numpy(imgs[:, None]).to(self.device))
        loss_p = self.loss_fn(p_logits, target)
        probs = torch.sigmoid(p_logits.detach()[:, 0]).float().cpu().numpy()
        prev = self.refine(imgs, [[] for _ in robots], probs)
        for robot, mask in zip(robots, prev, strict=True):
            robot.next_click(mask)
        for _ in range(int(rng.integers(0, self.hparams["max_train_rounds"] + 1))):
            prev = self.predict_batch(imgs, [r.clicks for r in robots], prev)
            for robot, mask in zip(robots, prev, strict=True):
                robot.next_click(mask)
        x = torch.from_numpy(self._encode_batch(imgs, [r.clicks for r in robots], prev)).to(self.device)
        loss_r = self.loss_fn(net.rnet(x), target)
        loss = loss_p + loss_r
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach()), "pnet": float(loss_p.detach()), "rnet": float(loss_r.detach())}
