"""``sam``, ``sam_box`` and ``medsam``: Segment Anything (Kirillov et al., ICCV 2023) and MedSAM
(Ma et al., Nat. Commun. 2024), pretrained, run through the ``segment_anything`` package.

What the adapters take from the models' own code (``segment_anything`` 1.0 on PyPI, the same code
as github.com/facebookresearch/segment-anything; MedSAM's ``MedSAM_Inference.py``):

* **Network**: built from the package's classes (``Sam``, ``ImageEncoderViT``, ``PromptEncoder``,
  ``MaskDecoder``, ``TwoWayTransformer``) with the arguments of its ``build_sam._build_sam``; the
  defaults are ViT-B's sizes, so ``sam_vit_b_01ec64.pth`` and MedSAM's ``medsam_vit_b.pth`` load
  (:meth:`SAM.load_pretrained`). Smaller sizes (``encoder_depth`` ...) exist for tests and CI only.
* **SAM**: the package's ``SamPredictor``: ``set_image`` (3 channels; ``ResizeLongestSide`` to
  1024 px, SAM's pixel mean/std, padding) and ``predict(point_coords, point_labels, box,
  mask_input, multimask_output)``, its mask = logits > 0. The previous round's low-resolution
  logits of the chosen mask are fed back as ``mask_input``, SAM's interactive loop. With
  ``multimask: single_point`` (default) the three-mask output is asked for a lone point only, the
  ambiguous prompt the predictor's docstring recommends it for, and the mask with the highest
  predicted IoU is kept; every other prompt gets the single mask.
* **MedSAM**: SAM ViT-B with MedSAM's weights and MedSAM's own inference
  (``MedSAM_Inference.py``): the grey slice repeated to 3 channels, resized to 1024 x 1024 (square,
  bicubic, ``skimage.transform.resize``), min-max scaled to [0, 1] (no pixel mean/std), the image
  encoder; the box (scaled to 1024) alone through the prompt encoder, one mask, sigmoid of the
  256-px logits resized bilinearly to the slice, > 0.5. MedSAM takes only the box: its start is the
  box and the corrective clicks change nothing (a flat curve after round 0).
* **Slices**: the windowed slice in [0, 1] becomes uint8 as MedSAM's CT preprocessing does it
  (``pre_CT_MR.py``: x 255, truncated), the 8-bit RGB image both predictors expect.

Kept per slice (:class:`PromptedSegmenter`): the image embedding, computed once per slice and
reused by every click (a bounded cache keyed by the slice's bytes), and each slice's interaction
(its clicks, the chosen mask and its low-resolution logits), continued while the clicks grow and
restarted when they do not. The binary ``prev_masks`` the interaction loop passes are not used:
the model's own logits are its memory. The masks returned are the predictor's binary masks.
"""

from __future__ import annotations

import dataclasses
import hashlib
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from gdgp.clicks.box import BoxPrompt, box_from_clicks, box_interaction, point_clicks
from gdgp.clicks.robot import Click, Robot
from gdgp.errors import InputDataError
from gdgp.methods.base import Images, PretrainedMethod
from gdgp.methods.settings import MethodSettings, require, setting

