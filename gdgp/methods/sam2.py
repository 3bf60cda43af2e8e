"""``sam2`` and ``sam2_box``: SAM 2.1 (Ravi et al., 2024) on single slices, pretrained, run through
the ``sam2`` package (an optional extra: ``pip install -e ".[sam2]"``).

What the adapter takes from the package (``sam2`` 1.1.0 on PyPI, whose ``sam2/`` is the code of
github.com/facebookresearch/sam2 at its December 2024 head):

* **Network**: ``build_sam2`` with the package's hydra config of the chosen variant
  (``configs/sam2.1/sam2.1_hiera_b+.yaml`` by default, Hiera-B+, the ViT-B analogue), so
  ``sam2.1_hiera_base_plus.pt`` loads (:meth:`SAM2.load_pretrained`); its default post-processing
  (single-mask output falls back to the most stable of the three masks) is on, as in every
  predictor the package builds. Smaller sizes (hydra overrides) exist for tests and CI only.
* **Prompts**: ``SAM2ImagePredictor``: ``set_image`` (the 8-bit RGB slice, resized to a square
  1024 px, ImageNet mean/std) once per slice, then ``predict(point_coords, point_labels, box,
  mask_input, multimask_output)`` per click, with the previous low-resolution logits fed back and
  the three-mask output for a lone point (highest predicted IoU), as for SAM
  (:mod:`gdgp.methods.sam`, which holds the shared per-slice cache and interaction).

One private attribute is set: the predictor assumes a 1024-px input (its ``_bb_feat_sizes``); a
smaller ``image_size`` (tests only) sets the feature sizes that size gives.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from torch import nn

from gdgp.clicks.box import BoxPrompt
from gdgp.clicks.robot import Click
from gdgp.errors import ConfigError
from gdgp.methods.sam import PretrainedSettings, PromptedSegmenter, PromptSettings, predictor_decode, to_uint8_rgb
from gdgp.methods.settings import MethodSettings, require, setting

#: The package's SAM 2.1 configs per variant.
CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
#: The input size the package's image predictor assumes.
PREDICTOR_SIZE = 1024
#: What to run when the package is missing.
INSTALL = 'pip install -e ".[sam2]"'


def import_sam2() -> Any:
    """The ``sam2`` package's builder and predictor, or a clear error saying how to install it."""
    try:
        from sam2.build_sam import build_sam2
        from sam2.sam2_image_predictor import SAM2ImagePredictor
    except ImportError as err:
        raise ConfigError(
            f"the sam2 methods need the sam2 package (SAM 2.1), an optional extra that is not installed: "
            f'{INSTALL} (or SAM2_BUILD_CUDA=0 pip install --no-build-isolation -e ".[sam2]" to build it against '
            f"the installed torch, as .ci/run does); import failed with: {err}"
        ) from None
    return build_sam2, SAM2ImagePredictor


@dataclass(frozen=True)
class HieraSizes(MethodSettings):
    """SAM 2.1's variant and, for tests only, smaller sizes (null = the variant's own)."""

    variant: Literal["tiny", "small", "base_plus", "large"] = setting(
        "base_plus", "SAM 2.1 variant (the package's config): base_plus is Hiera-B+, the ViT-B analogue."
    )
    image_size: int = setting(1024, "Input size (px, a multiple of 32); 1024 for real weights.")
    encoder_embed_dim: int | None = setting(None, "Tests only: Hiera's first-stage width (null = the variant's).")
    encoder_heads: int | None = setting(None, "Tests only: Hiera's first-stage heads (null = the variant's).")
    encoder_stages: list[int] | None = setting(
        None, "Tests only: Hiera blocks per stage, 4 stages (null = the variant's)."
    )
    encoder_global_attn: list[int] | None = setting(
        None, "Tests only: Hiera blocks with global attention (null = the variant's; needed with encoder_stages)."
    )
    decoder_dim: int | None = setting(None, "Tests only: the FPN neck's and mask decoder's width (null = 256).")

    def check(self) -> None:
        super().check()
        require(self.image_size >= 32 and self.image_size % 32 == 0, "image_size", "a multiple of 32", self.image_size)
        for key in ("encoder_embed_dim", "encoder_heads"):
            value = getattr(self, key)
            require(value is None or value >= 1, key, "null or an integer >= 1", value)
        if self.encoder_stages is not None:
            require(
                len(self.encoder_stages) == 4 and all(n >= 1 for n in self.encoder_stages),
                "encoder_stages",
                "4 positive integers",
                self.encoder_stages,
            )
            require(
                self.encoder_global_attn is not None,
                "encoder_global_attn",
                "given with encoder_stages",
                self.encoder_global_attn,
            )
            firsts = {sum(self.encoder_stages[:k]) for k in range(1, 4)}  # pooling blocks: no global attention
            depth = sum(self.encoder_stages)
            require(
                all(0 <= b < depth and b not in firsts for b in self.encoder_global_attn or []),
                "encoder_global_attn",
                f"block indices in 0..{depth - 1}, none the first block of stages 2-4 ({sorted(firsts)})",
                self.encoder_global_attn,
            )
        require(
            self.decoder_dim is None or (self.decoder_dim >= 16 and self.decoder_dim % 16 == 0),
            "decoder_dim",
            "null or a multiple of 16",
            self.decoder_dim,
        )

    def overrides(self) -> list[str]:
        """The hydra overrides of the variant's config these sizes need."""
        trunk, neck = "++model.image_encoder.trunk", "++model.image_encoder.neck"
        out = [] if self.image_size == PREDICTOR_SIZE else [f"++model.image_size={self.image_size}"]
        if self.encoder_embed_dim is not None:
            e = self.encoder_embed_dim
            out += [f"{trunk}.embed_dim={e}", f"{neck}.backbone_channel_list=[{8 * e},{4 * e},{2 * e},{e}]"]
        if self.encoder_heads is not None:
            out.append(f"{trunk}.num_heads={self.encoder_heads}")
        if self.encoder_stages is not None:
            out.append(f"{trunk}.stages=[{','.join(map(str, self.encoder_stages))}]")
        if self.encoder_global_attn is not None:
            out.append(f"{trunk}.global_att_blocks=[{','.join(map(str, self.encoder_global_attn))}]")
        if self.decoder_dim is not None:
            out += [f"{neck}.d_model={self.decoder_dim}", f"{neck}.position_encoding.num_pos_feats={self.decoder_dim}"]
        return out


