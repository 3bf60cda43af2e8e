"""``gdgp``: hybrid clicks + Gaussian geodesic encoding + U-Net features + Laplace GP head.

The paper's method (Gaussian geodesic distance encoding + hybrid-kernel GP classification):

1. **Hybrid first interaction** (:mod:`gdgp.clicks.hybrid`): ``n_centre`` near-centre
   foreground points and ``n_edge`` outer-edge background points; later rounds add the
   robot user's corrective clicks.
2. **Crop** (:mod:`gdgp.clicks.crop`): the clicks' bounding box + ``crop_margin``, made square,
   resized to ``crop_size``; the prediction is pasted back into the full slice.
3. **Encoding**: one map for the foreground clicks and one for the background clicks,
   ``exp(-D_geo / (2 sigma^2))`` with learnable sigma (:mod:`gdgp.clicks.geodesic_encodings`).
4. **Features**: a MONAI ``DynUNet`` (nnU-Net's network: instance norm, LeakyReLU, a
   quarter of nnU-Net's 2D filters, dropout 0.3) maps [crop, fg map, bg map] to
   ``feature_channels`` deep features per pixel.
5. **GP head** (:mod:`gdgp.methods.gp`): training points are the clicked pixels; the RBF term sees
   the pixel intensity of the crop (the paper's eq. 13, ``rbf_inputs: intensity``; the
   option ``intensity_and_maps`` also feeds it the fg and bg maps, an ablation row), the
   Matern-5/2 term the deep features; Laplace approximation; probability =
   sigmoid(latent mean) (the paper's choice).
6. **Loss**: ``0.5 Dice + 0.5 CE`` on the latent mean as logit, ``+ 0.001 (NLL + 0.01 KL)``
   of the GP (``gp_loss_weight``, ``kl_weight``).

The experiments of the paper's Tables 3, 5 and 6 are the same class with one setting
changed (``encoding``, ``interaction``, ``head``, ``learnable``); they are registered as
variants in :mod:`gdgp.methods.gdgp_variants`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from monai.networks.nets import DynUNet
from torch import Tensor, nn

from gdgp.clicks.crop import Box, click_box, clicks_in_crop, crop_resize, paste_back
from gdgp.clicks.encodings import click_map, euclidean_distance_map, gaussian_heatmap
from gdgp.clicks.geodesic_encodings import GaussianGeodesicEncoding, geodesic_map
from gdgp.clicks.hybrid import HybridConfig, hybrid_interaction, plain_interaction
from gdgp.clicks.robot import Click, Robot
from gdgp.methods.base import Images, Method
from gdgp.methods.fast_dropout import replace_dropout
from gdgp.methods.gp import LaplaceGPHead
from gdgp.methods.settings import MethodSettings, require, setting

ENCODINGS = ("gaussian_geodesic", "geo", "edv", "gh", "points")
INTERACTIONS = ("hybrid", "fgbg")
HEADS = ("gp", "cnn")
RBF_INPUTS = ("intensity", "intensity_and_maps")
MIN_CROP_PX = 16  # smallest box side in slice pixels (tiny targets still get context)


def dynunet_features(in_channels: int, out_channels: int, filters: Sequence[int], dropout: float) -> DynUNet:
    """nnU-Net's 2D U-Net (MONAI ``DynUNet``): 3x3 convs, stride-2 downsampling, instance norm.

    Its dropout layers are :class:`~gdgp.methods.fast_dropout.FastDropout` (the same dropout with a
    mask ~2.6x cheaper to draw on the CPU; state dicts unchanged).
    """
    levels = len(filters)
    net = DynUNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=[3] * levels,
        strides=[1] + [2] * (levels - 1),
        upsample_kernel_size=[2] * (levels - 1),
        filters=list(filters),
        dropout=dropout,
        norm_name=("INSTANCE", {"affine": True}),
        res_block=False,
    )
    replace_dropout(net)
    return net


@dataclass
class CropBatch:
    """A batch prepared for the network: crops, encoding inputs and the GP's training points."""

    images: Tensor  # (B, S, S) crops
    enc_in: Tensor  # (B, 2, S, S): distances (gaussian_geodesic) or final maps
    seeds: Tensor  # (B, 2, S, S) bool click masks (fg, bg)
    point_idx: Tensor  # (B, N) flat pixel index of each click in the crop
    point_y: Tensor  # (B, N) +1 foreground / -1 background
    point_mask: Tensor  # (B, N) bool, False = padding
    boxes: list[Box]


