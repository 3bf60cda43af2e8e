"""Benchmark: GDGP per-click latency on one 256x256 slice with 20 clicks.

One click = crop around the clicks + resize, Gaussian geodesic encoding (two geodesic
passes), DynUNet features, Laplace GP head on every crop pixel, paste back. Times the
whole ``predict`` and its parts (median over repeats), untrained weights (latency does not
depend on them). Target (issue 3): median <= 100 ms on the 2-core CPU, <= 10 ms on an
H100-class GPU.

One more line, not part of a GDGP click: DeepIGeoS's graph cut (:mod:`gdgp.methods.graph_cut`,
8-neighbour, the 20 clicks as seeds) on the same slice, with a confident probability map
(0.97 / 0.02 + noise, as trained weights give; an unsure map makes max flow much slower).

Usage: ``python benchmarks/bench_latency.py [--device cpu|cuda] [--threads 2] [--repeats 30] [--crop-size 128]``
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _timing import device_sync, median_ms

from gdgp.clicks.encodings import click_map
from gdgp.clicks.robot import Robot
from gdgp.methods import build_method
from gdgp.methods.graph_cut import graph_cut


def phantom(size: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy slice with an irregular 40-px target (the robot needs errors to click on)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    angle = np.arctan2(yy - 128, xx - 120)
    radius = 40 + 6 * np.sin(3 * angle)
    gt = np.hypot(yy - 128, xx - 120) <= radius
    image = np.clip(0.35 + 0.3 * gt + 0.05 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)
    return image, gt


def twenty_clicks(method, image: np.ndarray, gt: np.ndarray) -> list:
    """The hybrid first interaction (7 points) + robot clicks on a degraded mask up to 20."""
    robot = Robot(gt)
    method.first_interaction(image, robot)
    rng = np.random.default_rng(1)
    pred = gt.copy()
    while len(robot.clicks) < 20:
        y, x = rng.integers(60, 196, size=2)
        pred[y - 4 : y + 4, x - 4 : x + 4] = ~pred[y - 4 : y + 4, x - 4 : x + 4]
        robot.next_click(pred)
    return robot.clicks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--crop-size", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    method = build_method("gdgp", crop_size=args.crop_size).to(args.device)
    method.network.eval()
    image, gt = phantom()
    clicks = twenty_clicks(method, image, gt)
    prev = np.zeros_like(image)
    sync = device_sync(args.device)
    batch = method.prepare([image], [clicks])
    net = method.network

    def features():
        with torch.no_grad():
            low = torch.cat([batch.images[:, None], net.maps(batch)], 1)
            return low, net.backbone(low)

    low, feats = features()

    def head():
        with torch.no_grad():
            ti = low.flatten(2).transpose(1, 2)
            td = feats.flatten(2).transpose(1, 2)
            idx = batch.point_idx.clamp_min(0)[..., None]
            net.head(
                torch.gather(ti, 1, idx.expand(-1, -1, 3)),
                torch.gather(td, 1, idx.expand(-1, -1, td.shape[-1])),
                batch.point_y,
                batch.point_mask,
                ti,
                td,
            )

    parts = {
        "crop + Gaussian geodesic encoding": lambda: method.prepare([image], [clicks]),
        "DynUNet features": features,
        "GP head (Laplace, every crop pixel)": head,
        "whole click (predict, incl. paste back)": lambda: method.predict(image, clicks, prev),
    }
    noise = 0.02 * np.random.default_rng(2).standard_normal(gt.shape)
    prob = np.clip(np.where(gt, 0.97, 0.02) + noise, 0.0, 1.0)
    fg, bg = click_map(clicks, gt.shape, True), click_map(clicks, gt.shape, False)
    parts["DeepIGeoS graph cut (CPU, not in a click)"] = lambda: graph_cut(
        prob, image, fg, bg, weight=0.3, sigma=0.1, neighbours=8
    )
    print(
        f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
        f"slice 256x256, {len(clicks)} clicks, crop {batch.boxes[0].height}x{batch.boxes[0].width} -> "
        f"{args.crop_size}x{args.crop_size}"
    )
    for name, fn in parts.items():
        print(f"  {name:42s} {median_ms(fn, args.repeats, warmup=3, sync=sync):8.2f} ms (median of {args.repeats})")


if __name__ == "__main__":
    main()
