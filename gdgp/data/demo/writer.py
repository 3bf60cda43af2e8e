"""Rendering phantoms to CT images and writing MSD task folders byte-deterministically."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from gdgp.atomic import write_bytes_atomic, write_text_atomic
from gdgp.data.demo.canvas import Phantom
from gdgp.data.demo.tasks import TASKS


def _render(ph: Phantom, blur: tuple[float, float]) -> np.ndarray:
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


#: Axial slices kept per patient. The phantom is built and rendered whole, then cut to this
#: slab around its target (a limited-coverage scan), so that every patient gives at most this
#: many slices to a target: a test set of n slices then spans >= n / SLAB patients. The demo
#: wants many small patients rather than a few large ones, because the patient is the unit of
#: its statistics (with Holm over nine comparisons, < 10 patients can never reach p < 0.05).
SLAB = 3


def _slab(label: np.ndarray, target: int) -> slice:
    """The SLAB slices centred on the slice with the largest area of label ``target``
    (first such slice on ties), shifted to stay inside the volume."""
    area = (label == target).sum(axis=(0, 1))
    lo = int(np.clip(int(np.argmax(area)) - SLAB // 2, 0, max(label.shape[2] - SLAB, 0)))
    return slice(lo, lo + SLAB)


def _case(task: str, seed: int, index: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Image (int16 HU), label (uint8) and spacing (mm) of patient ``index`` (0-based): the
    whole phantom rendered, then cut to the :data:`SLAB` slices around its smallest target
    (the highest label: the pancreas tumour, not the gland), so every target is in the slab."""
    spec = TASKS[task]
    ph = Phantom(np.random.default_rng([seed, spec.number, index]))
    spec.build(ph)
    image = _render(ph, spec.blur)
    z = _slab(ph.label, max(int(k) for k in spec.labels))
    return np.ascontiguousarray(image[:, :, z]), np.ascontiguousarray(ph.label[:, :, z]), ph.spacing


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
    spec = TASKS[task]
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


def make_demo_task(out_dir: Path, task: str, seed: int = 0, n_patients: int = 34) -> Path:
    """Write one task folder out_dir/<task>/ {imagesTr/, labelsTr/, dataset.json}; return the folder.

    Stale cases of this generator (e.g. from an earlier, larger ``n_patients``) are removed so
    that the folder, and hence its DVC hash, depends only on the arguments.

    Raises:
        ValueError: unknown task or ``n_patients`` < 1.
    """
    if task not in TASKS:
        raise ValueError(f"unknown demo task {task!r}; choose from {sorted(TASKS)}")
    if n_patients < 1:
        raise ValueError(f"n_patients must be >= 1, got {n_patients}")
    spec = TASKS[task]
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


def make_demo(out_dir: Path, seed: int = 0, n_patients: int = 34, tasks: Sequence[str] | None = None) -> list[Path]:
    """Write the demo task folders (all four by default, in sorted order); return them."""
    names = sorted(TASKS) if tasks is None else list(tasks)
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown demo task(s) {unknown}; choose from {sorted(TASKS)}")
    return [make_demo_task(Path(out_dir), t, seed, n_patients) for t in names]
