"""SAM and MedSAM adapters (gdgp/methods/sam.py) against the models' own inference, on tiny random networks:
the same masks as ``SamPredictor`` / MedSAM's ``MedSAM_Inference.py`` steps, one embedding per slice."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from segment_anything import SamPredictor, sam_model_registry
from skimage.transform import resize

from gdgp.clicks.box import box_from_clicks, point_clicks
from gdgp.clicks.robot import Click, Robot
from gdgp.errors import ConfigError, InputDataError
from gdgp.evaluation.loop import run_interactions
from gdgp.methods import METHODS, build_method, method_settings
from gdgp.methods.sam import PromptedSegmenter, image_key, to_uint8_rgb
from tests.phantoms import disc, image_of

#: A few ViT blocks at 64 px: the package's classes, random weights.
TINY = {
    "random_weights": True,
    "image_size": 64,
    "encoder_depth": 2,
    "encoder_embed_dim": 32,
    "encoder_heads": 2,
    "encoder_global_attn": [1],
    "encoder_window": 4,
}


def _slices() -> tuple[np.ndarray, np.ndarray]:
    """Two non-square slices (40 x 48: SAM's longest-side resize and padding matter) and their targets."""
    gts = np.stack([disc((40, 48), (18, 20), 7), disc((40, 48), (22, 30), 9)]).astype(np.uint8)
    return np.stack([image_of(g, seed) for seed, g in enumerate(gts)]), gts


def _method(name: str, seed: int = 0, **extra: object) -> PromptedSegmenter:
    torch.manual_seed(seed)
    method = build_method(name, **{**TINY, **extra})
    assert isinstance(method, PromptedSegmenter)
    return method


class EncoderCalls:
    """Counts the image encoder's forward calls."""

    def __init__(self, network: torch.nn.Module) -> None:
        self.n = 0
        self.handle = network.image_encoder.register_forward_hook(self._count)

    def _count(self, *_: object) -> None:
        self.n += 1


def _sam_reference(network: torch.nn.Module, image: np.ndarray, rounds: list[list[Click]]) -> list[np.ndarray]:
    """The package's predictor in SAM's interactive loop: the 8-bit RGB slice set once, then per round the
    points (x, y) and labels, the box, the previous round's chosen low-res logits as mask_input; three masks
    for a lone point (the highest predicted IoU kept), one otherwise."""
    predictor = SamPredictor(network)
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
        out.append(masks[best])
        logits = low[best][None]
    return out


def _run(method: PromptedSegmenter, images: np.ndarray, gts: np.ndarray, rounds: int) -> tuple[list, list[Robot]]:
    robots = [Robot(g) for g in gts]
    return run_interactions(images, method, robots, rounds), robots


@pytest.mark.parametrize(("name", "n_first"), [("sam", 1), ("sam_box", 2)])
def test_sam_gives_the_predictors_masks_with_one_embedding_per_slice(name: str, n_first: int) -> None:
    images, gts = _slices()
    method = _method(name)
    calls = EncoderCalls(method.network)
    results, robots = _run(method, images, gts, rounds=4)
    calls.handle.remove()
    assert calls.n == 2  # one embedding per slice for 5 rounds of prompts
    for image, robot, res in zip(images, robots, results, strict=True):
        assert [r.n_clicks for r in res] == [n_first + k for k in range(5)]
        assert [c.kind for c in robot.clicks[:n_first]] == (["point"] if n_first == 1 else ["box", "box"])
        want = _sam_reference(method.network, image, [robot.clicks[: r.n_clicks] for r in res])
        for r, w in zip(res, want, strict=True):
            np.testing.assert_array_equal(r.pred, w)
    shown = np.stack([r.pred for res in results for r in res])
    assert 0 < shown.mean() < 1 and len({p.tobytes() for p in shown}) > 2  # real, changing masks


def test_the_previous_logits_are_fed_back_only_while_the_clicks_grow() -> None:
    images, _ = _slices()
    method = _method("sam")
    a, b = Click(18, 20, True, 0), Click(5, 5, False, 1)
    fresh = [method.predict(images[0], [a], np.zeros_like(images[0]))]
    fresh.append(method.predict(images[0], [a, b], np.zeros_like(images[0])))
    again = method.predict(images[0], [a, b], np.zeros_like(images[0]))  # no new click: the same mask
    restart = method.predict(images[0], [a], np.zeros_like(images[0]))  # not a continuation: a new interaction
    want = _sam_reference(method.network, images[0], [[a], [a, b]])
    np.testing.assert_array_equal(fresh[0], want[0])
    np.testing.assert_array_equal(fresh[1], want[1])
    np.testing.assert_array_equal(again, want[1])
    np.testing.assert_array_equal(restart, want[0])
    without_feedback = _sam_reference(method.network, images[0], [[a, b]])[0]
    assert not np.array_equal(want[1], without_feedback)  # the fed-back logits change the mask


def test_identical_slices_in_a_batch_keep_their_own_interactions() -> None:
    images, _ = _slices()
    method = _method("sam")
    calls = EncoderCalls(method.network)
    twins = np.stack([images[0], images[0]])
    first = [[Click(18, 20, True, 0)], [Click(30, 40, True, 0)]]
    method.predict_batch(twins, first, np.zeros_like(twins))
    got = method.predict_batch(twins, [first[0] + [Click(5, 5, False, 1)], first[1]], np.zeros_like(twins))
    assert calls.n == 1  # one embedding for the two identical slices
    np.testing.assert_array_equal(
        got[0], _sam_reference(method.network, images[0], [first[0], [*first[0], Click(5, 5, False, 1)]])[1]
    )
    np.testing.assert_array_equal(got[1], _sam_reference(method.network, images[0], first[1:])[0])


def test_the_embedding_cache_is_bounded() -> None:
    images, _ = _slices()
    method = _method("sam", cache_slices=1)
    calls = EncoderCalls(method.network)
    clicks = [Click(18, 20, True, 0)]
    for image in [images[0], images[1], images[0]]:
        method.predict(image, clicks, np.zeros_like(image))
    assert calls.n == 3 and len(method._embeddings) == 1
    assert len(method._interactions) == 1  # an evicted slice's interaction goes with its embedding


def test_no_prompt_gives_an_empty_mask_without_embedding() -> None:
    images, _ = _slices()
    method = _method("sam")
    calls = EncoderCalls(method.network)
    assert not method.predict(images[0], [], np.zeros_like(images[0])).any() and calls.n == 0


def _medsam_reference(network: torch.nn.Module, image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """MedSAM_Inference.py's steps: 8-bit slice (pre_CT_MR.py) as 3 channels, square bicubic resize (skimage,
    anti-aliased, range kept) to uint8, min-max to [0, 1], the encoder; the box scaled to the input size
    through the prompt encoder alone, one mask, sigmoid, bilinear resize to the slice, > 0.5."""
    h, w = image.shape
    img3 = np.repeat(np.uint8(image * 255)[..., None], 3, axis=-1)
    big = resize(img3, (size, size), order=3, preserve_range=True, anti_aliasing=True).astype(np.uint8)
    big = (big - big.min()) / np.clip(big.max() - big.min(), a_min=1e-8, a_max=None)
    with torch.no_grad():
        embedding = network.image_encoder(torch.tensor(big).float().permute(2, 0, 1).unsqueeze(0))
        box_t = torch.as_tensor(box[None] / np.array([w, h, w, h]) * size, dtype=torch.float)[:, None, :]
        sparse, dense = network.prompt_encoder(points=None, boxes=box_t, masks=None)
        low, _ = network.mask_decoder(
            image_embeddings=embedding,
            image_pe=network.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        prob = F.interpolate(torch.sigmoid(low), size=(h, w), mode="bilinear", align_corners=False)
    return prob.squeeze().numpy() > 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_medsam_gives_medsam_inference_masks_and_ignores_corrective_clicks(seed: int) -> None:
    images, gts = _slices()
    method = _method("medsam", seed=seed)
    calls = EncoderCalls(method.network)
    results, robots = _run(method, images, gts, rounds=3)
    calls.handle.remove()
    assert calls.n == 2
    for image, robot, res in zip(images, robots, results, strict=True):
        box = box_from_clicks(robot.clicks)
        assert box is not None and robot.clicks[2:] and [r.n_clicks for r in res] == [2, 3, 4, 5]
        want = _medsam_reference(method.network, image, box.xyxy(), TINY["image_size"])
        assert 0 < want.mean() < 1  # a real mask
        for r in res:  # flat after the box: the clicks are not MedSAM's prompts
            np.testing.assert_array_equal(r.pred, want)


def test_medsam_takes_only_the_box_start() -> None:
    assert method_settings("medsam")["start"] == "box"
    with pytest.raises(ConfigError, match=r"method 'medsam': start must be one of \('box',\), got 'click'"):
        method_settings("medsam", {"start": "click"})


def test_box_jitter_is_drawn_from_the_robot_and_stays_around_the_target() -> None:
    images, gts = _slices()
    method = _method("sam_box", box_jitter_px=3)
    boxes = []
    for seed in range(20):
        robot = Robot(gts[0], rng=np.random.default_rng(seed))
        clicks = method.first_interaction(images[0], robot)
        boxes.append(box_from_clicks(clicks))
    tight = box_from_clicks(method.first_interaction(images[0], Robot(gts[0], rng=np.random.default_rng(0))))
    assert len(set(boxes)) > 1
    assert tight is not None and all(b is not None and b.y0 <= 11 and b.y1 >= 25 for b in boxes)


def test_default_sizes_are_the_packages_vit_b() -> None:
    """Same seed, same classes and arguments: the default network is ``sam_model_registry['vit_b']()``
    parameter for parameter (so ViT-B checkpoints load), for SAM and MedSAM alike."""
    for name in ("sam", "medsam"):
        torch.manual_seed(0)
        ours = build_method(name, random_weights=True).network.state_dict()
        torch.manual_seed(0)
        theirs = sam_model_registry["vit_b"]().state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
        del ours, theirs


def test_load_pretrained_loads_a_state_dict_or_one_under_model(tmp_path: Path) -> None:
    images, _ = _slices()
    source = _method("sam", seed=0)
    plain, wrapped = tmp_path / "sam.pth", tmp_path / "wrapped.pt"
    torch.save(source.network.state_dict(), plain)
    torch.save({"model": source.network.state_dict()}, wrapped)
    clicks = [Click(18, 20, True, 0), Click(4, 4, False, 1)]
    want = source.predict(images[0], clicks, np.zeros_like(images[0]))
    for path in (plain, wrapped):
        other = _method("sam", seed=1)
        before = other.predict(images[0], clicks, np.zeros_like(images[0]))
        other.load_pretrained(path)  # drops the embedding computed with the old weights
        np.testing.assert_array_equal(other.predict(images[0], clicks, np.zeros_like(images[0])), want)
    assert not np.array_equal(before, want)


def test_load_pretrained_names_the_file_when_the_weights_do_not_fit(tmp_path: Path) -> None:
    torch.save(_method("sam").network.state_dict(), tmp_path / "small.pth")
    bigger = _method("sam", encoder_depth=3, encoder_global_attn=[2])
    with pytest.raises(
        InputDataError, match=r"small\.pth: not the weights of sam's network with sizes .*encoder_depth"
    ):
        bigger.load_pretrained(tmp_path / "small.pth")
    (tmp_path / "junk.pth").write_text("not torch")
    with pytest.raises(InputDataError, match=r"junk\.pth: cannot be read as sam's weights"):
        bigger.load_pretrained(tmp_path / "junk.pth")


def test_registered_pretrained_and_listed() -> None:
    for name, cost in [("sam", "1 click"), ("sam_box", "box (2 clicks)"), ("medsam", "box (2 clicks)")]:
        cls = METHODS[name]
        assert cls.pretrained and cls.interactive and cls.first_interaction_cost == cost
        assert cls.weights_source and cls.weights_licence.startswith("Apache-2.0")
        settings = method_settings(name)
        assert settings["checkpoint"] == "" and settings["random_weights"] is False
        assert settings["encoder_depth"] == 12 and settings["image_size"] == 1024  # ViT-B by default
    assert METHODS["sam"].trained_on == ("SA-1B",) and "MSD" in METHODS["medsam"].trained_on
    assert method_settings("sam")["start"] == "click" and method_settings("sam_box")["start"] == "box"
    with pytest.raises(ConfigError, match=r"method 'sam': encoder_global_attn must be block indices in 0\.\.1"):
        method_settings("sam", {"encoder_depth": 2, "encoder_global_attn": [2]})


def test_the_slice_becomes_8_bit_rgb_as_medsams_preprocessing_does() -> None:
    image = np.array([[0.0, 0.5, 1.0, 0.999]], np.float32)
    rgb = to_uint8_rgb(image)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], [[0, 127, 255, 254]])  # x 255, truncated
    assert (rgb == rgb[..., :1]).all()
    assert image_key(image) == image_key(image.copy()) != image_key(image[:, ::-1].copy())


def test_latency_benchmark_times_one_embedding_per_slice_and_each_click() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_sam_latency import latencies

    sizes = {k: v for k, v in TINY.items() if k != "random_weights"}
    for name in ("sam", "medsam"):
        r = latencies(name, size=48, slices=2, clicks=3, **sizes)
        assert r["clicks_timed"] == 6 and 0 < r["decode_median_ms"] <= r["decode_p90_ms"] and r["embed_ms"] > 0


@pytest.mark.slow
def test_the_tiny_workflow_runs_end_to_end_with_sam_on_random_weights(tmp_path: Path) -> None:
    """tests/workflow/sam.yaml: the train job records sam's (random) weights, evaluate runs both prompt
    tracks, Table 4 marks them; the box start costs 2 clicks, recorded as 2 positive first clicks."""
    import pandas as pd
    import yaml

    from gdgp.training.checkpoint import read_checkpoint
    from tests.test_workflow import REPO, project, snakemake

    work = project(tmp_path, yaml.safe_load((REPO / "tests" / "workflow" / "sam.yaml").read_text()))
    snakemake(["--cores", "2"], work)
    table = (work / "results" / "report" / "table4.md").read_text()
    assert "| sam (random weights, not a result) " in table and "| sam_box (random weights, not a result) " in table
    runs, models = work / "results" / "runs" / "tiny_spleen", work / "results" / "models" / "tiny_spleen"
    record = read_checkpoint(models / "sam" / "seed0" / "final.pt")
    assert record["pretrained"]["random_weights"] and record["network_weights"] is None
    for name, n_first in (("sam", 1), ("sam_box", 2)):
        clicks = pd.read_csv(runs / name / "seed0" / "clicks.csv")
        assert set(clicks.loc[clicks["round"] == 0, "n_clicks"]) == {n_first}
        assert set(clicks.loc[clicks["round"] == 3, "n_clicks"]) == {n_first + 3}
        first = pd.read_csv(runs / name / "seed0" / "first_interaction.csv")
        assert (first.groupby("slice_id").size() == n_first).all() and first["positive"].all()
