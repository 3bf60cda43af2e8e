"""Geodesic distance (raster scan vs exact Dijkstra) and the geodesic click encodings."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from gdgp.clicks.geodesic import NO_SEED_DISTANCE, _resolve_backend, geodesic_distance
from gdgp.clicks.geodesic_encodings import (
    GaussianGeodesicEncoding,
    exp_geodesic_map,
    gaussian_geodesic,
    gaussian_geodesic_map,
    geodesic_map,
)
from gdgp.clicks.robot import Click

NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
CPU_BACKENDS = ["torch", "numba"]


def dijkstra(image: np.ndarray, seeds: np.ndarray, lamb: float) -> np.ndarray:
    """Exact shortest-path distance on the 8-neighbour graph, same step cost as gdgp.clicks.geodesic."""
    h, w = image.shape
    dist = np.full((h, w), np.inf)
    heap = []
    for y, x in zip(*np.nonzero(seeds)):
        dist[y, x] = 0.0
        heap.append((0.0, int(y), int(x)))
    heapq.heapify(heap)
    while heap:
        d, y, x = heapq.heappop(heap)
        if d > dist[y, x]:
            continue
        for dy, dx in NEIGHBOURS:
            yy, xx = y + dy, x + dx
            if 0 <= yy < h and 0 <= xx < w:
                step = math.sqrt((1 - lamb) * (dy * dy + dx * dx) + lamb * (image[yy, xx] - image[y, x]) ** 2)
                if d + step < dist[yy, xx]:
                    dist[yy, xx] = d + step
                    heapq.heappush(heap, (d + step, yy, xx))
    return dist


def random_case(
    seed: int, shape: tuple[int, int] = (12, 15), n_seeds: int = 3, smooth: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.random(shape)
    if smooth:
        image = gaussian_filter(image, 3.0)
        image = (image - image.min()) / (image.max() - image.min())
    seeds = np.zeros(shape, dtype=bool)
    seeds[rng.integers(0, shape[0], n_seeds), rng.integers(0, shape[1], n_seeds)] = True
    return image, seeds


def scan(image: np.ndarray, seeds: np.ndarray, lamb: float, **kw) -> np.ndarray:
    out = geodesic_distance(torch.from_numpy(image)[None], torch.from_numpy(seeds)[None], lamb=lamb, **kw)
    return out[0].double().numpy()


# ----------------------------------------------------------------- geodesic distance


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("lamb", [0.0, 0.3, 0.7, 0.9, 1.0])
@pytest.mark.parametrize("case", range(6))
def test_raster_scan_matches_dijkstra_small(case: int, lamb: float, backend: str) -> None:
    """12x15 random images: the default 4 iterations reach the exact distance (float64)."""
    image, seeds = random_case(case, n_seeds=1 + case % 3)
    ref = dijkstra(image, seeds, lamb)
    out = scan(image, seeds, lamb, backend=backend)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-12)
    assert (out[seeds] == 0).all()


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("lamb", [0.5, 1.0])
def test_raster_scan_float32_small(lamb: float, backend: str) -> None:
    image, seeds = random_case(11, n_seeds=2)
    ref = dijkstra(image.astype(np.float32).astype(np.float64), seeds, lamb)
    out = scan(image.astype(np.float32), seeds, lamb, backend=backend)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("lamb", [0.5, 1.0])
def test_raster_scan_tolerance_64(smooth: bool, lamb: float) -> None:
    """64x64: an upper bound of the exact distance, within the documented tolerance.

    Measured (seed 3): lamb=0.5 exact to float32 round-off; lamb=1 (zero Euclidean cost,
    paths may wind freely) max |error| / max distance 0.02 on i.i.d. noise and 2e-5 on a
    smooth image with 4 iterations. Both CPU backends (one Dijkstra for both).
    """
    image, seeds = random_case(3, (64, 64), n_seeds=2, smooth=smooth)
    image = image.astype(np.float32)
    ref = dijkstra(image.astype(np.float64), seeds, lamb)
    for backend in CPU_BACKENDS:
        out = scan(image, seeds, lamb, backend=backend)
        assert (out >= ref - 1e-4 * ref.max()).all()  # lengths of real paths
        tol = 1e-5 if (lamb < 1 or smooth) else 0.05
        assert np.abs(out - ref).max() / ref.max() <= tol
        more = scan(image, seeds, lamb, iterations=12, backend=backend)  # more iterations never hurt
        assert np.abs(more - ref).max() <= np.abs(out - ref).max() + 1e-5


def test_lamb0_is_exact_chamfer() -> None:
    """lamb = 0: the (1, sqrt 2) chamfer (octile) distance, min over seeds, exactly."""
    h, w = 40, 33
    rng = np.random.default_rng(0)
    image = rng.random((h, w)).astype(np.float32)  # irrelevant at lamb = 0
    ys, xs = rng.integers(0, h, 4), rng.integers(0, w, 4)
    seeds = np.zeros((h, w), dtype=bool)
    seeds[ys, xs] = True
    yy, xx = np.mgrid[:h, :w]
    octile = []
    for y, x in zip(ys, xs):
        dy, dx = np.abs(yy - y), np.abs(xx - x)
        octile.append(np.maximum(dy, dx) + (math.sqrt(2) - 1) * np.minimum(dy, dx))
    ref = np.min(octile, axis=0)
    np.testing.assert_allclose(scan(image, seeds, 0.0), ref, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(scan(image.astype(np.float64), seeds, 0.0), ref, rtol=1e-12, atol=1e-12)


def test_batch_items_independent_and_no_seed() -> None:
    a, sa = random_case(1, (20, 25))
    b, sb = random_case(2, (20, 25))
    image = torch.from_numpy(np.stack([a, b, a]))
    seeds = torch.from_numpy(np.stack([sa, np.zeros_like(sb), sb]))
    out = geodesic_distance(image, seeds, lamb=0.8)
    np.testing.assert_allclose(out[0].numpy(), scan(a, sa, 0.8), rtol=1e-12)
    np.testing.assert_allclose(out[2].numpy(), scan(a, sb, 0.8), rtol=1e-12)
    assert torch.isfinite(out).all()
    assert (out[1] == NO_SEED_DISTANCE).all()
    assert (out[seeds] == 0).all()


def test_unbatched_input_and_validation() -> None:
    image, seeds = random_case(4)
    out = geodesic_distance(torch.from_numpy(image), torch.from_numpy(seeds))
    assert out.shape == image.shape
    with pytest.raises(ValueError):
        geodesic_distance(torch.from_numpy(image), torch.from_numpy(seeds).float())
    with pytest.raises(ValueError):
        geodesic_distance(torch.from_numpy(image), torch.from_numpy(seeds), lamb=1.5)
    with pytest.raises(ValueError):
        geodesic_distance(torch.from_numpy(image), torch.from_numpy(seeds[:, :-1]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 37, 51), (1, 1, 17), (1, 17, 1), (1, 2, 2), (2, 64, 48)])
def test_numba_matches_torch(shape: tuple[int, int, int], dtype: torch.dtype) -> None:
    """The two CPU backends run the same scan: equal up to round-off (torch's CPU sqrt is not
    always correctly rounded; measured <= 2 ulp), also with a seedless batch item."""
    gen = torch.Generator().manual_seed(sum(shape))
    image = torch.rand(shape, generator=gen, dtype=dtype)
    seeds = torch.rand(shape, generator=gen) < 0.03
    seeds[0, 0, -1] = True
    if shape[0] > 1:
        seeds[1] = False
    rtol = 1e-6 if dtype == torch.float32 else 1e-14
    for lamb in (0.0, 0.5, 1.0):
        ref = geodesic_distance(image, seeds, lamb=lamb, backend="torch")
        out = geodesic_distance(image.requires_grad_(True), seeds, lamb=lamb, backend="numba")
        assert out.dtype == dtype and out.shape == shape and not out.requires_grad
        torch.testing.assert_close(out, ref, rtol=rtol, atol=0.0)
        assert (out[seeds] == 0).all()
        if shape[0] > 1:
            assert (out[1] == NO_SEED_DISTANCE).all()
        image.requires_grad_(False)
    auto = geodesic_distance(image, seeds, lamb=0.5, iterations=2)  # CPU float: numba
    assert torch.equal(auto, geodesic_distance(image, seeds, lamb=0.5, iterations=2, backend="numba"))


def test_backend_choice_and_validation() -> None:
    image, seeds = torch.rand(2, 5, 6), torch.zeros(2, 5, 6, dtype=torch.bool)
    assert _resolve_backend("auto", image) == "numba"
    assert _resolve_backend("auto", image.half()) == "torch"
    assert _resolve_backend("torch", image) == "torch"
    with pytest.raises(ValueError, match="backend must be one of"):
        geodesic_distance(image, seeds, backend="cuda")
    with pytest.raises(ValueError, match="numba"):
        geodesic_distance(image.half(), seeds, backend="numba")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cpu_equals_cuda() -> None:
    image, seeds = random_case(5, (48, 40), n_seeds=3)
    img = torch.from_numpy(image).float()[None].repeat(3, 1, 1)
    sd = torch.from_numpy(seeds)[None].repeat(3, 1, 1)
    sd[1] = False
    for lamb in (0.0, 0.5, 1.0):
        cpu = geodesic_distance(img, sd, lamb=lamb)
        gpu = geodesic_distance(img.cuda(), sd.cuda(), lamb=lamb)
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-6, atol=1e-5)


# ----------------------------------------------------------------- encodings


def step_image(h: int = 32, w: int = 64, edge: int = 32) -> np.ndarray:
    image = np.full((h, w), 0.2, dtype=np.float32)
    image[:, edge:] = 0.8
    return image


@pytest.mark.parametrize("lamb", [0.0, 0.5, 1.0])
def test_gaussian_geodesic_one_at_seeds_and_monotone_on_flat(lamb: float) -> None:
    enc = GaussianGeodesicEncoding(lamb=lamb)
    image = torch.full((1, 16, 40), 0.5)
    seeds = torch.zeros(1, 16, 40, dtype=torch.bool)
    seeds[0, 8, 3] = True
    g = enc(image, seeds).detach()[0]
    assert g[8, 3] == 1.0
    row = g[8, 3:]
    assert (row[1:] <= row[:-1]).all()
    assert ((g > 0) & (g <= 1)).all()


def test_gaussian_geodesic_exactly_one_at_every_seed() -> None:
    rng = np.random.default_rng(7)
    image = torch.from_numpy(rng.random((3, 24, 30)).astype(np.float32))
    seeds = torch.from_numpy(rng.random((3, 24, 30)) < 0.02)
    seeds[:, 0, 0] = True
    for enc in (
        GaussianGeodesicEncoding(),
        GaussianGeodesicEncoding(sigma=0.2, lamb=0.5),
        GaussianGeodesicEncoding(distance_scale=10.0),
    ):
        g = enc(image, seeds).detach()
        assert (g[seeds] == 1.0).all()
        assert (g[~seeds] < 1.0).sum() > 0 and (g <= 1.0).all()


@pytest.mark.parametrize("lamb", [0.9, 0.99, 1.0])
def test_gaussian_geodesic_sharper_drop_across_edge(lamb: float) -> None:
    image = torch.from_numpy(step_image())[None]
    seeds = torch.zeros_like(image, dtype=torch.bool)
    seeds[0, 16, 10] = True
    g = GaussianGeodesicEncoding(lamb=lamb)(image, seeds).detach()[0, 16]
    k = 4
    flat_drop = g[14] - g[14 + k]  # columns 14..18, all left of the edge
    edge_drop = g[30] - g[30 + k]  # columns 30..34, across the edge at 32
    assert edge_drop > flat_drop + 1e-3
    assert flat_drop >= 0


def test_gradcheck_sigma_float64() -> None:
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.random((2, 10, 12)))
    seeds = torch.zeros(2, 10, 12, dtype=torch.bool)
    seeds[0, 2, 3] = seeds[1, 7, 8] = True
    enc = GaussianGeodesicEncoding(sigma=0.7).double()
    dist = enc.scaled_distance(image, seeds)  # D fixed
    sigma = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: gaussian_geodesic(dist, s), (sigma,))
    log_sigma = enc.log_sigma.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda ls: torch.func.functional_call(enc, {"log_sigma": ls}, (image, seeds)), (log_sigma,)
    )


def test_sigma_init_and_positive_after_large_step() -> None:
    enc = GaussianGeodesicEncoding()
    assert enc.sigma.item() == 1.0
    assert isinstance(enc.log_sigma, torch.nn.Parameter)
    assert not isinstance(GaussianGeodesicEncoding(learnable=False).log_sigma, torch.nn.Parameter)
    image, seeds = torch.rand(2, 16, 16), torch.zeros(2, 16, 16, dtype=torch.bool)
    seeds[:, 4, 4] = True
    for sign in (1.0, -1.0):
        enc = GaussianGeodesicEncoding()
        opt = torch.optim.SGD(enc.parameters(), lr=1.0)
        (sign * 1e8 * enc(image, seeds).sum()).backward()
        assert enc.log_sigma.grad is not None and enc.log_sigma.grad.abs() > 0
        opt.step()
        assert 0 < enc.sigma.item() < math.inf
        out = enc(image, seeds)
        assert torch.isfinite(out).all()


def test_no_seed_item_no_nan() -> None:
    image = torch.rand(3, 12, 14)
    seeds = torch.zeros(3, 12, 14, dtype=torch.bool)
    seeds[0, 1, 1] = seeds[2, 5, 9] = True
    enc = GaussianGeodesicEncoding()
    g = enc(image, seeds)
    assert torch.isfinite(g).all()
    assert (g[1] == 0).all()
    g.sum().backward()
    assert torch.isfinite(enc.log_sigma.grad)
    flat = GaussianGeodesicEncoding()(torch.full((1, 8, 8), 0.3), seeds[:1, :8, :8])  # max D = 0
    assert (flat == 1).all()


def test_numpy_maps() -> None:
    image = step_image(24, 40, 20)
    clicks = [Click(5, 5, True, 0), Click(18, 30, True, 1), Click(12, 35, False, 2)]
    geo = geodesic_map(image, clicks, True, lamb=0.5)
    assert geo.dtype == np.float32 and geo.shape == image.shape
    assert geo[5, 5] == 0 and geo[18, 30] == 0 and geo.max() == pytest.approx(1.0)
    assert (geo >= 0).all() and (geo <= 1).all()
    ex = exp_geodesic_map(image, clicks, False, lamb=0.5)
    assert ex[12, 35] == 1.0 and ex.min() == pytest.approx(math.exp(-1), rel=1e-5)
    gg = gaussian_geodesic_map(image, clicks, True, sigma=0.5, lamb=0.5)
    enc = GaussianGeodesicEncoding(sigma=0.5, lamb=0.5)
    seeds = torch.zeros(1, *image.shape, dtype=torch.bool)
    seeds[0, 5, 5] = seeds[0, 18, 30] = True
    np.testing.assert_allclose(gg, enc(torch.from_numpy(image)[None], seeds).detach()[0].numpy(), rtol=1e-6)
    only_pos = [c for c in clicks if c.positive]
    assert (geodesic_map(image, only_pos, False) == 1).all()
    assert (exp_geodesic_map(image, only_pos, False) == 0).all()
    assert (gaussian_geodesic_map(image, only_pos, False) == 0).all()
