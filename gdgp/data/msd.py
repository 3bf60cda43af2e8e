"""Read Medical Segmentation Decathlon task folders with nibabel, with clear errors.

An MSD task is ``TaskXX_Name/{dataset.json, imagesTr/, labelsTr/}``; ``dataset.json`` lists
the cases in ``training``. A multi-channel MSD image (e.g. Task01_BrainTumour, Task05_Prostate)
is one 4D NIfTI with the channels along the 4th dimension. Arrays come back in nibabel's
(x, y, z) order; :func:`axial_slice` turns slice ``z`` into a (row=y, col=x) image.

The volume loading here (:func:`load_case`) serves both layouts; :mod:`gdgp.data.layouts` tells
an MSD task from an nnU-Net v2 raw dataset and lists the latter's cases.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from gdgp.errors import InputDataError

#: Largest difference (mm, any entry of the voxel-to-world affine) between an image and its
#: label that still counts as the same voxel grid: float32 round-off of NIfTI headers and
#: qform-vs-sform storage stay far below it, a shifted or rescaled grid does not.
AFFINE_TOL_MM = 1e-3


@dataclass(frozen=True)
class Case:
    """One patient: image and label files.

    ``channel`` is the 4th-dimension index to read from a multi-channel (4D) MSD image, None
    for a 3D image. ``listed_in`` says where the files are expected from, for error messages.
    """

    name: str
    image: Path
    label: Path
    channel: int | None = None
    listed_in: str = "listed in dataset.json"


@dataclass(frozen=True)
class Volume:
    """A loaded case. ``image`` float32 HU and ``label`` uint8, both (x, y, z); spacing in mm."""

    case: str
    image: np.ndarray
    label: np.ndarray
    spacing_xyz: tuple[float, float, float]


def read_dataset_json(task_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """The path and parsed content of ``task_dir/dataset.json`` (either layout).

    Raises:
        InputDataError: the folder or its ``dataset.json`` is missing, or it is not a JSON object.
    """
    task_dir = Path(task_dir)
    if not task_dir.is_dir():
        raise InputDataError(f"dataset folder not found: {task_dir} (an MSD task or nnU-Net v2 raw dataset folder)")
    meta_path = task_dir / "dataset.json"
    if not meta_path.is_file():
        raise InputDataError(f"{meta_path}: missing (an MSD task or nnU-Net v2 dataset folder needs dataset.json)")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputDataError(f"{meta_path}: not valid JSON ({err})") from err
    if not isinstance(meta, dict):
        raise InputDataError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    return meta_path, meta


def list_cases(task_dir: str | Path, check_files: bool = True, channel: int | None = None) -> list[Case]:
    """List the training cases of an MSD task folder, checking that every file exists.

    Follows nnU-Net's MSD import in skipping names that start with ``.`` or ``_``
    (macOS resource forks in the official tarballs).

    Args:
        task_dir: the MSD task folder.
        check_files: raise on a listed file that is missing; False leaves that to
            :func:`load_case`, so a caller that skips bad cases can skip that one too.
        channel: the 4th-dimension index to read from 4D images (multi-channel tasks).

    Raises:
        InputDataError: the folder, its ``dataset.json`` or (``check_files``) a listed file is missing.
    """
    meta_path, meta = read_dataset_json(task_dir)
    return msd_cases(Path(task_dir), meta_path, meta, check_files, channel)


def msd_cases(
    task_dir: Path, meta_path: Path, meta: dict[str, Any], check_files: bool = True, channel: int | None = None
) -> list[Case]:
    """:func:`list_cases` on an already-read ``dataset.json``."""
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
        name = image.name.removesuffix(".nii.gz").removesuffix(".nii")
        case = Case(name=name, image=image, label=label, channel=channel, listed_in=f"listed in {meta_path}")
        if check_files:
            require_files(case)
        cases.append(case)
    return sorted(cases, key=lambda c: c.name)


def require_files(case: Case) -> None:
    """Raise naming the first of the case's image and label files that does not exist."""
    for path in (case.image, case.label):
        if not path.is_file():
            hint = ""
            v1 = path.with_name(path.name.replace(".nii", "_0000.nii", 1))
            if path == case.image and v1 != path and v1.is_file():
                hint = f" ({v1.name} exists: an nnU-Net v1 task? Its images carry a _0000 channel suffix)"
            raise InputDataError(f"{path}: {case.listed_in} but missing{hint}")


def _load_nifti(path: Path, channel: int | None = None) -> tuple[np.ndarray, tuple[float, float, float], np.ndarray]:
    """Data (3D), voxel size (mm) and voxel-to-world affine of one NIfTI file."""
    try:
        img = nib.load(str(path))
        if not isinstance(img, nib.spatialimages.SpatialImage):  # e.g. a CIFTI file named .nii
            raise InputDataError(f"{path}: not a volume image (nibabel read a {type(img).__name__})")
        shape = img.shape
        if len(shape) == 4 and channel is not None:
            if not 0 <= channel < shape[3]:
                raise InputDataError(f"{path}: has {shape[3]} channel(s) along its 4th dimension, no channel {channel}")
            data = np.asanyarray(img.dataobj[..., channel])
        else:
            data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, zlib.error, ValueError, nib.filebasedimages.ImageFileError) as err:
        if isinstance(err, InputDataError):
            raise
        raise InputDataError(f"{path}: cannot read NIfTI ({type(err).__name__}: {err})") from err
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim == 4:
        raise InputDataError(
            f"{path}: a 4D image with {data.shape[3]} channels along its 4th dimension: set the "
            "dataset's channel (datasets.<name>.channel, --channel) to the index to use"
        )
    if data.ndim != 3:
        raise InputDataError(f"{path}: expected a 3D volume, got shape {data.shape}")
    sx, sy, sz = (float(z) for z in img.header.get_zooms()[:3])
    return data, (sx, sy, sz), np.asarray(img.affine, dtype=np.float64)


def load_case(case: Case) -> Volume:
    """Load one case; image as float32, label as uint8.

    Raises:
        InputDataError: a missing or unreadable file, not 3D (after picking ``case.channel``),
            or image and label on different voxel grids (shapes differ, or affines differ by
            more than :data:`AFFINE_TOL_MM`).
    """
    require_files(case)
    image, spacing, image_affine = _load_nifti(case.image, case.channel)
    label, _, label_affine = _load_nifti(case.label)
    if image.shape != label.shape:
        raise InputDataError(
            f"{case.label}: label shape {label.shape} does not match image {case.image} shape {image.shape}"
        )
    diff = float(np.abs(image_affine[:3] - label_affine[:3]).max())
    if not diff <= AFFINE_TOL_MM:
        raise InputDataError(
            f"{case.label}: label affine differs from image {case.image}'s by up to {diff:.4g} mm (tolerance "
            f"{AFFINE_TOL_MM} mm), so the label is not on the image's voxel grid; image affine "
            f"{np.round(image_affine[:3], 4).tolist()}, label affine {np.round(label_affine[:3], 4).tolist()}"
        )
    return Volume(case.name, image.astype(np.float32), np.rint(label).astype(np.uint8), spacing)


def axial_slice(volume: np.ndarray, z: int) -> np.ndarray:
    """Axial slice ``z`` of an (x, y, z) array as a (row=y, col=x) image."""
    return np.ascontiguousarray(volume[:, :, z].T)
