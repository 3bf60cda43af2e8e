"""Benchmark: GDGP Laplace GP head vs scikit-learn's GaussianProcessClassifier.

Same points and kernel (``0.5 RBF(intensity; 1.0) + 0.2 Matern52(deep; 2.0)``),
N = 20 clicks, M = 64x64 and 256x256 test pixels, intensity dim 1, deep dim 8.
Times fit + predict (our head: ``torch.no_grad``, CPU float32/float64, averaged
probability like sklearn; sklearn: ``GaussianProcessClassifier(optimizer=None)
.fit(...).predict_proba(...)``) and prints the median milliseconds and the ratio.

Usage: ``python benchmarks/bench_gp.py [--repeats 20] [--device cpu|cuda] [--sizes 64 256] [--threads 2]``
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Kernel, Matern

from gdgp.gp import LaplaceGPHead

HP = {"alpha1": 0.5, "alpha2": 0.2, "tau": 1.0, "l": 2.0}
DI, DD, N_CLICKS = 1, 8, 20


class Columns(Kernel):
    """sklearn kernel restricted to some input columns (no own hyperparameters)."""

    def __init__(self, base: Kernel, cols: tuple[int, ...]) -> None:
        self.base = base
        self.cols = cols

    def __call__(self, X, Y=None, eval_gradient=False):
        Y = None if Y is None else np.asarray(Y)[:, list(self.cols)]
        return self.base(np.asarray(X)[:, list(self.cols)], Y)

    def diag(self, X):
        return self.base.diag(np.asarray(X)[:, list(self.cols)])

    def is_stationary(self):
        return True


def sklearn_kernel() -> Kernel:
    rbf = ConstantKernel(HP["alpha1"], "fixed") * Columns(RBF(HP["tau"]), tuple(range(DI)))
    mat = ConstantKernel(HP["alpha2"], "fixed") * Columns(Matern(HP["l"], nu=2.5), tuple(range(DI, DI + DD)))
    return rbf + mat


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2, sync: Callable[[], None] = lambda: None
              ) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def make_points(m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_CLICKS, DI + DD))
    xs = rng.normal(size=(m, DI + DD))
    y = np.where(x[:, 0] + x[:, DI] > 0, 1, -1)
    y[:2] = (1, -1)
    return x, xs, y


def bench_size(side: int, repeats: int, device: str) -> None:
    x, xs, y = make_points(side * side)
    gpc = GaussianProcessClassifier(kernel=sklearn_kernel(), optimizer=None)
    y01 = (y > 0).astype(int)

    def run_sklearn() -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gpc.fit(x, y01).predict_proba(xs)[:, 1]

    t_sk = median_ms(run_sklearn, max(3, repeats // 4), warmup=1)
    p_sk = run_sklearn()
    print(f"M = {side}x{side} = {side * side} test pixels, N = {N_CLICKS} clicks, Di = {DI}, Dd = {DD}")
    print(f"  sklearn GaussianProcessClassifier (float64)  {t_sk:9.2f} ms")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for dtype in (torch.float32, torch.float64):
        head = LaplaceGPHead(**HP, prob_mode="averaged", dtype=dtype).to(device)
        t = lambda a, dt=dtype: torch.as_tensor(a, dtype=dt, device=device)[None]  # noqa: E731
        args = (t(x[:, :DI]), t(x[:, DI:]), t(y), None, t(xs[:, :DI]), t(xs[:, DI:]))

        def run_head() -> torch.Tensor:
            with torch.no_grad():
                return head(*args)["prob"]

        t_ours = median_ms(run_head, repeats, sync=sync)
        err = float(np.abs(run_head()[0].cpu().double().numpy() - p_sk).max())
        name = f"gdgp LaplaceGPHead ({device}, {str(dtype).removeprefix('torch.')})"
        print(f"  {name:44s} {t_ours:9.2f} ms   speed-up x{t_sk / t_ours:6.1f}   max|dprob| {err:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    for side in args.sizes:
        bench_size(side, args.repeats, args.device)


if __name__ == "__main__":
    main()
