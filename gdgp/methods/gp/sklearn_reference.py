"""The hybrid kernel as a scikit-learn kernel: the independent reference of the GP head.

``alpha1 * RBF(tau)`` on the first ``di`` columns + ``alpha2 * Matern(l, nu=2.5)`` on the
next ``dd`` columns, built from scikit-learn's own kernels, so that
``GaussianProcessClassifier(kernel=sklearn_hybrid_kernel(...), optimizer=None)`` is a
Laplace GP classifier with exactly the head's kernel (tests/test_gp.py,
benchmarks/bench_gp.py).
"""

from __future__ import annotations

import numpy as np
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Kernel, Matern


class Columns(Kernel):
    """sklearn kernel acting on a subset of the columns (an ``active_dims`` wrapper).

    It has no hyperparameters of its own (``theta`` is empty), which is all a
    ``GaussianProcessClassifier(optimizer=None)`` needs.
    """

    def __init__(self, base: Kernel, cols: tuple[int, ...]) -> None:
        self.base = base
        self.cols = cols

    def __call__(self, X: np.ndarray, Y: np.ndarray | None = None, eval_gradient: bool = False) -> np.ndarray:
        if eval_gradient:
            raise NotImplementedError
        Y = None if Y is None else np.asarray(Y)[:, list(self.cols)]
        return self.base(np.asarray(X)[:, list(self.cols)], Y)

    def diag(self, X: np.ndarray) -> np.ndarray:
        return self.base.diag(np.asarray(X)[:, list(self.cols)])

    def is_stationary(self) -> bool:
        return True


def sklearn_hybrid_kernel(di: int, dd: int, alpha1: float, alpha2: float, tau: float, l: float) -> Kernel:  # noqa: E741
    """``alpha1 RBF(tau)`` on columns ``[0, di)`` + ``alpha2 Matern52(l)`` on ``[di, di + dd)``, all fixed."""
    rbf = ConstantKernel(alpha1, "fixed") * Columns(RBF(tau), tuple(range(di)))
    mat = ConstantKernel(alpha2, "fixed") * Columns(Matern(l, nu=2.5), tuple(range(di, di + dd)))
    return rbf + mat