class GDGPNetwork(nn.Module):
    """Encoding (learnable sigma) + DynUNet feature extractor + GP (or CNN) head.

    Owns every learnable parameter (network weights, sigma, alpha1, alpha2, tau, l), so
    the shared trainer and checkpoints handle it like any other network.
    """

    def __init__(self, hp: dict[str, Any]) -> None:
        super().__init__()
        self.encoding = hp["encoding"]
        self.head_kind = hp["head"]
        self.rbf_channels = 1 if hp["rbf_inputs"] == "intensity" else 3  # image [, fg map, bg map]
        if self.encoding == "gaussian_geodesic":
            self.encoder = GaussianGeodesicEncoding(
                sigma=hp["sigma"], lamb=hp["geodesic_lambda"], learnable=hp["learnable"]
            )
        self.backbone = dynunet_features(3, hp["feature_channels"], hp["filters"], hp["dropout"])
        self.head: LaplaceGPHead | nn.Conv2d
        if self.head_kind == "gp":
            self.head = LaplaceGPHead(
                alpha1=hp["alpha1"],
                alpha2=hp["alpha2"],
                tau=hp["tau"],
                l=hp["l"],
                learnable=hp["learnable"],
                prob_mode="sigmoid",
                predict_var=False,
            )
        else:
            self.head = nn.Conv2d(hp["feature_channels"] + 3, 1, kernel_size=1)

    def maps(self, batch: CropBatch) -> Tensor:
        """The (B, 2, S, S) click maps; the Gaussian geodesic map carries sigma's gradient."""
        if self.encoding != "gaussian_geodesic":
            return batch.enc_in
        sigma = self.encoder.sigma
        out = torch.exp(-batch.enc_in / (2.0 * sigma * sigma))
        has_seed = batch.seeds.flatten(2).any(-1)[..., None, None]
        return torch.where(has_seed, out, torch.zeros_like(out))

    def forward(self, batch: CropBatch) -> dict[str, Tensor]:
        """Logits (B, S, S) on the crop, and the GP's per-image NLL and KL (zeros for the CNN head)."""
        maps = self.maps(batch)
        low = torch.cat([batch.images[:, None], maps], dim=1)  # (B, 3, S, S)
        feats = self.backbone(low)  # (B, F, S, S)
        n_batch, size = low.shape[0], low.shape[-1]
        if self.head_kind == "cnn":
            logits = self.head(torch.cat([feats, low], dim=1))[:, 0]
            zero = logits.new_zeros(n_batch)
            return {"logits": logits, "nll": zero, "kl": zero}
        test_int = low[:, : self.rbf_channels].flatten(2).transpose(1, 2)  # (B, S*S, 1 or 3)
        test_deep = feats.flatten(2).transpose(1, 2)  # (B, S*S, F)
        idx = batch.point_idx.clamp_min(0)
        take = lambda t: torch.gather(t, 1, idx[..., None].expand(-1, -1, t.shape[-1]))  # noqa: E731
        out = self.head(take(test_int), take(test_deep), batch.point_y, batch.point_mask, test_int, test_deep)
        return {"logits": out["mean"].view(n_batch, size, size), "nll": out["nll"], "kl": out["kl"]}

    def learned_parameters(self) -> dict[str, float]:
        """sigma, alpha1, alpha2, tau, l (Table 2); only those this variant has."""
        out: dict[str, float] = {}
        if self.encoding == "gaussian_geodesic":
            out["sigma"] = float(self.encoder.sigma.detach())
        if isinstance(self.head, LaplaceGPHead):  # head "gp"
            out.update(self.head.hyperparameters())
        return out


