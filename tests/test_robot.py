"""The robot user follows the RITM protocol exactly (checked against brute force)."""

from __future__ import annotations

import numpy as np
import pytest

from gdgp.clicks.robot import Click, Robot, error_distance


def brute_distance(mask: np.ndarray) -> np.ndarray:
    """Distance of each mask pixel to the nearest non-mask pixel, border pixels outside count."""
    h, w = mask.shape
    padded = np.pad(mask, 1)
    bg = np.argwhere(~padded)
    out = np.zeros((h, w))
    for y, x in np.argwhere(mask):
        out[y, x] = np.sqrt(((bg - (y + 1, x + 1)) ** 2).sum(axis=1)).min()
    return out


def test_first_click_on_hand_drawn_mask_is_the_innermost_pixel() -> None:
    gt = np.zeros((7, 7), dtype=bool)
    gt[1:6, 2:7] = True  # 5x5 square touching the right border
    robot = Robot(gt)
    click = robot.next_click(np.zeros_like(gt))
    # The right border counts as boundary, so the centre of the square (3, 4) is deepest.
    assert click == Click(y=3, x=4, positive=True, index=0)


def test_negative_click_when_false_positive_region_is_larger() -> None:
    gt = np.zeros((7, 7), dtype=bool)
    gt[0, 0] = True
    pred = np.zeros((7, 7), dtype=bool)
    pred[2:7, 2:7] = True  # big FP blob, tiny FN
    click = Robot(gt).next_click(pred)
    assert click is not None and not click.positive
    assert (click.y, click.x) == (4, 4)


@pytest.mark.parametrize("seed", range(8))
def test_click_is_argmax_of_error_distance_on_random_masks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = rng.random((12, 15)) < 0.5
    pred = rng.random((12, 15)) < 0.5
    robot = Robot(gt)
    for index in range(4):
        fn = gt & ~pred & robot.not_clicked
        fp = ~gt & pred & robot.not_clicked
        dfn = brute_distance(gt & ~pred) * robot.not_clicked
        dfp = brute_distance(~gt & pred) * robot.not_clicked
        click = robot.next_click(pred)
        if not (fn.any() or fp.any()):
            assert click is None
            break
        positive = dfn.max() > dfp.max()
        d = dfn if positive else dfp
        assert click == Click(*map(int, np.argwhere(d == d.max())[0]), positive=positive, index=index)
        assert np.isclose(d[click.y, click.x], max(dfn.max(), dfp.max()))


def test_error_distance_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((9, 11)) < 0.6
    np.testing.assert_allclose(error_distance(mask), brute_distance(mask))


def test_clicked_pixels_are_never_clicked_again_and_perfect_prediction_gives_none() -> None:
    gt = np.zeros((5, 5), dtype=bool)
    gt[2, 2] = True
    robot = Robot(gt)
    assert robot.next_click(np.zeros_like(gt)) == Click(2, 2, True, 0)
    assert robot.next_click(np.zeros_like(gt)) is None  # the only FN pixel is already clicked
    assert robot.next_click(gt) is None


def test_ignored_pixels_are_not_errors() -> None:
    gt = np.zeros((6, 6), dtype=bool)
    pred = np.ones((6, 6), dtype=bool)
    ignore = np.ones((6, 6), dtype=bool)
    ignore[0, 0] = False
    click = Robot(gt, ignore=ignore).next_click(pred)
    assert click == Click(0, 0, False, 0)


def test_noisy_click_stays_inside_the_same_error_region() -> None:
    gt = np.zeros((40, 40), dtype=bool)
    gt[5:35, 10:30] = True
    for seed in range(20):
        robot = Robot(gt, noise_px=4.0, rng=np.random.default_rng(seed))
        click = robot.next_click(np.zeros_like(gt))
        assert click.positive and gt[click.y, click.x]


def test_noise_needs_a_generator() -> None:
    with pytest.raises(ValueError, match="Generator"):
        Robot(np.ones((3, 3)), noise_px=1.0)


def test_noisy_ritm_clicks_are_those_of_the_robot_before_protocols_were_pluggable() -> None:
    # Recorded with the pre-protocol Robot (RITM rule inlined in next_click), same seed.
    gt = np.zeros((12, 12), dtype=bool)
    gt[2:10, 3:9] = True
    pred = np.zeros((12, 12), dtype=bool)
    pred[4:11, 1:6] = True
    robot = Robot(gt, noise_px=2.0, rng=np.random.default_rng(5), protocol="ritm")
    clicks = [robot.next_click(pred) for _ in range(6)]
    assert clicks == [
        Click(2, 4, True, 0),
        Click(3, 8, True, 1),
        Click(5, 7, True, 2),
        Click(2, 5, True, 3),
        Click(4, 8, True, 4),
        Click(3, 5, True, 5),
    ]


def test_robot_delegates_to_the_named_protocol() -> None:
    gt = np.zeros((12, 12), dtype=bool)
    gt[6:11, 2:7] = True  # missed 5x5 square: 25 FN px, centre (8, 4) at distance 3
    pred = np.zeros((12, 12), dtype=bool)
    pred[1:4, 1:10] = True  # spurious 3x9 bar: 27 FP px, first deepest (2, 2) at distance 2
    assert Robot(gt, protocol="ritm").next_click(pred) == Click(8, 4, True, 0)
    assert Robot(gt, protocol="largest_component_centre").next_click(pred) == Click(2, 2, False, 0)
    clicks = [Robot(gt, rng=np.random.default_rng(s), protocol="weighted_random").next_click(pred) for s in range(50)]
    assert all(not c.positive and pred[c.y, c.x] for c in clicks)  # FP area 27 > FN area 25


@pytest.mark.parametrize("noise_px", [0.0, 2.0])
@pytest.mark.parametrize("protocol", ["ritm", "largest_component_centre", "weighted_random"])
def test_every_protocol_clicks_each_error_pixel_once_then_returns_none(protocol: str, noise_px: float) -> None:
    rng = np.random.default_rng(11)
    gt = rng.random((10, 12)) < 0.5
    pred = rng.random((10, 12)) < 0.5
    ignore = rng.random((10, 12)) < 0.1
    fn, fp = gt & ~pred & ~ignore, ~gt & pred & ~ignore
    robot = Robot(gt, ignore=ignore, noise_px=noise_px, rng=np.random.default_rng(3), protocol=protocol)
    clicks = []
    while (click := robot.next_click(pred)) is not None:
        clicks.append(click)
        assert len(clicks) <= fn.sum() + fp.sum()
    assert robot.next_click(pred) is None
    assert len({(c.y, c.x) for c in clicks}) == len(clicks) == fn.sum() + fp.sum()
    assert [c.index for c in clicks] == list(range(len(clicks)))
    assert all((fn if c.positive else fp)[c.y, c.x] for c in clicks)


def test_protocol_name_and_generator_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="known protocols: largest_component_centre, ritm, weighted_random"):
        Robot(np.ones((3, 3)), protocol="deepest")
    with pytest.raises(ValueError, match="weighted_random.*Generator"):
        Robot(np.ones((3, 3)), protocol="weighted_random")
    assert Robot(np.ones((3, 3))).protocol == "ritm"
