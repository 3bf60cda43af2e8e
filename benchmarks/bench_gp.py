"""Benchmark: GDGP Laplace GP head vs scikit-learn's GaussianProcessClassifier.

Same points and kernel (``0.5 RBF(intensity; 1.0) + 0.2 Matern52(deep; 2.0)``),
N = 20 clicks, M = 64x64 and 256x256 test pixels, intensity dim 1, deep dim 8.
Times fit + predict (our head: ``torch.no_grad``, CPU float32/float64, averaged
probability like sklearn; sklearn: ``GaussianProcessClassifier(optimizer=None)
.fit(...).predict_proba(...)``) in interleaved rounds (every contender once per round, so
all see the same host load) and prints each one's median milliseconds, the median of the
per-round speed-ups and their 10th..90th percentile.

Usage: ``python benchmarks/bench_gp.py [--repeats 20] [--device cpu|cuda] [--sizes 64 256] [--threads 2]
[--di 1] [--dd 8]`` (``--di 3 --dd 16 --sizes 128``: GDGP's shapes at its default 128-px crop)
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.gaussian_process import GaussianProcessClassifier

from _timing import device_sync, interleaved_ms

from gdgp.gp import LaplaceGPHead
from gdgp.gp.sklearn_reference import sklearn_hybrid_kernel

HP = {"alpha1": 0.5, "alpha2": 0.2, "tau": 1.0, "l": 2.0}
N_CLICKS = 20
BATCH = 8


def make_points(m: int, di: int, dd: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_CLICKS, di + dd))
    xs = rng.normal(size=(m, di + dd))
    y = np.where(x[:, 0] + x[:, di] > 0, 1, -1)
    y[:2] = (1, -1)
    return x, xs, y


def bench_size(side: int, repeats: int, device: str, di: int, dd: int) -> None:
    x, xs, y = make_points(side * side, di, dd)
    gpc = GaussianProcessClassifier(kernel=sklearn_hybrid_kernel(di, dd, **HP), optimizer=None)
    y01 = (y > 0).astype(int)

    def run_sklearn() -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gpc.fit(x, y01).predict_proba(xs)[:, 1]

    p_sk = run_sklearn()
    mean_sk = gpc.latent_mean_and_variance(xs)[0]
    sklearn_name = "sklearn GaussianProcessClassifier fit + predict_proba (float64)"
    contenders: dict[str, Callable[[], object]] = {sklearn_name: run_sklearn}
    errors: dict[str, str] = {}
    per_slice: dict[str, int] = {}
    # (dtype, prob_mode, predict_var, batch): the first two compute exactly sklearn's outputs
    # (latent mean + variance, averaged probability); the others are GDGP's own setting
    # (sigmoid of the latent mean, no variance), compared on the latent mean.  The evaluation
    # predicts all test slices of a round in one batched call: the last row, per slice.
    configs = ((torch.float32, "averaged", True, 1), (torch.float64, "averaged", True, 1),
               (torch.float32, "sigmoid", False, 1), (torch.float32, "sigmoid", False, BATCH))
    for dtype, mode, with_var, batch in configs:
        head = LaplaceGPHead(**HP, prob_mode=mode, predict_var=with_var, dtype=dtype).to(device)

        def t(a: np.ndarray, dt: torch.dtype = dtype, b: int = batch) -> torch.Tensor:
            return torch.as_tensor(a, dtype=dt, device=device)[None].repeat(b, *([1] * np.ndim(a)))

        args = (t(x[:, :di]), t(x[:, di:]), t(y), None, t(xs[:, :di]), t(xs[:, di:]))

        def run_head(head: LaplaceGPHead = head, args: tuple = args) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                return head(*args)

        what = "mean+var, averaged prob" if with_var else "GDGP: mean only, sigmoid"
        name = f"gdgp head {device} {str(dtype).removeprefix('torch.')} ({what})"
        if batch > 1:
            name = f"gdgp head {device} float32 (GDGP, batch of {batch}, per slice)"
        out = run_head()
        if with_var:
            errors[name] = f"max|dprob| {float(np.abs(out['prob'][0].cpu().double().numpy() - p_sk).max()):.1e}"
        else:
            errors[name] = f"max|dmean| {float(np.abs(out['mean'][0].cpu().double().numpy() - mean_sk).max()):.1e}"
        contenders[name] = run_head
        per_slice[name] = batch

    times = interleaved_ms(contenders, repeats, sync=device_sync(device))
    t_sk = times.pop(sklearn_name)
    print(f"M = {side}x{side} = {side * side} test pixels, N = {N_CLICKS} clicks, Di = {di}, Dd = {dd}, "
          f"{repeats} interleaved rounds")
    print(f"  {sklearn_name:58s} {statistics.median(t_sk):9.2f} ms")
    for name, ts in times.items():
        ours = [t / per_slice[name] for t in ts]
        ratios = sorted(a / b for a, b in zip(t_sk, ours, strict=True))
        print(f"  {name:58s} {statistics.median(ours):9.2f} ms   speed-up x{statistics.median(ratios):6.1f} "
              f"(rounds: x{ratios[len(ratios) // 10]:.1f}..x{ratios[-1 - len(ratios) // 10]:.1f})   "
              f"{errors[name]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--di", type=int, default=1, help="intensity features per pixel (GDGP: 3, image + 2 maps)")
    ap.add_argument("--dd", type=int, default=8, help="deep features per pixel (GDGP demo: 16)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    for side in args.sizes:
        bench_size(side, args.repeats, args.device, args.di, args.dd)


if __name__ == "__main__":
    main()
