"""Task92 (pancreas): a lobulated gland with a hypodense tumour, hemmed in by bowel and vessels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gdgp.data.demo import anatomy
from gdgp.data.demo.canvas import (
    MARGIN,
    Mask,
    Phantom,
    Tubes,
    bezier,
    dilate_xy,
    disk,
    normals,
    star,
    touching,
    tube_field,
    zprofile,
)


def build(ph: Phantom) -> None:
    """Lobulated curved pancreas (label 1) with a hypodense tumour (label 2), among bowel and vessels."""
    rng = ph.rng
    b = anatomy.abdomen(ph, (0.45, 0.6))
    p_hu = float(rng.uniform(50, 65))
    anatomy.liver(ph, b, float(rng.uniform(55, 65)), 0.8, 0.4)
    for side in (-1, 1):
        anatomy.kidney(
            ph, b, side * 0.5 * b.ax, b.spine_v - 1, float(rng.uniform(130, 160)), zprofile(ph, ph.nz * 0.7, ph.nz)
        )
    av = b.spine_v - b.spine_r - 3.5
    ph.paint(disk(ph, 5.0, av, float(rng.uniform(3.3, 4.3))), float(rng.uniform(120, 160)), 8)  # aorta
    ph.paint(star(ph, -6.5, av + 0.5, 4.5, 3.0), float(rng.uniform(90, 120)), 8)  # IVC
    p = _curve(ph, b)
    r_head, r_tail = float(rng.uniform(5.0, 7.0)), float(rng.uniform(2.8, 4.0))
    kz = (r_head + r_tail) / 2 / float(rng.uniform(3.0, 5.0))
    radius_at = lambda t: r_head * (1 - t) + r_tail * t  # noqa: E731
    neighbours = _neighbours(ph, p, radius_at, b)
    tubes = tube_field(ph, [p, *(n.line for n in neighbours)], kz)
    lob = ph.smooth_noise((2.0, 2.0, 1.0))
    gland = (tubes.line == 0) & (tubes.dist < radius_at(tubes.t) * (1 + 0.2 * lob)) & b.cavity & ph.zvalid
    anatomy.partial_fat_plane(ph, gland, b, float(rng.uniform(0.5, 0.8)))
    _distractors(ph, tubes, neighbours, p_hu, b)
    tumour = _tumour(ph, p, radius_at) & dilate_xy(gland, 2)  # only where the gland is
    ph.paint(gland | tumour, p_hu, 14)
    delta = -float(rng.uniform(18, 32))  # hypodense, with a blurrier edge than the rest
    ph.soft += delta * ndimage.gaussian_filter(tumour.astype(np.float32), (1.0, 1.0, 0.5))
    ph.label[gland] = 1
    ph.label[tumour] = 2


def _curve(ph: Phantom, b: anatomy.Body) -> np.ndarray:
    """Centreline head -> neck -> tail, rising cranially towards the tail (as in CT)."""
    rng = ph.rng
    j = lambda s: float(rng.uniform(-s, s))  # noqa: E731
    dz = float(rng.uniform(3.0, 6.0))
    z0 = float(rng.uniform(MARGIN + 3.5, max(MARGIN + 3.5, ph.nz - 1 - MARGIN - 3.5 - dz)))
    head = (-0.26 * b.ax + j(3), -0.02 * b.ay + j(3), z0)
    neck = (0.02 * b.ax + j(4), -(0.5 + j(0.1)) * b.ay, z0 + dz * 0.4)
    tail = (0.5 * b.ax + j(3), 0.08 * b.ay + j(3), z0 + dz)
    return bezier(head, neck, tail, 48)


@dataclass(frozen=True)
class _Neighbour:
    """A tube next to the pancreas: centreline, radius and content."""

    line: np.ndarray
    radius: float
    kind: str  # "vein" or a bowel lumen kind


def _neighbours(ph: Phantom, p: np.ndarray, radius_at: Callable[[float], float], b: anatomy.Body) -> list[_Neighbour]:
    """Duodenal C-loop around the head, splenic vein behind the body, jejunal loops touching the front."""
    rng = ph.rng
    hu, hv, hz = p[0]
    ang = np.linspace(0.6 * np.pi, 1.45 * np.pi, 24)
    rad = radius_at(0.0) + float(rng.uniform(2.5, 4.5))
    duod = np.stack([hu + rad * np.cos(ang), hv - rad * np.sin(ang), hz + np.linspace(-3, 4, 24)], axis=1)
    nrm = normals(p)
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
        line = anatomy.random_loop(ph, touching(p[i], nrm[i], gap, float(rng.uniform(-2, 2))), 8.0)
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
        out.append(_Neighbour(anatomy.random_loop(ph, c, 10.0), float(rng.uniform(3.5, 5.5)), kind))
    return out


def _distractors(ph: Phantom, tubes: Tubes, neighbours: list[_Neighbour], p_hu: float, b: anatomy.Body) -> None:
    """Bowel of pancreas-like wall HU (duodenum, jejunum) and a brighter splenic vein."""
    rng = ph.rng
    for i, n in enumerate(neighbours, start=1):
        if n.kind == "vein":
            ph.paint((tubes.line == i) & (tubes.dist < n.radius) & b.cavity, p_hu + float(rng.uniform(20, 50)), 8)
        else:
            anatomy.bowel(ph, tubes, [i], n.radius, 1.6, p_hu + float(rng.uniform(-10, 5)), n.kind, b.cavity)


def _tumour(ph: Phantom, p: np.ndarray, radius_at: Callable[[float], float]) -> Mask:
    """Small roundish lesion centred on the gland's centreline (may bulge a little)."""
    rng = ph.rng
    t = float(rng.uniform(0.1, 0.75))
    cu, cv, cz = p[int(round(t * (len(p) - 1)))]
    r = max(3.0, radius_at(t) * float(rng.uniform(0.7, 1.1)))
    rz = float(rng.uniform(4.0, 7.0))
    cz = float(np.clip(cz, MARGIN - 0.5 + rz, ph.nz - 1 - MARGIN + 0.5 - rz))
    aspect = float(rng.uniform(0.75, 1.2))
    return star(ph, cu, cv, r, r * aspect, float(rng.uniform(0, np.pi)), 0.12, zprofile(ph, cz, rz))
