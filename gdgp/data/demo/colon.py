"""Task94 (colon): an irregular wall-thickening tumour of one colon loop among other loops."""

from __future__ import annotations

import numpy as np

from gdgp.data.demo import anatomy
from gdgp.data.demo.canvas import Mask, Phantom, target_z, touching, tube_field, zprofile


def build(ph: Phantom) -> None:
    """Irregular wall-thickening tumour of one colon loop among other bowel loops."""
    rng = ph.rng
    b = anatomy.abdomen(ph, (0.45, 0.6))
    cz, rz = target_z(ph, 6, 16)
    target = _target_line(ph, b)
    radius = float(rng.uniform(4.5, 6.5))
    k = int(np.argmin(np.abs(target[:, 2] - cz)))
    lines, radii = [target], [radius]
    for _ in range(int(rng.integers(1, 3))):  # loops touching the tumour level
        r = float(rng.uniform(3.5, 5.5))
        a = float(rng.uniform(0, 2 * np.pi))
        gap = radius + r + float(rng.uniform(0.5, 3.0))
        lines.append(
            anatomy.random_loop(
                ph, touching(target[k], np.array([np.cos(a), np.sin(a)]), gap, float(rng.uniform(-2, 2))), 8.0
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
        lines.append(anatomy.random_loop(ph, c, 12.0))
        radii.append(float(rng.uniform(3.5, 6.0)))
    tubes = tube_field(ph, lines, kz=0.8)
    wall_hu = b.base + float(rng.uniform(3, 12))
    for i in range(1, len(lines)):
        kind = ("fluid", "stool", "air", "solid")[int(rng.integers(4))]
        wall = float(rng.uniform(1.2, 2.0))
        anatomy.bowel(ph, tubes, [i], radii[i], wall, wall_hu + float(rng.uniform(-4, 4)), kind, b.cavity)
    lumen = "air" if rng.uniform() < 0.5 else "stool"
    anatomy.bowel(ph, tubes, [0], radius, float(rng.uniform(1.2, 1.8)), wall_hu, lumen, b.cavity)
    tumour = _tumour(ph, target, radius, cz, rz) & b.cavity & ph.zvalid
    ph.paint(tumour, wall_hu + float(rng.uniform(10, 25)), 16)
    ph.label[tumour] = 1


def _target_line(ph: Phantom, b: anatomy.Body) -> np.ndarray:
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


def _tumour(ph: Phantom, line: np.ndarray, radius: float, cz: float, rz: float) -> Mask:
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
    prof = zprofile(ph, cz, rz, 2.5)
    weight = arc * prof
    lob = ph.smooth_noise((1.5, 1.5, 0.8))
    thick = float(rng.uniform(2.0, 4.5))
    outer = (radius + thick * weight) * (1 + 0.15 * lob)
    mass = (dist < outer) & (weight > 0.08)
    shift = radius * float(rng.uniform(0.1, 0.4))
    r_lumen = radius * float(rng.uniform(0.2, 0.4))
    lumen = np.hypot(du + shift * np.cos(phi0), dv + shift * np.sin(phi0)) < r_lumen
    return mass & ~lumen