@dataclass(frozen=True)
class SAM2Settings(PromptSettings, HieraSizes, PretrainedSettings):
    """``sam2``: SAM 2.1 Hiera-B+, the click start by default."""


@dataclass(frozen=True)
class SAM2BoxSettings(SAM2Settings):
    """``sam2_box``: the same model, the box start by default."""

    start: Literal["click", "box"] = setting(
        "box", "First interaction: 'box' (the target's box, 2 clicks) or 'click' (the innermost target pixel)."
    )


class SAM2(PromptedSegmenter):
    """SAM 2.1 on single slices through ``SAM2ImagePredictor`` (module docstring)."""

    name = "sam2"
    Settings = SAM2Settings
    settings: SAM2Settings
    first_interaction_cost = "1 click"
    required_modules = ("sam2",)
    install_hint = f'{INSTALL} (or SAM2_BUILD_CUDA=0 pip install --no-build-isolation -e ".[sam2]")'
    weights_source = (
        "sam2.1_hiera_base_plus.pt: https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_base_plus.pt "
        f"(github.com/facebookresearch/sam2, README 'SAM 2.1 checkpoints'); needs the sam2 extra: {INSTALL}"
    )
    weights_licence = "Apache-2.0"
    trained_on = ("SA-1B", "SA-V")

    def __init__(self, **hparams: Any) -> None:
        self._predictor: Any = None
        super().__init__(**hparams)

    def build_network(self) -> nn.Module:
        build_sam2, _ = import_sam2()
        s = self.settings
        return build_sam2(CONFIGS[s.variant], None, device="cpu", mode="eval", hydra_overrides_extra=s.overrides())

    def embed(self, image: np.ndarray) -> Any:
        """``SAM2ImagePredictor.set_image`` on the 8-bit RGB slice; a copy of the predictor holds the embedding."""
        if self._predictor is None:
            _, predictor_class = import_sam2()
            with warnings.catch_warnings():  # its transforms use torch.jit.script, deprecated in torch 2.15
                warnings.simplefilter("ignore", FutureWarning)
                self._predictor = predictor_class(self.network)
            size = self.settings.image_size
            if size != PREDICTOR_SIZE:
                self._predictor._bb_feat_sizes = [(size // 4,) * 2, (size // 8,) * 2, (size // 16,) * 2]
        self._predictor.set_image(to_uint8_rgb(image))
        return copy.copy(self._predictor)  # set_image rebinds the features, so the copy keeps this slice's

    def decode(
        self, embedded: Any, points: Sequence[Click], box: BoxPrompt | None, mask_input: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return predictor_decode(embedded, points, box, mask_input, self.multimask_output(points, box, mask_input))


class SAM2Box(SAM2):
    """``sam2_box``: SAM 2.1 with the box start, a second row of Table 4 for the same model."""

    name = "sam2_box"
    Settings = SAM2BoxSettings
    first_interaction_cost = "box (2 clicks)"


__all__ = ["CONFIGS", "SAM2", "SAM2Box", "SAM2BoxSettings", "SAM2Settings", "import_sam2"]
