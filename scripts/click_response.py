"""How a trained model answers one corrective click, and how large its first errors are per split.

A diagnostic for flat per-click curves (docs/real-ct.md): for each slice, the method's first
interaction, its prediction, the robot's first corrective click, the prediction after it. Reports,
per split, the first prediction's Dice, the depth (px) of its deepest error (where the robot
clicks) and the error area relative to the target; and, on the chosen split, how far the click
moved the probability towards the click's label at the clicked pixel, within ``--near`` px of it,
and how much it changed farther than ``--far`` px.

    python scripts/click_response.py results/models/<dataset>/<method>/seed0/final.pt \\
        results/slices/<dataset> [--split val] [--slices 12]
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from medpy.metric.binary import dc

from gdgp.clicks.protocols import error_distance
from gdgp.clicks.robot import Robot
from gdgp.data.slice_set import SliceSet, load_slices
from gdgp.methods import Method


@dataclass(frozen=True)
class FirstErrors:
    """The first prediction of one split: mean Dice, median deepest-error depth (px), median error area / target."""

    n: int
    dice: float
    depth_px: float
    area_ratio: float


@dataclass(frozen=True)
class Response:
    """Mean change of probability after the first corrective click (towards its label near it; absolute far away)."""

    n: int
    at_click: float
    near: float
    far: float


def first_errors(method: Method, slices: SliceSet, batch: int = 8) -> FirstErrors:
    """The method's prediction after its first interaction on every slice of ``slices``."""
    dice, depth, area = [], [], []
    for i in range(0, len(slices.images), batch):
        images, labels = slices.images[i : i + batch], slices.labels[i : i + batch] > 0
        robots = [Robot(label) for label in labels]
        clicks = [method.first_interaction(image, robot) for image, robot in zip(images, robots, strict=True)]
        preds = method.predict_batch(list(images), clicks, list(np.zeros_like(images))) > 0.5
        for pred, gt in zip(preds, labels, strict=True):
            fn, fp = gt & ~pred, pred & ~gt
            depth.append(max(error_distance(fn).max(), error_distance(fp).max()))
            area.append((fn | fp).sum() / max(int(gt.sum()), 1))
            dice.append(float(dc(pred, gt)))  # medpy, as the evaluator scores
    if not dice:
        return FirstErrors(0, float("nan"), float("nan"), float("nan"))
    return FirstErrors(len(dice), float(np.mean(dice)), float(np.median(depth)), float(np.median(area)))


def click_response(method: Method, slices: SliceSet, near: float = 3.0, far: float = 10.0) -> Response:
    """The first corrective click's effect, averaged over the slices that get one."""
    at, close, away = [], [], []
    for image, label in zip(slices.images, slices.labels, strict=True):
        robot = Robot(label > 0)
        clicks = method.first_interaction(image, robot)
        before = method.predict_batch([image], [clicks], [np.zeros_like(image)])[0]
        prev = (before > 0.5).astype(np.float32)
        click = robot.next_click(prev)
        if click is None:
            continue
        after = method.predict_batch([image], [robot.clicks], [prev])[0]
        yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
        dist = np.hypot(yy - click.y, xx - click.x)
        towards = (after - before) * (1.0 if click.positive else -1.0)
        at.append(towards[click.y, click.x])
        close.append(towards[dist <= near].mean())
        away.append(np.abs(after - before)[dist > far].mean() if (dist > far).any() else 0.0)
    if not at:
        return Response(0, float("nan"), float("nan"), float("nan"))
    return Response(len(at), float(np.mean(at)), float(np.mean(close)), float(np.mean(away)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path, help="final.pt of gdgp train")
    ap.add_argument("slices", type=Path, help="folder with slices.npz and manifest.csv (gdgp extract)")
    ap.add_argument("--split", default="val", help="split of the click response (default val)")
    ap.add_argument("--slices-max", type=int, default=12, help="slices of that split probed (default 12)")
    ap.add_argument("--near", type=float, default=3.0, help="px around the click counted as near")
    ap.add_argument("--far", type=float, default=10.0, help="px from the click beyond which a change is far")
    a = ap.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    from gdgp.training.checkpoint import load_method  # torch: only once the arguments are fine

    method = load_method(a.checkpoint)
    slices = load_slices(a.slices / "slices.npz", a.slices / "manifest.csv")
    for split in ("train", "val", "test"):
        e = first_errors(method, slices.subset(split))
        print(
            f"{split:5s} n={e.n:3d}  first Dice {e.dice:.3f}  deepest error {e.depth_px:.1f} px  "
            f"error/target {e.area_ratio:.2f}"
        )
    probe = slices.subset(a.split)
    probe = SliceSet(probe.images[: a.slices_max], probe.labels[: a.slices_max], probe.manifest.iloc[: a.slices_max])
    r = click_response(method, probe, a.near, a.far)
    print(
        f"first corrective click ({a.split}, {r.n} slices): towards its label {r.at_click:+.3f} at the pixel, "
        f"{r.near:+.3f} within {a.near:g} px; |change| {r.far:.4f} beyond {a.far:g} px"
    )


if __name__ == "__main__":
    main()
