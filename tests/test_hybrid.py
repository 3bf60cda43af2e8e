"""Hybrid first interaction: near-centre points deep inside, outer-edge points just outside, spread."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt, gaussian_filter, label

from gdgp.interaction.hybrid import HybridConfig, hybrid_interaction
from gdgp.interaction.robot import error_distance


def blob(seed: int, size: int = 64) -> np.ndarray:
    """A random irregular, connected target away from the border (largest component)."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.normal(size=(size, size)), 4)
    yy, xx = np.mgrid[:size, :size]
    radial = np.hypot(yy - size / 2, xx - size / 2) / (size / 5)
    comps, n = label(field / field.std() * 0.3 - radial + 1 > 0)
    biggest = np.argmax(np.bincount(comps.ravel())[1:]) + 1
    gt = comps == biggest
    assert n >= 1 and not gt[:6].any() and not gt[-6:].any() and not gt[:, :6].any() and not gt[:, -6:].any()
    return gt


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("cfg", [HybridConfig(), HybridConfig(n_centre=5, n_edge=8, centre_fraction=0.3, edge_margin=3)])
def test_points_satisfy_the_definitions(seed: int, cfg: HybridConfig) -> None:
    gt = blob(seed)
    pts = hybrid_interaction(gt, cfg)
    depth = error_distance(gt)
    outside = distance_transform_edt(~gt)
    assert len(pts.centre) == cfg.n_centre
    for y, x in pts.centre:
        assert gt[y, x] and depth[y, x] >= cfg.centre_fraction * depth.max()
    assert tuple(pts.centre[0]) == tuple(np.argwhere(depth == depth.max())[0])  # first = deepest
    assert len({tuple(p) for p in pts.centre}) == cfg.n_centre  # distinct
    assert len(pts.edge) == cfg.n_edge
    for y, x in pts.edge:
        assert not gt[y, x] and 1 <= outside[y, x] <= cfg.edge_margin
    # spread around the target: each point in its own angular sector around the centroid
    c = np.argwhere(gt).mean(0)
    sectors = {int(np.floor((np.arctan2(*(p - c)) + np.pi) / (2 * np.pi) * cfg.n_edge)) % cfg.n_edge for p in pts.edge}
    assert len(sectors) == cfg.n_edge


@pytest.mark.parametrize("seed", range(8))
def test_crop_box_holds_the_target(seed: int) -> None:
    gt = blob(seed)
    cfg = HybridConfig(n_edge=8, edge_margin=4, crop_margin=6)
    y0, y1, x0, x1 = hybrid_interaction(gt, cfg).box
    ys, xs = np.nonzero(gt)
    assert y0 <= ys.min() and ys.max() < y1 and x0 <= xs.min() and xs.max() < x1
    assert (y1 - y0) * (x1 - x0) < gt.size  # a real crop, not the whole slice


def test_noise_keeps_points_truthful_and_is_seeded() -> None:
    gt = blob(3)
    cfg = HybridConfig(noise_px=3.0)
    a = hybrid_interaction(gt, cfg, np.random.default_rng(0))
    b = hybrid_interaction(gt, cfg, np.random.default_rng(0))
    np.testing.assert_array_equal(a.centre, b.centre)
    depth, outside = error_distance(gt), distance_transform_edt(~gt)
    assert all(depth[y, x] >= 0.5 * depth.max() for y, x in a.centre)
    assert all(1 <= outside[y, x] <= 5 for y, x in a.edge)
    assert not np.array_equal(a.centre, hybrid_interaction(gt, HybridConfig()).centre) or \
        not np.array_equal(a.edge, hybrid_interaction(gt, HybridConfig()).edge)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        hybrid_interaction(np.zeros((8, 8), bool), HybridConfig())
    with pytest.raises(ValueError, match="centre_fraction"):
        HybridConfig(centre_fraction=1.5)
    with pytest.raises(ValueError, match="Generator"):
        hybrid_interaction(blob(0), HybridConfig(noise_px=1.0))
