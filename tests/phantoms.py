"""Synthetic test images shared by the method tests: a disc target on a noisy background."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def disc(shape: tuple[int, int] = (48, 48), centre: tuple[float, float] = (24, 20), r: float = 8.0) -> np.ndarray:
    """Boolean (H, W) disc of radius ``r`` px at ``centre`` (y, x)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= r * r


def image_of(gt: np.ndarray, seed: int = 0) -> np.ndarray:
    """A float32 image in [0, 1]: 0.3 background, 0.7 target, Gaussian noise of std 0.05."""
    rng = np.random.default_rng(seed)
    return np.clip(0.3 + 0.4 * gt + 0.05 * rng.standard_normal(gt.shape), 0, 1).astype(np.float32)


def disc_batch(
    n: int, centre: tuple[int, int], step: tuple[int, int], r: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` discs moving by ``step`` (y, x) and growing 1 px each, with their noisy images."""
    labels = np.stack(
        [disc(centre=(centre[0] + step[0] * i, centre[1] + step[1] * i), r=r + i) for i in range(n)]
    ).astype(np.uint8)
    return np.stack([image_of(lab, seed + i) for i, lab in enumerate(labels)]), labels


def assert_same_seed_same_steps(
    make_method: Callable[[], Any],
    images: np.ndarray,
    labels: np.ndarray,
    steps: int = 2,
    torch_seed: int = 0,
    rng_seed: int = 5,
) -> None:
    """Two trainings from the same seeds give the same losses and bit-identical weights,
    and the steps did change the weights (finite losses)."""
    results, weights = [], []
    for _ in range(2):
        torch.manual_seed(torch_seed)
        method = make_method()
        before = [p.detach().clone() for p in method.network.parameters()]
        opt, _ = method.configure_optimizers(1e-3, 10, 0.5)
        rng = np.random.default_rng(rng_seed)
        out = [method.train_step(images, labels, opt, rng) for _ in range(steps)]
        assert all(np.isfinite(v) for o in out for v in o.values())
        assert any(not torch.equal(b, p) for b, p in zip(before, method.network.parameters(), strict=True))
        results.append(out)
        weights.append([p.detach().clone() for p in method.network.parameters()])
    assert results[0] == results[1]
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))
