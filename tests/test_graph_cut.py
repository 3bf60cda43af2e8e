"""The shared graph cut (gdgp.methods.graph_cut): exact minimum against brute force, seeds, ties, argument checks,
and the behaviour DeepIGeoS (8-neighbour) and MIDeepSeg (4-neighbour, own bg map) rely on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdgp.methods.graph_cut import graph_cut
from tests.phantoms import disc, image_of

#: DeepIGeoS's and MIDeepSeg's fixed arguments, as at their calls.
DEEPIGEOS = {"neighbours": 8, "eps": 1e-4, "ties": "background"}
MIDEEPSEG = {"neighbours": 4, "eps": 1e-6, "ties": "foreground"}


# --- brute force ---------------------------------------------------------------------------------
def brute_force_energy(
    labels: np.ndarray,
    cost_fg: np.ndarray,
    cost_bg: np.ndarray,
    image: np.ndarray,
    weight: float,
    sigma: float,
    neighbours: int,
) -> np.ndarray:
    """Energies of a stack (N, H, W) of labellings, written out pixel pair by pixel pair
    (vectorised over the labellings only), independently of the module's code."""
    n, h, w = labels.shape
    steps = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if neighbours == 8 else [])
    energy = np.where(labels, cost_fg, cost_bg).reshape(n, -1).sum(axis=1)
    for y in range(h):
        for x in range(w):
            for dy, dx in steps:
                v, u = y + dy, x + dx
                if 0 <= v < h and 0 <= u < w:
                    diff = float(image[y, x]) - float(image[v, u])
                    w_pq = weight * math.exp(-diff * diff / (2 * sigma * sigma)) / math.hypot(dy, dx)
                    energy += w_pq * (labels[:, y, x] != labels[:, v, u])
    return energy


def all_labellings(shape: tuple[int, int], fg_seeds: np.ndarray, bg_seeds: np.ndarray) -> np.ndarray:
    """(N, H, W) every labelling of a tiny image that honours the seeds."""
    n = shape[0] * shape[1]
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    labels = bits.astype(bool).reshape(-1, *shape)
    keep = labels[:, fg_seeds].all(axis=1) & ~labels[:, bg_seeds].any(axis=1)
    return labels[keep]