class GDGP(Method):
    """The paper's method; see the module docstring."""

    name = "gdgp"
    interactive = True
    first_interaction_cost = "7 points: n_centre = 3 fg + n_edge = 4 bg (hybrid)"
    network: GDGPNetwork  # what build_network returns, for the sub-networks' types

    @dataclass(frozen=True)
    class Settings(MethodSettings):
        crop_size: int = setting(
            128, "Working size (px) the click box is resized to; paste-back restores the slice size."
        )
        filters: list[int] = setting(
            [8, 16, 32, 64, 128], "DynUNet filters per level (a quarter of nnU-Net's 2D [32, 64, 128, 256, 512])."
        )
        feature_channels: int = setting(16, "Deep feature channels per pixel (the Matern term's input).")
        dropout: float = setting(0.3, "DynUNet dropout (paper 0.3).")
        encoding: str = setting(
            "gaussian_geodesic",
            "Click encoding (Table 5): Gaussian geodesic (GDGP), geodesic, "
            "Euclidean distance, Gaussian heatmap, raw point maps (ablation 2).",
        )
        interaction: str = setting(
            "hybrid",
            "First interaction: hybrid near-centre + outer-edge points, or "
            "conventional random fg/bg clicks (ablation 1).",
        )
        head: str = setting(
            "gp", "Pixel classifier: Laplace GP with the hybrid kernel, or a 1x1 conv + sigmoid (ablation 3)."
        )
        rbf_inputs: str = setting(
            "intensity",
            "Inputs of the GP's RBF term: the crop's pixel intensity (the paper's "
            "eq. 13), or intensity + fg map + bg map (an extra ablation row, gdgp_abl_rbfmaps).",
        )
        learnable: bool = setting(
            True, "Learn sigma, alpha1, alpha2, tau, l (false = fixed at the initial values, Table 3)."
        )
        sigma: float = setting(
            1.0, "Initial sigma of the Gaussian geodesic map (distances normalised to [0, 1] per crop)."
        )
        alpha1: float = setting(0.5, "Initial weight of the intensity RBF kernel.")
        alpha2: float = setting(0.2, "Initial weight of the deep-feature Matern-5/2 kernel.")
        tau: float = setting(1.0, "Initial RBF lengthscale.")
        l: float = setting(2.0, "Initial Matern lengthscale.")  # noqa: E741 (the paper's name)
        geodesic_lambda: float = setting(
            1.0, "Geodesic step cost weight of intensity vs distance (1 = intensity only, the paper's eq. 2)."
        )
        n_centre: int = setting(3, "Near-centre foreground points (k).")
        n_edge: int = setting(4, "Outer-edge background points (m).")
        centre_fraction: float = setting(
            0.5, "Near-centre points lie at >= this fraction of the target's maximal depth."
        )
        edge_margin: float = setting(5.0, "Outer-edge points lie 1..edge_margin px outside the target.")
        crop_margin: int = setting(8, "The crop box is the clicks' bounding box grown by this many px.")
        train_click_noise: float = setting(
            0.0, "Position noise (px) of simulated clicks in training (0 = exact clicks; the paper adds none)."
        )
        max_train_rounds: int = setting(
            3, "Max simulated corrective rounds per training batch (RITM iterative training)."
        )
        gp_loss_weight: float = setting(
            0.001, "Weight w of the GP terms in 0.5 Dice + 0.5 CE + w (NLL + kl_weight KL) (paper 0.001)."
        )
        kl_weight: float = setting(0.01, "Weight of the KL term inside the GP loss (paper 0.01).")
        hyper_lr_scale: float = setting(
            1.0,
            "Learning-rate multiplier of sigma and the kernel hyperparameters (1 = one learning rate, as the paper).",
        )

        def check(self) -> None:
            require(self.crop_size >= 16, "crop_size", "an integer >= 16", self.crop_size)
            require(
                len(self.filters) >= 2 and all(f >= 1 for f in self.filters),
                "filters",
                "a list of >= 2 positive integers",
                self.filters,
            )
            require(self.feature_channels >= 1, "feature_channels", "an integer >= 1", self.feature_channels)
            require(0.0 <= self.dropout <= 1.0, "dropout", "in [0, 1]", self.dropout)
            for key, allowed in (
                ("encoding", ENCODINGS),
                ("interaction", INTERACTIONS),
                ("head", HEADS),
                ("rbf_inputs", RBF_INPUTS),
            ):
                require(getattr(self, key) in allowed, key, f"one of {allowed}", getattr(self, key))
            for key in ("sigma", "alpha1", "alpha2", "tau", "l", "hyper_lr_scale"):
                require(getattr(self, key) > 0, key, "> 0", getattr(self, key))
            for key in ("geodesic_lambda", "centre_fraction"):
                require(0.0 <= getattr(self, key) <= 1.0, key, "in [0, 1]", getattr(self, key))
            require(self.n_centre >= 1, "n_centre", "an integer >= 1", self.n_centre)
            require(self.edge_margin >= 1, "edge_margin", ">= 1 px", self.edge_margin)
            for key in (
                "n_edge",
                "crop_margin",
                "train_click_noise",
                "max_train_rounds",
                "gp_loss_weight",
                "kl_weight",
            ):
                require(getattr(self, key) >= 0, key, ">= 0", getattr(self, key))

    #: Settings that define a registered variant; they win over the configured ones.
    variant: ClassVar[dict[str, Any]] = {}

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**{**hparams, **self.variant})
        hp = self.hparams
        self.hybrid = HybridConfig(
            n_centre=hp["n_centre"],
            n_edge=hp["n_edge"],
            centre_fraction=hp["centre_fraction"],
            edge_margin=hp["edge_margin"],
            crop_margin=hp["crop_margin"],
        )

    def build_network(self) -> GDGPNetwork:
        return GDGPNetwork(self.hparams)

    def learned_parameters(self) -> dict[str, float]:
        """Current sigma and kernel hyperparameters (the paper's Table 2)."""
        return self.network.learned_parameters()

    def configure_optimizers(
        self, lr: float, lr_step: int, lr_gamma: float
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """Adam + step schedule; sigma and the kernel hyperparameters at ``hyper_lr_scale`` x lr.

        The paper uses one learning rate (``hyper_lr_scale: 1``, the default). At it the five
        scalars move by a few percent in the demo's few hundred steps, so the demo config
        sets a larger multiplier (and says so beside the key).
        """
        net = self.network
        hyper = [p for n, p in net.named_parameters() if n.startswith(("encoder.", "head.kernel."))]
        ids = {id(p) for p in hyper}
        rest = [p for p in net.parameters() if id(p) not in ids]
        groups = [{"params": rest, "lr": lr}]
        if hyper:
            groups.append({"params": hyper, "lr": lr * self.hparams["hyper_lr_scale"]})
        opt = torch.optim.Adam(groups, lr=lr)
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=lr_step, gamma=lr_gamma)

    # --- interaction --------------------------------------------------------------------
    def first_interaction(self, image: np.ndarray, robot: Robot) -> list[Click]:
        """Hybrid (or, for ablation 1, conventional fg/bg) points, recorded in ``robot``.

        Position noise is the robot's (``evaluate.noise_px`` at test time,
        ``train_click_noise`` in training). An empty target gets no click.
        """
        if not robot.gt.any():
            return []
        cfg = self.hybrid
        if robot.noise_px > 0:
            cfg = dataclasses.replace(cfg, noise_px=robot.noise_px)
        if self.hparams["interaction"] == "hybrid":
            pts = hybrid_interaction(robot.gt, cfg, robot.rng)
        else:
            rng = robot.rng if robot.rng is not None else np.random.default_rng(int(robot.gt.sum()))
            pts = plain_interaction(robot.gt, cfg, rng)
        clicks = [robot.add(y, x, True) for y, x in pts.centre]
        return clicks + [robot.add(y, x, False) for y, x in pts.edge]

    def training_robots(self, labels: np.ndarray, rng: np.random.Generator) -> list[Robot]:
        noise = float(self.hparams["train_click_noise"])
        return [Robot(lab, noise_px=noise, rng=rng) for lab in labels]

    # --- encoding -----------------------------------------------------------------------
    def _maps(self, crop: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
        """(2, S, S) fixed encoding maps (fg, bg) of the non-learnable encodings."""
        enc, size = self.hparams["encoding"], crop.shape[0]
        if enc == "edv":
            fn = lambda pos: euclidean_distance_map(clicks, crop.shape, pos, scale=float(size))  # noqa: E731
        elif enc == "gh":  # 10 px at the paper's 128-px working size
            fn = lambda pos: gaussian_heatmap(clicks, crop.shape, pos, sigma=0.08 * size)  # noqa: E731
        elif enc == "geo":
            fn = lambda pos: geodesic_map(crop, clicks, pos, lamb=self.hparams["geodesic_lambda"])  # noqa: E731
        else:  # "points": ablation 2, the clicks as raw binary maps
            fn = lambda pos: click_map(clicks, crop.shape, pos).astype(np.float32)  # noqa: E731
        return np.stack([fn(True), fn(False)])

    def prepare(self, images: np.ndarray | Sequence[np.ndarray], clicks: Sequence[Sequence[Click]]) -> CropBatch:
        """Crop every slice around its clicks and build the encoding inputs and GP points."""
        size = int(self.hparams["crop_size"])
        boxes, crops, seeds, crop_clicks = [], [], [], []
        for image, cl in zip(images, clicks, strict=True):
            box = (
                click_box(cl, image.shape, self.hparams["crop_margin"], MIN_CROP_PX)
                if cl
                else Box(0, image.shape[0], 0, image.shape[1])
            )
            cc = clicks_in_crop(cl, box, size)
            boxes.append(box)
            crops.append(crop_resize(image, box, size))
            crop_clicks.append(cc)
            seeds.append(np.stack([click_map(cc, (size, size), True), click_map(cc, (size, size), False)]))
        crop_t = torch.stack(crops)
        seed_t = torch.from_numpy(np.stack(seeds))
        if self.hparams["encoding"] == "gaussian_geodesic":
            both = self.network.encoder.scaled_distance(crop_t.repeat_interleave(2, 0), seed_t.flatten(0, 1))
            enc_in = both.view(len(boxes), 2, size, size)
        else:
            enc_in = torch.from_numpy(
                np.stack([self._maps(c.numpy(), cc) for c, cc in zip(crops, crop_clicks, strict=True)])
            )
        n_max = max(1, max(len(cc) for cc in crop_clicks))
        idx = torch.full((len(boxes), n_max), -1, dtype=torch.long)
        lab = torch.zeros((len(boxes), n_max))
        for b, cc in enumerate(crop_clicks):
            for j, c in enumerate(cc):
                idx[b, j] = c.y * size + c.x
                lab[b, j] = 1.0 if c.positive else -1.0
        dev = self.device
        return CropBatch(
            crop_t.to(dev), enc_in.to(dev), seed_t.to(dev), idx.to(dev), lab.to(dev), (idx >= 0).to(dev), boxes
        )

    def encode(self, image: np.ndarray, clicks: Sequence[Click], prev_mask: np.ndarray) -> np.ndarray:
        """The network's low-level input (3, S, S) on the crop: image, fg map, bg map."""
        batch = self.prepare([image], [clicks])
        with torch.no_grad():
            maps = self.network.maps(batch)
        return torch.cat([batch.images[:, None], maps], 1)[0].float().cpu().numpy()

    # --- prediction and training ----------------------------------------------------------
    def predict_batch(self, images: Images, clicks: Sequence[Sequence[Click]], prev_masks: Images) -> np.ndarray:
        """Full-slice foreground probabilities (B, H, W): crop, predict, paste back."""
        with self.inference():
            batch = self.prepare(images, clicks)
            probs = torch.sigmoid(self.network(batch)["logits"]).float().cpu()
        return np.stack(
            [paste_back(p, box, img.shape).numpy() for p, box, img in zip(probs, batch.boxes, images, strict=True)]
        )

    def train_step(
        self, images: np.ndarray, labels: np.ndarray, optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> dict[str, float]:
        """One step on the crops: ``0.5 Dice + 0.5 CE + w (NLL + kl_weight KL)``."""
        clicks, _ = self.simulate_interaction(images, labels, rng)
        batch = self.prepare(images, clicks)
        size = int(self.hparams["crop_size"])
        target = torch.stack(
            [crop_resize(lab.astype(np.float32), box, size) > 0.5 for lab, box in zip(labels, batch.boxes, strict=True)]
        ).float()
        self.network.train()
        optimizer.zero_grad(set_to_none=True)
        out = self.network(batch)
        seg = self.loss_fn(out["logits"][:, None], target[:, None].to(self.device))
        nll, kl = out["nll"].mean(), out["kl"].mean()
        loss = seg + self.hparams["gp_loss_weight"] * (nll + self.hparams["kl_weight"] * kl)
        loss.backward()
        optimizer.step()
        return {
            "loss": float(loss.detach()),
            "seg": float(seg.detach()),
            "nll": float(nll.detach()),
            "kl": float(kl.detach()),
        }
