"""Crop around the clicks, map clicks into the crop, paste the prediction back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gdgp.clicks.crop import Box, click_box, clicks_in_crop, crop_resize, paste_back
from gdgp.clicks.robot import Click


def clicks_at(points: list[tuple[int, int]]) -> list[Click]:
    return [Click(y, x, i % 2 == 0, i) for i, (y, x) in enumerate(points)]


@pytest.mark.parametrize("seed", range(20))
def test_box_holds_every_click_with_margin_is_square_and_inside(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(40, 90)), int(rng.integers(40, 90)))
    pts = [(int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1]))) for _ in range(rng.integers(1, 6))]
    margin = int(rng.integers(0, 6))
    box = click_box(clicks_at(pts), shape, margin, min_size=16)
    assert 0 <= box.y0 < box.y1 <= shape[0] and 0 <= box.x0 < box.x1 <= shape[1]
    for y, x in pts:
        assert box.y0 <= y < box.y1 and box.x0 <= x < box.x1
        # the margin is kept wherever the slice border allows it
        assert y - box.y0 >= min(margin, y) and box.y1 - 1 - y >= min(margin, shape[0] - 1 - y)
    side = max(box.height, box.width)
    if side < min(shape):  # square unless the slice itself is too narrow
        assert box.height == box.width
    assert min(box.height, box.width) >= min(16, *shape)


def test_box_of_one_click_near_the_border_is_shifted_not_shrunk() -> None:
    box = click_box(clicks_at([(1, 2)]), (64, 64), margin=2, min_size=16)
    assert (box.height, box.width) == (16, 16) and box.y0 == 0 and box.x0 == 0


def test_no_click_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one click"):
        click_box([], (10, 10), 2)


def test_crop_resize_identity_and_clicks_map_to_same_pixels() -> None:
    img = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    box = Box(5, 25, 10, 30)
    out = crop_resize(img, box, 20)
    np.testing.assert_allclose(out.numpy(), img[5:25, 10:30], atol=1e-6)
    cc = clicks_in_crop(clicks_at([(5, 10), (24, 29), (12, 17)]), box, 20)
    assert [(c.y, c.x) for c in cc] == [(0, 0), (19, 19), (7, 7)]


def test_clicks_scale_with_the_crop_and_keep_labels() -> None:
    box = Box(0, 32, 0, 32)
    cc = clicks_in_crop(clicks_at([(0, 0), (31, 31), (16, 8)]), box, 64)
    assert [(c.y, c.x, c.positive) for c in cc] == [(1, 1, True), (63, 63, False), (33, 17, True)]


def test_paste_back_restores_the_box_and_zeros_outside() -> None:
    shape = (40, 50)
    box = Box(5, 25, 10, 30)
    mask = np.zeros(shape, np.float32)
    mask[10:20, 15:25] = 1.0
    crop = crop_resize(mask, box, 64)
    back = paste_back(crop, box, shape).numpy()
    assert back[:5].max() == 0 and back[25:].max() == 0 and back[:, :10].max() == 0 and back[:, 30:].max() == 0
    assert np.array_equal(back > 0.5, mask > 0.5)


def test_nearest_crop_keeps_labels_binary() -> None:
    lab = (np.random.default_rng(1).random((30, 30)) > 0.5).astype(np.float32)
    out = crop_resize(lab, Box(0, 30, 0, 30), 45, mode="nearest")
    assert set(torch.unique(out).tolist()) <= {0.0, 1.0}
