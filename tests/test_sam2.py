"""SAM 2.1 adapter (gdgp/methods/sam2.py) against the package's own ``SAM2ImagePredictor`` on a tiny random
Hiera built from the package's config: the same masks, one embedding per slice; the optional extra."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gdgp.clicks.box import box_from_clicks, point_clicks
from gdgp.clicks.robot import Click, Robot
from gdgp.errors import ConfigError
from gdgp.evaluation.loop import run_interactions
from gdgp.methods import METHODS, build_method, method_settings
from gdgp.methods.catalogue import describe
from gdgp.methods.sam import PromptedSegmenter
from gdgp.methods.sam2 import CONFIGS, SAM2Settings
from tests.phantoms import disc, image_of

#: A 5-block Hiera 8 wide and a 32-wide decoder: the package's classes, random weights.
TINY = {
    "random_weights": True,
    "encoder_embed_dim": 8,
    "encoder_heads": 1,
    "encoder_stages": [1, 1, 2, 1],
    "encoder_global_attn": [3],
    "decoder_dim": 32,
}


@pytest.fixture
def sam2_package() -> Any:
    return pytest.importorskip("sam2.sam2_image_predictor", reason='the [sam2] extra: pip install -e ".[sam2]"')


def _slices() -> tuple[np.ndarray, np.ndarray]:
    gts = np.stack([disc((40, 48), (18, 20), 7), disc((40, 48), (22, 30), 9)]).astype(np.uint8)
    return np.stack([image_of(g, seed) for seed, g in enumerate(gts)]), gts


def _method(name: str, seed: int = 0, **extra: object) -> PromptedSegmenter:
    torch.manual_seed(seed)
    method = build_method(name, **{**TINY, **extra})
    assert isinstance(method, PromptedSegmenter)
    return method


def _reference(package: Any, network: torch.nn.Module, image: np.ndarray, rounds: list[list[Click]], size: int) -> list:
    """``SAM2ImagePredictor`` in SAM's interactive loop: the 8-bit RGB slice set once; per round the points,
    the box and the previous chosen low-res logits; three masks for a lone point (highest IoU kept)."""
    predictor = package.SAM2ImagePredictor(network)
    if size != 1024:  # the predictor assumes 1024 px; the feature sizes of a smaller input
        predictor._bb_feat_sizes = [(size // 4,) * 2, (size // 8,) * 2, (size // 16,) * 2]
    predictor.set_image(np.repeat((np.clip(image, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=-1))
    logits, out = None, []
    for clicks in rounds:
        points, box = point_clicks(clicks), box_from_clicks(clicks)
        lone = len(points) == 1 and box is None and logits is None
        masks, scores, low = predictor.predict(
            point_coords=np.array([[c.x, c.y] for c in points]) if points else None,
            point_labels=np.array([int(c.positive) for c in points]) if points else None,
            box=None if box is None else np.array([box.x0, box.y0, box.x1, box.y1]),
            mask_input=logits,
            multimask_output=lone,
        )
        best = int(np.argmax(scores)) if lone else 0
        out.append(masks[best] > 0)
        logits = low[best][None]
    return out


@pytest.mark.parametrize(("name", "n_first", "size"), [("sam2", 1, 1024), ("sam2", 1, 128), ("sam2_box", 2, 128)])
def test_sam2_gives_the_predictors_masks_with_one_embedding_per_slice(
    sam2_package: Any, name: str, n_first: int, size: int
) -> None:
    images, gts = _slices()
    method = _method(name, image_size=size)
    calls = []
    handle = method.network.image_encoder.register_forward_hook(lambda *_: calls.append(1))
    robots = [Robot(g) for g in gts]
    results = run_interactions(images, method, robots, 3)
    handle.remove()
    assert len(calls) == 2  # one embedding per slice for 4 rounds of prompts
    shown = []
    for image, robot, res in zip(images, robots, results, strict=True):
        assert [r.n_clicks for r in res] == [n_first + k for k in range(4)]
        want = _reference(sam2_package, method.network, image, [robot.clicks[: r.n_clicks] for r in res], size)
        for r, w in zip(res, want, strict=True):
            np.testing.assert_array_equal(r.pred, w)
            shown.append(r.pred)
    assert 0 < np.mean(shown) < 1 and len({p.tobytes() for p in shown}) > 2  # real, changing masks


def test_load_pretrained_takes_sam2s_checkpoint_format(sam2_package: Any, tmp_path: Path) -> None:
    images, _ = _slices()
    source = _method("sam2", seed=0, image_size=128)
    torch.save({"model": source.network.state_dict()}, tmp_path / "sam2.1_tiny.pt")  # as Meta ships them
    clicks = [Click(18, 20, True, 0), Click(4, 4, False, 1)]
    want = source.predict(images[0], clicks, np.zeros_like(images[0]))
    other = _method("sam2", seed=1, image_size=128)
    other.predict(images[0], clicks, np.zeros_like(images[0]))
    other.load_pretrained(tmp_path / "sam2.1_tiny.pt")
    np.testing.assert_array_equal(other.predict(images[0], clicks, np.zeros_like(images[0])), want)


def test_the_defaults_are_the_packages_hiera_b_plus_config(sam2_package: Any) -> None:
    assert SAM2Settings().overrides() == []  # the package's config as it ships: its checkpoint loads
    config = resources.files("sam2").joinpath(CONFIGS["base_plus"])
    assert config.is_file() and "embed_dim: 112" in config.read_text()  # Hiera-B+
    assert all(resources.files("sam2").joinpath(c).is_file() for c in CONFIGS.values())


def test_without_the_package_it_is_listed_and_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sam2.build_sam", None)  # import fails as when it is not installed
    monkeypatch.setitem(sys.modules, "sam2.sam2_image_predictor", None)
    info = describe("sam2")
    assert info.pretrained and info.first_interaction == "1 click" and info.trained_on == ("SA-1B", "SA-V")
    assert method_settings("sam2_box", {"box_jitter_px": 2})["start"] == "box"  # parse-time checks need no package
    assert 'pip install -e ".[sam2]"' in METHODS["sam2"].weights_source
    with pytest.raises(ConfigError, match=r'need the sam2 package \(SAM 2\.1\).*pip install -e "\.\[sam2\]"'):
        build_method("sam2", **TINY)


def test_sizes_are_checked_before_hydra_sees_them() -> None:
    with pytest.raises(ConfigError, match="encoder_global_attn must be given with encoder_stages"):
        method_settings("sam2", {"encoder_stages": [1, 1, 2, 1]})
    with pytest.raises(ConfigError, match=r"none the first block of stages 2-4 \(\[1, 2, 4\]\)"):
        method_settings("sam2", {"encoder_stages": [1, 1, 2, 1], "encoder_global_attn": [2]})
    with pytest.raises(ConfigError, match="image_size must be a multiple of 32"):
        method_settings("sam2", {"image_size": 100})
    assert SAM2Settings(**{k: v for k, v in TINY.items() if k != "random_weights"}, image_size=128).overrides() == [
        "++model.image_size=128",
        "++model.image_encoder.trunk.embed_dim=8",
        "++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]",
        "++model.image_encoder.trunk.num_heads=1",
        "++model.image_encoder.trunk.stages=[1,1,2,1]",
        "++model.image_encoder.trunk.global_att_blocks=[3]",
        "++model.image_encoder.neck.d_model=32",
        "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
    ]


def test_the_listing_says_how_to_install_sam2_while_it_is_missing(monkeypatch, capsys) -> None:
    """The issue: an extra's method "is still listed and says how to install what it needs"."""
    import importlib.util

    from gdgp.cli import main
    from gdgp.methods.catalogue import describe

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sam2" else real_find_spec(name, *a)
    )
    for name in ("sam2", "sam2_box"):
        assert '.[sam2]"' in describe(name).needs
    assert describe("sam").needs == "" and describe("gdgp").needs == ""
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "needs" in out.splitlines()[0]
    sam2_row = next(line for line in out.splitlines() if line.startswith("sam2 "))
    assert '.[sam2]"' in sam2_row
