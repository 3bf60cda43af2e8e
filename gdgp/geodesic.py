"""Image-gradient geodesic distance on 2D images by a vectorised raster scan in torch.

Definition (the discrete form of the generalised geodesic distance of Criminisi et al.,
GeoS 2008, used by GeodisTK and the paper's eq. 2): on the 8-neighbour pixel grid, a step
from pixel ``p`` to a neighbour ``q`` costs

    c(p, q) = sqrt((1 - lamb) * |p - q|^2 + lamb * (I(q) - I(p))^2),

with ``|p - q|`` = 1 for the 4 axis neighbours and sqrt(2) for the 4 diagonal ones, and
the distance of a pixel to a seed set S is the minimum over paths to S of the summed step
costs. ``lamb = 0`` gives the chamfer distance with weights (1, sqrt 2) (exactly what
shortest paths on the 8-neighbour graph give); ``lamb = 1`` gives the purely
intensity-based distance of the paper's eq. 2, D = min_path integral |grad I . u| ds
(zero across a perfectly flat region). Intensities are used as given (the pipeline feeds
windowed CT in [0, 1]), so with ``lamb = 1`` distances are in intensity units.

Intensity scale: with intensities in [0, 1] one intensity step of a strong edge (~0.5)
is comparable to one pixel, so for ``0 < lamb < 1`` edges only matter when ``lamb`` is
close to 1 (e.g. 0.9-0.99); ``lamb = 1`` ignores the Euclidean length altogether.

Algorithm: the raster scan of Toivanen (1996), as in GeodisTK / FastGeodis, written as
torch tensor operations so that it runs unchanged on CPU and CUDA. One iteration is four
passes: top-down and bottom-up (a loop over rows; each row is updated at once as the
minimum over a 2x3 window of distance + step cost: the 3 neighbours in the previous row,
plus the left/right neighbours in the same row with their values from before the pass,
which are valid path lengths too) and then left-right and right-left (the same on the
transposed image). All batch items are processed together; per row it costs two tensor
operations on views prepared once per call. Every value is the length of a real path, so
the scan is an upper bound of the exact distance; a pass is exact for paths monotone
along its axis, and paths that wind need more iterations.

Measured against an exact Dijkstra on the 8-neighbour graph (tests/test_geodesic.py), at
the default ``iterations = 4``: exact to float round-off for ``lamb = 0`` (the chamfer
distance) and for ``lamb <= 0.9`` on every image tried (random, smooth, natural, maze),
and for every ``lamb`` on 12x15 random images. The hard case is ``lamb = 1`` (no
Euclidean cost, so shortest paths wind freely): max |error| / max distance 0.002 on a
smooth 128x128 image, 0.02 on 64x64 i.i.d. noise, 0.03-0.05 on the 256x256 "camera"
photograph (mean error 0.1-0.3 % of the max; 0.01 / 0.003 with 8 / 12 iterations, at
roughly 1.6x / 2.4x the time). FastGeodis 1.0.5 (same scan, C++) has the same error.

No gradient flows through the distance (it is computed under ``torch.no_grad``).
"""

from __future__ import annotations

import math

import torch

#: Distance given to pixels of a batch item that has no seed (finite, so no inf/NaN).
NO_SEED_DISTANCE = 1e10


def _neighbour_cost(image: torch.Tensor, lamb: float, dy: int, dx: int) -> torch.Tensor:
    """Cost of the step from each pixel to its neighbour at offset (dy, dx).

    Args:
        image: (B, H, W) float image.
        lamb: weight of the intensity term, in [0, 1].
        dy, dx: offset in {-1, 0, 1} (rows, columns).

    Returns:
        (B, H, W) tensor; +inf where the neighbour lies off the image.
    """
    h, w = image.shape[1:]
    cost = torch.full_like(image, float("inf"))
    ys, yd = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h + min(0, dy))
    xs, xd = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w + min(0, dx))
    diff2 = (image[:, yd, xd] - image[:, ys, xs]) ** 2
    cost[:, ys, xs] = torch.sqrt((1.0 - lamb) * float(dy * dy + dx * dx) + lamb * diff2)
    return cost


def _window_costs(image: torch.Tensor, lamb: float, direction: int) -> torch.Tensor:
    """Step costs from each pixel to the 2x3 window used by a row pass.

    A top-down pass (``direction = +1``) updates row r from the window of rows (r-1, r);
    a bottom-up pass (``-1``) from rows (r, r+1); columns are w-1, w, w+1. The previous
    row's 3 cells are the raster-scan candidates; the current row's left/right cells
    (still holding their values from before this pass) are extra, always-valid
    candidates; the cell itself costs 0.

    Args:
        image: (B, H, W) float image.
        lamb: weight of the intensity term, in [0, 1].
        direction: +1 or -1.

    Returns:
        (B, H, 2, 3, W) contiguous tensor, ``[b, r, i, k, w]`` = cost between (r, w) and
        (top + i, w + k - 1), top = r - 1 (top-down) or r (bottom-up). The pixel axis is
        last so that the per-row reduction over the 6 candidates runs over outer axes.
    """
    rows = (-1, 0) if direction > 0 else (0, 1)
    costs = [
        torch.zeros_like(image) if dy == 0 and dx == 0 else _neighbour_cost(image, lamb, dy, dx)
        for dy in rows for dx in (-1, 0, 1)
    ]
    b, h, w = image.shape
    return torch.stack(costs, dim=2).reshape(b, h, 2, 3, w).contiguous()


