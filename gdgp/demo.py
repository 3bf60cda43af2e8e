"""Synthetic CT-like phantoms in Medical Segmentation Decathlon layout (the embedded demo).

Real MSD data are tens of GB and cannot be downloaded where the demo runs, so the default
config uses these phantoms instead. They are written as NIfTI task folders so that they go
through exactly the same loader as real data, and they are built to be *hard*: textured,
blurry, low-contrast targets next to unlabelled look-alike structures, so that an automatic
model stays imperfect and click-guided methods have something to fix.

Output is byte-deterministic for a seed because DVC tracks the data folder by hash: every
patient draws from its own generator seeded with (seed, task number, patient index), so
adding patients never changes earlier ones, and the gzip header carries no time stamp.

Geometry: arrays are nibabel (x, y, z), 96 x 96 in-plane, 20-28 slices. Anatomy is drawn in
a per-patient rotated frame (u, v) in voxels centred on the body; +v is posterior (the spine
side), so an axial slice ``arr[:, :, k].T`` shows the patient supine, anterior at the top.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.special import ndtri

from gdgp.atomic import write_bytes_atomic, write_text_atomic

_N = 96  # in-plane voxels
_AIR = -1000.0
_MARGIN = 2  # a target never touches the first or last _MARGIN slices

Mask = np.ndarray


# --------------------------------------------------------------------------- canvas


class _Phantom:
    """One patient under construction: piecewise HU map, texture amplitude, labels.

    Structures are painted in order (later ones win); texture, blur and noise are applied
    once at the end by :func:`_render`, so boundaries blur the way partial volume does.
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
        self.zvalid = (self.z >= _MARGIN) & (self.z <= self.nz - 1 - _MARGIN)

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


# --------------------------------------------------------------------------- shapes


def _harmonics(rng: np.random.Generator, phi: np.ndarray, amp: float, kmax: int, zt: np.ndarray | None) -> np.ndarray:
    """Radial factor 1 + sum_k a_k cos(k phi + p_k + d_k z): low-frequency shape irregularity."""
    out = np.ones_like(phi)
    for k in range(2, kmax + 1):
        a, p, d = rng.normal(0.0, amp / np.sqrt(k - 1)), rng.uniform(0, 2 * np.pi), rng.normal(0, 1.0)
        arg = k * phi + np.float32(p)
        if zt is not None:
            arg = arg + np.float32(d) * zt
        out = out + np.float32(a) * np.cos(arg)
    return out


def _zprofile(ph: _Phantom, cz: float, rz: float, power: float = 3.0) -> np.ndarray:
    """Cross-section scale along z of a super-ellipsoid (1 at cz, 0 beyond cz +- rz)."""
    zt = np.abs(ph.z - np.float32(cz)) / np.float32(rz)
    return np.clip(1 - zt**power, 0, None) ** np.float32(1 / power)


