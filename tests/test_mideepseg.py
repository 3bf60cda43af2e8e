"""MIDeepSeg baseline: interior margin points, exp-geodesic encoding, fusion, graph cut, post-processing, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gdgp.clicks.geodesic_encodings import exp_geodesic_map
from gdgp.clicks.robot import Click, Robot, error_distance
from gdgp.errors import ConfigError
from gdgp.evaluation.loop import run_interactions
from gdgp.methods.mideepseg import (
    MIDeepSeg,
    disc_seeds,
    exp_geodesic_encoding,
    fuse,
    interior_margin_points,
    keep_components,
)
from gdgp.methods.point_crop import JitterRobot
from tests.phantoms import assert_same_seed_same_steps, disc, disc_batch, image_of

TINY = {"crop_size": 32, "crop_margin": 3, "channels": [4, 8, 16], "inner_margin": 2.0, "seed_radius": 0.0}


def batch(n: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return disc_batch(n, (20, 18), (4, 3), 7, seed)


# --- interaction ------------------------------------------------------------------------
def test_interior_margin_points_are_the_extremes_moved_inward_by_the_margin() -> None:
    gt = disc()  # rows 16..32, columns 12..28
    left, top, right, bottom = interior_margin_points(gt, 4, margin=3)
    assert left.tolist() == [24, 15] and right.tolist() == [24, 25]
    assert top.tolist() == [19, 20] and bottom.tolist() == [29, 20]
    depth = error_distance(gt)
    assert all(gt[y, x] and 1 <= depth[y, x] <= 3 + 1 for y, x in (left, top, right, bottom))


def test_a_point_moved_past_a_thin_target_is_snapped_back_inside() -> None:
    bar = np.zeros((12, 24), bool)
    bar[5:7, 2:21] = True  # 2 px high: moving the top point 4 px down leaves the bar
    pts = interior_margin_points(bar, 4, margin=4)
    assert all(bar[y, x] for y, x in pts)
    assert pts[1].tolist() == [6, 11]  # top: (5, 11) -> (9, 11) -> nearest bar pixel (6, 11)


@pytest.mark.parametrize("n", [3, 4, 6])
def test_interior_points_of_random_blobs_lie_inside_within_the_margin(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(5):
        gt = disc((40, 40), tuple(rng.integers(14, 26, 2)), rng.uniform(5, 11))
        for jitter in (0, 3):
            pts = interior_margin_points(gt, n, margin=2, jitter=jitter, rng=rng)
            depth = error_distance(gt)
            assert len(pts) == n and all(gt[y, x] for y, x in pts)
            assert all(depth[y, x] <= 2 + jitter + 1.5 for y, x in pts)


def test_first_interaction_records_the_points_and_training_jitters_them() -> None:
    gt = disc()
    m = MIDeepSeg(**TINY)
    robot = Robot(gt)
    clicks = m.first_interaction(image_of(gt), robot)
    assert robot.clicks == clicks and all(c.positive for c in clicks)
    assert [(c.y, c.x) for c in clicks] == [tuple(p) for p in interior_margin_points(gt, 4, 2.0)]
    jittered = m.first_interaction(image_of(gt), JitterRobot(gt, 3, np.random.default_rng(1)))
    assert all(gt[c.y, c.x] for c in jittered) and [(c.y, c.x) for c in jittered] != [(c.y, c.x) for c in clicks]
    assert m.first_interaction(image_of(gt), Robot(np.zeros_like(gt))) == []


# --- encoding -----------------------------------------------------------------------------
def test_encoding_is_the_normalised_exp_geodesic_map() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((24, 28)).astype(np.float32)
    clicks = [Click(5, 6, True, 0), Click(18, 20, True, 1)]
    seeds = disc_seeds(clicks, img.shape, True, 0)
    enc = exp_geodesic_encoding(torch.from_numpy(img)[None], torch.from_numpy(seeds)[None])[0].numpy()
    ref = exp_geodesic_map(img, clicks, True)  # exp(-D / max D), in [e^-1, 1]
    expected = (ref - ref.min()) / (ref.max() - ref.min())
    np.testing.assert_allclose(enc, expected, atol=1e-6)
    assert enc[5, 6] == 1.0 and enc[18, 20] == 1.0 and enc.min() == 0.0
    empty = exp_geodesic_encoding(torch.from_numpy(img)[None], torch.zeros(1, 24, 28, dtype=torch.bool))
    assert not empty.any()


def test_disc_seeds_have_the_radius() -> None:
    seeds = disc_seeds([Click(10, 10, True, 0), Click(2, 2, False, 1)], (20, 20), True, 2)
    assert seeds.sum() == 13 and seeds[10, 12] and not seeds[11, 12] and not seeds[2, 2]


def test_network_input_and_prediction_shapes() -> None:
    gt = disc()
    img = image_of(gt)
    m = MIDeepSeg(**TINY)
    clicks = m.first_interaction(img, Robot(gt))
    enc = m.encode(img, clicks, np.zeros_like(img))
    assert enc.shape == (2, 32, 32) and enc.dtype == np.float32
    assert enc[0].min() == 0.0 and enc[0].max() == 1.0 and enc[1].max() == 1.0 and enc[1].min() == 0.0
    pred = m.predict(img, clicks, np.zeros_like(img))
    box = m.box(clicks, gt.shape)
    outside = np.ones(gt.shape, bool)
    outside[box.y0 : box.y1, box.x0 : box.x1] = False
    assert pred.shape == gt.shape and pred.dtype == np.float32
    assert set(np.unique(pred)) <= {0.0, 1.0} and not pred[outside].any()
    prob = m.network_probability([img], [clicks])[0]
    assert prob.min() >= 0.0 and prob.max() <= 1.0 and not prob[outside].any()


# --- refinement ---------------------------------------------------------------------------
def test_fusion_lets_the_click_maps_override_the_network_and_normalises() -> None:
    prob = np.array([0.1, 0.9, 0.6, 0.4], np.float32)
    fg_map = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    bg_map = np.array([0.0, 1.0, 0.0, 0.0], np.float32)
    fg, bg = fuse(prob, fg_map, bg_map)
    np.testing.assert_allclose(fg + bg, 1.0, atol=1e-6)
    assert fg[0] > 0.5 and bg[1] > 0.5  # the clicks win over the network
    assert fg[2] > 0.5 and bg[3] > 0.5  # elsewhere the network decides
    assert fg.min() > 0.4 and fg.max() < 0.6  # two softmaxes narrow the unaries (released code)


def test_keep_components_keeps_the_largest_and_clicked_ones_and_fills_holes() -> None:
    mask = np.zeros((20, 20), bool)
    mask[2:10, 2:10] = True
    mask[5, 5] = False  # a hole
    mask[14:16, 14:16] = True  # a small component
    mask[17, 2] = True  # another
    out = keep_components(mask, [(15, 15)])
    assert out[5, 5] and out[2:10, 2:10].all() and out[14:16, 14:16].all() and not out[17, 2]
    assert not keep_components(np.zeros((5, 5), bool)).any()


def test_corrective_clicks_are_hard_seeds_in_the_prediction() -> None:
    gt = disc()
    img = image_of(gt)
    torch.manual_seed(0)
    m = MIDeepSeg(**{**TINY, "seed_radius": 1.0})
    robot = Robot(gt)
    first = m.first_interaction(img, robot)
    pred = m.predict(img, first, np.zeros_like(img)) > 0
    fg_at = next((int(y), int(x)) for y, x in np.argwhere(gt & ~pred)) if (gt & ~pred).any() else (24, 20)
    bg_at = next((int(y), int(x)) for y, x in np.argwhere(pred)) if pred.any() else (24, 21)
    if bg_at == fg_at:
        bg_at = (24, 21)
    clicks = [*first, robot.add(*fg_at, True), robot.add(*bg_at, False)]
    refined = m.predict(img, clicks, pred.astype(np.float32))
    assert refined[fg_at] == 1.0 and refined[bg_at] == 0.0


def test_a_negative_click_in_look_alike_tissue_erases_the_target_unless_the_points_are_seeds() -> None:
    """The released refinement seeds only the corrective clicks: one negative click in a
    touching region of the same intensity makes E_bg ~ 1 over the target too, fg and bg tie
    there and the graph cut removes it. With points_as_seeds the interior points hold it."""
    yy, xx = np.mgrid[:32, :32]
    target = (yy - 16) ** 2 + (xx - 10) ** 2 <= 36
    neighbour = (yy - 16) ** 2 + (xx - 21) ** 2 <= 36
    img = np.where(target | neighbour, 0.8, 0.2).astype(np.float32)
    prob = np.where(target | neighbour, 0.9, 0.1).astype(np.float32)  # the network over-segments
    points = [Click(16, 5, True, 0), Click(11, 10, True, 1), Click(16, 15, True, 2), Click(21, 10, True, 3)]
    negative = Click(16, 23, False, 4)

    def dice(mask: np.ndarray) -> float:
        return 2 * (mask & target).sum() / (mask.sum() + target.sum())

    for as_seeds in (False, True):
        m = MIDeepSeg(**{**TINY, "gc_lambda": 0.5, "points_as_seeds": as_seeds})
        before = m.refine(img, prob, points) > 0
        after = m.refine(img, prob, [*points, negative]) > 0
        assert dice(before) > 0.85 and not after[negative.y, negative.x]
        if as_seeds:
            assert all(after[c.y, c.x] for c in points) and dice(after) > 0.6
        else:
            assert dice(after) < 0.1  # the released code's collapse


# --- training -----------------------------------------------------------------------------
def test_train_step_changes_weights_and_is_reproducible() -> None:
    assert_same_seed_same_steps(lambda: MIDeepSeg(**TINY), *batch())


def test_interaction_loop_runs_all_rounds() -> None:
    images, labels = batch()
    m = MIDeepSeg(**TINY)
    res = run_interactions(images, m, [Robot(lab) for lab in labels], n_rounds=2)
    assert [len(r) for r in res] == [3, 3] and res[0][0].n_clicks == 4


@pytest.mark.parametrize(
    "bad",
    [
        {"n_points": 0},
        {"inner_margin": -1.0},
        {"crop_margin": 1},
        {"seed_radius": -1},
        {"geodesic_lambda": 1.5},
        {"gc_sigma": 0.0},
        {"gc_lambda": -1.0},
        {"train_point_jitter": -1},
        {"crop_size": 30},
        {"channels": [4]},
        {"unknown": 3},
        {"points_as_seeds": 1},
    ],
)
def test_bad_hyperparameter_is_a_config_error(bad: dict) -> None:
    with pytest.raises(ConfigError):
        MIDeepSeg(**{**TINY, **bad})
