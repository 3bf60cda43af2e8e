"""Slice extraction from MSD folders, and clear errors on bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gdgp.data.extract import ExtractConfig, run_extract
from gdgp.data.preprocess import window_normalise
from gdgp.data.slice_set import SKIPPED_COLUMNS, load_slices
from gdgp.errors import InputDataError

CFG = ExtractConfig(labels=(1, 2), window=(-100.0, 200.0), size=16, n_train=8, n_test=4, seed=0)


def test_extracts_valid_slices_with_manifest(msd_task: Path, tmp_path: Path) -> None:
    s = run_extract(msd_task, CFG, tmp_path / "o/slices.npz", tmp_path / "o/manifest.csv")
    m = s.manifest
    assert s.images.shape == (len(m), 16, 16) and s.images.dtype == np.float32
    assert s.images.min() >= 0.0 and s.images.max() <= 1.0
    assert set(m["slice_z"]) <= {2, 3, 4, 5}  # only slices holding the target
    assert (m["split"] == "test").sum() == 4 and (m["split"] == "train").sum() == 8
    assert not set(m.loc[m.split == "train", "case"]) & set(m.loc[m.split == "test", "case"])
    # in-plane spacing of the resized grid: 32 px of 0.9 mm (y) and 0.8 mm (x) -> 16 px
    np.testing.assert_allclose(m["spacing_y"], 0.9 * 2)
    np.testing.assert_allclose(m["spacing_x"], 0.8 * 2)
    assert (m["target_pixels"] == s.labels.reshape(len(m), -1).sum(1)).all()
    again = load_slices(tmp_path / "o/slices.npz", tmp_path / "o/manifest.csv")
    np.testing.assert_array_equal(again.images, s.images)


def test_validation_split_takes_whole_patients_of_neither_other_set(msd_task: Path, tmp_path: Path) -> None:
    cfg = ExtractConfig(labels=(1, 2), window=(-100.0, 200.0), size=16, n_train=8, n_test=4, n_val=4, seed=0)
    m = run_extract(msd_task, cfg, tmp_path / "v.npz", tmp_path / "v.csv").manifest
    patients = {split: set(m.loc[m.split == split, "case"]) for split in ("train", "val", "test")}
    assert (m["split"] == "val").sum() == 4 and all(patients.values())
    assert sum(len(p) for p in patients.values()) == len(set(m["case"]))  # no patient in two sets
    before = run_extract(msd_task, CFG, tmp_path / "o.npz", tmp_path / "o.csv").manifest
    assert patients["test"] == set(before.loc[before.split == "test", "case"])  # the test set stays


def test_label_subset_selects_only_that_target(msd_task: Path, tmp_path: Path) -> None:
    core = run_extract(
        msd_task,
        ExtractConfig(labels=(2,), window=(-100, 200), size=32, n_train=8, n_test=4, min_pixels=1),
        tmp_path / "c.npz",
        tmp_path / "c.csv",
    )
    disc = run_extract(
        msd_task,
        ExtractConfig(labels=(1, 2), window=(-100, 200), size=32, n_train=8, n_test=4, min_pixels=1),
        tmp_path / "d.npz",
        tmp_path / "d.csv",
    )
    assert core.labels.sum() < disc.labels.sum() / 2


def test_window_normalise() -> None:
    np.testing.assert_allclose(window_normalise(np.array([-500.0, -100, 50, 200, 900]), -100, 200), [0, 0, 0.5, 1, 1])
    with pytest.raises(ValueError, match="window"):
        window_normalise(np.zeros(3), 10, 10)


def _expect_error(task: Path, tmp_path: Path, match: str, cfg: ExtractConfig = CFG) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputDataError, match=match):
        run_extract(task, cfg, out / "slices.npz", out / "manifest.csv")
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_missing_task_folder(tmp_path: Path) -> None:
    _expect_error(tmp_path / "Task01_Nope", tmp_path, "Task01_Nope")


def test_truncated_nifti_names_the_file(msd_task: Path, tmp_path: Path) -> None:
    bad = msd_task / "imagesTr" / "tiny_002.nii.gz"
    bad.write_bytes(bad.read_bytes()[:200])
    _expect_error(msd_task, tmp_path, "tiny_002.nii.gz")


def test_not_gzip_at_all(msd_task: Path, tmp_path: Path) -> None:
    bad = msd_task / "labelsTr" / "tiny_001.nii.gz"
    bad.write_bytes(b"this is not a nifti file")
    _expect_error(msd_task, tmp_path, "tiny_001.nii.gz")


def test_shape_mismatch_names_both_files(msd_task: Path, tmp_path: Path) -> None:
    lab = msd_task / "labelsTr" / "tiny_000.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((32, 30, 8), np.uint8), np.eye(4)), lab)
    _expect_error(msd_task, tmp_path, r"tiny_000.nii.gz.*shape \(32, 30, 8\)")


def test_missing_listed_file(msd_task: Path, tmp_path: Path) -> None:
    (msd_task / "imagesTr" / "tiny_003.nii.gz").unlink()
    _expect_error(msd_task, tmp_path, "tiny_003.nii.gz.*missing")


def test_no_valid_slice(msd_task: Path, tmp_path: Path) -> None:
    _expect_error(
        msd_task,
        tmp_path,
        "no valid slice",
        ExtractConfig(labels=(7,), window=(-100, 200), size=16, n_train=8, n_test=4),
    )


def test_bad_dataset_json(msd_task: Path, tmp_path: Path) -> None:
    (msd_task / "dataset.json").write_text("{not json")
    _expect_error(msd_task, tmp_path, "dataset.json")
    (msd_task / "dataset.json").write_text(json.dumps({"training": []}))
    _expect_error(msd_task, tmp_path, "no 'training'")


def test_gzip_helper_sanity(msd_task: Path) -> None:
    # The fixture's files are real gzip NIfTI (guards the corrupt-file tests above).
    raw = gzip.decompress((msd_task / "imagesTr" / "tiny_000.nii.gz").read_bytes())
    assert raw[344:348] == b"n+1\x00"


SKIP = ExtractConfig(labels=(1, 2), window=(-100.0, 200.0), size=16, n_train=6, n_test=3, seed=0, on_bad_case="skip")


def test_skip_mode_leaves_bad_cases_out_and_lists_them(msd_task: Path, tmp_path: Path) -> None:
    truncated = msd_task / "imagesTr" / "tiny_002.nii.gz"
    truncated.write_bytes(truncated.read_bytes()[:200])
    nib.save(nib.Nifti1Image(np.zeros((32, 30, 8), np.uint8), np.eye(4)), msd_task / "labelsTr" / "tiny_000.nii.gz")
    out = tmp_path / "o"
    s = run_extract(msd_task, SKIP, out / "slices.npz", out / "manifest.csv", out / "skipped.csv")
    assert set(s.manifest["case"]) == {"tiny_001", "tiny_003"}  # every readable case, none of the bad ones
    skipped = pd.read_csv(out / "skipped.csv")
    assert list(skipped.columns) == SKIPPED_COLUMNS
    assert list(skipped["case"]) == ["tiny_000", "tiny_002"] and set(skipped["task"]) == {msd_task.name}
    assert "shape" in skipped.loc[0, "reason"] and "tiny_002.nii.gz" in skipped.loc[1, "reason"]
    # The same data with the default policy stops at the first bad case, naming it.
    _expect_error(msd_task, tmp_path / "strict", "tiny_000.nii.gz")


def test_skip_mode_with_no_bad_case_writes_a_header_only_list(msd_task: Path, tmp_path: Path) -> None:
    clean = run_extract(msd_task, CFG, tmp_path / "a.npz", tmp_path / "a.csv")
    s = run_extract(
        msd_task,
        ExtractConfig(**{**CFG.__dict__, "on_bad_case": "skip"}),
        tmp_path / "b.npz",
        tmp_path / "b.csv",
        tmp_path / "skipped.csv",
    )
    np.testing.assert_array_equal(s.images, clean.images)  # same slices as the strict policy
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    assert skipped.empty and list(skipped.columns) == SKIPPED_COLUMNS


def test_skip_mode_still_fails_when_nothing_is_left(msd_task: Path, tmp_path: Path) -> None:
    (msd_task / "imagesTr" / "tiny_003.nii.gz").unlink()  # a missing file is skipped too
    for i in range(3):
        (msd_task / "labelsTr" / f"tiny_{i:03d}.nii.gz").write_bytes(b"junk")
    _expect_error(msd_task, tmp_path, "no valid slice.*4 unreadable case", SKIP)


def test_unknown_bad_case_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="on_bad_case"):
        ExtractConfig(labels=(1,), window=(0.0, 1.0), n_train=1, n_test=1, on_bad_case="ignore")
