"""Euclidean click encodings against brute-force distances."""

from __future__ import annotations

import numpy as np

from gdgp.clicks.encodings import euclidean_distance_map, gaussian_heatmap
from gdgp.clicks.robot import Click


def test_edv_is_clipped_scaled_min_distance_to_clicks_of_the_class() -> None:
    clicks = [Click(2, 3, True, 0), Click(10, 12, True, 1), Click(5, 5, False, 2)]
    m = euclidean_distance_map(clicks, (16, 20), positive=True, scale=8.0)
    yy, xx = np.mgrid[:16, :20]
    d = np.minimum(np.hypot(yy - 2, xx - 3), np.hypot(yy - 10, xx - 12))
    np.testing.assert_allclose(m, np.minimum(d / 8.0, 1.0), atol=1e-6)
    assert euclidean_distance_map(clicks[:2], (16, 20), positive=False).min() == 1.0


def test_gaussian_heatmap_peaks_at_one_with_stated_width() -> None:
    m = gaussian_heatmap([Click(8, 8, True, 0)], (17, 17), positive=True, sigma=3.0)
    assert m[8, 8] == 1.0 and m.argmax() == 8 * 17 + 8
    np.testing.assert_allclose(m[8, 11], np.exp(-9 / 18), rtol=1e-6)
    assert gaussian_heatmap([], (5, 5), positive=True).max() == 0.0
