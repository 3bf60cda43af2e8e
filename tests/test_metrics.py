"""Dice/ASSD/NSD wrappers against brute-force definitions, and the empty-mask policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from gdgp.evaluation.metrics import score, surface_dice


def surface(mask: np.ndarray) -> np.ndarray:
    """Border pixels as medpy defines them: mask minus its 4-connected erosion."""
    return np.argwhere(
        mask & ~binary_erosion(mask, structure=np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]), border_value=0)
    )


def brute_assd(a: np.ndarray, b: np.ndarray, spacing: tuple[float, float]) -> float:
    sa, sb = surface(a) * spacing, surface(b) * spacing
    d = np.sqrt(((sa[:, None, :] - sb[None, :, :]) ** 2).sum(-1))
    # Average symmetric surface distance: the mean over the pooled distances of both borders.
    return float(np.concatenate([d.min(axis=1), d.min(axis=0)]).mean())


@pytest.mark.parametrize("seed", range(6))
def test_dice_and_assd_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = rng.random((14, 16)) < 0.4
    pred = rng.random((14, 16)) < 0.4
    spacing = (0.7, 1.3)
    s = score(pred, gt, spacing)
    assert s["dice"] == pytest.approx(2 * (pred & gt).sum() / (pred.sum() + gt.sum()))
    assert s["assd_px"] == pytest.approx(brute_assd(pred, gt, (1.0, 1.0)))
    assert s["assd_mm"] == pytest.approx(brute_assd(pred, gt, spacing))
    assert (s["tp"], s["fp"], s["fn"]) == ((pred & gt).sum(), (pred & ~gt).sum(), (~pred & gt).sum())
    assert s["empty_pred"] is False


def test_empty_prediction_gets_zero_dice_and_diagonal_penalty() -> None:
    gt = np.zeros((30, 40), dtype=bool)
    gt[5:10, 5:10] = True
    s = score(np.zeros_like(gt), gt, (2.0, 0.5))
    assert s["dice"] == 0.0 and s["empty_pred"] is True
    assert s["assd_px"] == pytest.approx(50.0)
    assert s["assd_mm"] == pytest.approx(math.hypot(60.0, 20.0))
    assert s["fn"] == 25


def test_both_empty_is_perfect() -> None:
    z = np.zeros((4, 4), dtype=bool)
    s = score(z, z, (1.0, 1.0))
    assert (s["dice"], s["assd_px"], s["empty_pred"]) == (1.0, 0.0, False)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="shape"):
        score(np.zeros((3, 3)), np.zeros((3, 4)), (1.0, 1.0))


# --- Normalised Surface Dice ------------------------------------------------------------------


def brute_surfels(mask: np.ndarray, spacing: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Boundary elements of a 2D mask as DeepMind's surface-distance (and MONAI with
    ``use_subvoxels=True``) define them, written from the definition, not from their code.

    The mask is zero-padded by one pixel (outside the image is background). Every 2x2 window
    of the padded mask, i.e. every pixel corner including those on the image border, that holds
    both inside and outside pixels is one boundary element located at that corner (window at
    padded rows i..i+1, columns j..j+1 -> point (i, j) * spacing mm; a common offset cancels
    in distances). Its weight is the length in mm of the marching-squares contour through the
    window, whose ends are midpoints of the window's sides:
    one pixel in or one out -> a segment cutting a corner, half the pixel diagonal;
    two side by side in one row -> a straight segment across, spacing[1]; in one column -> spacing[0];
    two diagonal (saddle) -> two corner-cutting segments, a full pixel diagonal.
    """
    s0, s1 = spacing
    half_diag = 0.5 * math.hypot(s0, s1)
    pad = np.pad(mask.astype(int), 1)
    points, lengths = [], []
    for i in range(pad.shape[0] - 1):
        for j in range(pad.shape[1] - 1):
            tl, tr, bl, br = pad[i, j], pad[i, j + 1], pad[i + 1, j], pad[i + 1, j + 1]
            n_in = tl + tr + bl + br
            if n_in in (0, 4):
                continue
            if n_in in (1, 3):
                length = half_diag
            elif tl == tr:  # top row alike, bottom row alike: a line along the columns
                length = s1
            elif tl == bl:  # left column alike, right column alike: a line along the rows
                length = s0
            else:  # saddle: tl == br != tr == bl
                length = 2 * half_diag
            points.append((i * s0, j * s1))
            lengths.append(length)
    return np.array(points), np.array(lengths)