def _star(
    ph: _Phantom,
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
    radius = _harmonics(ph.rng, phi, irregular, kmax, zt)
    if profile is not None:
        radius = radius * profile
    return rho < radius


def _erode_xy(mask: Mask, n: int) -> Mask:
    """In-plane erosion only: z is coarse, eroding along it would strip whole slices."""
    structure = np.zeros((3, 3, 3), bool)
    structure[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_erosion(mask, structure, iterations=n)


def _dilate_xy(mask: Mask, n: int) -> Mask:
    """In-plane dilation only."""
    structure = np.zeros((3, 3, 3), bool)
    structure[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_dilation(mask, structure, iterations=n)


def _disk(ph: _Phantom, cu: float, cv: float, r: float) -> Mask:
    return np.hypot(ph.u - np.float32(cu), ph.v - np.float32(cv)) < r


def _bezier(p0: Sequence[float], p1: Sequence[float], p2: Sequence[float], n: int = 64) -> np.ndarray:
    """Quadratic Bezier curve, (n, len(p0)) points: smooth organ and bowel centrelines."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    a, b, c = (np.asarray(p, float) for p in (p0, p1, p2))
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c


@dataclass(frozen=True)
class _Tubes:
    """Distance to the nearest centreline, and which line / curve parameter that is."""

    dist: np.ndarray
    line: np.ndarray
    t: np.ndarray


def _tubes(ph: _Phantom, lines: Sequence[np.ndarray], kz: float) -> _Tubes:
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
        return _Tubes(np.full(ph.shape, np.inf, np.float32), line_id, tpar)
    dist, ind = ndimage.distance_transform_edt(free, sampling=(1.0, 1.0, kz), return_indices=True)
    near = tuple(ind)
    return _Tubes(dist.astype(np.float32), line_id[near], tpar[near])


def _pick_point(ph: _Phantom, region2d: Mask, clearance: float) -> tuple[float, float]:
    """A random (u, v) inside a 2D region, at least ``clearance`` voxels from its edge if possible."""
    depth = ndimage.distance_transform_edt(region2d)
    cand = np.argwhere(depth >= min(clearance, depth.max()))
    i, j = cand[int(ph.rng.integers(len(cand)))]
    return float(ph.u[i, j, 0]), float(ph.v[i, j, 0])


def _target_z(ph: _Phantom, span_lo: float, span_hi: float) -> tuple[float, float]:
    """Centre and half-extent (slices) of a target spanning span_lo..span_hi slices, off the margins."""
    avail = ph.nz - 2 * _MARGIN
    span = float(ph.rng.uniform(min(span_lo, avail), min(span_hi, avail)))
    rz = span / 2 + 0.3
    lo, hi = _MARGIN - 0.5 + span / 2, ph.nz - 1 - _MARGIN + 0.5 - span / 2
    return float(ph.rng.uniform(lo, max(lo, hi))), rz


# --------------------------------------------------------------------------- shared anatomy


@dataclass(frozen=True)
class _Body:
    """Body outline sizes and masks shared by every task."""

    ax: float
    ay: float
    cavity: Mask  # inside the muscle wall: where organs go
    spine: Mask  # vertebra, canal and paraspinal muscles (organs stay out)
    spine_v: float  # v of the vertebral body centre
    spine_r: float
    base: float  # HU of the "fat/muscle mix" filling the cavity


def _body(ph: _Phantom, base: float) -> _Body:
    """Air, subcutaneous fat rim, muscle wall, soft-tissue cavity and a vertebra."""
    rng = ph.rng
    ax, ay = float(rng.uniform(37, 43)), float(rng.uniform(29, 34))
    rho = np.hypot(ph.u / ax, ph.v / ay)
    edge = _harmonics(rng, np.arctan2(ph.v / ay, ph.u / ax), 0.03, 4, None)
    fat, wall = float(rng.uniform(2.5, 5.5)), float(rng.uniform(1.5, 3.0))
    ph.paint(rho < edge, -100 + float(rng.uniform(-15, 15)), 12)
    ph.paint(rho < edge - fat / ay, 50 + float(rng.uniform(-5, 5)), 10)
    cavity = rho < edge - (fat + wall) / ay
    ph.paint(cavity, base, 14)
    spine, sv, sr = _spine(ph, ay)
    return _Body(ax, ay, cavity & ~spine, spine, sv, sr, base)


def _spine(ph: _Phantom, ay: float) -> tuple[Mask, float, float]:
    """Vertebral body with cortex and discs, neural arch, canal and paraspinal muscles."""
    rng = ph.rng
    su, sv, r = float(rng.uniform(-2, 2)), ay * float(rng.uniform(0.36, 0.44)), float(rng.uniform(5.0, 6.5))
    canal_v = sv + r + 2.5
    period = float(rng.uniform(26, 34))  # mm between discs
    disc = ((ph.z * ph.spacing[2] + float(rng.uniform(0, period))) % period) < float(rng.uniform(5, 8))
    cortical, marrow = float(rng.uniform(650, 900)), float(rng.uniform(220, 380))
    muscles = _star(ph, su - 8, canal_v + 1, 6.5, 4.5, 0.3) | _star(ph, su + 8, canal_v + 1, 6.5, 4.5, -0.3)
    ph.paint(muscles, 50 + float(rng.uniform(-5, 5)), 10)
    arch = _disk(ph, su, canal_v, 4.6) | (np.abs(ph.u - su) < 1.2) & (ph.v > canal_v) & (ph.v < canal_v + 7)
    ph.paint(arch, 0.8 * cortical, 60)
    ph.paint(_disk(ph, su, canal_v, 2.6), 20, 5)
    d = np.hypot(ph.u - su, ph.v - sv)
    body = d < r
    ph.paint(body, np.where(disc, np.float32(90), np.float32(marrow)), 30)
    ph.paint((d < r) & (d > r - 1.4) & ~disc, cortical, 60)
    region = ndimage.binary_dilation(np.squeeze(body | arch | muscles, 2), iterations=2)[:, :, None]
    return region, sv, r


def _fat_lobules(ph: _Phantom, region: Mask, fraction: float) -> None:
    """Visceral fat (about -90 HU) covering ``fraction`` of ``region``: the fat/soft-tissue mix.

    Organs painted afterwards are outlined by fat only where a lobule happens to touch them,
    so their boundaries are visible in places and invisible elsewhere, as in real CT.
    """
    noise = ph.smooth_noise((2.0, 2.0, 1.0))
    ph.paint(region & (noise > ndtri(1 - fraction)), -90 + float(ph.rng.uniform(-15, 15)), 15)


def _abdomen(ph: _Phantom, fat: tuple[float, float]) -> _Body:
    """Body and spine, psoas muscles, and the fat/soft-tissue mix filling the cavity."""
    rng = ph.rng
    b = _body(ph, float(rng.uniform(30, 42)))
    _fat_lobules(ph, b.cavity, float(rng.uniform(*fat)))
    for side in (-1, 1):
        psoas = _star(ph, side * 7.5, b.spine_v - 1, 3.5, 4.5, side * 0.3, 0.05) & b.cavity
        ph.paint(psoas, 50 + float(rng.uniform(-5, 5)), 10)
    return b


def _liver(ph: _Phantom, b: _Body, hu: float, scale: float, taper: float) -> Mask:
    """Large organ filling the patient's right upper abdomen (image left)."""
    rng = ph.rng
    zt = ph.z / np.float32(ph.nz - 1)
    liver = (
        _star(
            ph,
            -0.42 * b.ax,
            -0.12 * b.ay,
            0.5 * b.ax * scale,
            0.72 * b.ay * scale,
            float(rng.uniform(-0.2, 0.2)),
            0.05,
            1 - taper * zt,
        )
        & b.cavity
    )
    ph.paint(liver, hu, 10)
    return liver


def _bowel(
    ph: _Phantom,
    tubes: _Tubes,
    ids: Sequence[int],
    radius: float | np.ndarray,
    wall: float,
    wall_hu: float,
    lumen: str,
    region: Mask,
) -> None:
    """Paint loops ``ids`` as a wall around fluid, air, stool or nothing ("solid", collapsed)."""
    own = np.isin(tubes.line, ids) & region
    loop = own & (tubes.dist < radius)
    inner = own & (tubes.dist < np.asarray(radius) - wall)
    ph.paint(loop, wall_hu, 12)
    rng = ph.rng
    if lumen == "air":
        ph.paint(inner, -900 + float(rng.uniform(-50, 50)), 20)
    elif lumen == "stool":
        mottled = ph.smooth_noise((1.0, 1.0, 0.8))
        ph.paint(inner, np.where(mottled > 0.3, np.float32(-400), np.float32(20)), 40)
    elif lumen == "fluid":
        ph.paint(inner, 10 + float(rng.uniform(-5, 10)), 8)


def _random_loop(ph: _Phantom, centre: np.ndarray, length: float) -> np.ndarray:
    """Short curved bowel segment through ``centre`` (u, v, z) in a random 3D direction."""
    d = ph.rng.normal(size=3)
    d *= length / (np.linalg.norm(d * np.array([1.0, 1.0, 1.6])) + 1e-9)
    bend = ph.rng.normal(size=3) * np.array([3.0, 3.0, 1.5])
    return _bezier(centre - d, centre + bend, centre + d, 16)


def _touching(point: np.ndarray, normal: np.ndarray, gap: float, dz: float) -> np.ndarray:
    """A point ``gap`` voxels from ``point`` along the in-plane ``normal``, shifted dz slices."""
    return np.array([point[0] + gap * normal[0], point[1] + gap * normal[1], point[2] + dz])


def _kidney(ph: _Phantom, b: _Body, cu: float, cv: float, hu: float, profile: np.ndarray) -> None:
    """Bean-shaped kidney with a small fatty sinus."""
    side = np.sign(cu)
    k = _star(ph, cu, cv, 5.5, 7.5, -side * 0.4, 0.05, profile) & b.cavity
    ph.paint(k, hu, 10)
    ph.paint(k & _star(ph, cu - side * 2.5, cv, 1.8, 3.5), -40, 10)


# --------------------------------------------------------------------------- lung


def _build_lung(ph: _Phantom) -> None:
    """Soft-tissue tumour in aerated lung, among vessels and unlabelled nodules of the same HU."""
    rng = ph.rng
    b = _body(ph, float(rng.uniform(30, 45)))
    zt = ph.z / np.float32(ph.nz - 1)
    lungs = np.zeros(ph.shape, bool)
    allowed = ndimage.binary_erosion(np.squeeze(b.cavity, 2), iterations=1)[:, :, None]
    for side in (-1, 1):
        taper = 1 - float(rng.uniform(0.0, 0.2)) * zt
        lungs |= _star(
            ph,
            side * b.ax * float(rng.uniform(0.44, 0.5)),
            -b.ay * float(rng.uniform(0.05, 0.15)),
            b.ax * float(rng.uniform(0.36, 0.42)),
            b.ay * float(rng.uniform(0.75, 0.88)),
            side * float(rng.uniform(-0.15, 0.3)),
            0.05,
            taper,
        )
    lungs &= allowed
    lung_hu = -860 + float(rng.uniform(-30, 30)) + 45 * np.clip(ph.v / b.ay, -1, 1)  # dependent density
    ph.paint(lungs, lung_hu, 30)
    aorta = _disk(ph, float(rng.uniform(3, 6)), b.spine_v - b.spine_r - 3.5, 3.6)
    ph.paint(aorta, float(rng.uniform(110, 170)), 8)
    ph.paint(lungs & (ph.smooth_noise((0.7, 0.7, 1.2)) > 2.4), float(rng.uniform(-80, -10)), 20)  # micro-vessels
    _lung_vessels(ph, lungs)
    tumour = _lung_tumour(ph, lungs)
    _lung_nodules(ph, lungs, tumour)
    t_hu = float(rng.uniform(5, 45))
    ph.paint(tumour, t_hu, 18)
    if rng.uniform() < 0.4:  # necrotic / low-density core, still tumour
        ph.paint(_erode_xy(tumour, 3), t_hu - float(rng.uniform(15, 35)), 12)
    ph.label[tumour] = 1


def _lung_vessels(ph: _Phantom, lungs: Mask) -> None:
    """Branching vessels from the hilum: round bright cross-sections as tumour look-alikes."""
    rng = ph.rng
    lines, radii = [], []
    for _ in range(int(rng.integers(6, 11))):
        side = 1 if rng.uniform() < 0.5 else -1
        start = (side * float(rng.uniform(6, 10)), float(rng.uniform(-6, 6)), float(rng.uniform(0, ph.nz - 1)))
        end = (side * float(rng.uniform(14, 32)), float(rng.uniform(-22, 22)), float(rng.uniform(0, ph.nz - 1)))
        mid = [(a + e) / 2 + float(rng.normal(0, 3)) for a, e in zip(start, end, strict=True)]
        lines.append(_bezier(start, mid, end, 24))
        radii.append(float(rng.uniform(1.1, 2.4)))
    tubes = _tubes(ph, lines, kz=0.6)
    radius = np.asarray(radii, np.float32)[np.maximum(tubes.line, 0)] * (1 - 0.45 * tubes.t)
    ph.paint(lungs & (tubes.dist < radius), float(rng.uniform(15, 55)), 12)


def _lung_tumour(ph: _Phantom, lungs: Mask) -> Mask:
    """Roundish, slightly spiculated tumour; may abut the pleura (then harder to delimit)."""
    rng = ph.rng
    cz, rz = _target_z(ph, 6, 16)
    r = float(rng.uniform(4.5, 9.0))
    clearance = r * float(rng.uniform(0.3, 1.0))
    cu, cv = _pick_point(ph, lungs[:, :, int(round(cz))], clearance)
    aniso = float(rng.uniform(0.8, 1.25))
    shape = _star(ph, cu, cv, r * aniso, r / aniso, float(rng.uniform(0, np.pi)), 0.12, _zprofile(ph, cz, rz), 7)
    thorax = ph.hu > -500  # may invade the chest wall or mediastinum, never the outside air
    return shape & ph.zvalid & (lungs | thorax)


def _lung_nodules(ph: _Phantom, lungs: Mask, tumour: Mask) -> None:
    """0-2 unlabelled nodules of tumour-like HU, kept clear of the tumour."""
    rng = ph.rng
    keep_out = ndimage.distance_transform_edt(~np.any(tumour, axis=2)) < 8
    for _ in range(int(rng.integers(0, 3))):
        cz = float(rng.uniform(0, ph.nz - 1))
        r = float(rng.uniform(2.5, 4.5))
        region = lungs[:, :, int(round(cz))] & ~keep_out
        if not region.any():
            continue
        cu, cv = _pick_point(ph, region, r)
        rz = float(rng.uniform(1.5, 4.5))
        nod = _star(ph, cu, cv, r, r * float(rng.uniform(0.8, 1.2)), 0.0, 0.1, _zprofile(ph, cz, rz))
        ph.paint(nod & lungs, float(rng.uniform(10, 60)), 15)


# --------------------------------------------------------------------------- pancreas


def _build_pancreas(ph: _Phantom) -> None:
    """Lobulated curved pancreas (label 1) with a hypodense tumour (label 2), among bowel and vessels."""
    rng = ph.rng
    b = _abdomen(ph, (0.45, 0.6))
    p_hu = float(rng.uniform(50, 65))
    _liver(ph, b, float(rng.uniform(55, 65)), 0.8, 0.4)
    for side in (-1, 1):
        _kidney(
            ph, b, side * 0.5 * b.ax, b.spine_v - 1, float(rng.uniform(130, 160)), _zprofile(ph, ph.nz * 0.7, ph.nz)
        )
    av = b.spine_v - b.spine_r - 3.5
    ph.paint(_disk(ph, 5.0, av, float(rng.uniform(3.3, 4.3))), float(rng.uniform(120, 160)), 8)  # aorta
    ph.paint(_star(ph, -6.5, av + 0.5, 4.5, 3.0), float(rng.uniform(90, 120)), 8)  # IVC
    p = _pancreas_curve(ph, b)
    r_head, r_tail = float(rng.uniform(5.0, 7.0)), float(rng.uniform(2.8, 4.0))
    kz = (r_head + r_tail) / 2 / float(rng.uniform(3.0, 5.0))
    radius_at = lambda t: r_head * (1 - t) + r_tail * t  # noqa: E731
    neighbours = _pancreas_neighbours(ph, p, radius_at, b)
    tubes = _tubes(ph, [p, *(n.line for n in neighbours)], kz)
    lob = ph.smooth_noise((2.0, 2.0, 1.0))
    gland = (tubes.line == 0) & (tubes.dist < radius_at(tubes.t) * (1 + 0.2 * lob)) & b.cavity & ph.zvalid
    _partial_fat_plane(ph, gland, b, float(rng.uniform(0.5, 0.8)))
    _pancreas_distractors(ph, tubes, neighbours, p_hu, b)
    tumour = _pancreas_tumour(ph, p, radius_at) & _dilate_xy(gland, 2)  # only where the gland is
    ph.paint(gland | tumour, p_hu, 14)
    delta = -float(rng.uniform(18, 32))  # hypodense, with a blurrier edge than the rest
    ph.soft += delta * ndimage.gaussian_filter(tumour.astype(np.float32), (1.0, 1.0, 0.5))
    ph.label[gland] = 1
    ph.label[tumour] = 2


def _partial_fat_plane(ph: _Phantom, organ: Mask, b: _Body, cover: float) -> None:
    """Fat along about ``cover`` of the organ's outline: visible there, ambiguous elsewhere."""
    shell = _dilate_xy(organ, 2) & ~organ & b.cavity
    noise = ph.smooth_noise((1.5, 1.5, 1.0))
    ph.paint(shell & (noise > ndtri(1 - cover)), -90 + float(ph.rng.uniform(-15, 15)), 15)


def _pancreas_curve(ph: _Phantom, b: _Body) -> np.ndarray:
    """Centreline head -> neck -> tail, rising cranially towards the tail (as in CT)."""
    rng = ph.rng
    j = lambda s: float(rng.uniform(-s, s))  # noqa: E731
    dz = float(rng.uniform(3.0, 6.0))
    z0 = float(rng.uniform(_MARGIN + 3.5, max(_MARGIN + 3.5, ph.nz - 1 - _MARGIN - 3.5 - dz)))
    head = (-0.26 * b.ax + j(3), -0.02 * b.ay + j(3), z0)
    neck = (0.02 * b.ax + j(4), -(0.5 + j(0.1)) * b.ay, z0 + dz * 0.4)
    tail = (0.5 * b.ax + j(3), 0.08 * b.ay + j(3), z0 + dz)
    return _bezier(head, neck, tail, 48)


def _normals(curve: np.ndarray) -> np.ndarray:
    """In-plane unit normals of a (u, v, z) curve, oriented anteriorly (towards -v)."""
    tan = np.gradient(curve[:, :2], axis=0)
    nrm = np.stack([-tan[:, 1], tan[:, 0]], axis=1)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-9
    return nrm * -np.sign(nrm[:, 1:2] + 1e-9)


@dataclass(frozen=True)
class _Neighbour:
    """A tube next to the pancreas: centreline, radius and content."""

    line: np.ndarray
    radius: float
    kind: str  # "vein" or a bowel lumen kind


def _pancreas_neighbours(
    ph: _Phantom, p: np.ndarray, radius_at: Callable[[float], float], b: _Body
) -> list[_Neighbour]:
    """Duodenal C-loop around the head, splenic vein behind the body, jejunal loops touching the front."""
    rng = ph.rng
    hu, hv, hz = p[0]
    ang = np.linspace(0.6 * np.pi, 1.45 * np.pi, 24)
    rad = radius_at(0.0) + float(rng.uniform(2.5, 4.5))
    duod = np.stack([hu + rad * np.cos(ang), hv - rad * np.sin(ang), hz + np.linspace(-3, 4, 24)], axis=1)
    nrm = _normals(p)
    vein = p[16:44].copy()
    vein[:, :2] -= nrm[16:44] * float(rng.uniform(4.5, 6.0))  # posterior side
    near = ("fluid", "fluid", "solid")  # no air next to the gland: it would outline it
    out = [
        _Neighbour(duod, float(rng.uniform(3.0, 4.2)), near[int(rng.integers(3))]),
        _Neighbour(vein, float(rng.uniform(1.6, 2.3)), "vein"),
    ]
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(8, len(p)))
        r = float(rng.uniform(3.5, 5.0))
        gap = radius_at(i / (len(p) - 1)) + r + float(rng.uniform(-1.0, 1.5))
        line = _random_loop(ph, _touching(p[i], nrm[i], gap, float(rng.uniform(-2, 2))), 8.0)
        out.append(_Neighbour(line, r, near[int(rng.integers(3))]))
    for _ in range(int(rng.integers(2, 4))):  # free loops elsewhere
        c = np.array(
            [
                float(rng.uniform(-0.3, 0.6)) * b.ax,
                -float(rng.uniform(0.3, 0.75)) * b.ay,
                float(rng.uniform(0, ph.nz - 1)),
            ]
        )
        kind = ("fluid", "solid", "air", "stool")[int(rng.integers(4))]
        out.append(_Neighbour(_random_loop(ph, c, 10.0), float(rng.uniform(3.5, 5.5)), kind))
    return out


def _pancreas_distractors(ph: _Phantom, tubes: _Tubes, neighbours: list[_Neighbour], p_hu: float, b: _Body) -> None:
    """Bowel of pancreas-like wall HU (duodenum, jejunum) and a brighter splenic vein."""
    rng = ph.rng
    for i, n in enumerate(neighbours, start=1):
        if n.kind == "vein":
            ph.paint((tubes.line == i) & (tubes.dist < n.radius) & b.cavity, p_hu + float(rng.uniform(20, 50)), 8)
        else:
            _bowel(ph, tubes, [i], n.radius, 1.6, p_hu + float(rng.uniform(-10, 5)), n.kind, b.cavity)


def _pancreas_tumour(ph: _Phantom, p: np.ndarray, radius_at: Callable[[float], float]) -> Mask:
    """Small roundish lesion centred on the gland's centreline (may bulge a little)."""
    rng = ph.rng
    t = float(rng.uniform(0.1, 0.75))
    cu, cv, cz = p[int(round(t * (len(p) - 1)))]
    r = max(3.0, radius_at(t) * float(rng.uniform(0.7, 1.1)))
    rz = float(rng.uniform(4.0, 7.0))
    cz = float(np.clip(cz, _MARGIN - 0.5 + rz, ph.nz - 1 - _MARGIN + 0.5 - rz))
    aspect = float(rng.uniform(0.75, 1.2))
    return _star(ph, cu, cv, r, r * aspect, float(rng.uniform(0, np.pi)), 0.12, _zprofile(ph, cz, rz))


# --------------------------------------------------------------------------- spleen


def _build_spleen(ph: _Phantom) -> None:
    """Large textured spleen touching liver, kidney, stomach and body wall of similar HU."""
    rng = ph.rng
    b = _abdomen(ph, (0.4, 0.55))
    s_hu = float(rng.uniform(42, 55))
    cz, rz = _target_z(ph, 10, 20)
    zt = ph.z / np.float32(ph.nz - 1)
    liver_hu = s_hu + float(rng.uniform(0, 12))
    liver = _liver(ph, b, liver_hu, 1.0, 0.25)
    lobe_w = float(rng.uniform(0.3, 0.6))  # left lobe may reach over to the spleen
    lobe = _star(ph, 0.05 * b.ax, -0.5 * b.ay, lobe_w * b.ax, 0.22 * b.ay, 0.2, 0.08, 1 - 0.6 * zt) & b.cavity
    ph.paint(lobe & ~liver, liver_hu, 10)
    stomach = _star(
        ph, 0.22 * b.ax, -0.3 * b.ay, 0.22 * b.ax, 0.2 * b.ay, 0.4, 0.08, _zprofile(ph, cz - rz * 0.3, ph.nz)
    )
    _hollow(ph, stomach & b.cavity, 2.0, s_hu + float(rng.uniform(-8, 4)), "fluid" if rng.uniform() < 0.5 else "air")
    _kidney(ph, b, 0.33 * b.ax, b.spine_v - 2, s_hu + float(rng.uniform(-8, 8)), _zprofile(ph, cz + rz * 0.7, rz))
    flex = _random_loop(ph, np.array([0.5 * b.ax, -0.5 * b.ay, cz + float(rng.uniform(-3, 3))]), 8.0)
    tubes = _tubes(ph, [flex], 0.8)
    _bowel(ph, tubes, [0], float(rng.uniform(3.5, 5.0)), 1.5, s_hu + float(rng.uniform(-10, 0)), "stool", b.cavity)
    spleen = _spleen_shape(ph, b, cz, rz) & b.cavity & ph.zvalid
    ph.paint(spleen, s_hu, 12)
    ph.label[spleen] = 1


def _hollow(ph: _Phantom, organ: Mask, wall: float, wall_hu: float, lumen: str) -> None:
    """A hollow organ: soft-tissue wall around fluid, or around fluid with an anterior air cap."""
    ph.paint(organ, wall_hu, 12)
    inner = _erode_xy(organ, int(round(wall)))
    ph.paint(inner, 12 + float(ph.rng.uniform(-5, 8)), 8)
    if lumen == "air" and inner.any():
        vs = float(np.where(inner, ph.v, np.inf).min())
        ph.paint(inner & (ph.v < vs + float(ph.rng.uniform(3, 7))), -900, 20)


def _spleen_shape(ph: _Phantom, b: _Body, cz: float, rz: float) -> Mask:
    """Bean-shaped ellipsoid against the posterolateral wall, notched at the hilum."""
    rng = ph.rng
    cu = b.ax * float(rng.uniform(0.5, 0.6))
    cv = b.ay * float(rng.uniform(0.0, 0.25))
    ru, rv = b.ax * float(rng.uniform(0.17, 0.25)), b.ay * float(rng.uniform(0.45, 0.6))
    ang = -float(rng.uniform(0.35, 0.85))
    prof = _zprofile(ph, cz, rz, float(rng.uniform(2.2, 3.5)))
    main = _star(ph, cu, cv, ru, rv, ang, 0.07, prof)
    off = ru * float(rng.uniform(0.9, 1.3))
    notch = _star(ph, cu - off * np.cos(ang), cv - off * np.sin(ang), ru * 0.6, rv * 0.45, ang, 0.1, prof)
    return main & ~notch


# --------------------------------------------------------------------------- colon


def _build_colon(ph: _Phantom) -> None:
    """Irregular wall-thickening tumour of one colon loop among other bowel loops."""
    rng = ph.rng
    b = _abdomen(ph, (0.45, 0.6))
    cz, rz = _target_z(ph, 6, 16)
    target = _colon_target_line(ph, b)
    radius = float(rng.uniform(4.5, 6.5))
    k = int(np.argmin(np.abs(target[:, 2] - cz)))
    lines, radii = [target], [radius]
    for _ in range(int(rng.integers(1, 3))):  # loops touching the tumour level
        r = float(rng.uniform(3.5, 5.5))
        a = float(rng.uniform(0, 2 * np.pi))
        gap = radius + r + float(rng.uniform(0.5, 3.0))
        lines.append(
            _random_loop(
                ph, _touching(target[k], np.array([np.cos(a), np.sin(a)]), gap, float(rng.uniform(-2, 2))), 8.0
            )
        )
        radii.append(r)
    for _ in range(int(rng.integers(4, 7))):
        c = np.array(
            [
                float(rng.uniform(-0.6, 0.6)) * b.ax,
                float(rng.uniform(-0.7, 0.1)) * b.ay,
                float(rng.uniform(0, ph.nz - 1)),
            ]
        )
        lines.append(_random_loop(ph, c, 12.0))
        radii.append(float(rng.uniform(3.5, 6.0)))
    tubes = _tubes(ph, lines, kz=0.8)
    wall_hu = b.base + float(rng.uniform(3, 12))
    for i in range(1, len(lines)):
        kind = ("fluid", "stool", "air", "solid")[int(rng.integers(4))]
        wall = float(rng.uniform(1.2, 2.0))
        _bowel(ph, tubes, [i], radii[i], wall, wall_hu + float(rng.uniform(-4, 4)), kind, b.cavity)
    lumen = "air" if rng.uniform() < 0.5 else "stool"
    _bowel(ph, tubes, [0], radius, float(rng.uniform(1.2, 1.8)), wall_hu, lumen, b.cavity)
    tumour = _colon_tumour(ph, target, radius, cz, rz) & b.cavity & ph.zvalid
    ph.paint(tumour, wall_hu + float(rng.uniform(10, 25)), 16)
    ph.label[tumour] = 1


def _colon_target_line(ph: _Phantom, b: _Body) -> np.ndarray:
    """Ascending/descending-colon-like loop running craniocaudally through every slice."""
    rng = ph.rng
    side = 1 if rng.uniform() < 0.5 else -1
    u0, v0 = side * b.ax * float(rng.uniform(0.4, 0.6)), b.ay * float(rng.uniform(-0.4, 0.1))
    z = np.linspace(-2, ph.nz + 1, 24)
    wob = float(rng.uniform(1, 4))
    pu, pv = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))
    u = u0 + wob * np.sin(z / ph.nz * 2 * np.pi + pu)
    v = v0 + wob * np.cos(z / ph.nz * 2 * np.pi + pv)
    return np.stack([u, v, z], axis=1)


