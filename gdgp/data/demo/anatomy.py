"""Anatomy shared by the demo tasks: body wall, spine, visceral fat, liver, kidney, bowel.

Each function paints onto a :class:`~gdgp.data.demo.canvas.Phantom` in place (later structures
win) and draws from its generator; task builders call them in a fixed order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.special import ndtri

from gdgp.data.demo.canvas import Mask, Phantom, Tubes, bezier, dilate_xy, disk, erode_xy, harmonics, star


@dataclass(frozen=True)
class Body:
    """Body outline sizes and masks shared by every task."""

    ax: float
    ay: float
    cavity: Mask  # inside the muscle wall: where organs go
    spine: Mask  # vertebra, canal and paraspinal muscles (organs stay out)
    spine_v: float  # v of the vertebral body centre
    spine_r: float
    base: float  # HU of the "fat/muscle mix" filling the cavity


def body(ph: Phantom, base: float) -> Body:
    """Air, subcutaneous fat rim, muscle wall, soft-tissue cavity and a vertebra."""
    rng = ph.rng
    ax, ay = float(rng.uniform(37, 43)), float(rng.uniform(29, 34))
    rho = np.hypot(ph.u / ax, ph.v / ay)
    edge = harmonics(rng, np.arctan2(ph.v / ay, ph.u / ax), 0.03, 4, None)
    fat, wall = float(rng.uniform(2.5, 5.5)), float(rng.uniform(1.5, 3.0))
    ph.paint(rho < edge, -100 + float(rng.uniform(-15, 15)), 12)
    ph.paint(rho < edge - fat / ay, 50 + float(rng.uniform(-5, 5)), 10)
    cavity = rho < edge - (fat + wall) / ay
    ph.paint(cavity, base, 14)
    spine, sv, sr = _spine(ph, ay)
    return Body(ax, ay, cavity & ~spine, spine, sv, sr, base)


def _spine(ph: Phantom, ay: float) -> tuple[Mask, float, float]:
    """Vertebral body with cortex and discs, neural arch, canal and paraspinal muscles."""
    rng = ph.rng
    su, sv, r = float(rng.uniform(-2, 2)), ay * float(rng.uniform(0.36, 0.44)), float(rng.uniform(5.0, 6.5))
    canal_v = sv + r + 2.5
    period = float(rng.uniform(26, 34))  # mm between discs
    disc = ((ph.z * ph.spacing[2] + float(rng.uniform(0, period))) % period) < float(rng.uniform(5, 8))
    cortical, marrow = float(rng.uniform(650, 900)), float(rng.uniform(220, 380))
    muscles = star(ph, su - 8, canal_v + 1, 6.5, 4.5, 0.3) | star(ph, su + 8, canal_v + 1, 6.5, 4.5, -0.3)
    ph.paint(muscles, 50 + float(rng.uniform(-5, 5)), 10)
    arch = disk(ph, su, canal_v, 4.6) | (np.abs(ph.u - su) < 1.2) & (ph.v > canal_v) & (ph.v < canal_v + 7)
    ph.paint(arch, 0.8 * cortical, 60)
    ph.paint(disk(ph, su, canal_v, 2.6), 20, 5)
    d = np.hypot(ph.u - su, ph.v - sv)
    body = d < r
    ph.paint(body, np.where(disc, np.float32(90), np.float32(marrow)), 30)
    ph.paint((d < r) & (d > r - 1.4) & ~disc, cortical, 60)
    region = ndimage.binary_dilation(np.squeeze(body | arch | muscles, 2), iterations=2)[:, :, None]
    return region, sv, r


def _fat_lobules(ph: Phantom, region: Mask, fraction: float) -> None:
    """Visceral fat (about -90 HU) covering ``fraction`` of ``region``: the fat/soft-tissue mix.

    Organs painted afterwards are outlined by fat only where a lobule happens to touch them,
    so their boundaries are visible in places and invisible elsewhere, as in real CT.
    """
    noise = ph.smooth_noise((2.0, 2.0, 1.0))
    ph.paint(region & (noise > ndtri(1 - fraction)), -90 + float(ph.rng.uniform(-15, 15)), 15)


def abdomen(ph: Phantom, fat: tuple[float, float]) -> Body:
    """Body and spine, psoas muscles, and the fat/soft-tissue mix filling the cavity."""
    rng = ph.rng
    b = body(ph, float(rng.uniform(30, 42)))
    _fat_lobules(ph, b.cavity, float(rng.uniform(*fat)))
    for side in (-1, 1):
        psoas = star(ph, side * 7.5, b.spine_v - 1, 3.5, 4.5, side * 0.3, 0.05) & b.cavity
        ph.paint(psoas, 50 + float(rng.uniform(-5, 5)), 10)
    return b


def liver(ph: Phantom, b: Body, hu: float, scale: float, taper: float) -> Mask:
    """Large organ filling the patient's right upper abdomen (image left)."""
    rng = ph.rng
    zt = ph.z / np.float32(ph.nz - 1)
    liver = (
        star(
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


def kidney(ph: Phantom, b: Body, cu: float, cv: float, hu: float, profile: np.ndarray) -> None:
    """Bean-shaped kidney with a small fatty sinus."""
    side = np.sign(cu)
    k = star(ph, cu, cv, 5.5, 7.5, -side * 0.4, 0.05, profile) & b.cavity
    ph.paint(k, hu, 10)
    ph.paint(k & star(ph, cu - side * 2.5, cv, 1.8, 3.5), -40, 10)


def hollow(ph: Phantom, organ: Mask, wall: float, wall_hu: float, lumen: str) -> None:
    """A hollow organ: soft-tissue wall around fluid, or around fluid with an anterior air cap."""
    ph.paint(organ, wall_hu, 12)
    inner = erode_xy(organ, int(round(wall)))
    ph.paint(inner, 12 + float(ph.rng.uniform(-5, 8)), 8)
    if lumen == "air" and inner.any():
        vs = float(np.where(inner, ph.v, np.inf).min())
        ph.paint(inner & (ph.v < vs + float(ph.rng.uniform(3, 7))), -900, 20)


def partial_fat_plane(ph: Phantom, organ: Mask, b: Body, cover: float) -> None:
    """Fat along about ``cover`` of the organ's outline: visible there, ambiguous elsewhere."""
    shell = dilate_xy(organ, 2) & ~organ & b.cavity
    noise = ph.smooth_noise((1.5, 1.5, 1.0))
    ph.paint(shell & (noise > ndtri(1 - cover)), -90 + float(ph.rng.uniform(-15, 15)), 15)


def bowel(
    ph: Phantom,
    tubes: Tubes,
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


def random_loop(ph: Phantom, centre: np.ndarray, length: float) -> np.ndarray:
    """Short curved bowel segment through ``centre`` (u, v, z) in a random 3D direction."""
    d = ph.rng.normal(size=3)
    d *= length / (np.linalg.norm(d * np.array([1.0, 1.0, 1.6])) + 1e-9)
    bend = ph.rng.normal(size=3) * np.array([3.0, 3.0, 1.5])
    return bezier(centre - d, centre + bend, centre + d, 16)
