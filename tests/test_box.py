"""The box start (gdgp/clicks/box.py) and the click kind it adds: extent, jitter, recording, parsing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gdgp.clicks.box import BoxPrompt, box_from_clicks, box_interaction, point_clicks, target_box
from gdgp.clicks.crop import Box, clicks_in_crop
from gdgp.clicks.robot import Click, Robot


def _blob(seed: int, shape: tuple[int, int] = (40, 50)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, bool)
    for _ in range(3):
        y, x = rng.integers(5, shape[0] - 5), rng.integers(5, shape[1] - 5)
        gt[max(y - 4, 0) : y + rng.integers(1, 6), max(x - 3, 0) : x + rng.integers(1, 7)] = True
    return gt


@pytest.mark.parametrize("seed", range(5))
def test_tight_box_is_the_first_and_last_target_row_and_column(seed: int) -> None:
    gt = _blob(seed)
    box = target_box(gt)
    rows, cols = np.flatnonzero(gt.any(axis=1)), np.flatnonzero(gt.any(axis=0))  # brute force
    assert (box.y0, box.y1, box.x0, box.x1) == (rows[0], rows[-1], cols[0], cols[-1])
    assert gt[box.y0 : box.y1 + 1, box.x0 : box.x1 + 1].sum() == gt.sum()  # holds the whole target
    np.testing.assert_array_equal(box.xyxy(), [cols[0], rows[0], cols[-1], rows[-1]])


def test_jitter_moves_each_side_outwards_by_at_most_jitter_and_is_reproducible() -> None:
    gt = np.zeros((64, 64), bool)
    gt[20:30, 25:41] = True
    tight = target_box(gt)
    boxes = [target_box(gt, 5, np.random.default_rng(s)) for s in range(200)]
    grow = np.array([[tight.y0 - b.y0, tight.x0 - b.x0, b.y1 - tight.y1, b.x1 - tight.x1] for b in boxes])
    assert grow.min() == 0 and grow.max() == 5  # outwards only, 0..5 inclusive on each side
    assert all(len(set(grow[:, k])) == 6 for k in range(4))  # every offset occurs on every side
    assert target_box(gt, 5, np.random.default_rng(3)) == target_box(gt, 5, np.random.default_rng(3))


def test_jitter_is_clipped_to_the_slice() -> None:
    gt = np.zeros((20, 20), bool)
    gt[0:3, 17:20] = True
    for s in range(50):
        b = target_box(gt, 8, np.random.default_rng(s))
        assert b.y0 == 0 and b.x1 == 19 and 0 <= b.x0 <= 17 and 2 <= b.y1 <= 10


def test_bad_boxes_raise() -> None:
    with pytest.raises(ValueError, match="non-empty target"):
        target_box(np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="needs an np.random.Generator"):
        target_box(np.ones((5, 5), bool), 2)
    with pytest.raises(ValueError, match=">= 0 px"):
        target_box(np.ones((5, 5), bool), -1)
    with pytest.raises(ValueError, match="top-left then bottom-right"):
        BoxPrompt(5, 0, 4, 3)


def test_box_interaction_records_two_positive_box_corners_then_points_follow() -> None:
    gt = np.zeros((32, 32), np.uint8)
    gt[8:20, 10:25] = 1
    robot = Robot(gt)
    first = box_interaction(robot)
    assert first == [Click(8, 10, True, 0, "box"), Click(19, 24, True, 1, "box")]
    assert robot.clicks == first and len(robot.clicks) == 2  # the box costs 2 clicks
    nxt = robot.next_click(np.zeros_like(gt))
    assert nxt is not None and nxt.index == 2 and nxt.kind == "point"
    assert box_from_clicks(robot.clicks) == BoxPrompt(8, 10, 19, 24)
    assert point_clicks(robot.clicks) == [nxt]


def test_box_interaction_on_an_empty_target_places_nothing() -> None:
    robot = Robot(np.zeros((8, 8), np.uint8))
    assert box_interaction(robot) == [] and robot.clicks == []


def test_box_interaction_draws_its_jitter_from_the_robot() -> None:
    gt = np.zeros((32, 32), np.uint8)
    gt[10:20, 10:20] = 1
    a = box_interaction(Robot(gt, rng=np.random.default_rng(7)), jitter_px=4)
    b = box_interaction(Robot(gt, rng=np.random.default_rng(7)), jitter_px=4)
    assert a == b
    with pytest.raises(ValueError, match="needs an np.random.Generator"):
        box_interaction(Robot(gt), jitter_px=4)


def test_box_from_clicks_orders_the_corners_and_rejects_a_lone_corner() -> None:
    clicks = [Click(3, 9, False, 0), Click(20, 4, True, 1, "box"), Click(2, 15, True, 2, "box")]
    assert box_from_clicks(clicks) == BoxPrompt(2, 4, 20, 15)
    assert box_from_clicks(clicks[:1]) is None
    with pytest.raises(ValueError, match="a box is 2 corner clicks, got 1"):
        box_from_clicks(clicks[:2])


def test_the_click_kind_defaults_to_point_and_existing_clicks_are_unchanged() -> None:
    c = Click(1, 2, True, 0)
    assert c.kind == "point" and c == Click(1, 2, True, 0, "point") and c != Click(1, 2, True, 0, "box")
    assert [f.name for f in dataclasses.fields(Click)] == ["y", "x", "positive", "index", "kind"]
    # a click mapped into a crop keeps its kind
    assert clicks_in_crop([Click(4, 4, True, 0, "box")], Box(0, 8, 0, 8), 16)[0].kind == "box"