def brute_nsd(pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float], tol: float) -> float:
    """NSD = (|dP within tol of dG| + |dG within tol of dP|) / (|dP| + |dG|), with |.| the summed
    contour length of the boundary elements of :func:`brute_surfels`, and distances by a double
    loop over element pairs in mm. ``<=`` gets a 1e-9 mm slack so that lattice distances that
    equal the tolerance exactly (e.g. 0.8 mm at tol 0.8) count despite float64 rounding."""
    pts_p, len_p = brute_surfels(pred, spacing)
    pts_g, len_g = brute_surfels(gt, spacing)

    def nearest(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        out = np.empty(len(src))
        for k, (y, x) in enumerate(src):
            out[k] = min(math.hypot(y - v, x - u) for v, u in dst)
        return out

    d_pg, d_gp = nearest(pts_p, pts_g), nearest(pts_g, pts_p)
    within = len_p[d_pg <= tol + 1e-9].sum() + len_g[d_gp <= tol + 1e-9].sum()
    return float(within / (len_p.sum() + len_g.sum()))


def monai_nsd(pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float], tol: float) -> float:
    """The library call ``surface_dice`` stands in for: MONAI's compute_surface_dice, whole image."""
    import warnings

    import torch
    from monai.metrics import compute_surface_dice

    def t(m: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(m.astype(bool))[None, None]

    with warnings.catch_warnings():  # MONAI 1.6 warns about its own internal use of a deprecated argument
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy", category=FutureWarning)
        return float(
            compute_surface_dice(
                t(pred),
                t(gt),
                [tol],
                include_background=True,
                distance_metric="euclidean",
                spacing=list(spacing),
                use_subvoxels=True,
            )[0, 0]
        )


NSD_TOLERANCES = [0.5, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0]  # 0.8, 1.3, 1.6: exact lattice ties


@pytest.mark.parametrize("seed", range(8))
def test_surface_dice_matches_brute_force_and_monai(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = rng.integers(12, 21, size=2)
    # Alternate speckle (many saddles, masks touching the image border) and a blob with noise.
    if seed % 2:
        gt, pred = rng.random((h, w)) < 0.4, rng.random((h, w)) < 0.4
    else:
        yy, xx = np.mgrid[:h, :w]
        gt = (yy - h / 2) ** 2 / (h / 3) ** 2 + (xx - w / 2) ** 2 / (w / 3) ** 2 < 1
        pred = np.roll(gt, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1)) ^ (rng.random((h, w)) < 0.08)
    spacing = (0.8, 1.3) if seed < 4 else (1.3, 0.8)
    values = []
    for tol in NSD_TOLERANCES:
        got = surface_dice(pred, gt, spacing, tol)
        assert got == pytest.approx(brute_nsd(pred, gt, spacing, tol), abs=1e-6)
        assert got == pytest.approx(monai_nsd(pred, gt, spacing, tol), abs=1e-6)
        values.append(got)
    assert 0.0 < values[0] < 1.0  # the cases are not trivial


def test_surface_dice_identical_masks_is_one() -> None:
    m = np.zeros((16, 16), dtype=bool)
    m[3:11, 4:14] = True
    m[0:2, 0:3] = True  # a second component touching the image border
    for tol in (0.0, 0.5, 2.0):
        assert surface_dice(m, m.copy(), (0.8, 1.3), tol) == 1.0


def test_surface_dice_far_apart_masks_is_zero() -> None:
    pred, gt = np.zeros((20, 40), dtype=bool), np.zeros((20, 40), dtype=bool)
    pred[2:8, 2:8] = True
    gt[10:18, 28:38] = True  # boundaries at least (28 - 8) * 1.0 = 20 mm apart
    assert surface_dice(pred, gt, (0.8, 1.0), 3.0) == 0.0
    assert surface_dice(pred, gt, (0.8, 1.0), 15.0) == 0.0


def test_surface_dice_empty_policy() -> None:
    z = np.zeros((10, 12), dtype=bool)
    m = z.copy()
    m[2:5, 3:9] = True
    assert surface_dice(z, z, (0.8, 1.3), 2.0) == 1.0
    assert surface_dice(z, m, (0.8, 1.3), 2.0) == 0.0
    assert surface_dice(m, z, (0.8, 1.3), 2.0) == 0.0
    assert score(z, m, (0.8, 1.3))["nsd"] == 0.0
    assert score(z, z, (0.8, 1.3))["nsd"] == 1.0


def test_surface_dice_increases_with_tolerance() -> None:
    rng = np.random.default_rng(11)
    gt, pred = rng.random((18, 15)) < 0.5, rng.random((18, 15)) < 0.5
    values = [surface_dice(pred, gt, (0.8, 1.3), tol) for tol in np.linspace(0.0, 5.0, 26)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert values[0] < values[-1]


def test_surface_dice_one_pixel_shift_hand_computed() -> None:
    """A 4 x 10 pixel rectangle and itself shifted down one row, spacing (0.8, 1.3) mm.

    Each boundary is a 5 x 11 ring of pixel corners: 4 corners (half diagonal d each),
    2 x 9 points on the top and bottom lines (1.3 mm each), 2 x 3 on the sides (0.8 mm each).
    Every element of one boundary lies 0 or 0.8 mm (one row) from the other boundary, so NSD is
    1 for tol >= 0.8. Below 0.8 only the elements common to both count: per side of each
    rectangle, one corner and the 3 side points of the overlapping rows, 2 (d + 3 * 0.8) per
    mask.
    """
    gt = np.zeros((12, 18), dtype=bool)
    gt[3:7, 3:13] = True
    pred = np.roll(gt, 1, axis=0)
    spacing = (0.8, 1.3)
    d = 0.5 * math.hypot(*spacing)
    expected_below = 2 * (d + 3 * 0.8) / (4 * d + 2 * 9 * 1.3 + 2 * 3 * 0.8)
    assert surface_dice(pred, gt, spacing, 0.0) == pytest.approx(expected_below, abs=1e-6)
    assert surface_dice(pred, gt, spacing, 0.79) == pytest.approx(expected_below, abs=1e-6)
    assert surface_dice(pred, gt, spacing, 0.8) == 1.0  # a distance equal to the tolerance counts
    assert surface_dice(pred, gt, spacing, 2.0) == 1.0
    # The same shift along the columns needs the column spacing.
    pred_x = np.roll(gt, 1, axis=1)
    assert surface_dice(pred_x, gt, spacing, 1.3) == 1.0
    assert surface_dice(pred_x, gt, spacing, 1.29) < 1.0


def test_surface_dice_rejects_bad_input() -> None:
    m = np.ones((4, 4), dtype=bool)
    with pytest.raises(ValueError, match="tolerance"):
        surface_dice(m, m, (1.0, 1.0), -0.5)
    with pytest.raises(ValueError, match="tolerance"):
        surface_dice(m, m, (1.0, 1.0), math.inf)
    with pytest.raises(ValueError, match="shape"):
        surface_dice(m, np.ones((4, 5), dtype=bool), (1.0, 1.0), 1.0)


def test_score_adds_nsd_and_keeps_the_other_keys() -> None:
    rng = np.random.default_rng(3)
    gt, pred = rng.random((14, 16)) < 0.4, rng.random((14, 16)) < 0.4
    spacing = (0.7, 1.3)
    s = score(pred, gt, spacing)
    assert set(s) == {"dice", "assd_px", "assd_mm", "tp", "fp", "fn", "empty_pred", "nsd"}
    assert s["nsd"] == surface_dice(pred, gt, spacing, 2.0)  # the default tolerance is 2 mm
    assert score(pred, gt, spacing, nsd_tolerance_mm=0.5)["nsd"] == surface_dice(pred, gt, spacing, 0.5)
    assert s["nsd"] == pytest.approx(brute_nsd(pred, gt, spacing, 2.0), abs=1e-6)
    assert s["dice"] == pytest.approx(2 * (pred & gt).sum() / (pred.sum() + gt.sum()))
