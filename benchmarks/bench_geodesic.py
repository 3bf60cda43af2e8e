"""Benchmark gdgp.clicks.geodesic.geodesic_distance (raster scan; torch and numba backends).

Prints the median wall time (ms) of: 1 image 256x256, a batch of 16 at 64x64 and a batch
of 16 at 256x256 (lamb = 1, 3 seeds per image), on CPU (both backends, and the numba
backend's max |difference| / max D to the torch one) and/or CUDA (torch backend). If
FastGeodis is importable it is timed on the same inputs (one image per call: its 2D kernel
only reads batch item 0) and its agreement with ours is printed; it is NOT a project
dependency.

Usage:
    python benchmarks/bench_geodesic.py [--device auto|cpu|cuda] [--iterations 4]
                                        [--threads N] [--repeats 7]

Why our own scan (issue 3, item 2), measured on the 2-core dev machine (Python 3.11,
torch 2.15 CPU, NumPy 2.4), 2026-11-24:

* ``pip install FastGeodis`` (1.0.5, sdist only): fails after ~42 s in "Getting
  requirements to build wheel": ``ModuleNotFoundError: No module named 'pkg_resources'``
  (its setup.py imports pkg_resources, which setuptools >= 81 in the isolated build env
  no longer has). It builds (~60 s, CPU-only, C++) only with
  ``pip install --no-build-isolation FastGeodis`` in an env holding torch and
  setuptools < 81, i.e. special flags: not acceptable for pyproject / a fresh CI machine.
* ``pip install GeodisTK`` (0.1.7): fails in 1.4 s, ``ModuleNotFoundError: No module
  named 'numpy'`` (undeclared build dependency); with ``--no-build-isolation`` against
  NumPy 2.4 the C++ compile fails: ``error: 'NPY_IN_ARRAY' was not declared in this
  scope`` (an API removed in NumPy 2). CPU only, NumPy only, no batch.
* FastGeodis vs ours on the 256x256 "camera" image, lamb = 1 (both formulas coincide at
  lamb in {0, 1}; FastGeodis 1.0.5 uses the linear cost (1 - lamb) d + lamb |dI|, ours the
  GeoS/GeodisTK form sqrt((1 - lamb) d^2 + lamb dI^2)): identical at lamb = 0; at lamb = 1
  both have max error 0.042 x max distance vs Dijkstra with 4 iterations (both scans are
  upper bounds; where they differ, by up to 0.03-0.05 x max on the random inputs below,
  one has converged further). Median ms, CPU, this script, idle machine:

  ===========================  ============  =========  ======================
  case                         iterations    ours       FastGeodis (per image)
  ===========================  ============  =========  ======================
  1 x 256^2, 1 thread          2             9.3        5.1
  16 x 64^2, 1 thread          2             4.5        6.3
  16 x 256^2, 1 thread         2             65.6       78.2
  1 x 256^2, 1 thread          4             14.5       9.9
  16 x 64^2, 1 thread          4             7.1        13.1
  16 x 256^2, 1 thread         4             98.9       176.4
  1 x 256^2, 2 threads         4             12.9       6.9
  16 x 64^2, 2 threads         4             5.9        12.6
  16 x 256^2, 2 threads        4             83.4       111.5
  ===========================  ============  =========  ======================

  FastGeodis is ~1.5-2x faster on one image (compiled loops), ours is faster on batches
  (all items share each row step) and needs no compiler. No CUDA device was available
  for these measurements; on CUDA the scan issues 2 small kernels per row (about 4 x H x
  iterations launches per call), so expect it to be launch-bound there.

The numba backend (issue: a compiled CPU scan; numba 0.68.1 installs as a wheel, no
compiler needed) RESULTS_PLACEHOLDER
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numba
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import device_sync, median_ms

from gdgp.clicks.geodesic import geodesic_distance

CASES = [("1 x 256x256", 1, 256), ("16 x 64x64", 16, 64), ("16 x 256x256", 16, 256)]


def make_inputs(batch: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth-ish random images in [0, 1] and 3 random seeds per image."""
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 1, size // 4, size // 4, generator=gen)
    image = torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    image = image + 0.05 * torch.rand(batch, size, size, generator=gen)
    seeds = torch.zeros(batch, size, size, dtype=torch.bool)
    idx = torch.randint(0, size, (batch, 3, 2), generator=gen)
    for b in range(batch):
        seeds[b, idx[b, :, 0], idx[b, :, 1]] = True
    return image.to(device), seeds.to(device)


def backends(device: torch.device) -> list[str]:
    """The geodesic_distance backends that run on ``device`` (numba is CPU only)."""
    return ["torch", "numba"] if device.type == "cpu" else ["torch"]


def bench_device(device: torch.device, iterations: int, repeats: int) -> None:
    try:
        import FastGeodis  # type: ignore[import-not-found]
    except ImportError:
        FastGeodis = None
    for name, batch, size in CASES:
        image, seeds = make_inputs(batch, size, device)
        line = f"{device.type:4s} {name:14s} iterations={iterations}:"
        dists = {}
        for backend in backends(device):

            def run(backend: str = backend) -> torch.Tensor:
                return geodesic_distance(image, seeds, lamb=1.0, iterations=iterations, backend=backend)

            line += f" {backend} {median_ms(run, repeats, sync=device_sync(device)):8.2f} ms |"
            dists[backend] = run()
        if "numba" in dists:
            diff = float((dists["numba"] - dists["torch"]).abs().max() / dists["torch"].max())
            line += f" numba vs torch max |diff| / max D = {diff:.2g} |"
        if FastGeodis is not None:

            def run_fg() -> list[torch.Tensor]:
                return [
                    FastGeodis.generalised_geodesic2d(
                        image[b][None, None], (~seeds[b]).float()[None, None], 1e10, 1.0, iterations
                    )
                    for b in range(batch)
                ]

            fg = median_ms(run_fg, repeats, sync=device_sync(device))
            diff = max(float((f[0, 0] - r).abs().max() / r.max()) for f, r in zip(run_fg(), dists["torch"]))
            line += f" FastGeodis {fg:8.2f} ms (max |diff| / max D to torch = {diff:.2g})"
        print(line.rstrip(" |"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CPU, plus CUDA when available"
    )
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available")
    devices = ["cpu", "cuda"] if args.device == "auto" else [args.device]
    print(f"torch {torch.__version__}, numba {numba.__version__}, CPU threads {torch.get_num_threads()}")
    for dev in devices:
        if dev == "cuda" and not torch.cuda.is_available():
            print("cuda: not available, skipped")
            continue
        bench_device(torch.device(dev), args.iterations, args.repeats)


if __name__ == "__main__":
    main()
