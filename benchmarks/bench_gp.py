"""Benchmark: GDGP Laplace GP head vs scikit-learn's GaussianProcessClassifier.

Same points and kernel (``0.5 RBF(intensity; 1.0) + 0.2 Matern52(deep; 2.0)``),
N = 20 clicks, M = 64x64 and 256x256 test pixels, intensity dim 1, deep dim 8.
Times fit + predict (our head: ``torch.no_grad``, CPU float32/float64, averaged
probability like sklearn; sklearn: ``GaussianProcessClassifier(optimizer=None)
.fit(...).predict_proba(...)``) in alternating blocks (``_timing.alternating_blocks_ms``:
adjacent blocks see the same host load) and prints each one's median milliseconds over
all calls and its minimum, the median (min..max) of the per-block speed-ups (ratio of the
block medians), and the ratio of the two minima (the best case of each, as ``timeit``
advises for a noisy host).

Usage: ``python benchmarks/bench_gp.py [--repeats 40] [--device cpu|cuda] [--sizes 64 256] [--threads 2]
[--di 1] [--dd 8]`` (``--di 3 --dd 16 --sizes 128``: GDGP's shapes at its default 128-px crop)
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Callable

import numpy as np
import torch
from _timing import alternating_blocks_ms, block_parser, device_sync, median_of_blocks, set_threads
from sklearn.gaussian_process import GaussianProcessClassifier

from gdgp.methods.gp import LaplaceGPHead
from gdgp.methods.gp.sklearn_reference import sklearn_hybrid_kernel

HP = {"alpha1": 0.5, "alpha2": 0.2, "tau": 1.0, "l": 2.0}
N_CLICKS = 20
BATCH = 8
BLOCKS = 4


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
    configs = (
        (torch.float32, "averaged", True, 1),
        (torch.float64, "averaged", True, 1),
        (torch.float32, "sigmoid", False, 1),
        (torch.float32, "sigmoid", False, BATCH),
    )
    for dtype, mode, with_var, batch in configs:
        head = LaplaceGPHead(**HP, prob_mode=mode, predict_var=with_var, dtype=dtype).to(device)

        def t(a: np.ndarray, dt: torch.dtype = dtype, b: int = batch) -> torch.Tensor:
            return torch.as_tensor(a, dtype=dt, device=device)[None].repeat(b, *([1] * np.ndim(a)))

        args = (t(x[:, :di]), t(x[:, di:]), t(y), None, t(xs[:, :di]), t(xs[:, di:]))

        def run_head(head: LaplaceGPHead = head, args: tuple = args) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                return head(*args)

        what = "mean+var, averaged prob" if with_var else "GDGP: mean only, sigmoid"
        if batch > 1:
            what = f"GDGP, batch of {batch}, per slice"
        name = f"gdgp head {device} {str(dtype).removeprefix('torch.')} ({what})"
        out = run_head()
        if with_var:
            errors[name] = f"max|dprob| {float(np.abs(out['prob'][0].cpu().double().numpy() - p_sk).max()):.1e}"
        else:
            errors[name] = f"max|dmean| {float(np.abs(out['mean'][0].cpu().double().numpy() - mean_sk).max()):.1e}"
        contenders[name] = run_head
        per_slice[name] = batch

    times = alternating_blocks_ms(
        contenders, blocks=BLOCKS, per_block=max(1, repeats // BLOCKS), sync=device_sync(device)
    )
    sk_blocks = times.pop(sklearn_name)
    print(
        f"M = {side}x{side} = {side * side} test pixels, N = {N_CLICKS} clicks, Di = {di}, Dd = {dd}, "
        f"{BLOCKS} alternating blocks of {max(1, repeats // BLOCKS)} calls"
    )
    sk_min = min(map(min, sk_blocks))
    print(f"  {sklearn_name:58s} {median_of_blocks(sk_blocks):9.2f} ms (min {sk_min:7.2f})")
    for name, blocks in times.items():
        ours = [[t / per_slice[name] for t in b] for b in blocks]
        ratios = [statistics.median(s) / statistics.median(o) for s, o in zip(sk_blocks, ours, strict=True)]
        ours_min = min(map(min, ours))
        print(
            f"  {name:58s} {median_of_blocks(ours):9.2f} ms (min {ours_min:7.2f})   "
            f"speed-up x{statistics.median(ratios):5.1f} "
            f"(blocks x{min(ratios):.1f}..x{max(ratios):.1f}; of the minima x{sk_min / ours_min:.1f})   {errors[name]}"
        )


def main() -> None:
    ap = block_parser(__doc__.splitlines()[0], default_threads=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--di", type=int, default=1, help="intensity features per pixel (GDGP: 3, image + 2 maps)")
    ap.add_argument("--dd", type=int, default=8, help="deep features per pixel (GDGP demo: 16)")
    args = ap.parse_args()
    set_threads(args.threads)
    print(f"device {args.device}")
    for side in args.sizes:
        bench_size(side, args.repeats, args.device, args.di, args.dd)


if __name__ == "__main__":
    main()
