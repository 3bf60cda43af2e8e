"""``tis``: a transformer decoder that refines an automatic mask by grouping pixels with clicks.

Paper: Liu, Ma, Yang, Xie, Zhang, "Transforming the Interactive Segmentation for Medical Imaging"
(TIS, MICCAI 2022). No public code; this is a compact 2D re-implementation of its description:
refinement = grouping every pixel with the user click whose feature it resembles most, via
two transformer-decoder stages (click encoding, label assignment).

- **Automatic round 0**: a MONAI U-Net (instance norm) maps the image to one automatic logit
  channel and ``feature_channels`` pixel-feature channels. There is no first interaction
  (``first_interaction`` returns []); round 0 is the automatic prediction, rounds 1.. add the
  robot user's corrective clicks.
- **Click encoding**: each click becomes a query token = the pixel feature at the click + a
  learned embedding of its label (fg/bg); a ``torch.nn.TransformerDecoder`` (``decoder_layers``
  layers, ``heads`` heads) lets the tokens attend to each other and to all pixel features
  (average-pooled by ``memory_stride`` for speed: at 64 px, stride 2 cut the decoder's training cost 4x).
- **Label assignment**: pixel embeddings and refined tokens are projected and L2-normalised;
  pixel i is assigned to the slots by ``softmax_j(cos(pixel_i, token_j) / temperature)``; the
  foreground probability is the assignment mass on the fg tokens.
- **Fusion with the automatic prediction** (``assignment``; the paper's code is not public): by
  default (``category_tokens``) the automatic result gives one fg and one bg token (the mean pixel
  feature weighted by the automatic probability and by its complement), which join the click
  tokens in the decoder and in the assignment, as the paper's per-category tokens; every pixel is
  assigned among them. The earlier ``auto_slot`` fusion instead added a learned "keep automatic"
  slot (``auto_logit``) whose label is the automatic probability; trained, every pixel went to that
  slot and the clicks changed nothing (docs/real-ct.md). With no click at all ``p = p_auto`` exactly.
- **Training**: end to end with 0.5 Dice + 0.5 CE on the fused probability (as a logit) plus the
  same loss on the automatic output (so round 0 stays an automatic segmenter), on RITM-style
  simulated clicks: 0..``max_train_rounds`` corrective rounds of the shared robot, each predicted
  by the current network without gradient.

Simplified vs the paper: 2D, binary (the paper handles several categories: here one fg and one bg
label embedding); the automatic network is a small MONAI U-Net trained jointly with the
refinement instead of a separately pre-trained segmenter; no positional encoding of the pixel
features, and the click tokens attend to pooled features (``memory_stride``); the label-assignment
stage is a single projected cosine-similarity attention (no extra decoder layers on the pixel
side); the fusion above is our choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.layers import Norm
from monai.networks.nets import UNet
from torch import Tensor, nn

from gdgp.clicks.robot import Click, Robot
from gdgp.methods.base import Images, Method, stack_batch
from gdgp.methods.settings import MethodSettings, require, setting, unet_checks

PROB_EPS = 1e-6  # the fused probability is turned back into a logit for the Dice+CE loss


def assign_labels(
    pixels: Tensor,
    tokens: Tensor,
    positive: Tensor,
    valid: Tensor,
    auto_prob: Tensor,
    auto_logit: Tensor,
    temperature: float,
) -> tuple[Tensor, Tensor]:
    """Label assignment: each pixel to the click token of most similar feature, or to the automatic slot.

    Args:
        pixels: (B, P, D) pixel embeddings.
        tokens: (B, N, D) refined click tokens (N >= 1; padding marked in ``valid``).
        positive: (B, N) bool, True = foreground click.
        valid: (B, N) bool, False = padding.
        auto_prob: (B, P) automatic foreground probability.
        auto_logit: scalar logit of the automatic slot.
        temperature: softmax temperature of the cosine similarities.

    Returns:
        Foreground probability (B, P) and the assignment (B, P, N + 1), last slot = automatic.
    """
    sim = torch.einsum("bpd,bnd->bpn", F.normalize(pixels, dim=-1), F.normalize(tokens, dim=-1)) / temperature
    sim = sim.masked_fill(~valid[:, None, :], float("-inf"))
    slots = torch.cat([sim, auto_logit.expand(*sim.shape[:2], 1)], dim=-1)
    assign = torch.softmax(slots, dim=-1)
    prob = (assign[..., :-1] * positive[:, None, :].to(assign.dtype)).sum(-1) + assign[..., -1] * auto_prob
    return prob, assign


class TISNetwork(nn.Module):
    """Automatic U-Net (logit + pixel features), click-encoding decoder, label-assignment projections."""

    def __init__(
        self,
        channels: Sequence[int],
        features: int,
        heads: int,
        layers: int,
        auto_logit: float,
        memory_stride: int = 1,
        category_tokens: bool = False,
    ) -> None:
        super().__init__()
        self.memory_stride = memory_stride
        self.category_tokens = category_tokens
        self.backbone = UNet(
            spatial_dims=2,
            in_channels=1,
            out_channels=features + 1,
            channels=tuple(channels),
            strides=(2,) * (len(channels) - 1),
            num_res_units=0,
            norm=Norm.INSTANCE,
        )
        self.label_embed = nn.Embedding(2, features)
        layer = nn.TransformerDecoderLayer(
            d_model=features, nhead=heads, dim_feedforward=2 * features, dropout=0.0, batch_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, num_layers=layers)
        self.pixel_proj = nn.Linear(features, features)
        self.token_proj = nn.Linear(features, features)
        self.auto_logit = nn.Parameter(torch.tensor(float(auto_logit)))

    def forward(
        self, images: Tensor, idx: Tensor, positive: Tensor, valid: Tensor, temperature: float
    ) -> dict[str, Tensor]:
        """Automatic and refined logits (B, H, W) for images (B, 1, H, W) and clicks.

        ``idx`` (B, N) flat pixel index of each click (N may be 0), ``positive``/``valid`` (B, N) bool.
        """
        out = self.backbone(images)
        auto = out[:, 0]
        if idx.shape[1] == 0:
            return {"auto": auto, "refined": auto}
        feats = out[:, 1:].flatten(2).transpose(1, 2)  # (B, P, F)
        memory = F.avg_pool2d(out[:, 1:], self.memory_stride).flatten(2).transpose(1, 2)  # (B, P / s^2, F)
        at_click = torch.gather(feats, 1, idx.clamp_min(0)[..., None].expand(-1, -1, feats.shape[-1]))
        auto_prob = torch.sigmoid(auto.flatten(1))
        auto_logit: Tensor = self.auto_logit
        if self.category_tokens:
            # one fg and one bg token from the automatic result (its soft masked mean feature), then
            # the clicks: every pixel is assigned among these, no "keep automatic" slot to hide in
            weights = torch.stack([auto_prob, 1.0 - auto_prob], dim=1)  # (B, 2, P)
            category = weights @ feats / weights.sum(-1, keepdim=True).clamp_min(PROB_EPS)
            at_click = torch.cat([category, at_click], dim=1)
            fg_bg = torch.tensor([True, False], device=positive.device).expand(len(positive), 2)
            positive = torch.cat([fg_bg, positive], dim=1)
            valid = torch.cat([torch.ones_like(fg_bg), valid], dim=1)
            idx = torch.cat([torch.zeros_like(fg_bg, dtype=idx.dtype), idx], dim=1)
            auto_logit = auto_logit.new_tensor(float("-inf"))
        queries = at_click + self.label_embed(positive.long())
        pad = ~valid
        pad[:, 0] &= valid.any(1)  # a slice without clicks attends to a dummy token: no fully masked row
        tokens = self.decoder(queries, memory, tgt_key_padding_mask=pad)
        prob, _ = assign_labels(
            self.pixel_proj(feats),
            self.token_proj(tokens),
            positive,
            valid,
            auto_prob,
            auto_logit,
            temperature,
        )
        p = prob.clamp(PROB_EPS, 1.0 - PROB_EPS).view_as(auto)
        # samples without clicks (padding only) keep their automatic logit exactly
        clicked = valid[:, 2:].any(1) if self.category_tokens else valid.any(1)
        refined = torch.where(clicked[:, None, None], torch.log(p) - torch.log1p(-p), auto)
        return {"auto": auto, "refined": refined}


class TIS(Method):
    """Automatic U-Net + click tokens + transformer decoder + label assignment; see the module docstring."""

    name = "tis"
    interactive = True
    first_interaction_cost = "none (round 0 is the automatic segmentation)"

    @dataclass(frozen=True)
    class Settings(MethodSettings):
        channels: list[int] = setting([16, 32, 64, 128], "Automatic U-Net channels per level.")
        feature_channels: int = setting(16, "Pixel feature / token width (must be divisible by heads).")
        heads: int = setting(2, "Attention heads of the click-encoding decoder.")
        decoder_layers: int = setting(2, "Transformer decoder layers.")
        memory_stride: int = setting(
            2,
            "Average-pooling stride of the pixel features the click tokens attend to "
            "(2 cut the decoder's cost 4x at 64 px).",
        )
        temperature: float = setting(
            0.1, "Softmax temperature of the cosine similarity between pixels and click tokens."
        )
        auto_logit: float = setting(
            0.0,
            "Initial (learned) logit of the 'automatic' slot in the assignment: pixels "
            "like no click keep the automatic prediction.",
        )
        auto_loss_weight: float = setting(1.0, "Weight of the extra Dice+CE loss on the automatic output.")
        assignment: str = setting(
            "category_tokens",
            "Label assignment: 'category_tokens' (a fg and a bg token made from the automatic result "
            "join the click tokens, as the paper's categories; no keep slot; chosen on validation, "
            "docs/real-ct.md) or 'auto_slot' (pixels compete between the click tokens and a learned "
            "'keep the automatic result' slot: the earlier fusion, whose refinement never learned).",
        )
        max_train_rounds: int = setting(
            3, "Max simulated corrective rounds per training batch (RITM iterative training)."
        )

        def check(self) -> None:
            unet_checks(self)
            for key in ("feature_channels", "heads", "decoder_layers", "memory_stride"):
                require(getattr(self, key) >= 1, key, ">= 1", getattr(self, key))
            require(
                self.feature_channels % self.heads == 0,
                "feature_channels",
                f"divisible by heads ({self.heads})",
                self.feature_channels,
            )
            require(self.temperature > 0, "temperature", "> 0", self.temperature)
            require(
                self.assignment in ("auto_slot", "category_tokens"),
                "assignment",
                "'auto_slot' or 'category_tokens'",
                self.assignment,
            )
            for key in ("auto_loss_weight", "max_train_rounds"):
                require(getattr(self, key) >= 0, key, ">= 0", getattr(self, key))

    def build_network(self) -> nn.Module:
        hp = self.hparams
        return TISNetwork(
            hp["channels"],
            hp["feature_channels"],
            hp["heads"],
            hp["decoder_layers"],
            hp["auto_logit"],
            hp["memory_stride"],
            hp["assignment"] == "category_tokens",
        )

    def first_interaction(self, image: np.ndarray, robot: Robot) -> list[Click]:
        """None: round 0 is the automatic segmentation."""
        return []

    def _clicks(self, clicks: Sequence[Sequence[Click]], width: int) -> tuple[Tensor, Tensor, Tensor]:
        """Padded (B, N) flat indices, fg flags and validity of the clicks."""
        n = max((len(c) for c in clicks), default=0)
        idx = torch.zeros((len(clicks), n), dtype=torch.long)
        pos = torch.zeros((len(clicks), n), dtype=torch.bool)
        valid = torch.zeros((len(clicks), n), dtype=torch.bool)
        for b, cl in enumerate(clicks):
            for j, c in enumerate(cl):
                idx[b, j], pos[b, j], valid[b, j] = c.y * width + c.x, c.positive, True
        return idx.to(self.device), pos.to(self.device), valid.to(self.device)

    def _forward(self, images: Images, clicks: Sequence[Sequence[Click]]) -> dict[str, Tensor]:
        x = torch.from_numpy(stack_batch(images).astype(np.float32)[:, None]).to(self.device)
        idx, pos, valid = self._clicks(clicks, x.shape[-1])
        return self.network(x, idx, pos, valid, float(self.hparams["temperature"]))

    def predict_batch(self, images: Images, clicks: Sequence[Sequence[Click]], prev_masks: Images) -> np.ndarray:
        """Refined foreground probabilities (B, H, W); the automatic one where a slice has no click."""
        with self.inference():
            logits = self._forward(images, clicks)["refined"]
        return torch.sigmoid(logits).float().cpu().numpy()

    def train_step(
        self, images: np.ndarray, labels: np.ndarray, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> dict[str, float]:
        """One step of Dice+CE on the refined output + ``auto_loss_weight`` x Dice+CE on the automatic one."""
        clicks, _ = self.simulate_interaction(images, labels, rng)
        y = torch.from_numpy(labels[:, None].astype(np.float32)).to(self.device)
        self.network.train()
        optimizer.zero_grad(set_to_none=True)
        out = self._forward(images, clicks)
        refined = self.loss_fn(out["refined"][:, None], y)
        auto = self.loss_fn(out["auto"][:, None], y)
        loss = refined + self.hparams["auto_loss_weight"] * auto
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach()), "refined": float(refined.detach()), "auto": float(auto.detach())}
