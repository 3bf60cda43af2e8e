"""DEXTR baseline: extreme points, the FWHM heatmap, class-balanced BCE, crop/paste-back, training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gdgp.clicks.robot import Click, Robot
from gdgp.errors import ConfigError
from gdgp.evaluation.loop import run_interactions
from gdgp.methods.dextr import DEXTR, class_balanced_bce, dextr_heatmap, extreme_points
from gdgp.methods.point_crop import JitterRobot
from tests.phantoms import assert_same_seed_same_steps, disc, disc_batch, image_of

TINY = {"crop_size": 32, "crop_margin": 3, "channels": [4, 8, 16], "max_train_rounds": 1}


def batch(n: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return disc_batch(n, (20, 18), (4, 3), 7, seed)


def test_extreme_points_are_the_true_extrema_with_middle_ties() -> None:
    mask = np.zeros((12, 14), bool)
    mask[3:8, 2:11] = True  # rectangle: rows 3..7, columns 2..10
    mask[1, 6] = True  # a single topmost pixel
    mask[9, 4:7] = mask[8, 4:7] = True  # a 3-wide bottom tab: bottom row 9, columns 4..6
    pts = extreme_points(mask)
    # left: column 2, tied on rows 3..7 -> middle row 5; right: column 10, rows 3..7 -> row 5
    assert pts.tolist() == [[5, 2], [5, 10], [1, 6], [9, 5]]


def test_extreme_points_of_a_random_blob_hit_each_extreme_coordinate() -> None:
    rng = np.random.default_rng(1)
    mask = disc((40, 40), (18, 21), 9.5) & (rng.random((40, 40)) > 0.2)
    ys, xs = np.nonzero(mask)
    left, right, top, bottom = extreme_points(mask)
    assert left[1] == xs.min() and right[1] == xs.max() and top[0] == ys.min() and bottom[0] == ys.max()
    assert all(mask[y, x] for y, x in (left, right, top, bottom))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jittered_extreme_points_stay_on_the_object_within_the_jitter(seed: int) -> None:
    mask = disc()
    ys, xs = np.nonzero(mask)
    rng = np.random.default_rng(seed)
    draws = np.stack([extreme_points(mask, 5, rng) for _ in range(30)])  # (30, 4, 2)
    assert all(mask[y, x] for y, x in draws.reshape(-1, 2))
    assert draws[:, 0, 1].max() <= xs.min() + 5 and draws[:, 1, 1].min() >= xs.max() - 5
    assert draws[:, 2, 0].max() <= ys.min() + 5 and draws[:, 3, 0].min() >= ys.max() - 5
    assert len({tuple(p) for p in draws[:, 0]}) > 1  # really perturbed


def test_heatmap_peaks_at_one_on_each_point_and_is_half_at_half_sigma() -> None:
    clicks = [Click(10, 10, True, 0), Click(30, 40, True, 1), Click(5, 45, False, 2)]
    hm = dextr_heatmap(clicks, (50, 60), True, sigma=10.0)
    assert hm[10, 10] == 1.0 and hm[30, 40] == 1.0 and hm.max() == 1.0
    assert hm[10, 15] == pytest.approx(0.5, abs=1e-6) and hm[35, 40] == pytest.approx(0.5, abs=1e-6)
    assert hm[10, 20] == pytest.approx(0.0625, abs=1e-6)  # distance sigma: 2^-4
    assert hm[5, 45] < 1e-3  # the negative click is not in the positive map
    assert dextr_heatmap(clicks, (50, 60), False, 10.0)[5, 45] == 1.0
    assert not dextr_heatmap([], (8, 8), True, 10.0).any()


def test_class_balanced_bce_weights_classes_by_the_other_class_fraction() -> None:
    target = torch.zeros(1, 4, 4)
    target[0, 0, 0] = 1.0  # 1 foreground pixel out of 16
    logits = torch.zeros(1, 4, 4)  # BCE = ln 2 everywhere
    expected = (15 / 16 * 1 + 1 / 16 * 15) * np.log(2) / 16  # fg weight 15/16, bg weight 1/16
    assert float(class_balanced_bce(logits, target)) == pytest.approx(expected, rel=1e-6)


def test_first_interaction_encoding_and_paste_back() -> None:
    gt = disc()
    img = image_of(gt)
    m = DEXTR(**TINY)
    robot = Robot(gt)
    clicks = m.first_interaction(img, robot)
    assert robot.clicks == clicks and len(clicks) == 4 and all(c.positive for c in clicks)
    assert [(c.y, c.x) for c in clicks] == [tuple(p) for p in extreme_points(gt)]
    enc = m.encode(img, clicks, np.zeros_like(img))
    assert enc.shape == (3, 32, 32) and enc.dtype == np.float32
    assert (enc[1] == 1.0).sum() == 4 and not enc[2].any()  # 4 peaks, no negative click yet
    prob = m.predict(img, clicks, np.zeros_like(img))
    box = m.box(clicks, gt.shape)
    outside = np.ones(gt.shape, bool)
    outside[box.y0 : box.y1, box.x0 : box.x1] = False
    assert prob.shape == gt.shape and prob.dtype == np.float32
    assert prob.min() >= 0.0 and prob.max() <= 1.0 and prob[outside].max() == 0.0


def test_a_click_outside_the_box_grows_it_and_negative_clicks_get_their_own_channel() -> None:
    gt = disc()
    m = DEXTR(**TINY)
    clicks = m.first_interaction(image_of(gt), Robot(gt))
    box = m.box(clicks, gt.shape)
    far = Click(45, 45, True, 4)
    grown = m.box([*clicks, far], gt.shape)
    assert grown.y1 > far.y and grown.x1 > far.x and grown.y0 <= box.y0 and grown.x0 <= box.x0
    enc = m.encode(image_of(gt), [*clicks, Click(24, 20, False, 4)], np.zeros(gt.shape))
    assert enc[2].max() == 1.0


def test_negative_clicks_never_move_the_box_and_outside_ones_are_dropped() -> None:
    gt = disc()
    m = DEXTR(**TINY)
    clicks = m.first_interaction(image_of(gt), Robot(gt))
    box = m.box(clicks, gt.shape)
    edge = Click(box.y1 - 1, box.x1 - 1, False, 4)  # a false positive at the box corner
    far = Click(gt.shape[0] - 1, 0, False, 5)  # outside the box altogether
    assert m.box([*clicks, edge, far], gt.shape) == box
    enc_far = m.encode(image_of(gt), [*clicks, far], np.zeros(gt.shape))
    assert not enc_far[2].any()  # dropped, not clamped onto the crop border
    assert m.encode(image_of(gt), [*clicks, edge], np.zeros(gt.shape))[2].max() == 1.0


def test_empty_target_gets_no_click_and_a_finite_prediction() -> None:
    m = DEXTR(**TINY)
    gt = np.zeros((40, 40), bool)
    assert m.first_interaction(np.zeros((40, 40), np.float32), Robot(gt)) == []
    prob = m.predict(np.random.rand(40, 40).astype(np.float32), [], np.zeros((40, 40)))
    assert prob.shape == (40, 40) and np.isfinite(prob).all()


def test_training_robot_jitters_the_first_interaction() -> None:
    gt = disc()
    m = DEXTR(**TINY)
    robot = JitterRobot(gt, 5, np.random.default_rng(0))
    pts = np.array([(c.y, c.x) for c in m.first_interaction(image_of(gt), robot)])
    assert all(gt[y, x] for y, x in pts) and not np.array_equal(pts, extreme_points(gt))


def test_train_step_changes_weights_and_is_reproducible() -> None:
    assert_same_seed_same_steps(lambda: DEXTR(**TINY), *batch())


def test_interaction_loop_runs_all_rounds() -> None:
    images, labels = batch()
    m = DEXTR(**TINY)
    res = run_interactions(images, m, [Robot(lab) for lab in labels], n_rounds=2)
    assert [len(r) for r in res] == [3, 3] and res[0][0].n_clicks == 4


@pytest.mark.parametrize(
    "bad",
    [
        {"sigma": 0.0},
        {"crop_margin": -1},
        {"train_point_jitter": -2},
        {"crop_size": 30},
        {"channels": [8]},
        {"max_train_rounds": -1},
        {"dropout": 1.0},
        {"no_such_key": 1},
    ],
)
def test_bad_hyperparameter_is_a_config_error(bad: dict) -> None:
    with pytest.raises(ConfigError):
        DEXTR(**{**TINY, **bad})


def test_evaluation_noise_moves_extreme_points_but_keeps_them_on_the_target_and_seeded() -> None:
    gt = disc()
    m = DEXTR(**TINY)
    exact = [(c.y, c.x) for c in m.first_interaction(image_of(gt), Robot(gt))]
    runs = []
    for _ in range(2):
        robot = Robot(gt, noise_px=3.0, rng=np.random.default_rng(4))
        runs.append([(c.y, c.x) for c in m.first_interaction(image_of(gt), robot)])
    assert runs[0] == runs[1] and runs[0] != exact
    assert all(gt[y, x] for y, x in runs[0])