def _colon_tumour(ph: _Phantom, line: np.ndarray, radius: float, cz: float, rz: float) -> Mask:
    """Eccentric, lobulated wall thickening that narrows and displaces the lumen ("apple core").

    The mass is a crescent around the loop's centreline, thickest at a random angle, with a
    noisy outer border; a small eccentric lumen is left unlabelled inside it.
    """
    rng = ph.rng
    cu = np.interp(ph.z, line[:, 2], line[:, 0]).astype(np.float32)
    cv = np.interp(ph.z, line[:, 2], line[:, 1]).astype(np.float32)
    du, dv = ph.u - cu, ph.v - cv
    dist, phi = np.hypot(du, dv), np.arctan2(dv, du)
    phi0 = float(rng.uniform(0, 2 * np.pi))
    half = float(rng.uniform(0.35, 1.0)) * np.pi  # half the covered arc
    arc = np.clip((np.cos(phi - phi0) - np.cos(half)) / (1 - np.cos(half) + 1e-6), 0, 1) ** 0.5
    if half >= 0.99 * np.pi:
        arc = 0.5 + 0.5 * arc
    prof = _zprofile(ph, cz, rz, 2.5)
    weight = arc * prof
    lob = ph.smooth_noise((1.5, 1.5, 0.8))
    thick = float(rng.uniform(2.0, 4.5))
    outer = (radius + thick * weight) * (1 + 0.15 * lob)
    mass = (dist < outer) & (weight > 0.08)
    shift = radius * float(rng.uniform(0.1, 0.4))
    r_lumen = radius * float(rng.uniform(0.2, 0.4))
    lumen = np.hypot(du + shift * np.cos(phi0), dv + shift * np.sin(phi0)) < r_lumen
    return mass & ~lumen


