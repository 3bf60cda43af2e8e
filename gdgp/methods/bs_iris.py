"""``bs_iris``: pixel-wise multi-agent reinforcement learning that refines a probability map.

Paper: Ma et al., "Boundary-aware supervoxel-level iteratively refined interactive 3D image
segmentation with multi-agent reinforcement learning" (BS-IRIS, IEEE TMI 2020), which extends
IteR-MRL (Liao et al., CVPR 2020). No public code; this is a compact 2D re-implementation in the
PixelRL style (Furuta et al., "PixelRL", IEEE TMM 2019 / AAAI 2019).

- **Agents and actions**: one agent per pixel, all sharing one fully convolutional actor-critic
  (a MONAI U-Net whose ``len(actions) + 1`` output channels are the policy logits and the state
  value). Each action adds one value of ``actions`` (default -0.3, -0.1, 0, +0.1, +0.3) to the
  pixel's foreground probability, clipped to [0, 1] (IteR-MRL's "adjustment action space": the
  state keeps the probability, i.e. the prediction uncertainty, not a binary mask).
- **State**: image, current probability, and two hint maps of the clicks (Gaussian heatmaps,
  ``hint_sigma`` px; fg and bg).
- **Reward** per pixel and step: the cross-entropy gain ``CE(p_t) - CE(p_{t+1})`` w.r.t. the
  ground truth (the "relative cross-entropy gain": relative to the previous step), plus a
  boundary-weighted copy of it, ``boundary_weight * exp(-d^2 / (2 boundary_sigma^2)) * gain`` with
  ``d`` the distance (px) of the pixel to the target boundary, so near-boundary corrections pay more.
- **Interaction**: the first click is the robot's innermost target pixel (as ``click_unet``); the
  probability starts at ``init_prob`` everywhere and the agents act ``n_steps`` times. Each
  corrective click adds a hint and the agents act ``n_steps`` more times from the current
  probability. Greedy (argmax) actions at evaluation.
- **Training**: synchronous advantage actor-critic (PixelRL's pixel-wise A3C without the
  asynchronous workers): RITM-style, a random number (0..``max_train_rounds``, default 20 = the
  evaluation's rounds) of corrective rounds
  is simulated with greedy actions and the shared robot, then one episode of ``n_steps`` sampled
  actions (drawn with the trainer's ``rng``) from that round's probability is learned from:
  returns with discount ``gamma``, policy gradient with the advantage, ``value_weight`` x squared
  advantage, ``entropy_weight`` x entropy bonus.

Stateless prediction: the interface hands a method only the previous *binary* mask, but the agents
refine the previous *probability*. ``predict_batch`` therefore defines the prediction as the replay
of the whole click sequence (stage k = the agents' ``n_steps`` actions with the first k clicks as
hints); with greedy actions this is exactly the probability a stateful implementation would carry
between rounds. To keep a round's cost constant rather than growing with the number of clicks, the
probability after each image's latest stage is cached (key: the image's bytes; the entry is used
when its clicks are a prefix of the new ones and the weights have not changed since), so a round
that adds one click runs one stage. The cache holds one entry per image (at most
``STATE_CACHE_SIZE``).

Simplified vs the paper: 2D and pixel-level, not 3D supervoxels (no SLIC supervoxel agents, no
supervoxel-level boundary term); hints are Gaussian click maps, not geodesic ones; no coarse
automatic pre-segmentation (the start is ``init_prob``); a MONAI U-Net trunk instead of the paper's
network, with no recurrent (ConvGRU) state and no PixelRL reward-map convolution; the episode ends
with the round (terminal, no bootstrap value); the boundary term's form above is ours; only the
last round of each simulated interaction is learned from.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.networks.layers import Norm
from monai.networks.nets import UNet
from scipy.ndimage import distance_transform_edt
from torch import Tensor, nn

from gdgp.clicks.encodings import gaussian_heatmap
from gdgp.clicks.robot import Click
from gdgp.methods.base import Images, Method, stack_batch
from gdgp.methods.settings import MethodSettings, require, setting, unet_checks

CE_EPS = 1e-2  # probabilities are clamped to [eps, 1 - eps] in the reward's CE (a 0/1 pixel stays finite)
STATE_CACHE_SIZE = 4096  # images whose latest probability is kept between predict_batch calls


def boundary_weight_map(gt: np.ndarray, weight: float, sigma: float) -> np.ndarray:
    """Reward weight (H, W): ``1 + weight * exp(-d^2 / (2 sigma^2))``, d = px distance to the target boundary.

    ``d`` is 0 on the pixels that touch the other class (both sides of the boundary). A mask
    without boundary (empty or full) gets weight 1 everywhere.
    """
    gt = gt.astype(bool)
    if gt.all() or not gt.any():
        return np.ones(gt.shape, dtype=np.float32)
    d = np.where(gt, distance_transform_edt(gt), distance_transform_edt(~gt)) - 1.0
    return (1.0 + weight * np.exp(-(d**2) / (2.0 * sigma**2))).astype(np.float32)


def cross_entropy(prob: Tensor, gt: Tensor) -> Tensor:
    """Pixel-wise binary cross-entropy of foreground probability ``prob`` (clamped to [CE_EPS, 1 - CE_EPS])."""
    p = prob.clamp(CE_EPS, 1.0 - CE_EPS)
    return -(gt * torch.log(p) + (1.0 - gt) * torch.log(1.0 - p))


def pixel_reward(before: Tensor, after: Tensor, gt: Tensor, weight: Tensor) -> Tensor:
    """Per-pixel reward: CE gain ``CE(before) - CE(after)``, times the boundary weight (1 + boundary term)."""
    return weight * (cross_entropy(before, gt) - cross_entropy(after, gt))


def apply_actions(prob: Tensor, action_idx: Tensor, deltas: Tensor) -> Tensor:
    """New probability: ``clip(prob + deltas[action_idx], 0, 1)``, pixel-wise."""
    return (prob + deltas[action_idx]).clamp(0.0, 1.0)


def sample_actions(logits: Tensor, rng: np.random.Generator) -> Tensor:
    """Draw one action per pixel from softmax(``logits``) (B, A, H, W) by inverse CDF with ``rng`` uniforms."""
    cdf = torch.softmax(logits, dim=1).cumsum(dim=1)
    u = torch.from_numpy(rng.random((logits.shape[0], 1, *logits.shape[2:]), dtype=np.float32)).to(logits.device)
    return (cdf < u).sum(dim=1).clamp_max(logits.shape[1] - 1)


@dataclass(frozen=True)
class _Stage:
    """An image's probability after its latest replay stage, and what it depends on."""

    clicks: tuple[tuple[int, int, bool], ...]  # the clicks of that stage (y, x, positive)
    weights: tuple[int, ...]  # parameter versions when it was computed
    prob: Tensor  # (H, W)


