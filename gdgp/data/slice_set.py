"""The slice set: the extract stage's output in memory and on disk, read by every later stage.

Kept apart from :mod:`gdgp.data.extract` so that training, evaluation and the report read
slices without importing the extraction (layouts, MSD reading, preprocessing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gdgp.atomic import atomic_path
from gdgp.errors import InputDataError

#: Columns of ``skipped.csv`` (cases left out by the extract stage, with the reason).
SKIPPED_COLUMNS = ["task", "case", "image", "label", "reason"]


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
        return SliceSet(self.images[keep], self.labels[keep], self.manifest[keep].reset_index(drop=True), self.skipped)


def save_slices(
    slices: SliceSet, npz_path: str | Path, manifest_path: str | Path, skipped_path: str | Path | None = None
) -> None:
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
