"""Shared timing helper of the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import argparse
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


def median_ms(
    fn: Callable[[], object], repeats: int, warmup: int = 2, sync: Callable[[], None] = lambda: None
) -> float:
    """Median wall time of ``fn`` in milliseconds after ``warmup`` untimed calls."""
    (block,) = alternating_blocks_ms({"fn": fn}, blocks=1, per_block=repeats, warmup=warmup, sync=sync)["fn"]
    return statistics.median(block)


def block_parser(description: str, default_threads: int) -> argparse.ArgumentParser:
    """The options every block benchmark takes: --repeats, --sizes (square sides), --threads."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--repeats", type=int, default=40, help="timed calls per contender, split into 4 blocks")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--threads", type=int, default=default_threads, help="torch CPU threads (0: torch's default)")
    return ap


def set_threads(threads: int) -> None:
    """Use ``threads`` torch CPU threads (0 keeps torch's default) and print the setting."""
    if threads > 0:
        torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")


def median_of_blocks(blocks: list[list[float]]) -> float:
    """Median over every timed call of every block (of :func:`alternating_blocks_ms`)."""
    return statistics.median(t for b in blocks for t in b)


def alternating_blocks_ms(
    fns: Mapping[str, Callable[[], object]],
    blocks: int,
    per_block: int,
    warmup: int = 2,
    sync: Callable[[], None] = lambda: None,
) -> dict[str, list[list[float]]]:
    """Wall times (ms) of several functions timed in alternating blocks: ``blocks`` times,
    each function gets ``warmup`` untimed then ``per_block`` timed calls in a row.

    Why blocks and not single interleaved calls: the host's load drifts over seconds, so
    contenders compared in adjacent blocks see the same load; but torch's OpenMP pool and
    NumPy's BLAS pool keep spinning for a while after their work, so a call timed right
    after the *other* library runs against spinning threads (measured: the head 3-12x
    slower when interleaved call by call with scikit-learn).  The untimed warm-up calls
    let the other pool go idle first.

    Returns:
        ``{name: [[ms of each timed call] per block]}``.
    """
    times: dict[str, list[list[float]]] = {name: [] for name in fns}
    for _ in range(blocks):
        for name, fn in fns.items():
            for _ in range(warmup):
                fn()
            sync()
            block = []
            for _ in range(per_block):
                start = time.perf_counter()
                fn()
                sync()
                block.append(1e3 * (time.perf_counter() - start))
            times[name].append(block)
    return times