@pytest.mark.parametrize("neighbours", [4, 8])
@pytest.mark.parametrize("seed", range(3))
def test_the_cut_has_the_minimum_energy_of_all_4096_labellings_of_a_3x4_image(neighbours: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = rng.random((3, 4))
    prob = rng.uniform(0.05, 0.95, (3, 4))
    fg_seeds, bg_seeds = np.zeros((3, 4), bool), np.zeros((3, 4), bool)
    if seed > 0:  # seed 0 without seeds: all 4096 labellings compete
        fg_seeds[0, 0], bg_seeds[2, 3] = True, True
    weight, sigma = [0.3, 0.8, 0.3][seed], 0.5  # the optimum is not the per-pixel argmax here
    for bg_prob in (None, rng.uniform(0.05, 0.95, (3, 4))):  # 1 - prob, or MIDeepSeg's separate map
        cost_fg = -np.log(prob)
        cost_bg = -np.log(1 - prob if bg_prob is None else bg_prob)
        labellings = all_labellings((3, 4), fg_seeds, bg_seeds)
        assert len(labellings) == (4096 if seed == 0 else 1024)
        best = brute_force_energy(labellings, cost_fg, cost_bg, image, weight, sigma, neighbours).min()
        for ties in ("background", "foreground"):
            cut = graph_cut(
                prob,
                image,
                fg_seeds,
                bg_seeds,
                weight=weight,
                sigma=sigma,
                neighbours=neighbours,
                bg_prob=bg_prob,
                ties=ties,
            )
            found = brute_force_energy(cut[None], cost_fg, cost_bg, image, weight, sigma, neighbours)[0]
            assert found == pytest.approx(best, rel=1e-9, abs=1e-12)
            assert cut[fg_seeds].all() and not cut[bg_seeds].any()


def test_ties_pick_the_smallest_or_the_largest_optimal_foreground() -> None:
    image = np.zeros((3, 4))
    half = np.full((3, 4), 0.5)  # every labelling of a flat image costs the same unaries: 2^12 ties
    for weight in (0.0, 0.7):
        assert not graph_cut(half, image, weight=weight, sigma=0.1, ties="background").any()
        assert graph_cut(half, image, weight=weight, sigma=0.1, ties="foreground").all()
    # one sure pixel in a flat, unsure image: empty and full are no longer both optimal, but
    # "everything foreground" still ties with "only the sure pixel" when weight = 0
    prob = half.copy()
    prob[1, 1] = 0.9
    assert np.array_equal(graph_cut(prob, image, weight=0.0, sigma=0.1, ties="background"), prob > 0.5)
    assert graph_cut(prob, image, weight=0.0, sigma=0.1, ties="foreground").all()


# --- seeds ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("weight", [0.0, 1.0, 50.0])
@pytest.mark.parametrize("method", [DEEPIGEOS, MIDEEPSEG])
def test_seeds_are_honoured_against_the_probability(weight: float, method: dict) -> None:
    img = image_of(disc((32, 32), (16, 14), 6.0))
    fg, bg = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
    fg[3, 4] = fg[28, 28] = True
    bg[16, 14] = bg[15, 15] = True
    for p in (0.99, 0.01):  # the network says foreground (then background) everywhere ...
        prob = np.full((32, 32), p)
        cut = graph_cut(prob, img, fg, bg, weight=weight, sigma=0.1, **method)
        assert cut[fg].all() and not cut[bg].any()  # ... but the clicks win
        assert cut.sum() > 32 * 32 - 20 if p > 0.5 else cut.sum() < 20


def test_a_pixel_in_both_seed_masks_is_background() -> None:
    both = np.zeros((4, 4), bool)
    both[2, 2] = True
    for ties in ("background", "foreground"):
        cut = graph_cut(np.full((4, 4), 0.9), np.zeros((4, 4)), both, both, weight=0.0, sigma=0.1, ties=ties)
        assert not cut[2, 2] and cut.sum() == 15


# --- the pairwise term (moved from test_deepigeos.py / test_mideepseg.py) --------------------------
def test_zero_pairwise_weight_is_thresholding() -> None:
    rng = np.random.default_rng(0)
    prob = rng.random((24, 20))
    prob[np.abs(prob - 0.5) < 1e-3] = 0.7  # no ties at exactly 0.5
    for method in (DEEPIGEOS, MIDEEPSEG):
        cut = graph_cut(prob, rng.random(prob.shape), weight=0.0, sigma=0.1, **method)
        assert np.array_equal(cut, prob > 0.5)


def test_pairwise_term_smooths_flat_regions_but_follows_intensity_edges() -> None:
    prob = np.full((32, 32), 0.2)
    prob[3, 3] = 0.7  # a lone, mildly confident foreground pixel
    prob[:, 20] = 0.7  # and a 1-px line
    flat = np.full((32, 32), 0.5)
    assert not graph_cut(prob, flat, weight=1.0, sigma=0.1, **DEEPIGEOS).any()  # both smoothed away
    edged = np.zeros((32, 32))
    edged[:, 20] = 1.0  # the line is a bright structure: cutting along its edges is nearly free
    cut = graph_cut(prob, edged, weight=1.0, sigma=0.1, **DEEPIGEOS)
    assert cut[:, 20].all() and not cut[3, 3] and cut.sum() == 32


def test_4_neighbour_potts_term_removes_isolated_flips_of_a_square() -> None:
    rng = np.random.default_rng(1)
    square = np.zeros((20, 20), bool)
    square[5:15, 4:14] = True
    prob = np.where(square, 0.8, 0.2).astype(np.float32)
    flips = rng.random((20, 20)) < 0.05
    prob[flips] = 1 - prob[flips]
    smooth = graph_cut(prob, square.astype(np.float32), bg_prob=1 - prob, weight=5.0, sigma=0.1, **MIDEEPSEG)
    assert np.array_equal(smooth, square)


# --- argument checks -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": np.zeros((4, 5))}, "image has shape"),
        ({"fg_seeds": np.zeros((3, 3), bool)}, "fg_seeds has shape"),
        ({"bg_prob": np.zeros((4, 4, 1))}, "bg_prob has shape"),
        ({"bg_seeds": np.zeros((4, 4), np.uint8)}, "bool mask"),
        ({"prob": np.zeros((2, 4, 4))}, "2D"),
        ({"weight": -1.0}, "weight must be >= 0"),
        ({"weight": float("nan")}, "weight must be >= 0"),
        ({"sigma": 0.0}, "sigma must be > 0"),
        ({"neighbours": 6}, "neighbours must be 4 or 8"),
        ({"eps": 0.0}, "eps must be in"),
        ({"ties": "fg"}, "ties must be"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict, message: str) -> None:
    args = {"prob": np.full((4, 4), 0.5), "image": np.zeros((4, 4)), "weight": 1.0, "sigma": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        graph_cut(**args)
