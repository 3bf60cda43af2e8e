"""Shared fixtures: tiny synthetic MSD tasks and slice sets written in tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gdgp.data.slice_set import SliceSet


def write_msd_task(root: Path, name: str = "Task99_Tiny", n_cases: int = 4, shape=(32, 32, 8), seed: int = 0) -> Path:
    """A tiny MSD task: a bright disc (label 1) with a small core (label 2) on slices 2..5."""
    rng = np.random.default_rng(seed)
    task = root / name
    (task / "imagesTr").mkdir(parents=True)
    (task / "labelsTr").mkdir()
    training = []
    xx, yy = np.mgrid[: shape[0], : shape[1]]
    for i in range(n_cases):
        img = rng.normal(0, 20, shape).astype(np.float32)
        lab = np.zeros(shape, dtype=np.uint8)
        cx, cy, r = rng.uniform(10, 22), rng.uniform(10, 22), rng.uniform(5, 8)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
        core = (xx - cx) ** 2 + (yy - cy) ** 2 < (r / 2) ** 2
        for z in range(2, 6):
            lab[..., z][disc] = 1
            lab[..., z][core] = 2
            img[..., z][disc] += 120
        affine = np.diag([0.8, 0.9, 3.0, 1.0])
        nib.save(nib.Nifti1Image(img.astype(np.int16), affine), task / "imagesTr" / f"tiny_{i:03d}.nii.gz")
        nib.save(nib.Nifti1Image(lab, affine), task / "labelsTr" / f"tiny_{i:03d}.nii.gz")
        training.append({"image": f"./imagesTr/tiny_{i:03d}.nii.gz", "label": f"./labelsTr/tiny_{i:03d}.nii.gz"})
    (task / "dataset.json").write_text(
        json.dumps({"name": name, "labels": {"0": "bg", "1": "disc", "2": "core"}, "training": training})
    )
    return task


@pytest.fixture(scope="session", autouse=True)
def shared_parse_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One parse-time check cache (gdgp/parse_cache.py) for every workflow the suite runs, shared
    by the xdist workers: a config checked once is read back by the next test's snakemake.
    A bad setting is never cached, so the tests of errors still see them."""
    folder = tmp_path_factory.getbasetemp().parent / "gdgp-parse-cache"
    os.environ["GDGP_PARSE_CACHE"] = str(folder)
    return folder


@pytest.fixture
def msd_task(tmp_path: Path) -> Path:
    return write_msd_task(tmp_path)


def make_slice_set(n: int = 24, size: int = 32, seed: int = 0) -> SliceSet:
    """Random discs on noise, split 2:1 into train/test, 0.8 mm pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, labels = [], []
    for _ in range(n):
        cy, cx, r = rng.uniform(10, size - 10), rng.uniform(10, size - 10), rng.uniform(4, 8)
        lab = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        images.append((0.3 + 0.4 * lab + rng.normal(0, 0.05, (size, size))).astype(np.float32))
        labels.append(lab.astype(np.uint8))
    n_train = 2 * n // 3
    manifest = pd.DataFrame(
        {
            "slice_id": np.arange(n),
            "case": [f"c{i % 4}" for i in range(n)],
            "slice_z": np.arange(n),
            "split": ["train"] * n_train + ["test"] * (n - n_train),
            "spacing_y": 0.8,
            "spacing_x": 0.8,
        }
    )
    return SliceSet(np.stack(images), np.stack(labels), manifest)


@pytest.fixture
def slice_set() -> SliceSet:
    return make_slice_set()
