"""Benchmark: per-click latency of trained models on real slices, as the simulated user sees it.

``bench_paper_scale.py`` times untrained weights on a synthetic blob; that is fair for the
networks but not for methods whose post-processing depends on the prediction (DeepIGeoS's
and MIDeepSeg's graph cuts get slower on an unsure map). This script loads the checkpoints a
workflow run trained, takes that run's slices of one split, and for each slice runs the
method's first interaction and ``--clicks`` robot corrections (``ritm``) with
``bench_paper_scale.py``'s session, timing every ``predict_batch`` call on the single slice (encoding + prediction, as
:mod:`gdgp.evaluation.loop` calls it; not the robot, not the metrics). Prints the median
and p90 per method over all timed calls.

Usage: ``python benchmarks/bench_trained_latency.py --slices results/slices/D/slices.npz
--manifest results/slices/D/manifest.csv --checkpoints results/models/D/*/seed0/final.pt
[--split test] [--max-slices 8] [--clicks 20] [--threads 2]``
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from bench_paper_scale import click_latencies

from gdgp.data.slice_set import load_slices
from gdgp.training.checkpoint import load_method


def click_latencies_ms(
    checkpoint: Path, images: np.ndarray, labels: np.ndarray, clicks: int
) -> tuple[str, list[float]]:
    """The method's name and the wall time (ms) of each timed predict_batch call of every slice's session
    (``bench_paper_scale.click_latencies``: two untimed warm-up calls, then first interaction + ``clicks``
    corrections; an automatic method's one prediction is timed as often)."""
    method = load_method(checkpoint, "cpu")
    times = [
        t
        for image, gt in zip(images, labels, strict=True)
        for t in click_latencies(method, image, gt, clicks, sync=lambda: None)
    ]
    return method.name, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-slices", type=int, default=8, help="first N slices of the split")
    ap.add_argument("--clicks", type=int, default=20, help="robot corrections per slice (timed: clicks + 1)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = load_slices(a.slices, a.manifest).subset(a.split)
    images, labels = data.images[: a.max_slices], data.labels[: a.max_slices]
    print(
        f"torch {torch.__version__}, {a.threads} threads, {len(images)} {a.split} slices "
        f"{images.shape[1]}x{images.shape[2]}, {a.clicks} corrections each"
    )
    print("| method | calls | median ms | p90 ms |\n|---|---|---|---|")
    for checkpoint in a.checkpoints:
        name, times = click_latencies_ms(checkpoint, images, labels, a.clicks)
        p90 = statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]
        print(f"| {name} | {len(times)} | {statistics.median(times):.1f} | {p90:.1f} |", flush=True)


if __name__ == "__main__":
    main()
