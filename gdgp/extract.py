"""Stage 1: valid axial slices of one segmentation target, preprocessed and split.

Writes ``slices.npz`` (``image`` float32 (N, S, S) in [0, 1], ``label`` uint8 (N, S, S)),
``skipped.csv`` (cases left out because they could not be read, with the reason: only with
``on_bad_case="skip"``; otherwise the first bad case stops the run, named) and
``manifest.csv`` (one row per slice: ``slice_id, case, slice_z, split, spacing_y,
spacing_x, orig_spacing_y, orig_spacing_x, orig_height, orig_width, target_pixels``) so
every later number traces back to its patient and slice. ``spacing_*`` is the pixel size
of the resized grid in mm, the one medpy's ASSD needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from gdgp.atomic import atomic_path
from gdgp.errors import InputDataError
from gdgp.msd import axial_slice, list_cases, load_case
from gdgp.preprocess import denoise, resize_pair, window_normalise
from gdgp.splits import split_slices

log = logging.getLogger(__name__)

#: Columns of skipped.csv: the task folder, the case, its files and why it was left out.
SKIPPED_COLUMNS = ["task", "case", "image", "label", "reason"]
BAD_CASE_POLICIES = ("error", "skip")


@dataclass(frozen=True)
class ExtractConfig:
    """How to turn a task into slices. Values come from the workflow config."""

    labels: tuple[int, ...]
    window: tuple[float, float]
    size: int = 64
    n_train: int = 200
    n_test: int = 150
    n_val: int = 0
    split: str = "patient"
    seed: int = 0
    denoise_strength: float = 0.8
    min_target_pixels: int = 10
    on_bad_case: str = "error"

    def __post_init__(self) -> None:
        if self.on_bad_case not in BAD_CASE_POLICIES:
            raise ValueError(f"on_bad_case must be one of {BAD_CASE_POLICIES}, got {self.on_bad_case!r}")


@dataclass
class SliceSet:
    """Slices of one target with their manifest (the in-memory form of the stage output)."""

    images: np.ndarray
    labels: np.ndarray
    manifest: pd.DataFrame
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SKIPPED_COLUMNS))

    def subset(self, split: str) -> SliceSet:
        """The slices of one split ("train", "val" or "test"), manifest rows kept in order."""
        keep = (self.manifest["split"] == split).to_numpy()
        return SliceSet(self.images[keep], self.labels[keep], self.manifest[keep].reset_index(drop=True),
                        self.skipped)


def _candidates(task_dir: Path, cfg: ExtractConfig) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Valid (case, slice) pairs, the readable cases, and the skipped ones (``on_bad_case="skip"``)."""
    rows, volumes, skipped = [], {}, []
    skip = cfg.on_bad_case == "skip"
    for case in tqdm(list_cases(task_dir, check_files=not skip), desc=f"scan {task_dir.name}", unit="case"):
        try:
            vol = load_case(case)
        except InputDataError as err:
            if not skip:
                raise
            log.warning("skipping case %s: %s", case.name, err)
            skipped.append({"task": task_dir.name, "case": case.name, "image": str(case.image),
                            "label": str(case.label), "reason": str(err)})
            continue
        target = np.isin(vol.label, cfg.labels)
        areas = target.sum(axis=(0, 1))
        for z in np.flatnonzero(areas >= cfg.min_target_pixels):
            rows.append({"case": vol.case, "slice_z": int(z)})
        volumes[vol.case] = (case, vol.spacing_xyz)
    if not rows:
        also = f"; {len(skipped)} unreadable case(s) skipped" if skipped else ""
        raise InputDataError(
            f"{task_dir}: no valid slice (no axial slice has >= {cfg.min_target_pixels} pixels of "
            f"label(s) {list(cfg.labels)}{also})"
        )
    return pd.DataFrame(rows), volumes, pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)


