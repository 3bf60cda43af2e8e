"""The named click protocols on hand-drawn error maps, expected clicks worked out by hand.

Drawings: ``F`` = false negative (target missed), ``P`` = false positive, ``.`` = correct.
Rows are y, columns x; every expected click is written (y, x, positive).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from gdgp.clicks.protocols import (
    NEEDS_RNG,
    PROTOCOLS,
    exp_distance_weights,
    get_protocol,
    largest_component_centre,
    ritm,
    weighted_random,
)
from gdgp.clicks.robot import Robot
from gdgp.errors import ConfigError


def errors(drawing: str, swap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(fn, fp) bool masks from a drawing; ``swap`` exchanges F and P."""
    grid = np.array([list(row.strip()) for row in drawing.strip().splitlines()])
    fn, fp = grid == "F", grid == "P"
    return (fp, fn) if swap else (fn, fp)


def unclicked(fn: np.ndarray) -> np.ndarray:
    return np.ones_like(fn, dtype=bool)


# A big, thin FP bar (3x9 = 27 px, deepest distance 2) and a smaller but thicker FN square
# (5x5 = 25 px, centre at distance 3 from the outside).
BAR_AND_SQUARE = """
............
.PPPPPPPPP..
.PPPPPPPPP..
.PPPPPPPPP..
............
............
..FFFFF.....
..FFFFF.....
..FFFFF.....
..FFFFF.....
..FFFFF.....
............
"""


@pytest.mark.parametrize("swap", [False, True])
def test_ritm_and_largest_component_differ_when_the_deepest_error_is_the_smaller_one(swap: bool) -> None:
    fn, fp = errors(BAR_AND_SQUARE, swap)
    # RITM: the square's centre (8, 4) is deepest (3 > 2), whatever the areas.
    assert ritm(fn, fp, unclicked(fn)) == (8, 4, not swap)
    # Challenge rule: the bar is larger (27 > 25); its middle row is at distance 2 except at
    # the ends, (2, 1) is 1 from the left, so (2, 2) is its first deepest pixel.
    assert largest_component_centre(fn, fp, unclicked(fn)) == (2, 2, swap)


# FN and FP touch: 8-connected FN | FP is one 10 px component, larger than the 8 px FP blob.
TOUCHING = """
PP.....
PP.ab..
PP.ab..
PP.ab..
...ab..
...ab..
.......
"""


@pytest.mark.parametrize(("a", "b", "positive"), [("F", "P", True), ("P", "F", False)])
def test_touching_fn_and_fp_form_one_component_signed_by_the_clicked_pixel(a: str, b: str, positive: bool) -> None:
    fn, fp = errors(TOUCHING.replace("a", a).replace("b", b))
    # The 2-wide band has distance 1 everywhere; its first pixel is (1, 3), an `a` pixel.
    assert largest_component_centre(fn, fp, unclicked(fn)) == (1, 3, positive)


def test_largest_component_uses_eight_connectivity() -> None:
    fn, fp = errors("""
        F....PP
        .F...PP
        ..F....
        ...F...
        ....F..
        .......
        .......
    """)
    # 8-connected, the diagonal is one 5 px component (4-connected it would be 5 singletons
    # and the 4 px FP square would win); all its pixels are at distance 1.
    assert largest_component_centre(fn, fp, unclicked(fn)) == (0, 0, True)


@pytest.mark.parametrize("swap", [False, True])
def test_largest_component_size_tie_goes_to_the_first_component_in_raster_order(swap: bool) -> None:
    fn, fp = errors(
        """
        .......
        ....PP.
        ....PP.
        .......
        .FF....
        .FF....
        .......
    """,
        swap,
    )
    # Both 4 px; the upper-right square's first pixel (1, 4) comes first, whatever its kind.
    assert largest_component_centre(fn, fp, unclicked(fn)) == (1, 4, swap)


