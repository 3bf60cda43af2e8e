"""Real-CT smoke test on ../shared/data/totalseg_example (read in place, never copied).

One small abdominal CT with TotalSegmentator-made labels (1 spleen, 7 pancreas, 20 colon):
not ground truth, so only the loader, the preprocessing and the robot user are checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gdgp.clicks.robot import Robot, error_distance
from gdgp.data.extract import ExtractConfig, extract_slices

EXAMPLE = Path(__file__).parents[1].parent / "shared" / "data" / "totalseg_example"
pytestmark = pytest.mark.skipif(
    not (EXAMPLE / "example_ct_sm.nii.gz").exists(), reason=f"real CT example not found at {EXAMPLE}"
)


@pytest.fixture
def task(tmp_path: Path) -> Path:
    """An MSD-layout view of the example (symlinks to the read-only files, two 'patients')."""
    t = tmp_path / "Task98_TotalSegExample"
    (t / "imagesTr").mkdir(parents=True)
    (t / "labelsTr").mkdir()
    training = []
    for case in ("ts_000", "ts_001"):  # the same CT twice so a patient-level split is possible
        (t / "imagesTr" / f"{case}.nii.gz").symlink_to(EXAMPLE / "example_ct_sm.nii.gz")
        (t / "labelsTr" / f"{case}.nii.gz").symlink_to(EXAMPLE / "example_seg.nii.gz")
        training.append({"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"})
    (t / "dataset.json").write_text(json.dumps({"name": "ts", "training": training}))
    return t


@pytest.mark.parametrize("label", [1, 7, 20])
def test_real_ct_slices_and_robot(task: Path, label: int) -> None:
    s = extract_slices(task, ExtractConfig(labels=(label,), window=(-160, 240), size=64, n_train=50, n_test=50))
    assert len(s.manifest) > 0 and set(s.manifest["split"]) == {"train", "test"}
    np.testing.assert_allclose(s.manifest["orig_spacing_x"], 3.0, rtol=0.05)  # the example CT has 3 mm in-plane spacing
    assert s.images.min() >= 0 and s.images.max() <= 1 and s.images.std() > 0.05
    for img_label in s.labels[:5]:
        robot = Robot(img_label)
        click = robot.next_click(np.zeros_like(img_label))
        assert click.positive and img_label[click.y, click.x]
        assert error_distance(img_label.astype(bool))[click.y, click.x] == error_distance(img_label.astype(bool)).max()
