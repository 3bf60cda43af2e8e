"""scripts/click_response.py: the first-error sizes against a hand-made prediction, the click response on hard seeds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import distance_transform_edt

from gdgp.clicks.robot import Click, Robot
from gdgp.data.slice_set import SliceSet
from gdgp.methods import build_method

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from click_response import click_response, first_errors


def _slices(n: int = 3, side: int = 32) -> SliceSet:
    rng = np.random.default_rng(0)
    labels = np.zeros((n, side, side), dtype=np.uint8)
    for i in range(n):
        labels[i, 8 + i : 20 + i, 6:22] = 1
    images = (labels * 0.6 + rng.normal(0, 0.1, labels.shape)).astype(np.float32)
    manifest = pd.DataFrame({"case": [f"p{i}" for i in range(n)], "split": ["val"] * n})
    return SliceSet(images, labels, manifest)


class _ShiftedTruth:
    """Predicts the ground truth shifted right by ``shift`` px, whatever the clicks."""

    def __init__(self, labels: np.ndarray, shift: int) -> None:
        self.preds = {lab.tobytes(): np.roll(lab, shift, axis=1).astype(np.float32) for lab in labels}
        self.images: dict[bytes, bytes] = {}

    def first_interaction(self, image: np.ndarray, robot: Robot) -> list[Click]:
        self.images[image.tobytes()] = robot.gt.astype(np.uint8).tobytes()
        return []

    def predict_batch(self, images, clicks, prev_masks) -> np.ndarray:
        return np.stack([self.preds[self.images[np.asarray(im).tobytes()]] for im in images])


def test_first_errors_match_a_direct_computation_on_a_shifted_truth() -> None:
    s = _slices()
    got = first_errors(_ShiftedTruth(s.labels, 3), s, batch=2)
    dice, depth, area = [], [], []
    for lab in s.labels.astype(bool):
        pred = np.roll(lab, 3, axis=1)
        dice.append(2 * (pred & lab).sum() / (pred.sum() + lab.sum()))
        errs = [np.pad(e, 1) for e in (lab & ~pred, pred & ~lab)]  # the image border counts as boundary
        depth.append(max(distance_transform_edt(e).max() for e in errs))
        area.append((lab ^ pred).sum() / lab.sum())
    assert got.n == 3
    np.testing.assert_allclose(
        [got.dice, got.depth_px, got.area_ratio], [np.mean(dice), np.median(depth), np.median(area)]
    )


def test_a_hard_seed_always_takes_its_clicked_pixel() -> None:
    """DeepIGeoS's graph cut makes every click a hard seed: the clicked pixel moves the whole way."""
    torch.manual_seed(0)
    m = build_method("deepigeos", channels=[4, 4])
    r = click_response(m, _slices(), near=1.0, far=10.0)
    assert r.n == 3 and r.at_click == 1.0 and 0.0 <= r.far <= 1.0