_Plan = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


def _pass_plan(buf: torch.Tensor, image: torch.Tensor, lamb: float, direction: int) -> _Plan:
    """Per-row views (window, costs, scratch, output) of one row pass over ``buf``.

    Args:
        buf: (B, H, W + 2) contiguous distance buffer with +inf in the padding columns.
        image: (B, H, W) image in the same layout.
        lamb: weight of the intensity term.
        direction: +1 top-down, -1 bottom-up.

    Returns:
        One tuple per updated row, in scan order: a (B, 2, 3, W) view of ``buf`` (the
        window), the (B, 2, 3, W) step costs, a (B, 2, 3, W) scratch buffer shared by all
        rows (the sums) and its (B, 6, W) view, and the (B, W) view of ``buf`` to write
        the row into.
    """
    b, h, wp = buf.shape
    w = wp - 2
    sb, sr = buf.stride(0), buf.stride(1)
    windows = buf.as_strided((b, h - 1, 2, 3, w), (sb, sr, sr, 1, 1), buf.storage_offset())
    cost = _window_costs(image, lamb, direction)
    scratch = torch.empty((b, 2, 3, w), dtype=buf.dtype, device=buf.device)
    flat = scratch.view(b, 6, w)
    # unbind creates all per-row views in one call (much cheaper than indexing per row)
    win_rows, cost_rows, out_rows = windows.unbind(1), cost.unbind(1), buf[:, :, 1 : w + 1].unbind(1)
    if direction > 0:  # row r (1..h-1) from window rows (r-1, r) = windows[r-1]
        return [(win_rows[r - 1], cost_rows[r], scratch, flat, out_rows[r]) for r in range(1, h)]
    return [(win_rows[r], cost_rows[r], scratch, flat, out_rows[r]) for r in range(h - 2, -1, -1)]


def _run_pass(plan: _Plan) -> None:
    """Execute one row pass in place: each row = min over its 2x3 window of (distance + cost)."""
    for window, cost, scratch, flat, out in plan:
        torch.add(window, cost, out=scratch)
        torch.amin(flat, dim=1, out=out)


def geodesic_distance(image: torch.Tensor, seeds: torch.Tensor, lamb: float = 1.0,
                      v: float = NO_SEED_DISTANCE, iterations: int = 4) -> torch.Tensor:
    """Geodesic distance of every pixel to the seed set, per batch item.

    Args:
        image: (B, H, W) float tensor (float32 or float64), any device. A (H, W) tensor is
            accepted and treated as B = 1 (the result is then (H, W)).
        seeds: (B, H, W) bool tensor (same shape and device), True at seed pixels.
        lamb: weight in [0, 1] between the Euclidean (0) and the intensity (1) term of the
            step cost (see the module docstring for the formula).
        v: initial distance of non-seed pixels; it is also the value returned everywhere
            for a batch item with no seed (a large finite number, never inf).
        iterations: number of 4-pass raster-scan iterations (>= 1).

    Returns:
        (B, H, W) tensor of the image's dtype and device: the distance, exactly 0 on the
        seeds and at most ``v``. Not differentiable (computed without gradient).

    Raises:
        ValueError: on mismatched shapes, a non-bool seed mask, ``lamb`` outside [0, 1]
            or ``iterations < 1``.
    """
    squeeze = image.dim() == 2
    if squeeze:
        image, seeds = image.unsqueeze(0), seeds.unsqueeze(0)
    _check_inputs(image, seeds, lamb, iterations)
    with torch.no_grad():
        img = image.detach()
        if not img.is_floating_point():
            img = img.float()
        img_t = img.transpose(1, 2).contiguous()
        rows = torch.nn.functional.pad(torch.full_like(img, float(v)), (1, 1), value=float("inf"))
        rows[:, :, 1:-1][seeds] = 0.0
        cols = torch.nn.functional.pad(torch.zeros_like(img_t), (1, 1), value=float("inf"))
        row_plans = [_pass_plan(rows, img, lamb, d) for d in (1, -1)]
        col_plans = [_pass_plan(cols, img_t, lamb, d) for d in (1, -1)]
        for _ in range(iterations):
            for plan in row_plans:
                _run_pass(plan)
            cols[:, :, 1:-1].copy_(rows[:, :, 1:-1].transpose(1, 2))
            for plan in col_plans:
                _run_pass(plan)
            rows[:, :, 1:-1].copy_(cols[:, :, 1:-1].transpose(1, 2))
        dist = rows[:, :, 1:-1].clamp(max=float(v))
    return dist[0] if squeeze else dist


def _check_inputs(image: torch.Tensor, seeds: torch.Tensor, lamb: float, iterations: int) -> None:
    """Validate the arguments of :func:`geodesic_distance`."""
    if image.dim() != 3:
        raise ValueError(f"image must be (B, H, W) or (H, W), got shape {tuple(image.shape)}")
    if seeds.shape != image.shape:
        raise ValueError(f"seeds shape {tuple(seeds.shape)} != image shape {tuple(image.shape)}")
    if seeds.dtype != torch.bool:
        raise ValueError(f"seeds must be a bool tensor, got {seeds.dtype}")
    if not 0.0 <= lamb <= 1.0 or math.isnan(lamb):
        raise ValueError(f"lamb must lie in [0, 1], got {lamb}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