# --------------------------------------------------------------------------- rendering and files


@dataclass(frozen=True)
class _Task:
    number: int
    short: str
    labels: dict[str, str]
    description: str
    build: Callable[[_Phantom], None]
    blur: tuple[float, float]  # in-plane Gaussian blur range (voxels): boundary blurriness


_TASKS: dict[str, _Task] = {
    "Task91_DemoLung": _Task(
        91,
        "lung",
        {"0": "background", "1": "tumour"},
        "Synthetic CT: soft-tissue lung tumour in textured lung among vessels and unlabelled nodules",
        _build_lung,
        (0.7, 1.1),
    ),
    "Task92_DemoPancreas": _Task(
        92,
        "pancreas",
        {"0": "background", "1": "pancreas", "2": "tumour"},
        "Synthetic CT: low-contrast lobulated pancreas with a hypodense tumour, among bowel and vessels",
        _build_pancreas,
        (0.9, 1.4),
    ),
    "Task93_DemoSpleen": _Task(
        93,
        "spleen",
        {"0": "background", "1": "spleen"},
        "Synthetic CT: textured spleen with blurry boundary next to liver, kidney and stomach of similar HU",
        _build_spleen,
        (1.2, 1.8),
    ),
    "Task94_DemoColon": _Task(
        94,
        "colon",
        {"0": "background", "1": "tumour"},
        "Synthetic CT: small irregular low-contrast colon wall tumour among other bowel loops",
        _build_colon,
        (0.9, 1.3),
    ),
}

