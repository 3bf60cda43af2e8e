"""Task91 (lung): a soft-tissue tumour in textured lung, among vessels and look-alike nodules."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gdgp.data.demo import anatomy
from gdgp.data.demo.canvas import (
    Mask,
    Phantom,
    bezier,
    disk,
    erode_xy,
    pick_point,
    star,
    target_z,
    tube_field,
    zprofile,
)


def build(ph: Phantom) -> None:
    """Soft-tissue tumour in aerated lung, among vessels and unlabelled nodules of the same HU."""
    rng = ph.rng
    b = anatomy.body(ph, float(rng.uniform(30, 45)))
    zt = ph.z / np.float32(ph.nz - 1)
    lungs = np.zeros(ph.shape, bool)
    allowed = ndimage.binary_erosion(np.squeeze(b.cavity, 2), iterations=1)[:, :, None]
    for side in (-1, 1):
        taper = 1 - float(rng.uniform(0.0, 0.2)) * zt
        lungs |= star(
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
    aorta = disk(ph, float(rng.uniform(3, 6)), b.spine_v - b.spine_r - 3.5, 3.6)
    ph.paint(aorta, float(rng.uniform(110, 170)), 8)
    ph.paint(lungs & (ph.smooth_noise((0.7, 0.7, 1.2)) > 2.4), float(rng.uniform(-80, -10)), 20)  # micro-vessels
    _vessels(ph, lungs)
    tumour = _tumour(ph, lungs)
    _nodules(ph, lungs, tumour)
    t_hu = float(rng.uniform(5, 45))
    ph.paint(tumour, t_hu, 18)
    if rng.uniform() < 0.4:  # necrotic / low-density core, still tumour
        ph.paint(erode_xy(tumour, 3), t_hu - float(rng.uniform(15, 35)), 12)
    ph.label[tumour] = 1


def _vessels(ph: Phantom, lungs: Mask) -> None:
    """Branching vessels from the hilum: round bright cross-sections as tumour look-alikes."""
    rng = ph.rng
    lines, radii = [], []
    for _ in range(int(rng.integers(6, 11))):
        side = 1 if rng.uniform() < 0.5 else -1
        start = (side * float(rng.uniform(6, 10)), float(rng.uniform(-6, 6)), float(rng.uniform(0, ph.nz - 1)))
        end = (side * float(rng.uniform(14, 32)), float(rng.uniform(-22, 22)), float(rng.uniform(0, ph.nz - 1)))
        mid = [(a + e) / 2 + float(rng.normal(0, 3)) for a, e in zip(start, end, strict=True)]
        lines.append(bezier(start, mid, end, 24))
        radii.append(float(rng.uniform(1.1, 2.4)))
    tubes = tube_field(ph, lines, kz=0.6)
    radius = np.asarray(radii, np.float32)[np.maximum(tubes.line, 0)] * (1 - 0.45 * tubes.t)
    ph.paint(lungs & (tubes.dist < radius), float(rng.uniform(15, 55)), 12)


def _tumour(ph: Phantom, lungs: Mask) -> Mask:
    """Roundish, slightly spiculated tumour; may abut the pleura (then harder to delimit)."""
    rng = ph.rng
    cz, rz = target_z(ph, 6, 16)
    r = float(rng.uniform(4.5, 9.0))
    clearance = r * float(rng.uniform(0.3, 1.0))
    cu, cv = pick_point(ph, lungs[:, :, int(round(cz))], clearance)
    aniso = float(rng.uniform(0.8, 1.25))
    shape = star(ph, cu, cv, r * aniso, r / aniso, float(rng.uniform(0, np.pi)), 0.12, zprofile(ph, cz, rz), 7)
    thorax = ph.hu > -500  # may invade the chest wall or mediastinum, never the outside air
    return shape & ph.zvalid & (lungs | thorax)


def _nodules(ph: Phantom, lungs: Mask, tumour: Mask) -> None:
    """0-2 unlabelled nodules of tumour-like HU, kept clear of the tumour."""
    rng = ph.rng
    keep_out = ndimage.distance_transform_edt(~np.any(tumour, axis=2)) < 8
    for _ in range(int(rng.integers(0, 3))):
        cz = float(rng.uniform(0, ph.nz - 1))
        r = float(rng.uniform(2.5, 4.5))
        region = lungs[:, :, int(round(cz))] & ~keep_out
        if not region.any():
            continue
        cu, cv = pick_point(ph, region, r)
        rz = float(rng.uniform(1.5, 4.5))
        nod = star(ph, cu, cv, r, r * float(rng.uniform(0.8, 1.2)), 0.0, 0.1, zprofile(ph, cz, rz))
        ph.paint(nod & lungs, float(rng.uniform(10, 60)), 15)
