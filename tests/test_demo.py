"""Tests of the synthetic MSD-layout demo data (gdgp.data.demo).

The demo folder is tracked by DVC through its hash, so byte determinism is tested as hard as
the anatomy: same seed -> same bytes, more patients -> earlier patients unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from gdgp.data import msd
from gdgp.data.demo import DEMO_TASKS, make_demo, make_demo_task
from gdgp.data.demo.writer import SLAB, _slab

N_PATIENTS = 3
TASKS = sorted(DEMO_TASKS)
SHORT = {"Task91_DemoLung": "lung", "Task92_DemoPancreas": "pancreas", "Task93_DemoSpleen": "spleen",
         "Task94_DemoColon": "colon"}  # fmt: skip


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    make_demo(root, seed=0, n_patients=N_PATIENTS)
    return root


def _cases(root: Path, task: str):
    for case in msd.list_cases(root / task):
        image, label = nib.load(case.image), nib.load(case.label)
        yield case.name, image, label


def _ring(mask: np.ndarray, width: int = 3) -> np.ndarray:
    """Voxels within ``width`` in-plane steps outside ``mask`` (axial rings, slice by slice)."""
    structure = np.zeros((3, 3, 3), bool)
    structure[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_dilation(mask, structure, iterations=width) & ~mask


def test_tasks_declared() -> None:
    assert TASKS == ["Task91_DemoLung", "Task92_DemoPancreas", "Task93_DemoSpleen", "Task94_DemoColon"]
    for spec in DEMO_TASKS.values():
        assert spec["labels"]["0"] == "background"
        assert isinstance(spec["description"], str) and spec["description"]
    assert DEMO_TASKS["Task92_DemoPancreas"]["labels"] == {"0": "background", "1": "pancreas", "2": "tumour"}


def test_layout_and_dataset_json(demo_root: Path) -> None:
    for task in TASKS:
        folder = demo_root / task
        meta = json.loads((folder / "dataset.json").read_text())
        text = (folder / "dataset.json").read_text()
        assert text == json.dumps(meta, indent=2, sort_keys=True) + "\n"
        assert meta["labels"] == DEMO_TASKS[task]["labels"]
        assert meta["modality"] == {"0": "CT"}
        assert meta["tensorImageSize"] == "3D"
        assert meta["licence"] == "CC0" and meta["reference"] == "synthetic gdgp demo"
        assert meta["numTraining"] == N_PATIENTS == len(meta["training"])
        assert meta["numTest"] == 0 and meta["test"] == []
        names = [f"{SHORT[task]}_{i:03d}" for i in range(1, N_PATIENTS + 1)]
        assert meta["training"] == [
            {"image": f"./imagesTr/{n}.nii.gz", "label": f"./labelsTr/{n}.nii.gz"} for n in names
        ]
        listed = {e[k].removeprefix("./") for e in meta["training"] for k in ("image", "label")}
        present = {str(p.relative_to(folder)) for p in folder.rglob("*.nii.gz")}
        assert listed == present
        assert sorted(p.name for p in folder.iterdir()) == ["dataset.json", "imagesTr", "labelsTr"]


def test_volumes_load_and_are_consistent(demo_root: Path) -> None:
    for task in TASKS:
        declared = {int(k) for k in DEMO_TASKS[task]["labels"]}
        for name, image, label in _cases(demo_root, task):
            img, lab = np.asanyarray(image.dataobj), np.asanyarray(label.dataobj)
            assert img.dtype == np.int16 and lab.dtype == np.uint8, name
            assert img.shape == lab.shape and img.shape == (96, 96, SLAB), name
            assert set(np.unique(lab).tolist()) <= declared, name
            for im in (image, label):
                zooms = np.array(im.header.get_zooms()[:3])
                assert np.allclose(zooms, np.diag(im.affine)[:3]), name
                assert np.allclose(im.affine, np.diag([*zooms, 1.0]), atol=1e-6), name
                assert im.header.get_xyzt_units() == ("mm", "unknown")
                assert int(im.header["qform_code"]) == 1 and int(im.header["sform_code"]) == 1
            sx, sy, sz = image.header.get_zooms()[:3]
            assert 0.7 <= sx <= 0.95 and sx == sy and 2.5 <= sz <= 5.0, name
            assert img.min() >= -1024 and img[0, 0, 0] < -900, name  # air in the corner
            assert img.max() > 300, name  # the vertebra


def test_loader_reads_demo(demo_root: Path) -> None:
    """The demo goes through the same MSD loader as real data."""
    for task in TASKS:
        cases = msd.list_cases(demo_root / task)
        assert [c.name for c in cases] == [f"{SHORT[task]}_{i:03d}" for i in range(1, N_PATIENTS + 1)]
        vol = msd.load_case(cases[0])
        assert vol.image.shape == vol.label.shape and vol.label.any()


def test_every_slab_slice_holds_every_target(demo_root: Path) -> None:
    """Each patient is a SLAB-slice scan around its targets: every target (the pancreas
    tumour and its gland too) is in every slice with enough pixels to be a valid slice, so a
    patient gives exactly SLAB slices to each target and n test slices span n / SLAB patients."""
    for task in TASKS:
        targets = [int(k) for k in DEMO_TASKS[task]["labels"] if k != "0"]
        for name, _, label in _cases(demo_root, task):
            lab = np.asanyarray(label.dataobj)
            for t in targets:
                area = (lab == t).sum(axis=(0, 1))
                assert (area >= 10).all(), (name, t, area.tolist())


def test_slab_is_centred_on_the_largest_target_slice() -> None:
    """_slab: SLAB slices around the largest-area slice of the target, kept inside the volume."""
    lab = np.zeros((4, 4, 9), np.uint8)
    lab[:2, :2, 3] = 2
    lab[:, :, 5] = 2  # largest area of label 2
    lab[:, :, 8] = 1  # label 1 does not count
    assert _slab(lab, 2) == slice(4, 7)
    lab[:, :, 5] = 0
    lab[:, :, 0] = 2  # at the first slice: shifted inwards
    assert _slab(lab, 2) == slice(0, 3)
    assert _slab(lab, 1) == slice(6, 9)  # at the last slice


def test_contrast_matches_design(demo_root: Path) -> None:
    """Lung tumour: high contrast; pancreas tumour, colon tumour, spleen: low contrast.

    Bounds (HU), with the generator's design in brackets:
    - lung tumour minus a 3-voxel ring around it > 200 (soft tissue ~0..60 in lung ~-850);
    - pancreas tumour darker than the surrounding parenchyma, by less than 40 (15-30, blurred);
    - colon tumour and spleen vs the soft tissue (-50..150 HU) of their ring: |diff| < 50
      (tumour 10-25 HU above the bowel wall; liver/kidney/wall of spleen-like HU).
    """
    pancreas_gaps = []
    for task in TASKS:
        for name, image, label in _cases(demo_root, task):
            img = np.asanyarray(image.dataobj).astype(np.float64)
            lab = np.asanyarray(label.dataobj)
            if task == "Task91_DemoLung":
                m = lab == 1
                assert img[m].mean() - img[_ring(m)].mean() > 200, name
            elif task == "Task92_DemoPancreas":
                m = lab == 2
                parenchyma = _ring(m) & (lab == 1)
                gap = np.median(img[parenchyma]) - np.median(img[m])
                assert -10 < gap < 40, (name, gap)
                pancreas_gaps.append(gap)
                gland = lab == 1
                assert abs(np.median(img[gland]) - 50) < 40, name  # soft tissue, not fat or air
            else:
                m = lab == 1
                ring = _ring(m)
                soft = ring & (img > -50) & (img < 150)
                assert soft.sum() > 0.3 * ring.sum(), name  # mostly soft-tissue neighbours
                assert abs(np.median(img[m]) - np.median(img[soft])) < 50, name
    assert np.mean(pancreas_gaps) > 3  # hypodense on average


def test_same_seed_same_bytes(demo_root: Path, tmp_path: Path) -> None:
    make_demo(tmp_path, seed=0, n_patients=N_PATIENTS)
    assert _hashes(tmp_path) == _hashes(demo_root)


def test_different_seed_differs(demo_root: Path, tmp_path: Path) -> None:
    for task in TASKS:
        make_demo_task(tmp_path, task, seed=1, n_patients=1)
        name = f"{SHORT[task]}_001.nii.gz"
        a = (demo_root / task / "imagesTr" / name).read_bytes()
        b = (tmp_path / task / "imagesTr" / name).read_bytes()
        assert a != b, task


def test_adding_patients_keeps_earlier_ones(demo_root: Path, tmp_path: Path) -> None:
    make_demo(tmp_path, seed=0, n_patients=N_PATIENTS - 1)
    small, large = _hashes(tmp_path), _hashes(demo_root)
    nii = {k: v for k, v in small.items() if k.endswith(".nii.gz")}
    assert len(nii) == 2 * len(TASKS) * (N_PATIENTS - 1)
    assert all(large[k] == v for k, v in nii.items())
    assert small["Task91_DemoLung/dataset.json"] != large["Task91_DemoLung/dataset.json"]


def test_fewer_patients_removes_stale_cases(tmp_path: Path) -> None:
    task = "Task93_DemoSpleen"
    make_demo_task(tmp_path, task, seed=0, n_patients=3)
    (tmp_path / task / "imagesTr" / "notes.txt").write_text("user file, keep")
    make_demo_task(tmp_path, task, seed=0, n_patients=2)
    assert sorted(p.name for p in (tmp_path / task / "imagesTr").glob("*.nii.gz")) == [
        "spleen_001.nii.gz",
        "spleen_002.nii.gz",
    ]
    assert (tmp_path / task / "imagesTr" / "notes.txt").exists()
    assert json.loads((tmp_path / task / "dataset.json").read_text())["numTraining"] == 2


def test_gzip_header_has_no_timestamp(demo_root: Path) -> None:
    files = sorted(demo_root.rglob("*.nii.gz"))
    assert files
    for path in files:
        head = path.read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08", path
        assert head[3] == 0, path  # no file name or other optional fields
        assert head[4:8] == b"\x00\x00\x00\x00", path  # mtime 0
        assert gzip.decompress(path.read_bytes())[344:348] == b"n+1\x00", path  # single-file NIfTI-1


def test_no_temporary_files_left(demo_root: Path) -> None:
    assert not [p for p in demo_root.rglob("*") if p.name.startswith(".")]


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown demo task"):
        make_demo_task(tmp_path, "Task99_Nope")
    with pytest.raises(ValueError, match="unknown demo task"):
        make_demo(tmp_path, tasks=["Task91_DemoLung", "Task06_Lung"])
    with pytest.raises(ValueError, match="n_patients"):
        make_demo_task(tmp_path, "Task91_DemoLung", n_patients=0)
    assert not any(tmp_path.iterdir())


def test_make_demo_subset_returns_folders(tmp_path: Path) -> None:
    out = make_demo(tmp_path, seed=3, n_patients=1, tasks=["Task94_DemoColon"])
    assert out == [tmp_path / "Task94_DemoColon"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Task94_DemoColon"]