def test_largest_component_skips_clicked_pixels_and_fully_clicked_components() -> None:
    fn, fp = errors("""
        .......
        .FFF...
        .FFF...
        .FFF...
        .......
        .....PP
        .....PP
    """)
    free = unclicked(fn)
    assert largest_component_centre(fn, fp, free) == (2, 2, True)  # centre, distance 2
    free[2, 2] = False
    assert largest_component_centre(fn, fp, free) == (1, 1, True)  # the rest are at distance 1
    free[1:4, 1:4] = False  # the 9 px FN square is all clicked: the 4 px FP square is next
    assert largest_component_centre(fn, fp, free) == (5, 5, False)
    free[5:7, 5:7] = False
    assert largest_component_centre(fn, fp, free) is None


def test_ritm_tie_of_depths_gives_a_negative_click_and_respects_clicked_pixels() -> None:
    fn, fp = errors(TOUCHING.replace("a", "F").replace("b", "P"))
    # Every error pixel is at distance 1: tie, so negative, on the first FP pixel (0, 0).
    free = unclicked(fn)
    assert ritm(fn, fp, free) == (0, 0, False)
    free[0, 0] = False
    assert ritm(fn, fp, free) == (0, 1, False)


# A 5x5 FN square in the top-left corner (the image border counts as boundary) and 2 FP px.
CORNER_SQUARE = """
FFFFF..
FFFFF..
FFFFF..
FFFFF..
FFFFF..
.......
.....PP
"""
# Its border-padded Euclidean distance to the outside, by hand.
CORNER_DEPTH = np.array(
    [
        [1, 1, 1, 1, 1, 0, 0],
        [1, 2, 2, 2, 1, 0, 0],
        [1, 2, 3, 2, 1, 0, 0],
        [1, 2, 2, 2, 1, 0, 0],
        [1, 1, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ]
)


def test_exp_distance_weights_are_exp_of_depth_minus_one_normalised() -> None:
    fn, _ = errors(CORNER_SQUARE)
    expected = np.where(CORNER_DEPTH > 0, np.exp(CORNER_DEPTH) - 1.0, 0.0)
    np.testing.assert_allclose(exp_distance_weights(fn), expected / expected.sum(), rtol=1e-12)


def test_exp_distance_weights_do_not_overflow_on_deep_regions() -> None:
    weights = exp_distance_weights(np.ones((1440, 1440), dtype=bool))  # centre depth 720 > 709
    assert np.isfinite(weights).all() and np.isclose(weights.sum(), 1.0)
    assert np.unravel_index(weights.argmax(), weights.shape) == (719, 719)


def test_weighted_random_frequencies_follow_the_exp_distance_weights() -> None:
    fn, fp = errors(CORNER_SQUARE)
    rng, n = np.random.default_rng(1234), 20000
    counts = np.zeros(fn.shape)
    for _ in range(n):
        y, x, positive = weighted_random(fn, fp, unclicked(fn), rng)
        assert positive and fn[y, x]  # FN area 25 > FP area 2
        counts[y, x] += 1
    w = np.exp(CORNER_DEPTH[fn]) - 1.0
    expected = n * w / w.sum()  # centre 19.1/97.7, each depth-2 px 6.39/97.7, depth-1 1.72/97.7
    assert chisquare(counts[fn], expected).pvalue > 1e-3
    assert np.abs(counts[fn] / n - w / w.sum()).max() < 0.01
    freq = counts / n
    edge, inner, centre = freq[CORNER_DEPTH == 1], freq[CORNER_DEPTH == 2], freq[2, 2]
    assert edge.max() < inner.min() and inner.max() < centre


@pytest.mark.parametrize(
    ("drawing", "positive"),
    [
        ("FFF..\n.....\n..PP.\n..PP.\n.....", False),  # FN 3 < FP 4: negative
        ("FF...\nFF...\n.....\n..PP.\n..PP.", True),  # tie 4 = 4: positive, as MONAI's >=
        ("FFF..\nFF...\n.....\n..PP.\n..PP.", True),  # FN 5 > FP 4: positive
    ],
)
def test_weighted_random_clicks_the_larger_error_only(drawing: str, positive: bool) -> None:
    fn, fp = errors(drawing)
    rng = np.random.default_rng(0)
    for _ in range(200):
        y, x, pos = weighted_random(fn, fp, unclicked(fn), rng)
        assert pos is positive and (fn if positive else fp)[y, x]


def test_weighted_random_is_reproducible_and_never_clicks_clicked_pixels() -> None:
    fn, fp = errors(CORNER_SQUARE)
    free = unclicked(fn)
    free[2, 2] = free[0, 0] = False

    def draws(seed: int) -> list[tuple[int, int, bool]]:
        rng = np.random.default_rng(seed)
        return [weighted_random(fn, fp, free, rng) for _ in range(2000)]

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    assert (2, 2, True) not in first and (0, 0, True) not in first
    # Only the two FP pixels stay unclicked on the larger side once the FN square is clicked.
    free[:5, :5] = False
    assert weighted_random(fn, fp, free, np.random.default_rng(0))[2] is False
    free[6, 5:] = False
    assert weighted_random(fn, fp, free, np.random.default_rng(0)) is None


def test_weighted_random_needs_a_generator() -> None:
    fn, fp = errors(CORNER_SQUARE)
    with pytest.raises(ValueError, match="Generator"):
        weighted_random(fn, fp, unclicked(fn), None)


def test_no_error_gives_no_click_for_every_protocol() -> None:
    empty = np.zeros((5, 5), dtype=bool)
    for rule in PROTOCOLS.values():
        assert rule(empty, empty, unclicked(empty), np.random.default_rng(0)) is None


def test_registry_names_and_unknown_name_error() -> None:
    assert set(PROTOCOLS) == {"ritm", "largest_component_centre", "weighted_random"}
    assert {"weighted_random"} == NEEDS_RNG
    assert get_protocol("ritm") is ritm
    with pytest.raises(ConfigError, match="largest_component_centre, ritm, weighted_random"):
        get_protocol("nearest")
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_evaluation_follows_the_configured_protocol(protocol: str, slice_set) -> None:
    """Every corrective click of an evaluation run is the one ``protocol`` gives for that
    round's prediction: replayed from the run's own first clicks and overlay masks."""
    from gdgp.evaluation.evaluate import EvalConfig, evaluate_method
    from gdgp.methods import build_method

    torch.manual_seed(0)
    test = slice_set.subset("test")
    method = build_method("click_unet", channels=[4, 8])
    result = evaluate_method(method, test, "toy", EvalConfig(rounds=3, protocol=protocol, overlay_slices=2))
    rec, first, preds = result.records, result.first_interaction, result.overlays["pred"]
    for k in range(2):
        sid = int(test.manifest.at[k, "slice_id"])
        robot = Robot(test.labels[k], protocol=protocol, rng=np.random.default_rng([0, sid]))
        # click_unet's first interaction is the protocol's click on an empty prediction
        (c,) = method.first_interaction(test.images[k], robot)
        assert [(c.y, c.x, c.positive)] == list(
            first[first["slice_id"] == sid][["y", "x", "positive"]].itertuples(index=False, name=None)
        )
        rows = rec[rec["slice_id"] == sid].set_index("round")
        for r in (1, 2, 3):
            click = robot.next_click(preds[k, r - 1])
            assert (click.y, click.x, click.positive) == (
                rows.at[r, "click_y"],
                rows.at[r, "click_x"],
                bool(rows.at[r, "click_positive"]),
            )


def test_unknown_protocol_in_the_evaluation_config_is_a_clear_error() -> None:
    from gdgp.evaluation.evaluate import EvalConfig

    with pytest.raises(ValueError, match="known protocols: largest_component_centre, ritm, weighted_random"):
        EvalConfig(protocol="nearest")
