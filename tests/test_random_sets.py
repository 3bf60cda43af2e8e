"""DIOS random click sets against their definition (brute-force distances), and click_unet's use of them."""

from __future__ import annotations

import numpy as np
import pytest

from gdgp.clicks.random_sets import dios_click_set, spaced_sample
from gdgp.clicks.robot import Click, Robot
from gdgp.methods import EncodedNetworkMethod, build_method


def _brute_distance(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of each point to the nearest True pixel of ``mask``, by enumeration."""
    targets = np.argwhere(mask)
    return np.array([np.hypot(*(targets - p).T).min() for p in points])


def _blob(rng: np.random.Generator, side: int = 64) -> np.ndarray:
    """A random ellipse, placed anywhere (also touching the border)."""
    yy, xx = np.mgrid[:side, :side]
    cy, cx = rng.uniform(0, side, 2)
    ry, rx = rng.uniform(3, side / 3, 2)
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


@pytest.mark.parametrize("seed", range(12))
def test_click_set_obeys_dios_rules_on_random_objects(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = _blob(rng)
    if not gt.any():
        pytest.skip("empty blob")
    side = gt.shape[0]
    margin, step, band = 3 / side, 6 / side, 20 / side
    clicks = dios_click_set(gt, rng, margin=margin, step=step, band=band)
    pos = np.array([(c.y, c.x) for c in clicks if c.positive])
    neg = np.array([(c.y, c.x) for c in clicks if not c.positive]).reshape(-1, 2)
    assert [c.index for c in clicks] == list(range(len(clicks)))
    assert all(c.positive for c in clicks[: len(pos)])  # positives first
    assert 1 <= len(pos) <= 5 and len(neg) <= 10
    depth = _brute_distance(pos, ~gt)  # distance of each positive click to the background
    deepest = _brute_distance(np.argwhere(gt), ~gt).max()
    assert np.all(depth >= min(3, deepest) - 1e-9)
    if len(neg):
        outside = _brute_distance(neg, gt)
        assert np.all((outside >= 3 - 1e-9) & (outside <= 20 + 1e-9))
    for group in (pos, neg):
        for i in range(len(group)):
            for j in range(i):
                assert np.hypot(*(group[i] - group[j])) >= 6 - 1e-9


def test_counts_cover_their_ranges_and_the_seed_fixes_the_set() -> None:
    gt = np.zeros((128, 128), dtype=bool)
    gt[40:90, 30:100] = True
    n_pos, n_neg = set(), set()
    for seed in range(200):
        clicks = dios_click_set(gt, np.random.default_rng(seed))
        n_pos.add(sum(c.positive for c in clicks))
        n_neg.add(sum(not c.positive for c in clicks))
    assert n_pos == set(range(1, 6)) and n_neg == set(range(11))
    a = dios_click_set(gt, np.random.default_rng(7))
    assert a == dios_click_set(gt, np.random.default_rng(7))


def test_start_clicks_stay_first_count_as_positive_and_keep_their_distance() -> None:
    gt = np.zeros((128, 128), dtype=bool)
    gt[30:100, 30:100] = True
    start = [Click(64, 64, True, 0)]
    step = 10 / 128
    for seed in range(30):
        clicks = dios_click_set(gt, np.random.default_rng(seed), start=start, step=step)
        assert clicks[0] == start[0]
        assert 1 <= sum(c.positive for c in clicks) <= 5
        assert all(np.hypot(c.y - 64, c.x - 64) >= 10 - 1e-9 for c in clicks[1:] if c.positive)


def test_thin_object_still_gets_its_deepest_pixel_and_empty_mask_gets_none() -> None:
    gt = np.zeros((256, 256), dtype=bool)
    gt[100:103, 50:200] = True  # 3 px thick: no pixel is DIOS's 5 px (at 256) from the boundary
    clicks = dios_click_set(gt, np.random.default_rng(0))
    pos = [c for c in clicks if c.positive]
    assert pos and all(c.y == 101 for c in pos)
    assert dios_click_set(np.zeros((32, 32)), np.random.default_rng(0)) == []


def test_spaced_sample_stops_when_candidates_run_out() -> None:
    cand = np.zeros((10, 10), dtype=bool)
    cand[0, :] = True  # 10 pixels in a row, 4 apart at least: columns 0..9 allow 3
    got = spaced_sample(cand, 8, 4.0, np.random.default_rng(0))
    assert 2 <= len(got) <= 3 and np.all(got[:, 0] == 0)
    assert len(spaced_sample(cand, 0, 4.0, np.random.default_rng(0))) == 0


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    labels = np.zeros((4, 48, 48), dtype=np.float32)
    labels[:, 10:35, 12:40] = 1
    return rng.random((4, 48, 48)).astype(np.float32), labels


def test_click_unet_share_zero_is_the_robot_rounds_and_share_one_is_all_dios() -> None:
    images, labels = _batch()
    rounds_only = build_method("click_unet", channels=[4, 8], random_click_sets=0.0)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    clicks_a, _ = rounds_only.simulate_interaction(images, labels, rng_a)
    clicks_b, _ = EncodedNetworkMethod.simulate_interaction(rounds_only, images, labels, rng_b)  # the robot's rounds
    assert clicks_a == clicks_b and rng_a.random() == rng_b.random()  # same clicks, same random stream

    all_dios = build_method("click_unet", channels=[4, 8], random_click_sets=1.0, max_train_rounds=0)
    clicks, prev = all_dios.simulate_interaction(images, labels, np.random.default_rng(5))
    first = Robot(labels[0] > 0).next_click(np.zeros((48, 48)))
    assert prev.max() == 0.0
    for c in clicks:
        assert c[0] == first  # the first interaction is kept
        assert 1 <= sum(k.positive for k in c) <= 5 and sum(not k.positive for k in c) <= 10
        assert all(labels[0][k.y, k.x] == (1.0 if k.positive else 0.0) for k in c)
    assert len({tuple(c) for c in clicks}) > 1  # random: the four items differ


def test_click_unet_rejects_a_share_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="random_click_sets"):
        build_method("click_unet", channels=[4, 8], random_click_sets=1.5)
