"""Batched training augmentation: same geometry as scipy.ndimage, exact flips/identity, seeding, probabilities."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi

from gdgp.training.augment import (
    AugmentParams,
    BatchAugmentation,
    apply_augmentation,
    augment_batch,
    build_augmentation,
)


def _batch(b: int = 3, h: int = 37, w: int = 45, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.random((b, h, w)).astype(np.float32)
    # blobs rather than salt-and-pepper so nearest-neighbour ties are rare, as in real masks
    labels = (ndi.gaussian_filter(rng.normal(size=(b, h, w)), (0, 2, 2)) > 0).astype(np.uint8)
    return images, labels


def _reference_pull(angle: float, zoom: float, shape: tuple[int, int]) -> np.ndarray:
    """Independent derivation: translate the centre to the origin, un-rotate, un-zoom, translate back."""
    c = (np.asarray(shape, dtype=float) - 1) / 2
    to_origin, back = np.eye(3), np.eye(3)
    to_origin[:2, 2], back[:2, 2] = -c, c
    # forward rotation (row, col), counter-clockwise on screen: scipy.ndimage.rotate's convention
    fwd = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    fwd = np.diag([zoom, zoom, 1.0]) @ fwd
    return back @ np.linalg.inv(fwd) @ to_origin


ANGLES = np.radians([20.0, -13.0, 0.0])
ZOOMS = np.array([1.1, 0.9, 1.07])


def test_known_rotation_and_zoom_match_scipy_affine_transform() -> None:
    images, labels = _batch()
    out_img, out_lab = apply_augmentation(images, labels, AugmentParams(ANGLES, ZOOMS, np.zeros(3, bool)))
    assert out_img.dtype == np.float32 and out_lab.dtype == np.uint8 and out_img.shape == images.shape
    assert set(np.unique(out_lab)) <= {0, 1}
    rows, cols = np.indices(images.shape[1:])
    for b in range(len(images)):
        m = _reference_pull(ANGLES[b], ZOOMS[b], images.shape[1:])
        # zero padding with interpolation across the edge ("grid-constant", like torch's grid_sample zeros)
        ref = ndi.affine_transform(images[b].astype(np.float64), m, order=1, mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(out_img[b], ref, atol=1e-4)
        # interior (the sampled point >= 1 px inside the input): same as scipy's default mode too
        src_r = m[0, 0] * rows + m[0, 1] * cols + m[0, 2]
        src_c = m[1, 0] * rows + m[1, 1] * cols + m[1, 2]
        inside = (src_r >= 1) & (src_r <= images.shape[1] - 2) & (src_c >= 1) & (src_c <= images.shape[2] - 2)
        assert inside.mean() > 0.5
        ref_c = ndi.affine_transform(images[b].astype(np.float64), m, order=1, mode="constant", cval=0.0)
        np.testing.assert_allclose(out_img[b][inside], ref_c[inside], atol=1e-4)
        # labels: nearest neighbour, the nearest input pixel or 0 outside; ties at exact half pixels may differ
        ref_lab = ndi.affine_transform(labels[b], m, order=0, mode="grid-constant", cval=0)
        assert (out_lab[b] == ref_lab).mean() >= 0.99
        ref_lab_c = ndi.affine_transform(labels[b], m, order=0, mode="constant", cval=0)
        assert (out_lab[b][inside] == ref_lab_c[inside]).mean() >= 0.99
        assert out_lab[b].sum() > 0


def test_rotation_direction_and_centre_match_scipy_rotate() -> None:
    images, labels = _batch(b=2, h=40, w=40)
    angles = np.radians([25.0, -40.0])
    out_img, out_lab = apply_augmentation(images, labels, AugmentParams(angles, np.ones(2), np.zeros(2, bool)))
    for b, deg in enumerate((25.0, -40.0)):
        ref = ndi.rotate(images[b], deg, reshape=False, order=1, mode="grid-constant")
        np.testing.assert_allclose(out_img[b], ref, atol=1e-4)
        ref_lab = ndi.rotate(labels[b], deg, reshape=False, order=0, mode="grid-constant")
        assert (out_lab[b] == ref_lab).mean() >= 0.99


def test_zoom_about_the_centre_keeps_the_centre_pixel_and_enlarges() -> None:
    img = np.zeros((1, 21, 21), np.float32)
    img[0, 10, 10] = 1.0
    img[0, 10, 14] = 1.0  # 4 px right of the centre
    out, _ = apply_augmentation(
        img, np.zeros_like(img, np.uint8), AugmentParams(np.zeros(1), np.array([1.5]), np.zeros(1, bool))
    )
    assert out[0, 10, 10] == pytest.approx(1.0)
    assert out[0, 10, 16] == pytest.approx(1.0)  # zoom 1.5 > 1 enlarges: 4 px -> 6 px from the centre


def test_pure_horizontal_flip_equals_np_flip_exactly() -> None:
    images, labels = _batch(b=4)
    flips = np.array([True, False, True, False])
    out_img, out_lab = apply_augmentation(images, labels, AugmentParams(np.zeros(4), np.ones(4), flips))
    expected_img = np.where(flips[:, None, None], np.flip(images, axis=-1), images)
    expected_lab = np.where(flips[:, None, None], np.flip(labels, axis=-1), labels)
    np.testing.assert_array_equal(out_img, expected_img)
    np.testing.assert_array_equal(out_lab, expected_lab)


def test_flip_comes_after_rotation_and_zoom() -> None:
    images, labels = _batch()
    no_flip = apply_augmentation(images, labels, AugmentParams(ANGLES, ZOOMS, np.zeros(3, bool)))
    flipped = apply_augmentation(images, labels, AugmentParams(ANGLES, ZOOMS, np.ones(3, bool)))
    for a, b in zip(no_flip, flipped, strict=True):
        np.testing.assert_array_equal(np.flip(a, axis=-1), b)


def test_identity_parameters_return_the_input_as_a_new_array() -> None:
    images, labels = _batch()
    out_img, out_lab = apply_augmentation(images, labels, AugmentParams(np.zeros(3), np.ones(3), np.zeros(3, bool)))
    np.testing.assert_array_equal(out_img, images)
    np.testing.assert_array_equal(out_lab, labels)
    assert not np.shares_memory(out_img, images) and not np.shares_memory(out_lab, labels)


def test_same_seed_same_batches_different_seed_different_batches() -> None:
    images, labels = _batch(b=8, h=32, w=32)

    def run(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        aug = build_augmentation(15.0, 0.1, 0.5)
        assert aug.set_random_state(seed=seed) is aug
        return [augment_batch(aug, images, labels) for _ in range(3)]

    a, b, c = run(7), run(7), run(8)
    for (ia, la), (ib, lb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(la, lb)
    assert any(not np.array_equal(ia, ic) for (ia, _), (ic, _) in zip(a, c, strict=True))
    # successive batches of one generator differ, and reseeding restarts the sequence
    assert not np.array_equal(a[0][0], a[1][0])
    aug = BatchAugmentation(15.0, 0.1, 0.5, seed=7)
    np.testing.assert_array_equal(aug(images, labels)[0], a[0][0])


def test_zero_probabilities_leave_the_batch_unchanged() -> None:
    images, labels = _batch(b=8)
    aug = BatchAugmentation(30.0, 0.2, flip_prob=0.0, prob=0.0, seed=0)
    for _ in range(5):
        out_img, out_lab = aug(images, labels)
        np.testing.assert_array_equal(out_img, images)
        np.testing.assert_array_equal(out_lab, labels)


def test_empirical_probabilities_and_ranges_match_the_settings() -> None:
    aug = BatchAugmentation(15.0, 0.1, flip_prob=0.2, prob=0.3, seed=1)
    n = 20000
    p = aug.draw(n)
    # binomial sd ~0.003: these tolerances are > 6 sd
    assert abs(np.mean(p.angles != 0) - 0.3) < 0.02
    assert abs(np.mean(p.zooms != 1) - 0.3) < 0.02
    assert abs(np.mean(p.flips) - 0.2) < 0.02
    assert abs(np.mean((p.angles != 0) & (p.zooms != 1)) - 0.09) < 0.015  # rotation and zoom independent
    assert np.abs(p.angles).max() <= math.radians(15.0) and np.abs(p.angles).max() > math.radians(14.0)
    zooms = p.zooms[p.zooms != 1]
    assert zooms.min() >= 0.9 and zooms.max() <= 1.1 and zooms.min() < 0.91 and zooms.max() > 1.09


def test_fraction_of_changed_outputs_is_near_prob() -> None:
    images, labels = _batch(b=16, h=16, w=16)
    aug = BatchAugmentation(15.0, 0.0, flip_prob=0.0, prob=0.5, seed=3)
    changed = [
        not np.array_equal(out, img) for _ in range(25) for out, img in zip(aug(images, labels)[0], images, strict=True)
    ]
    assert abs(np.mean(changed) - 0.5) < 0.1  # 400 samples: sd 0.025


def test_random_outputs_keep_dtypes_shapes_and_binary_labels() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((5, 24, 30))  # float64 in
    labels = rng.random((5, 24, 30)) > 0.5  # bool in
    out_img, out_lab = BatchAugmentation(45.0, 0.3, 0.5, prob=1.0, seed=0)(images, labels)
    assert out_img.dtype == np.float32 and out_img.shape == images.shape
    assert out_lab.dtype == np.uint8 and out_lab.shape == labels.shape and set(np.unique(out_lab)) == {0, 1}


@pytest.mark.parametrize("kwargs", [{"rotate_deg": -1.0}, {"scale": 1.0}, {"prob": 1.5}, {"flip_prob": -0.1}])
def test_invalid_settings_are_refused(kwargs: dict[str, float]) -> None:
    settings = {"rotate_deg": 15.0, "scale": 0.1, "flip_prob": 0.5, "prob": 0.5, **kwargs}
    with pytest.raises(ValueError, match="augmentation"):
        BatchAugmentation(**settings)


def test_mismatched_shapes_are_refused() -> None:
    images, labels = _batch()
    with pytest.raises(ValueError, match="one shape"):
        apply_augmentation(images, labels[:, :-1], AugmentParams(np.zeros(3), np.ones(3), np.zeros(3, bool)))
    with pytest.raises(ValueError, match="parameters for"):
        apply_augmentation(images, labels, AugmentParams(np.zeros(2), np.ones(2), np.zeros(2, bool)))


@pytest.mark.slow
def test_bench_augment_reports_old_and_new_per_batch() -> None:
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_augment.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--repeats", "4", "--sizes", "16", "--batch", "2", "--probs", "0.5"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert len(re.findall(r"old per-sample MONAI Compose +[0-9.]+ ms/batch", out)) == 1, out
    assert float(re.search(r"speed-up x([0-9.]+)", out).group(1)) > 0.0