#: Prompt and mask-decoder width and ViT patch of every SAM (``build_sam._build_sam``).
PROMPT_EMBED_DIM = 256
VIT_PATCH = 16


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) float slice in [0, 1] -> (H, W, 3) uint8, x 255 truncated (MedSAM's ``pre_CT_MR.py``)."""
    grey = (np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def image_key(image: np.ndarray) -> str:
    """A key of the slice's content (bytes, shape, dtype): the embedding cache's key."""
    a = np.ascontiguousarray(image)
    digest = hashlib.blake2b(a.tobytes(), digest_size=16)
    digest.update(repr((a.shape, a.dtype.str)).encode())
    return digest.hexdigest()


def point_prompt(points: Sequence[Click]) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """(N, 2) (x, y) pixel coordinates and (N,) labels (1 foreground, 0 background) of the points."""
    if not points:
        return None, None
    return np.array([[c.x, c.y] for c in points], np.float64), np.array([int(c.positive) for c in points])


# --- settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PretrainedSettings(MethodSettings):
    """The weights of a pretrained method and its per-slice cache."""

    checkpoint: str = setting("", "The weights file (the method's weights_source); relative to the working directory.")
    random_weights: bool = setting(False, "Tests and CI only: no weights file, the seeded random initialisation.")
    cache_slices: int = setting(64, "Slices whose image embedding is kept (computed once per slice, reused per click).")

    def check(self) -> None:
        super().check()
        require(self.cache_slices >= 1, "cache_slices", "an integer >= 1", self.cache_slices)


@dataclass(frozen=True)
class ViTSizes(MethodSettings):
    """SAM's network sizes; the defaults are ViT-B's (``build_sam_vit_b``), the sizes its weights fit."""

    image_size: int = setting(1024, "Input size of the image encoder (px, a multiple of 16); 1024 for real weights.")
    encoder_depth: int = setting(12, "ViT blocks (ViT-B: 12; fewer for tests only).")
    encoder_embed_dim: int = setting(768, "ViT width (ViT-B: 768).")
    encoder_heads: int = setting(12, "ViT attention heads (ViT-B: 12).")
    encoder_global_attn: list[int] = setting([2, 5, 8, 11], "ViT blocks with global attention (ViT-B: 2, 5, 8, 11).")
    encoder_window: int = setting(14, "Window of the other blocks' attention (ViT-B: 14).")

    def check(self) -> None:
        super().check()
        require(
            self.image_size >= VIT_PATCH and self.image_size % VIT_PATCH == 0,
            "image_size",
            f"a positive multiple of {VIT_PATCH}",
            self.image_size,
        )
        require(self.encoder_depth >= 1, "encoder_depth", "an integer >= 1", self.encoder_depth)
        require(
            self.encoder_heads >= 1 and self.encoder_embed_dim % self.encoder_heads == 0,
            "encoder_heads",
            f"an integer >= 1 dividing encoder_embed_dim ({self.encoder_embed_dim})",
            self.encoder_heads,
        )
        require(
            all(0 <= b < self.encoder_depth for b in self.encoder_global_attn),
            "encoder_global_attn",
            f"block indices in 0..{self.encoder_depth - 1}",
            self.encoder_global_attn,
        )
        require(self.encoder_window >= 1, "encoder_window", "an integer >= 1", self.encoder_window)


@dataclass(frozen=True)
class StartSettings(PretrainedSettings):
    """The first interaction: a click or the target's box."""

    start: Literal["click", "box"] = setting(
        "click", "First interaction: 'click' (the innermost target pixel) or 'box' (the target's box, 2 clicks)."
    )
    box_jitter_px: int = setting(0, "Box start: each side moved outwards by a random 0..this many px (0 = tight).")

    def check(self) -> None:
        super().check()
        require(self.box_jitter_px >= 0, "box_jitter_px", "an integer >= 0", self.box_jitter_px)


@dataclass(frozen=True)
class PromptSettings(StartSettings):
    """How the simulated user's clicks become the model's prompts (SAM and SAM 2)."""

    multimask: Literal["single_point", "always", "never"] = setting(
        "single_point", "Three-mask output (the highest predicted IoU kept): for a lone point, always or never."
    )


@dataclass(frozen=True)
class SAMSettings(ViTSizes, PromptSettings):
    """``sam``: SAM ViT-B, the click start by default."""


@dataclass(frozen=True)
class SAMBoxSettings(SAMSettings):
    """``sam_box``: the same model, the box start by default."""

    start: Literal["click", "box"] = setting(
        "box", "First interaction: 'box' (the target's box, 2 clicks) or 'click' (the innermost target pixel)."
    )


@dataclass(frozen=True)
class MedSAMSettings(ViTSizes, StartSettings):
    """``medsam``: SAM ViT-B with MedSAM's weights; box only."""

    start: Literal["box"] = setting("box", "First interaction: MedSAM takes only a box (2 clicks).")


# --- the shared interaction -----------------------------------------------------------------
@dataclass(frozen=True)
class Interaction:
    """One slice's interaction so far: its clicks, the mask shown and its low-resolution logits."""

    clicks: tuple[Click, ...]
    mask: np.ndarray  # (H, W) float32 in {0, 1}
    logits: np.ndarray | None  # (1, h, w) low-resolution logits of that mask (None: nothing decoded)


def predictor_decode(
    predictor: Any, points: Sequence[Click], box: BoxPrompt | None, mask_input: np.ndarray | None, multimask: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """One prompt decoding through a package predictor (``SamPredictor`` / ``SAM2ImagePredictor``,
    same ``predict`` signature): the mask of the best predicted IoU when several are asked for, and
    its low-res logits to feed back."""
    coords, labels = point_prompt(points)
    masks, scores, logits = predictor.predict(
        point_coords=coords,
        point_labels=labels,
        box=None if box is None else box.xyxy(),
        mask_input=mask_input,
        multimask_output=multimask,
    )
    best = int(np.argmax(scores)) if multimask else 0
    return masks[best].astype(np.float32), logits[best : best + 1]


class PromptedSegmenter(PretrainedMethod):
    """A promptable segmenter (SAM, MedSAM, SAM 2): one image embedding per slice, then one prompt
    decoding per click, the previous low-resolution logits fed back (module docstring).

    Subclasses build the network, embed a slice (:meth:`embed`) and decode a prompt (:meth:`decode`)
    with the model's own predictor.
    """

    interactive: ClassVar[bool] = True
    settings: StartSettings

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self._embeddings: OrderedDict[str, Any] = OrderedDict()
        self._interactions: dict[tuple[str, int], Interaction] = {}

    # --- the model's own steps ------------------------------------------------------------
    @abstractmethod
    def embed(self, image: np.ndarray) -> Any:
        """The slice's image embedding, held as the model's predictor needs it."""

    @abstractmethod
    def decode(
        self, embedded: Any, points: Sequence[Click], box: BoxPrompt | None, mask_input: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(mask (H, W) float32 in {0, 1}, its (1, h, w) low-resolution logits or None) for one prompt."""

    def multimask_output(self, points: Sequence[Click], box: BoxPrompt | None, mask_input: np.ndarray | None) -> bool:
        """Whether to ask for the three-mask output (``multimask``; see the module docstring)."""
        mode = getattr(self.settings, "multimask", "never")
        lone_point = len(points) == 1 and box is None and mask_input is None
        return mode == "always" or (mode == "single_point" and lone_point)

    # --- the method contract ------------------------------------------------------------------
    def first_interaction(self, image: np.ndarray, robot: Robot) -> list[Click]:
        """The box start (:func:`gdgp.clicks.box.box_interaction`) or the click start (one robot click)."""
        if self.settings.start == "box":
            return box_interaction(robot, self.settings.box_jitter_px)
        return super().first_interaction(image, robot)

    def predict_batch(self, images: Images, clicks: Sequence[Sequence[Click]], prev_masks: Images) -> np.ndarray:
        """The model's binary masks (B, H, W) float32; ``prev_masks`` unused (the model's own logits are fed back)."""
        with self.inference():
            masks = [
                self._predict_one(i, np.asarray(image, np.float32), tuple(c))
                for i, (image, c) in enumerate(zip(images, clicks, strict=True))
            ]
        return np.stack(masks).astype(np.float32)

    def _predict_one(self, item: int, image: np.ndarray, clicks: tuple[Click, ...]) -> np.ndarray:
        key = image_key(image)
        before = self._interactions.get((key, item))
        if before is not None and before.clicks == clicks:  # no new click: the same prediction
            return before.mask
        continues = before is not None and clicks[: len(before.clicks)] == before.clicks
        mask_input = before.logits if continues and before is not None else None
        box, points = box_from_clicks(clicks), point_clicks(clicks)
        if box is None and not points:
            mask, logits = np.zeros(image.shape, np.float32), None
        else:
            mask, logits = self.decode(self._embedding(key, image), points, box, mask_input)
        self._interactions[(key, item)] = Interaction(clicks, mask, logits)
        return mask

    def set_slice(self, image: np.ndarray) -> None:
        """Embed a slice now (kept in the cache), ahead of its first prompt: what its first click costs extra."""
        image = np.asarray(image, np.float32)
        with self.inference():
            self._embedding(image_key(image), image)

    def _embedding(self, key: str, image: np.ndarray) -> Any:
        if key in self._embeddings:
            self._embeddings.move_to_end(key)
            return self._embeddings[key]
        embedded = self._embeddings[key] = self.embed(image)
        while len(self._embeddings) > self.settings.cache_slices:
            old, _ = self._embeddings.popitem(last=False)
            for k in [k for k in self._interactions if k[0] == old]:
                del self._interactions[k]
        return embedded

    def forget(self) -> None:
        """Drop every cached embedding and interaction (new weights or device)."""
        self._embeddings.clear()
        self._interactions.clear()

    def to(self, device: torch.device | str) -> PromptedSegmenter:
        """Move the network; cached embeddings are dropped."""
        super().to(device)
        self.forget()
        return self

    def load_pretrained(self, checkpoint: Path) -> None:
        """Load a weights file into the network: a state dict, or one under ``"model"`` (SAM 2's files).

        Raises:
            InputDataError: the file cannot be read as torch weights, or they do not fit the network
                (another model, or sizes other than the settings').
        """
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as err:
            raise InputDataError(f"{checkpoint}: cannot be read as {self.name}'s weights: {err}") from None
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        try:
            self.network.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            first = str(err).splitlines()[:4]
            raise InputDataError(
                f"{checkpoint}: not the weights of {self.name}'s network with sizes {self.sizes()}: {' '.join(first)}"
            ) from None
        self.forget()

    def sizes(self) -> dict[str, Any]:
        """The network-size settings (what a weights file must fit), for error messages."""
        skip = {"checkpoint", "random_weights", "cache_slices", "start", "box_jitter_px", "multimask"}
        return {k: v for k, v in dataclasses.asdict(self.settings).items() if k not in skip}


# --- SAM --------------------------------------------------------------------------------------
def build_sam_network(s: ViTSizes) -> nn.Module:
    """SAM from the package's classes with ``build_sam._build_sam``'s arguments and the settings' sizes."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    grid = s.image_size // VIT_PATCH
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=s.encoder_depth,
            embed_dim=s.encoder_embed_dim,
            img_size=s.image_size,
            mlp_ratio=4,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            num_heads=s.encoder_heads,
            patch_size=VIT_PATCH,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=tuple(s.encoder_global_attn),
            window_size=s.encoder_window,
            out_chans=PROMPT_EMBED_DIM,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=PROMPT_EMBED_DIM,
            image_embedding_size=(grid, grid),
            input_image_size=(s.image_size, s.image_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=PROMPT_EMBED_DIM, mlp_dim=2048, num_heads=8),
            transformer_dim=PROMPT_EMBED_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


class SAM(PromptedSegmenter):
    """Segment Anything, ViT-B, through ``SamPredictor`` (module docstring)."""

    name = "sam"
    Settings = SAMSettings
    settings: SAMSettings
    first_interaction_cost = "1 click"
    weights_source = (
        "sam_vit_b_01ec64.pth: https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth "
        "(github.com/facebookresearch/segment-anything, README 'Model Checkpoints')"
    )
    weights_licence = "Apache-2.0"
    trained_on = ("SA-1B",)

    def build_network(self) -> nn.Module:
        return build_sam_network(self.settings)

    def embed(self, image: np.ndarray) -> Any:
        """``SamPredictor.set_image`` on the 8-bit RGB slice; the slice's own predictor holds the embedding."""
        from segment_anything import SamPredictor

        predictor = SamPredictor(self.network)
        predictor.set_image(to_uint8_rgb(image))
        return predictor

    def decode(
        self, embedded: Any, points: Sequence[Click], box: BoxPrompt | None, mask_input: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return predictor_decode(embedded, points, box, mask_input, self.multimask_output(points, box, mask_input))


class SAMBox(SAM):
    """``sam_box``: SAM with the box start, a second row of Table 4 for the same model."""

    name = "sam_box"
    Settings = SAMBoxSettings
    first_interaction_cost = "box (2 clicks)"


# --- MedSAM -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MedSAMEmbedding:
    """MedSAM's image embedding of one slice and the slice's size."""

    features: torch.Tensor  # (1, 256, g, g)
    shape: tuple[int, int]


class MedSAM(PromptedSegmenter):
    """MedSAM: SAM ViT-B with MedSAM's weights and MedSAM's own inference, box only (module docstring)."""

    name = "medsam"
    Settings = MedSAMSettings
    settings: MedSAMSettings
    first_interaction_cost = "box (2 clicks)"
    weights_source = (
        "medsam_vit_b.pth: the MedSAM README's 'model checkpoint' link (github.com/bowang-lab/MedSAM, Get Started)"
    )
    weights_licence = "Apache-2.0 (the MedSAM repository's licence)"
    #: The public collections MedSAM's paper names among its training data that gdgp's datasets may
    #: come from (its Supplementary Tables list every dataset; docs/methods.md): a lower bound.
    trained_on = ("MSD", "AMOS", "TCIA")

    def build_network(self) -> nn.Module:
        return build_sam_network(self.settings)

    def embed(self, image: np.ndarray) -> MedSAMEmbedding:
        """``MedSAM_Inference.py``: 3 channels, square bicubic resize, uint8, min-max to [0, 1], the encoder."""
        from skimage.transform import resize

        size = self.settings.image_size
        img = resize(to_uint8_rgb(image), (size, size), order=3, preserve_range=True, anti_aliasing=True)
        img = img.astype(np.uint8)
        img = (img - img.min()) / np.clip(img.max() - img.min(), a_min=1e-8, a_max=None)
        x = torch.tensor(img).float().permute(2, 0, 1).unsqueeze(0).to(self.device)
        sam: Any = self.network
        return MedSAMEmbedding(sam.image_encoder(x), (image.shape[0], image.shape[1]))

    def decode(
        self, embedded: Any, points: Sequence[Click], box: BoxPrompt | None, mask_input: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The box alone, one mask (points and previous logits are not MedSAM's prompts)."""
        height, width = embedded.shape
        if box is None:
            return np.zeros((height, width), np.float32), None
        size = self.settings.image_size
        box_scaled = box.xyxy()[None] / np.array([width, height, width, height]) * size
        box_torch = torch.as_tensor(box_scaled, dtype=torch.float, device=self.device)[:, None, :]
        sam: Any = self.network
        sparse, dense = sam.prompt_encoder(points=None, boxes=box_torch, masks=None)
        low_res, _ = sam.mask_decoder(
            image_embeddings=embedded.features,
            image_pe=sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        prob = torch.nn.functional.interpolate(
            torch.sigmoid(low_res), size=(height, width), mode="bilinear", align_corners=False
        )
        mask = (prob[0, 0].cpu().numpy() > 0.5).astype(np.float32)
        return mask, low_res[0].cpu().numpy()


__all__ = [
    "SAM",
    "MedSAM",
    "MedSAMSettings",
    "PromptedSegmenter",
    "SAMBox",
    "SAMBoxSettings",
    "SAMSettings",
    "build_sam_network",
    "image_key",
    "to_uint8_rgb",
]
