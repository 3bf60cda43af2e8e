"""Task93 (spleen): a large textured spleen against liver, kidney and stomach of similar HU."""

from __future__ import annotations

import numpy as np

from gdgp.data.demo import anatomy
from gdgp.data.demo.canvas import Mask, Phantom, star, target_z, tube_field, zprofile


def build(ph: Phantom) -> None:
    """Large textured spleen touching liver, kidney, stomach and body wall of similar HU."""
    rng = ph.rng
    b = anatomy.abdomen(ph, (0.4, 0.55))
    s_hu = float(rng.uniform(42, 55))
    cz, rz = target_z(ph, 10, 20)
    zt = ph.z / np.float32(ph.nz - 1)
    liver_hu = s_hu + float(rng.uniform(0, 12))
    liver = anatomy.liver(ph, b, liver_hu, 1.0, 0.25)
    lobe_w = float(rng.uniform(0.3, 0.6))  # left lobe may reach over to the spleen
    lobe = star(ph, 0.05 * b.ax, -0.5 * b.ay, lobe_w * b.ax, 0.22 * b.ay, 0.2, 0.08, 1 - 0.6 * zt) & b.cavity
    ph.paint(lobe & ~liver, liver_hu, 10)
    stomach = star(ph, 0.22 * b.ax, -0.3 * b.ay, 0.22 * b.ax, 0.2 * b.ay, 0.4, 0.08, zprofile(ph, cz - rz * 0.3, ph.nz))
    anatomy.hollow(
        ph, stomach & b.cavity, 2.0, s_hu + float(rng.uniform(-8, 4)), "fluid" if rng.uniform() < 0.5 else "air"
    )
    anatomy.kidney(ph, b, 0.33 * b.ax, b.spine_v - 2, s_hu + float(rng.uniform(-8, 8)), zprofile(ph, cz + rz * 0.7, rz))
    flex = anatomy.random_loop(ph, np.array([0.5 * b.ax, -0.5 * b.ay, cz + float(rng.uniform(-3, 3))]), 8.0)
    tubes = tube_field(ph, [flex], 0.8)
    anatomy.bowel(
        ph, tubes, [0], float(rng.uniform(3.5, 5.0)), 1.5, s_hu + float(rng.uniform(-10, 0)), "stool", b.cavity
    )
    spleen = _shape(ph, b, cz, rz) & b.cavity & ph.zvalid
    ph.paint(spleen, s_hu, 12)
    ph.label[spleen] = 1


def _shape(ph: Phantom, b: anatomy.Body, cz: float, rz: float) -> Mask:
    """Bean-shaped ellipsoid against the posterolateral wall, notched at the hilum."""
    rng = ph.rng
    cu = b.ax * float(rng.uniform(0.5, 0.6))
    cv = b.ay * float(rng.uniform(0.0, 0.25))
    ru, rv = b.ax * float(rng.uniform(0.17, 0.25)), b.ay * float(rng.uniform(0.45, 0.6))
    ang = -float(rng.uniform(0.35, 0.85))
    prof = zprofile(ph, cz, rz, float(rng.uniform(2.2, 3.5)))
    main = star(ph, cu, cv, ru, rv, ang, 0.07, prof)
    off = ru * float(rng.uniform(0.9, 1.3))
    notch = star(ph, cu - off * np.cos(ang), cv - off * np.sin(ang), ru * 0.6, rv * 0.45, ang, 0.1, prof)
    return main & ~notch
