"""Benchmark: per-click latency of the SAM-family adapters (sam, medsam, sam2) on a 256-px slice.

Each adapter runs at its real size (SAM and MedSAM: ViT-B; SAM 2.1: Hiera-B+) with random weights
(latency does not depend on them) as the interaction loop runs it: the image embedding once per
slice (the slice made 8-bit RGB and upsampled to the model's 1024-px input, as its predictor
does, then the image encoder), then one prompt decoding per click with the previous
low-resolution logits fed back. Reported per method: the embedding (median over slices) and the
decoding of rounds 1.. (median and 90th percentile over every click of every slice), each after
one untimed slice of warm-up. ``sam2`` is skipped when its extra is not installed.

Usage: ``python benchmarks/bench_sam_latency.py [--methods sam medsam sam2] [--threads 2] [--slices 3]
[--clicks 10] [--size 256] [--device cpu]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from typing import Any

import numpy as np
import torch
from _timing import device_sync, median_ms, set_threads

from gdgp.clicks.robot import Robot
from gdgp.methods import build_method
from gdgp.methods.sam import PromptedSegmenter


def phantom(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy slice with an irregular target of about a sixth of its side (the robot clicks on errors)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size / 2 + rng.uniform(-size / 8, size / 8, 2)
    angle = np.arctan2(yy - cy, xx - cx)
    gt = np.hypot(yy - cy, xx - cx) <= size / 6 * (1 + 0.15 * np.sin(3 * angle + seed))
    image = np.clip(0.35 + 0.3 * gt + 0.05 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)
    return image, gt


def session_ms(method: PromptedSegmenter, size: int, seed: int, clicks: int, sync: Any) -> tuple[float, list[float]]:
    """One slice: the embedding alone (ms), then the decode of each corrective round (ms)."""
    image, gt = phantom(size, seed)
    method.forget()
    sync()
    t0 = time.perf_counter()
    method.set_slice(image)  # the embedding, cached: what the first prediction of a slice adds to its decode
    sync()
    embed = (time.perf_counter() - t0) * 1e3
    robot = Robot(gt)
    method.first_interaction(image, robot)
    pred = method.predict(image, robot.clicks, np.zeros_like(image))  # round 0's decode
    decodes = []
    for _ in range(clicks):
        if robot.next_click(pred > 0.5) is None:
            break
        sync()
        t0 = time.perf_counter()
        pred = method.predict(image, robot.clicks, np.zeros_like(image))
        sync()
        decodes.append((time.perf_counter() - t0) * 1e3)
    return embed, decodes


def latencies(
    name: str, size: int, slices: int, clicks: int, device: str = "cpu", **hparams: Any
) -> dict[str, float | int]:
    """Embedding and per-click decoding times (ms) of one method: one warm-up slice, then ``slices`` timed."""
    torch.manual_seed(0)
    method = build_method(name, random_weights=True, **hparams).to(device)
    assert isinstance(method, PromptedSegmenter)
    sync = device_sync(device)
    session_ms(method, size, seed=100, clicks=2, sync=sync)  # warm-up
    embeds, decodes = [], []
    for seed in range(slices):
        embed, per_click = session_ms(method, size, seed, clicks, sync)
        embeds.append(embed)
        decodes += per_click
    return {
        "embed_ms": statistics.median(embeds),
        "decode_median_ms": statistics.median(decodes),
        "decode_p90_ms": float(np.percentile(decodes, 90)),
        "clicks_timed": len(decodes),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["sam", "medsam", "sam2"])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--slices", type=int, default=3)
    ap.add_argument("--clicks", type=int, default=10, help="corrective clicks timed per slice")
    ap.add_argument("--size", type=int, default=256, help="slice side (px)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    set_threads(args.threads)
    a, b = torch.randn(4096, 256), torch.randn(256, 128)
    gemm_ms = median_ms(lambda: a @ b, repeats=20)
    gflops = 2 * 4096 * 256 * 128 / gemm_ms / 1e6
    print(f"host: load average {os.getloadavg()[0]:.1f}, float32 GEMM (4096 x 256 x 128) {gflops:.0f} GFLOP/s")
    print(f"{args.size}-px slices, {args.slices} timed + 1 warm-up, {args.clicks} clicks each, device {args.device}")
    print("| method | model | embedding per slice (ms) | decode per click, median (ms) | p90 (ms) | clicks timed |")
    print("|---|---|---|---|---|---|")
    models = {"sam": "SAM ViT-B", "medsam": "MedSAM (SAM ViT-B)", "sam2": "SAM 2.1 Hiera-B+"}
    for name in args.methods:
        if name.startswith("sam2") and importlib.util.find_spec("sam2") is None:
            print(f"| {name} | skipped: the sam2 extra is not installed |  |  |  |  |")
            continue
        r = latencies(name, args.size, args.slices, args.clicks, args.device)
        print(
            f"| {name} | {models.get(name, name)} | {r['embed_ms']:.0f} | {r['decode_median_ms']:.1f} "
            f"| {r['decode_p90_ms']:.1f} | {r['clicks_timed']} |"
        )
    print(f"host after: load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
