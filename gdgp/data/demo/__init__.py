"""Synthetic CT-like phantoms in Medical Segmentation Decathlon layout (the embedded demo).

Real MSD data are tens of GB and cannot be downloaded where the demo runs, so the default
config uses these phantoms instead. They are written as NIfTI task folders so that they go
through exactly the same loader as real data, and they are built to be *hard*: textured,
blurry, low-contrast targets next to unlabelled look-alike structures, so that an automatic
model stays imperfect and click-guided methods have something to fix.

Output is byte-deterministic for a seed because DVC tracks the data folder by hash: every
patient draws from its own generator seeded with (seed, task number, patient index), so
adding patients never changes earlier ones, and the gzip header carries no time stamp.

Geometry: arrays are nibabel (x, y, z), 96 x 96 in-plane; each phantom is built with 20-28
slices and then cut to the 3-slice slab around its targets (:data:`gdgp.data.demo.writer.SLAB`), so
a demo task has many small patients, as patient-level statistics need. Anatomy is drawn in
a per-patient rotated frame (u, v) in voxels centred on the body; +v is posterior (the spine
side), so an axial slice ``arr[:, :, k].T`` shows the patient supine, anterior at the top.

Layout: :mod:`gdgp.data.demo.canvas` holds the phantom canvas and geometric primitives,
:mod:`gdgp.data.demo.anatomy` the anatomy shared by the tasks, :mod:`gdgp.data.demo.lung`,
:mod:`~gdgp.data.demo.pancreas`, :mod:`~gdgp.data.demo.spleen` and :mod:`~gdgp.data.demo.colon` one task
builder each, :mod:`gdgp.data.demo.tasks` the task table and :mod:`gdgp.data.demo.writer` the rendering
and file output. Every random draw happens in the order the builders make their calls, so
reordering calls changes the bytes (and the DVC hash).
"""

from __future__ import annotations

from gdgp.data.demo.tasks import DEMO_TASKS
from gdgp.data.demo.writer import make_demo, make_demo_task

__all__ = ["DEMO_TASKS", "make_demo", "make_demo_task"]