DEMO_TASKS: dict[str, dict] = {
    name: {"labels": dict(t.labels), "description": t.description} for name, t in _TASKS.items()
}


def _render(ph: _Phantom, blur: tuple[float, float]) -> np.ndarray:
    """Texture, coarse inhomogeneity, partial-volume blur, then white noise; HU as int16."""
    rng = ph.rng
    fine = ph.smooth_noise((1.1, 1.1, 0.6))
    coarse = ph.smooth_noise((6.0, 6.0, 2.0))
    inside = ph.hu > -950
    img = ph.hu + ph.tex * fine + np.float32(rng.uniform(5, 10)) * coarse * inside
    s = float(rng.uniform(*blur))
    img = ndimage.gaussian_filter(img, (s, s, 0.4)) + ph.soft
    img += np.float32(rng.uniform(10, 25)) * rng.standard_normal(ph.shape, dtype=np.float32)
    return np.clip(np.rint(img), -1024, 3071).astype(np.int16)


def _case(task: str, seed: int, index: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Image (int16 HU), label (uint8) and spacing (mm) of patient ``index`` (0-based)."""
    spec = _TASKS[task]
    ph = _Phantom(np.random.default_rng([seed, spec.number, index]))
    spec.build(ph)
    return _render(ph, spec.blur), ph.label, ph.spacing


def _nifti_gz(arr: np.ndarray, spacing: tuple[float, float, float]) -> bytes:
    """Gzipped NIfTI-1 bytes with a zero gzip mtime, so equal arrays give equal files."""
    affine = np.diag([*spacing, 1.0])
    img = nib.Nifti1Image(arr, affine)
    img.header.set_data_dtype(arr.dtype)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    return gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)


def _dataset_json(task: str, cases: Sequence[str]) -> str:
    """MSD ``dataset.json`` text, key-sorted so that it is byte-stable."""
    spec = _TASKS[task]
    meta = {
        "name": task.split("_", 1)[1],
        "description": spec.description,
        "reference": "synthetic gdgp demo",
        "licence": "CC0",
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": dict(spec.labels),
        "numTraining": len(cases),
        "numTest": 0,
        "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in cases],
        "test": [],
    }
    return json.dumps(meta, indent=2, sort_keys=True) + "\n"


def make_demo_task(out_dir: Path, task: str, seed: int = 0, n_patients: int = 8) -> Path:
    """Write one task folder out_dir/<task>/ {imagesTr/, labelsTr/, dataset.json}; return the folder.

    Stale cases of this generator (e.g. from an earlier, larger ``n_patients``) are removed so
    that the folder, and hence its DVC hash, depends only on the arguments.

    Raises:
        ValueError: unknown task or ``n_patients`` < 1.
    """
    if task not in _TASKS:
        raise ValueError(f"unknown demo task {task!r}; choose from {sorted(_TASKS)}")
    if n_patients < 1:
        raise ValueError(f"n_patients must be >= 1, got {n_patients}")
    spec = _TASKS[task]
    folder = Path(out_dir) / task
    cases = [f"{spec.short}_{i + 1:03d}" for i in range(n_patients)]
    for i, name in enumerate(cases):
        image, label, spacing = _case(task, seed, i)
        write_bytes_atomic(folder / "imagesTr" / f"{name}.nii.gz", _nifti_gz(image, spacing))
        write_bytes_atomic(folder / "labelsTr" / f"{name}.nii.gz", _nifti_gz(label, spacing))
    _remove_stale(folder, spec.short, set(cases))
    write_text_atomic(folder / "dataset.json", _dataset_json(task, cases))
    return folder


def _remove_stale(folder: Path, short: str, keep: set[str]) -> None:
    """Delete this generator's case files that are not in ``keep``; other files are left alone."""
    pattern = re.compile(rf"{re.escape(short)}_\d{{3}}\.nii\.gz")
    for sub in ("imagesTr", "labelsTr"):
        for path in sorted((folder / sub).glob("*.nii.gz")):
            if pattern.fullmatch(path.name) and path.name.removesuffix(".nii.gz") not in keep:
                path.unlink()


def make_demo(out_dir: Path, seed: int = 0, n_patients: int = 8, tasks: Sequence[str] | None = None) -> list[Path]:
    """Write the demo task folders (all four by default, in sorted order); return them."""
    names = sorted(_TASKS) if tasks is None else list(tasks)
    unknown = [t for t in names if t not in _TASKS]
    if unknown:
        raise ValueError(f"unknown demo task(s) {unknown}; choose from {sorted(_TASKS)}")
    return [make_demo_task(Path(out_dir), t, seed, n_patients) for t in names]