def extract_slices(task_dir: str | Path, cfg: ExtractConfig) -> SliceSet:
    """Find valid slices of ``task_dir``, split them, preprocess the chosen ones.

    Raises:
        InputDataError: missing/corrupt files, shape mismatch (unless ``cfg.on_bad_case`` is
            ``"skip"``: then those cases are listed in ``SliceSet.skipped``), or no valid slice.
    """
    task_dir = Path(task_dir)
    cand, volumes, skipped = _candidates(task_dir, cfg)
    cand["split"] = split_slices(cand["case"], cfg.n_train, cfg.n_test, cfg.split, cfg.seed, cfg.n_val)
    chosen = cand[cand["split"] != ""].sort_values(["case", "slice_z"]).reset_index(drop=True)
    images, labels, rows = [], [], []
    for case_name, group in tqdm(chosen.groupby("case", sort=True), desc="preprocess", unit="case"):
        case, _ = volumes[case_name]
        vol = load_case(case)
        sx, sy, _ = vol.spacing_xyz
        for rec in group.itertuples(index=False):
            hu = axial_slice(vol.image, rec.slice_z)
            target = np.isin(axial_slice(vol.label, rec.slice_z), cfg.labels).astype(np.uint8)
            img = denoise(window_normalise(hu, *cfg.window), cfg.denoise_strength)
            img, lab = resize_pair(img, target, cfg.size)
            if lab.sum() == 0:  # target vanished in the resize: not a valid slice at this size
                continue
            h, w = hu.shape
            images.append(img)
            labels.append(lab)
            rows.append({
                "case": case_name, "slice_z": rec.slice_z, "split": rec.split,
                "spacing_y": sy * h / cfg.size, "spacing_x": sx * w / cfg.size,
                "orig_spacing_y": sy, "orig_spacing_x": sx, "orig_height": h, "orig_width": w,
                "target_pixels": int(lab.sum()),
            })
    manifest = pd.DataFrame(rows)
    manifest.insert(0, "slice_id", np.arange(len(manifest)))
    for split in ("train", "test"):
        if not (manifest["split"] == split).any():
            raise InputDataError(f"{task_dir}: no {split} slice left after preprocessing")
    return SliceSet(np.stack(images), np.stack(labels), manifest, skipped)


def save_slices(slices: SliceSet, npz_path: str | Path, manifest_path: str | Path,
                skipped_path: str | Path | None = None) -> None:
    """Write the slice arrays, the manifest and (if a path is given) skipped.csv, each atomically."""
    with atomic_path(npz_path) as tmp:
        np.savez_compressed(tmp, image=slices.images, label=slices.labels)
    with atomic_path(manifest_path) as tmp:
        slices.manifest.to_csv(tmp, index=False)
    if skipped_path is not None:
        with atomic_path(skipped_path) as tmp:
            slices.skipped.to_csv(tmp, index=False)


def load_slices(npz_path: str | Path, manifest_path: str | Path) -> SliceSet:
    """Read what :func:`save_slices` wrote, checking that the two files agree."""
    try:
        with np.load(npz_path) as data:
            images, labels = data["image"], data["label"]
    except (OSError, KeyError, ValueError) as err:
        raise InputDataError(f"{npz_path}: not a gdgp slices file ({err})") from err
    try:
        manifest = pd.read_csv(manifest_path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputDataError(f"{manifest_path}: cannot read manifest ({err})") from err
    if len(manifest) != len(images) or images.shape != labels.shape:
        raise InputDataError(f"{manifest_path}: {len(manifest)} rows but {npz_path} holds {images.shape}")
    return SliceSet(images, labels, manifest)


def run_extract(task_dir: str | Path, cfg: ExtractConfig, npz_path: str | Path, manifest_path: str | Path,
                skipped_path: str | Path | None = None) -> SliceSet:
    """Extract, then save (the ``gdgp extract`` verb)."""
    slices = extract_slices(task_dir, cfg)
    save_slices(slices, npz_path, manifest_path, skipped_path)
    return slices


def parse_labels(values: Sequence[int | str]) -> tuple[int, ...]:
    """Validate label values from the command line (positive integers)."""
    labels = tuple(int(v) for v in values)
    if not labels or any(v <= 0 for v in labels):
        raise ValueError(f"target labels must be positive integers, got {list(values)}")
    return labels
