"""Read Medical Segmentation Decathlon task folders with nibabel, with clear errors.

An MSD task is ``TaskXX_Name/{dataset.json, imagesTr/, labelsTr/}``. Arrays come back in
nibabel's (x, y, z) order; :func:`axial_slice` turns slice ``z`` into a (row=y, col=x) image.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from gdgp.errors import InputDataError


@dataclass(frozen=True)
class Case:
    """One patient: image and label files of an MSD task."""

    name: str
    image: Path
    label: Path


@dataclass(frozen=True)
class Volume:
    """A loaded case. ``image`` float32 HU and ``label`` uint8, both (x, y, z); spacing in mm."""

    case: str
    image: np.ndarray
    label: np.ndarray
    spacing_xyz: tuple[float, float, float]


def list_cases(task_dir: str | Path, check_files: bool = True) -> list[Case]:
    """List the training cases of an MSD task folder, checking that every file exists.

    Follows nnU-Net's MSD import in skipping names that start with ``.`` or ``_``
    (macOS resource forks in the official tarballs).

    Args:
        task_dir: the MSD task folder.
        check_files: raise on a listed file that is missing; False leaves that to
            :func:`load_case`, so a caller that skips bad cases can skip that one too.

    Raises:
        InputDataError: the folder, its ``dataset.json`` or (``check_files``) a listed file is missing.
    """
    task_dir = Path(task_dir)
    if not task_dir.is_dir():
        raise InputDataError(f"MSD task folder not found: {task_dir}")
    meta_path = task_dir / "dataset.json"
    if not meta_path.is_file():
        raise InputDataError(f"{meta_path}: missing (an MSD task folder needs dataset.json)")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputDataError(f"{meta_path}: not valid JSON ({err})") from err
    entries = meta.get("training")
    if not isinstance(entries, list) or not entries:
        raise InputDataError(f"{meta_path}: no 'training' entries")
    cases = []
    for entry in entries:
        try:
            image = task_dir / entry["image"]
            label = task_dir / entry["label"]
        except (KeyError, TypeError) as err:
            raise InputDataError(f"{meta_path}: training entry {entry!r} lacks image/label") from err
        if image.name.startswith((".", "_")):
            continue
        case = Case(name=image.name.removesuffix(".nii.gz").removesuffix(".nii"), image=image, label=label)
        if check_files:
            _require_files(case, meta_path)
        cases.append(case)
    return sorted(cases, key=lambda c: c.name)


def _require_files(case: Case, listed_in: str | Path) -> None:
    """Raise naming the first of the case's image and label files that does not exist."""
    for path in (case.image, case.label):
        if not path.is_file():
            raise InputDataError(f"{path}: listed in {listed_in} but missing")


def _load_nifti(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, zlib.error, ValueError, nib.filebasedimages.ImageFileError) as err:
        raise InputDataError(f"{path}: cannot read NIfTI ({type(err).__name__}: {err})") from err
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputDataError(f"{path}: expected a 3D volume, got shape {data.shape}")
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return data, zooms  # type: ignore[return-value]


def load_case(case: Case) -> Volume:
    """Load one case; image as float32, label as uint8.

    Raises:
        InputDataError: unreadable file, not 3D, or image/label shapes differ.
    """
    _require_files(case, "dataset.json")
    image, spacing = _load_nifti(case.image)
    label, _ = _load_nifti(case.label)
    if image.shape != label.shape:
        raise InputDataError(
            f"{case.label}: label shape {label.shape} does not match image {case.image} shape {image.shape}"
        )
    return Volume(case.name, image.astype(np.float32), np.rint(label).astype(np.uint8), spacing)


def axial_slice(volume: np.ndarray, z: int) -> np.ndarray:
    """Axial slice ``z`` of an (x, y, z) array as a (row=y, col=x) image."""
    return np.ascontiguousarray(volume[:, :, z].T)
