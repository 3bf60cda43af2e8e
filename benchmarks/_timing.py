"""Shared timing helper of the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import torch


def device_sync(device: str | torch.device) -> Callable[[], None]:
    """A function that waits for queued CUDA work on ``device`` (a no-op on CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2,
              sync: Callable[[], None] = lambda: None) -> float:
    """Median wall time of ``fn`` in milliseconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def interleaved_ms(fns: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 1,
                   sync: Callable[[], None] = lambda: None) -> dict[str, list[float]]:
    """Per-round wall times (ms) of several functions timed in turn, round after round.

    On a shared host the load drifts between seconds; timing the contenders back to back
    in every round exposes them to the same drift, so per-round ratios are steadier than
    a ratio of two medians taken a few seconds apart.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(1e3 * (time.perf_counter() - start))
    return times
