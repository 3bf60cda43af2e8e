"""The phantom canvas and the geometric primitives that anatomy is drawn with.

Everything here works in the per-patient rotated frame (u, v) of :class:`Phantom`, in voxels
centred on the body, +v posterior. Shape functions draw their random perturbations from the
phantom's own generator, so the order of calls fixes the output bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

_N = 96  # in-plane voxels
_AIR = -1000.0
MARGIN = 2  # a target never touches the first or last MARGIN slices

Mask = np.ndarray


class Phantom:
    """One patient under construction: piecewise HU map, texture amplitude, labels.

    Structures are painted in order (later ones win); texture, blur and noise are applied
    once at the end by :mod:`gdgp.data.demo.writer`, so boundaries blur the way partial volume does.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nz = int(rng.integers(20, 29))
        sxy = round(float(rng.uniform(0.7, 0.95)), 3)
        self.spacing = (sxy, sxy, round(float(rng.uniform(2.5, 5.0)), 3))
        self.shape = (_N, _N, self.nz)
        self.hu = np.full(self.shape, _AIR, np.float32)
        self.tex = np.zeros(self.shape, np.float32)  # amplitude (HU) of the fine texture
        self.soft = np.zeros(self.shape, np.float32)  # additive terms with their own blur
        self.label = np.zeros(self.shape, np.uint8)
        self.cx = (_N - 1) / 2 + float(rng.uniform(-3, 3))
        self.cy = (_N - 1) / 2 + float(rng.uniform(-3, 3))
        self.theta = float(rng.uniform(-0.2, 0.2))
        x = np.arange(_N, dtype=np.float32)[:, None] - np.float32(self.cx)
        y = np.arange(_N, dtype=np.float32)[None, :] - np.float32(self.cy)
        c, s = np.float32(np.cos(self.theta)), np.float32(np.sin(self.theta))
        self.u = (c * x + s * y)[:, :, None]
        self.v = (-s * x + c * y)[:, :, None]
        self.z = np.arange(self.nz, dtype=np.float32)[None, None, :]
        self.zvalid = (self.z >= MARGIN) & (self.z <= self.nz - 1 - MARGIN)

    def paint(self, mask: Mask, hu: float | np.ndarray, tex: float) -> None:
        """Set HU and texture amplitude inside ``mask`` (broadcast to the volume)."""
        m = np.broadcast_to(mask, self.shape)
        np.copyto(self.hu, np.asarray(hu, np.float32), where=m)
        np.copyto(self.tex, np.float32(tex), where=m)

    def to_xy(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame (u, v) to voxel (x, y) coordinates."""
        c, s = np.cos(self.theta), np.sin(self.theta)
        return self.cx + c * u - s * v, self.cy + s * u + c * v

    def smooth_noise(self, sigma: tuple[float, float, float]) -> np.ndarray:
        """Unit-variance correlated noise: the raw material of texture and irregular shapes."""
        field = ndimage.gaussian_filter(self.rng.standard_normal(self.shape, dtype=np.float32), sigma, mode="wrap")
        return field / np.float32(field.std() + 1e-6)


def harmonics(rng: np.random.Generator, phi: np.ndarray, amp: float, kmax: int, zt: np.ndarray | None) -> np.ndarray:
    """Radial factor 1 + sum_k a_k cos(k phi + p_k + d_k z): low-frequency shape irregularity."""
    out: np.ndarray = np.ones_like(phi)
    for k in range(2, kmax + 1):
        a, p, d = rng.normal(0.0, amp / np.sqrt(k - 1)), rng.uniform(0, 2 * np.pi), rng.normal(0, 1.0)
        arg: np.ndarray = k * phi + np.float32(p)
        if zt is not None:
            arg = arg + np.float32(d) * zt
        out = out + np.float32(a) * np.cos(arg)
    return out


def zprofile(ph: Phantom, cz: float, rz: float, power: float = 3.0) -> np.ndarray:
    """Cross-section scale along z of a super-ellipsoid (1 at cz, 0 beyond cz +- rz)."""
    zt = np.abs(ph.z - np.float32(cz)) / np.float32(rz)
    return np.clip(1 - zt**power, 0, None) ** np.float32(1 / power)


def star(
    ph: Phantom,
    cu: float,
    cv: float,
    ru: float,
    rv: float,
    angle: float = 0.0,
    irregular: float = 0.0,
    profile: np.ndarray | None = None,
    kmax: int = 5,
) -> Mask:
    """Ellipse (or ellipsoid, with a z ``profile``) with a random radial perturbation."""
    du, dv = ph.u - np.float32(cu), ph.v - np.float32(cv)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    a, b = (c * du + s * dv) / np.float32(ru), (-s * du + c * dv) / np.float32(rv)
    rho, phi = np.hypot(a, b), np.arctan2(b, a)
    zt = ph.z / np.float32(max(ph.nz - 1, 1)) if profile is not None else None
    radius = harmonics(ph.rng, phi, irregular, kmax, zt)
    if profile is not None:
        radius = radius * profile
    return rho < radius


def erode_xy(mask: Mask, n: int) -> Mask:
    """In-plane erosion only: z is coarse, eroding along it would strip whole slices."""
    structure = np.zeros((3, 3, 3), bool)
    structure[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_erosion(mask, structure, iterations=n)


def dilate_xy(mask: Mask, n: int) -> Mask:
    """In-plane dilation only."""
    structure = np.zeros((3, 3, 3), bool)
    structure[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_dilation(mask, structure, iterations=n)


def disk(ph: Phantom, cu: float, cv: float, r: float) -> Mask:
    return np.hypot(ph.u - np.float32(cu), ph.v - np.float32(cv)) < r


def bezier(p0: npt.ArrayLike, p1: npt.ArrayLike, p2: npt.ArrayLike, n: int = 64) -> np.ndarray:
    """Quadratic Bezier curve, (n, len(p0)) points: smooth organ and bowel centrelines."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    a, b, c = (np.asarray(p, float) for p in (p0, p1, p2))
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c


def normals(curve: np.ndarray) -> np.ndarray:
    """In-plane unit normals of a (u, v, z) curve, oriented anteriorly (towards -v)."""
    tan = np.gradient(curve[:, :2], axis=0)
    nrm = np.stack([-tan[:, 1], tan[:, 0]], axis=1)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-9
    return nrm * -np.sign(nrm[:, 1:2] + 1e-9)


def touching(point: np.ndarray, normal: np.ndarray, gap: float, dz: float) -> np.ndarray:
    """A point ``gap`` voxels from ``point`` along the in-plane ``normal``, shifted dz slices."""
    return np.array([point[0] + gap * normal[0], point[1] + gap * normal[1], point[2] + dz])


@dataclass(frozen=True)
class Tubes:
    """Distance to the nearest centreline, and which line / curve parameter that is."""

    dist: np.ndarray
    line: np.ndarray
    t: np.ndarray


def tube_field(ph: Phantom, lines: Sequence[np.ndarray], kz: float) -> Tubes:
    """Distance field of polylines given as (n, 3) points (u, v, z) in the frame.

    One Euclidean distance transform serves every tube of a task (vessels, bowel loops, the
    pancreas), with z distances scaled by ``kz`` in-plane voxels per slice.
    """
    free = np.ones(ph.shape, bool)
    line_id = np.full(ph.shape, -1, np.int16)
    tpar = np.zeros(ph.shape, np.float32)
    for i, pts in enumerate(lines):
        seg = np.linalg.norm(np.diff(pts[:, :2], axis=0), axis=1) + np.abs(np.diff(pts[:, 2]))
        n = max(int(seg.sum() / 0.3), 2)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        t = np.linspace(0.0, 1.0, n)
        dense = np.stack([np.interp(t * s[-1], s, pts[:, j]) for j in range(3)], axis=1)
        x, y = ph.to_xy(dense[:, 0], dense[:, 1])
        ijk = np.rint(np.stack([x, y, dense[:, 2]])).astype(int)
        ok = np.all((ijk >= 0) & (ijk < np.array(ph.shape)[:, None]), axis=0)
        ijk, t = ijk[:, ok], t[ok]
        free[tuple(ijk)] = False
        line_id[tuple(ijk)] = i
        tpar[tuple(ijk)] = t
    if free.all():
        return Tubes(np.full(ph.shape, np.inf, np.float32), line_id, tpar)
    dist, ind = ndimage.distance_transform_edt(free, sampling=(1.0, 1.0, kz), return_indices=True)
    near = tuple(ind)
    return Tubes(dist.astype(np.float32), line_id[near], tpar[near])


def pick_point(ph: Phantom, region2d: Mask, clearance: float) -> tuple[float, float]:
    """A random (u, v) inside a 2D region, at least ``clearance`` voxels from its edge if possible."""
    depth = ndimage.distance_transform_edt(region2d)
    cand = np.argwhere(depth >= min(clearance, depth.max()))
    i, j = cand[int(ph.rng.integers(len(cand)))]
    return float(ph.u[i, j, 0]), float(ph.v[i, j, 0])


def target_z(ph: Phantom, span_lo: float, span_hi: float) -> tuple[float, float]:
    """Centre and half-extent (slices) of a target spanning span_lo..span_hi slices, off the margins."""
    avail = ph.nz - 2 * MARGIN
    span = float(ph.rng.uniform(min(span_lo, avail), min(span_hi, avail)))
    rz = span / 2 + 0.3
    lo, hi = MARGIN - 0.5 + span / 2, ph.nz - 1 - MARGIN + 0.5 - span / 2
    return float(ph.rng.uniform(lo, max(lo, hi))), rz
