"""The workflow on real CT, run as a user runs it: NIH Pancreas-CT (manual masks), read in place.

The tiny workflow (two methods, one epoch, 128-px slices, 2 rounds) runs from a working
directory outside the repository (``-s <repo>/workflow/Snakefile --directory <work>``) with an
absolute ``data_dir`` holding an nnU-Net v2 raw-layout view of the MSD task (symlinks, never a
copy) and the target named by its label name: every output must land under the working
directory, nothing next to the data, real numbers must come out, and the slices must be those
the MSD layout gives. Skipped where ``../shared`` (the development data) is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gdgp.data.extract import ExtractConfig, extract_slices
from tests.test_layouts import msd_as_nnunet_symlinks

REPO = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
PANCREAS = REPO.parent / "shared" / "data" / "real_dev" / "Task07_PancreasNIHdev"
pytestmark = pytest.mark.skipif(
    not (PANCREAS / "dataset.json").exists(), reason=f"real development CT (NIH Pancreas-CT) not found at {PANCREAS}"
)


SPLIT = {"n_train": 12, "n_val": 0, "n_test": 6}  # no validation runs: the suite stays under 10 min


def user_config(data_dir: Path, task: str) -> dict:
    """What a user writes for real CT: a dataset folder under an absolute data_dir, no demo."""
    return {
        "data_dir": str(data_dir),
        "demo": {"generate": False},
        "datasets": {"real_pancreas": {"task": task, "labels": ["pancreas"], "window": [-160, 240], **SPLIT}},
        "preprocess": {"size": 128, "denoise": 0.8, "min_pixels": 10, "on_bad_case": "error"},
        "split": {"mode": "patient", "seed": 0},
        "methods": {
            "auto_unet": {"channels": [4, 8, 16]},
            "gdgp": {
                "crop_size": 64,
                "edge_margin": 5.0,
                "crop_margin": 6,
                "filters": [4, 8, 16],
                "feature_channels": 4,
                "max_train_rounds": 1,
            },
        },
        "experiments": {"datasets": []},
        "train": {"epochs": 1, "batch_size": 4, "lr": 0.001, "seeds": [0], "device": "cpu"},
        "evaluate": {"rounds": 2, "protocols": []},
        "report": {"budgets": [4, 8], "noc_budget": 10, "reference_method": "gdgp"},
    }


def tree(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in sorted(root.rglob("*"))}


@pytest.mark.slow
def test_tiny_workflow_on_real_pancreas_from_outside_the_repository(tmp_path: Path) -> None:
    before = tree(PANCREAS)
    data_dir = tmp_path / "data"
    nnunet = msd_as_nnunet_symlinks(PANCREAS, data_dir / "Dataset507_PancreasNIHdev")
    layout = tree(data_dir)
    work = tmp_path / "study"
    cfg_file = tmp_path / "my.yaml"
    cfg_file.write_text(yaml.safe_dump(user_config(data_dir, nnunet.name)))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [
            str(BIN / "snakemake"),
            "--cores",
            "2",
            "-s",
            str(REPO / "workflow" / "Snakefile"),
            "--configfile",
            str(cfg_file),
            "--directory",
            str(work),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    # nothing written next to the data or into the repository; everything under the working directory
    assert tree(PANCREAS) == before and tree(data_dir) == layout
    assert not (REPO / "study").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["data", "my.yaml", "study"]
    res = work / "results"
    manifest = pd.read_csv(res / "slices" / "real_pancreas" / "manifest.csv")
    patients = {s: set(manifest.loc[manifest["split"] == s, "case"]) for s in ("train", "test")}
    assert all(patients.values()) and not patients["train"] & patients["test"]
    slices = np.load(res / "slices" / "real_pancreas" / "slices.npz")
    assert slices["image"].shape[1:] == (128, 128) and slices["image"].min() >= 0 and slices["image"].max() <= 1
    # the MSD layout of the same patients gives the same slices and split
    msd = extract_slices(PANCREAS, ExtractConfig(labels=(1,), window=(-160, 240), size=128, **SPLIT))
    pd.testing.assert_frame_equal(
        msd.manifest[["case", "slice_z", "split"]].reset_index(drop=True),
        manifest[["case", "slice_z", "split"]].astype({"split": object}),
        check_dtype=False,
    )
    np.testing.assert_array_equal(msd.images, slices["image"])
    # real numbers: every method scored every test slice, Dice in [0, 1] and not all zero
    table = pd.read_csv(res / "report" / "table4.csv")
    assert set(table["method"]) == {"auto_unet", "gdgp"}
    at8 = table[table["budget"] == 8].set_index("method")
    n_test = int((manifest["split"] == "test").sum())
    assert at8["dice_mean"].between(0, 1).all() and (at8["n_slices"] == n_test).all()
    assert at8.at["gdgp", "n_patients"] == len(patients["test"])
    clicks = pd.read_csv(res / "runs" / "real_pancreas" / "gdgp" / "seed0" / "clicks.csv")
    assert clicks["dice"].max() > 0 and clicks["n_clicks"].min() == 7  # GDGP's first interaction: 3 + 4 points
