"""Dice/ASSD wrappers against brute-force definitions, and the empty-mask policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from gdgp.metrics import score


def surface(mask: np.ndarray) -> np.ndarray:
    """Border pixels as medpy defines them: mask minus its 4-connected erosion."""
    return np.argwhere(mask & ~binary_erosion(mask, structure=np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]),
                                              border_value=0))


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
