"""Time a job's start-up: importing the methods with MONAI's plain import and with the lean one.

Usage: python benchmarks/bench_import.py [--repeats 5]
Each repeat starts two fresh interpreters (plain, then lean, alternating so both see the
same host load) that import what ``gdgp train``/``gdgp evaluate`` import before any work
(``gdgp.methods``, the trainer, the evaluation). Prints the median wall seconds of each
and their difference: the saving per job (see gdgp/monai_import.py).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

JOB_IMPORTS = "import gdgp.methods, gdgp.training.trainer, gdgp.evaluation.evaluate"
LEAN = "from gdgp.monai_import import import_monai_without_unused_extras as f; f(); "


def wall_s(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    wall_s(JOB_IMPORTS)  # warm the file cache
    plain, lean = [], []
    for _ in range(a.repeats):
        plain.append(wall_s(JOB_IMPORTS))
        lean.append(wall_s(LEAN + JOB_IMPORTS))
    p, q = statistics.median(plain), statistics.median(lean)
    print(
        f"job imports, median of {a.repeats}: plain MONAI import {p:.2f} s, lean {q:.2f} s, "
        f"saving {p - q:.2f} s per job ({100 * (p - q) / p:.0f} %)"
    )
    print("plain:", " ".join(f"{t:.2f}" for t in plain))
    print("lean: ", " ".join(f"{t:.2f}" for t in lean))


if __name__ == "__main__":
    main()