def _image_key(image: np.ndarray) -> bytes:
    """A digest of the image's shape, dtype and bytes (the cache key of its replay state)."""
    digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16)
    digest.update(repr((image.shape, image.dtype.str)).encode())
    return digest.digest()


class BSIRIS(Method):
    """Pixel agents with a shared actor-critic U-Net; see the module docstring."""

    name = "bs_iris"
    interactive = True

    @dataclass(frozen=True)
    class Settings(MethodSettings):
        channels: list[int] = setting(
            [8, 16, 32, 64],
            "Actor-critic U-Net channels per level (16..128 took about 55 s of the 1-minute demo budget).",
        )
        actions: list[float] = setting(
            [-0.3, -0.1, 0.0, 0.1, 0.3],
            "Action set: amounts added to a pixel's foreground probability (result clipped to [0, 1]).",
        )
        n_steps: int = setting(3, "Agent actions per interaction round (also the training episode length).")
        init_prob: float = setting(
            0.5, "Foreground probability every pixel starts from before the first click's round."
        )
        hint_sigma: float = setting(5.0, "Width (px) of the Gaussian fg/bg click hint maps.")
        gamma: float = setting(0.95, "Discount of the per-pixel returns.")
        boundary_weight: float = setting(
            1.0,
            "Reward weight is 1 + boundary_weight * exp(-d^2 / (2 boundary_sigma^2)), "
            "d = px distance to the target boundary.",
        )
        boundary_sigma: float = setting(2.0, "Width (px) of the boundary band of the reward.")
        entropy_weight: float = setting(0.01, "Entropy bonus weight of the policy loss.")
        value_weight: float = setting(0.5, "Weight of the value (critic) loss.")
        max_train_rounds: int = setting(
            20,
            "Max simulated corrective rounds before each training episode (RITM iterative training); "
            "the evaluation's 20: the agents' probability carries over between rounds, so training "
            "must visit the states that deep into an interaction (3 let curves fall; docs/methods.md).",
        )

        def check(self) -> None:
            require(
                len(self.actions) >= 2 and all(-1.0 <= a <= 1.0 for a in self.actions),
                "actions",
                "a list of at least 2 probability changes in [-1, 1]",
                self.actions,
            )
            unet_checks(self)
            require(self.n_steps >= 1, "n_steps", ">= 1", self.n_steps)
            for key in ("init_prob", "gamma"):
                require(0.0 <= getattr(self, key) <= 1.0, key, "in [0, 1]", getattr(self, key))
            for key in ("hint_sigma", "boundary_sigma"):
                require(getattr(self, key) > 0, key, "> 0", getattr(self, key))
            for key in ("boundary_weight", "entropy_weight", "value_weight", "max_train_rounds"):
                require(getattr(self, key) >= 0, key, ">= 0", getattr(self, key))

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self.deltas = torch.tensor(self.hparams["actions"], dtype=torch.float32)
        self._stages: OrderedDict[bytes, _Stage] = OrderedDict()

    def build_network(self) -> nn.Module:
        ch = self.hparams["channels"]
        return UNet(
            spatial_dims=2,
            in_channels=4,
            out_channels=len(self.hparams["actions"]) + 1,
            channels=tuple(ch),
            strides=(2,) * (len(ch) - 1),
            num_res_units=0,
            norm=Norm.INSTANCE,
        )

    def to(self, device: torch.device | str) -> BSIRIS:
        super().to(device)
        self.deltas = self.deltas.to(self.device)
        self._stages.clear()
        return self

    # --- state ---------------------------------------------------------------------------
    def hints(self, clicks: Sequence[Click], shape: tuple[int, int]) -> np.ndarray:
        """(2, H, W) fg and bg Gaussian hint maps (1 on each click, ``hint_sigma`` px wide; 0 without clicks)."""
        sigma = float(self.hparams["hint_sigma"])
        return np.stack([gaussian_heatmap(clicks, shape, True, sigma), gaussian_heatmap(clicks, shape, False, sigma)])

    def encode(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        """The agents' state (4, H, W): image, probability (here ``prev_mask``), fg hint, bg hint."""
        return np.concatenate(
            [image[None].astype(np.float32), prev_mask[None].astype(np.float32), self.hints(clicks, image.shape)]
        )

    def _hint_batch(self, clicks: Sequence[Sequence[Click]], shape: tuple[int, int], k: int | None = None) -> Tensor:
        """(B, 2, H, W) hints of the first ``k`` clicks of each sample (all with None)."""
        return torch.from_numpy(np.stack([self.hints(c[:k], shape) for c in clicks])).to(self.device)

    def _policy(self, images: Tensor, prob: Tensor, hints: Tensor) -> tuple[Tensor, Tensor]:
        """Policy logits (B, A, H, W) and state values (B, H, W)."""
        out = self.network(torch.cat([images[:, None], prob[:, None], hints], dim=1))
        return out[:, :-1], out[:, -1]

    def _greedy(self, images: Tensor, prob: Tensor, hints: Tensor, active: Tensor) -> Tensor:
        """``n_steps`` argmax actions on the ``active`` samples; the others keep their probability."""
        for _ in range(int(self.hparams["n_steps"])):
            logits, _ = self._policy(images, prob, hints)
            prob = torch.where(active[:, None, None], apply_actions(prob, logits.max(1).indices, self.deltas), prob)
        return prob

    # --- prediction ----------------------------------------------------------------------
    def predict_batch(self, images: Images, clicks: Sequence[Sequence[Click]], prev_masks: Images) -> np.ndarray:
        """The click sequence's replay (stage k: first k clicks as hints, ``n_steps`` greedy actions).

        Starts each image from its cached stage when that stage's clicks are a prefix of
        ``clicks`` and the weights are unchanged (see the module docstring), else from
        ``init_prob``. ``prev_masks`` is not used: the replay rebuilds the previous *probability*.
        """
        shape = images[0].shape
        seqs = [tuple((c.y, c.x, c.positive) for c in cl) for cl in clicks]
        stages = [max(1, len(seq)) for seq in seqs]  # no click: one stage without hints
        keys = [_image_key(image) for image in images]
        weights = tuple(p._version for p in self.network.parameters())
        with self.inference():
            img = torch.from_numpy(stack_batch(images).astype(np.float32)).to(self.device)
            prob = torch.full_like(img, float(self.hparams["init_prob"]))
            done = [0] * len(images)
            for i, (key, seq) in enumerate(zip(keys, seqs, strict=True)):
                hit = self._stages.get(key)
                if (
                    hit is not None
                    and hit.weights == weights
                    and seq[: len(hit.clicks)] == hit.clicks
                    and (hit.clicks or not seq)
                ):
                    prob[i], done[i] = hit.prob, max(1, len(hit.clicks))
            start = torch.tensor(done, device=self.device)
            last = torch.tensor(stages, device=self.device)
            for k in range(min(done) + 1, max(stages) + 1):
                active = (k > start) & (k <= last)
                prob = self._greedy(img, prob, self._hint_batch(clicks, shape, k), active)
        for key, seq, p in zip(keys, seqs, prob, strict=True):
            self._stages[key] = _Stage(seq, weights, p.clone())
            self._stages.move_to_end(key)
        while len(self._stages) > STATE_CACHE_SIZE:
            self._stages.popitem(last=False)
        return prob.float().cpu().numpy()

    # --- training ------------------------------------------------------------------------
    def train_step(
        self, images: np.ndarray, labels: np.ndarray, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> dict[str, float]:
        """Simulate 0..``max_train_rounds`` greedy rounds, then learn from one sampled ``n_steps`` episode."""
        hp, shape = self.hparams, images.shape[1:]
        robots = self.training_robots(labels, rng)
        for image, robot in zip(images, robots, strict=True):
            self.first_interaction(image, robot)  # records the first click in the robot
        img = torch.from_numpy(images.astype(np.float32)).to(self.device)
        gt = torch.from_numpy(labels.astype(np.float32)).to(self.device)
        weight = torch.from_numpy(
            np.stack([boundary_weight_map(lab, hp["boundary_weight"], hp["boundary_sigma"]) for lab in labels])
        ).to(self.device)
        prob = torch.full_like(img, float(hp["init_prob"]))
        all_active = torch.ones(len(images), dtype=torch.bool, device=self.device)
        with self.inference():
            for _ in range(int(rng.integers(0, hp["max_train_rounds"] + 1))):
                prob = self._greedy(img, prob, self._hint_batch([r.clicks for r in robots], shape), all_active)
                for robot, mask in zip(robots, (prob > 0.5).cpu().numpy(), strict=True):
                    robot.next_click(mask)
        hints = self._hint_batch([r.clicks for r in robots], shape)
        self.network.train()
        log_probs, entropies, values, rewards = [], [], [], []
        for _ in range(int(hp["n_steps"])):
            logits, value = self._policy(img, prob, hints)
            logp = torch.log_softmax(logits, dim=1)
            action = sample_actions(logits.detach(), rng)
            new_prob = apply_actions(prob, action, self.deltas)
            rewards.append(pixel_reward(prob, new_prob, gt, weight))
            log_probs.append(logp.gather(1, action[:, None])[:, 0])
            entropies.append(-(logp.exp() * logp).sum(1))
            values.append(value)
            prob = new_prob
        ret = torch.zeros_like(img)  # the round ends after n_steps: terminal, no bootstrap
        policy_loss = value_loss = img.new_zeros(())
        for t in reversed(range(len(rewards))):
            ret = rewards[t] + hp["gamma"] * ret
            adv = ret - values[t]
            policy_loss = policy_loss - (log_probs[t] * adv.detach()).mean()
            value_loss = value_loss + (adv**2).mean()
        entropy = torch.stack(entropies).mean()
        n = len(rewards)
        loss = (policy_loss + hp["value_weight"] * value_loss) / n - hp["entropy_weight"] * entropy
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {
            "loss": float(loss.detach()),
            "policy": float(policy_loss.detach()) / n,
            "value": float(value_loss.detach()) / n,
            "entropy": float(entropy.detach()),
            "reward": float(torch.stack(rewards).sum(0).mean()),
        }
