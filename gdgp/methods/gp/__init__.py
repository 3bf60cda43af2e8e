"""Gaussian-process classification head of GDGP (hybrid kernel + Laplace approximation)."""

from __future__ import annotations

from gdgp.methods.gp.kernels import DEFAULT_HYPERS, HybridKernel
from gdgp.methods.gp.laplace import LaplaceGPHead, averaged_probability, robust_cholesky

__all__ = ["DEFAULT_HYPERS", "HybridKernel", "LaplaceGPHead", "averaged_probability", "robust_cholesky"]
