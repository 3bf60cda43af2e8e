"""Dataset layouts (gdgp.data.layouts): MSD task and nnU-Net v2 raw dataset folders, detected from
dataset.json, read to identical slices; label names, channels, percentile normalisation and
clear errors for bad cases.

The nnU-Net v2 folders here are written the way nnU-Net itself writes them: dataset.json by
``nnunetv2.dataset_conversion.generate_dataset_json``, MSD tasks converted by nnU-Net's own
``convert_msd_dataset`` (or, for the real data, by the same mapping with symlinks).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from gdgp.cli import main as gdgp_main
from gdgp.data.extract import ExtractConfig, extract_slices, parse_labels, parse_window, run_extract
from gdgp.data.layouts import MSD, NNUNET_V2, read_dataset, resolve_channel, resolve_labels
from gdgp.data.preprocess import PERCENTILES, percentile_window, window_normalise
from gdgp.errors import ConfigError, InputDataError

REPO = Path(__file__).parents[1]
REAL_PANCREAS = REPO.parent / "shared" / "data" / "real_dev" / "Task07_PancreasNIHdev"

SHAPE = (24, 24, 6)  # square in-plane: at size 24 the resize is the identity
AFFINE = np.array([[0.8, 0, 0, -10.0], [0, 0.9, 0, 5.0], [0, 0, 3.0, -40.0], [0, 0, 0, 1]])
MSD_LABELS = {"0": "background", "1": "disc", "2": "core"}
NNUNET_LABELS = {"background": 0, "disc": 1, "core": 2}
CFG = ExtractConfig(labels=(1, 2), window=(-100.0, 200.0), size=16, n_train=8, n_test=4, n_val=4, seed=0)

Cases = dict[str, tuple[list[np.ndarray], np.ndarray]]


def make_cases(n: int = 5, channels: int = 1, seed: int = 0) -> Cases:
    """Case name -> (one int16 image per channel, uint8 label): a disc (1) with a core (2) on
    slices 1..4. The channels differ in contrast, offset and noise, so picking one shows."""
    rng = np.random.default_rng(seed)
    xx, yy = np.mgrid[: SHAPE[0], : SHAPE[1]]
    cases = {}
    for i in range(n):
        cx, cy, r = rng.uniform(9, 15), rng.uniform(9, 15), rng.uniform(4, 7)
        d2 = (xx - cx) ** 2 + (yy - cy) ** 2
        label = np.zeros(SHAPE, np.uint8)
        for z in range(1, 5):
            label[..., z][d2 < r**2] = 1
            label[..., z][d2 < (r / 2) ** 2] = 2
        images = [
            (
                rng.normal(0, 20 * (c + 1), SHAPE) + (label > 0) * (120 - 90 * c) + (label == 2) * 200 * c + 400 * c
            ).astype(np.int16)
            for c in range(channels)
        ]
        cases[f"case_{i:03d}"] = (images, label)
    return cases


def write_msd(root: Path, name: str, cases: Cases, modality: dict[str, str] | None = None) -> Path:
    """An MSD task folder; several channels go into one 4D image (channels last)."""
    task = root / name
    (task / "imagesTr").mkdir(parents=True)
    (task / "labelsTr").mkdir()
    for case, (images, label) in cases.items():
        image = images[0] if len(images) == 1 else np.stack(images, axis=-1)
        nib.save(nib.Nifti1Image(image, AFFINE), task / "imagesTr" / f"{case}.nii.gz")
        nib.save(nib.Nifti1Image(label, AFFINE), task / "labelsTr" / f"{case}.nii.gz")
    meta = {
        "name": name,
        "modality": modality or {"0": "CT"},
        "labels": MSD_LABELS,
        "numTraining": len(cases),
        "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in cases],
        "test": [],
    }
    (task / "dataset.json").write_text(json.dumps(meta))
    return task


def write_nnunet(
    root: Path, name: str, cases: Cases, channel_names: dict[int, str] | None = None, labels: dict | None = None
) -> Path:
    """An nnU-Net v2 raw dataset folder, dataset.json written by nnU-Net's own helper."""
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    folder = root / name
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    for case, (images, label) in cases.items():
        for c, image in enumerate(images):
            nib.save(nib.Nifti1Image(image, AFFINE), folder / "imagesTr" / f"{case}_{c:04d}.nii.gz")
        nib.save(nib.Nifti1Image(label, AFFINE), folder / "labelsTr" / f"{case}.nii.gz")
    generate_dataset_json(
        str(folder),
        dict(channel_names or {0: "CT"}),
        dict(labels or NNUNET_LABELS),
        len(cases),
        ".nii.gz",
        dataset_name=name,
    )
    return folder


def msd_as_nnunet_symlinks(msd: Path, folder: Path) -> Path:
    """nnU-Net's convert_msd_dataset mapping (labels inverted, modality -> channel_names,
    file_ending added, training/test dropped, images renamed <case>_0000), with symlinks to
    the MSD files instead of copies. Single-channel tasks only."""
    meta = json.loads((msd / "dataset.json").read_text())
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    for entry in meta["training"]:
        image, label = (msd / entry["image"]).resolve(), (msd / entry["label"]).resolve()
        case = image.name.removesuffix(".nii.gz")
        (folder / "imagesTr" / f"{case}_0000.nii.gz").symlink_to(image)
        (folder / "labelsTr" / f"{case}.nii.gz").symlink_to(label)
    meta["labels"] = {name: int(value) for value, name in meta["labels"].items()}
    meta["file_ending"] = ".nii.gz"
    meta["channel_names"] = meta.pop("modality")
    meta.pop("training")
    meta.pop("test", None)
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def cfg(**changes) -> ExtractConfig:
    return ExtractConfig(**{**CFG.__dict__, **changes})


# --- detection and dataset.json --------------------------------------------------------------


def test_layout_is_detected_and_label_maps_agree(tmp_path: Path) -> None:
    cases = make_cases(n=2)
    msd = read_dataset(write_msd(tmp_path, "Task50_Discs", cases))
    nnu = read_dataset(write_nnunet(tmp_path, "Dataset050_Discs", cases))
    assert (msd.layout, nnu.layout) == (MSD, NNUNET_V2)
    assert msd.labels == nnu.labels == {"background": (0,), "disc": (1,), "core": (2,)}
    assert msd.channels == nnu.channels == {0: "CT"}
    raw = json.loads((tmp_path / "Dataset050_Discs" / "dataset.json").read_text())
    assert "training" not in raw and raw["file_ending"] == ".nii.gz"  # nnU-Net's own writer: no case list


def test_a_folder_of_neither_layout_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "Dataset009_Odd"
    folder.mkdir()
    (folder / "dataset.json").write_text(
        json.dumps({"name": "odd", "labels": {"background": 0, "x": 1}, "channel_names": {"0": "CT"}})
    )  # no file_ending
    with pytest.raises(
        InputDataError,
        match=r"Dataset009_Odd: not a dataset folder.*'training'.*'modality'.*"
        r"'channel_names' and 'file_ending'",
    ):
        read_dataset(folder)


def test_non_nifti_file_ending_is_refused(tmp_path: Path) -> None:
    folder = write_nnunet(tmp_path, "Dataset050_Discs", make_cases(n=2))
    meta = json.loads((folder / "dataset.json").read_text())
    (folder / "dataset.json").write_text(json.dumps({**meta, "file_ending": ".mha"}))
    with pytest.raises(InputDataError, match=r"file_ending '\.mha': gdgp reads NIfTI files only"):
        extract_slices(folder, CFG)


# --- labels by value or name ------------------------------------------------------------------


@pytest.mark.parametrize("layout", [MSD, NNUNET_V2])
def test_label_names_resolve_to_values(tmp_path: Path, layout: str) -> None:
    cases = make_cases(n=2)
    if layout == MSD:
        info = read_dataset(write_msd(tmp_path, "Task50_Discs", cases))
    else:
        folder = write_nnunet(tmp_path, "Dataset050_Discs", cases)
        meta = json.loads((folder / "dataset.json").read_text())
        meta["labels"]["lesion"] = [1, 2]  # an nnU-Net region (region-based training)
        (folder / "dataset.json").write_text(json.dumps(meta))
        info = read_dataset(folder)
        assert resolve_labels(info, ["lesion"]) == (1, 2)
    assert resolve_labels(info, ["core"]) == (2,)
    assert resolve_labels(info, ["Core"]) == (2,)  # case-insensitive when unambiguous
    assert resolve_labels(info, ["disc", 2, "2"]) == (1, 2)
    assert resolve_labels(info, [7]) == (7,)  # a value is taken as given (warned about: not in the map)
    known = r"'background' = 0, 'disc' = 1, 'core' = 2"
    with pytest.raises(ConfigError, match=rf"no label named 'liver'; known labels: {known}"):
        resolve_labels(info, ["liver"])
    with pytest.raises(ConfigError, match="'background' is the background"):
        resolve_labels(info, ["background"])
    with pytest.raises(ConfigError, match="positive"):
        resolve_labels(info, [0])


def test_label_names_without_a_label_map_are_an_error(msd_task: Path) -> None:
    meta = json.loads((msd_task / "dataset.json").read_text())
    del meta["labels"]
    (msd_task / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="no label named 'core'; known labels: none"):
        resolve_labels(read_dataset(msd_task), ["core"])


def test_parse_labels_and_window_from_the_command_line() -> None:
    assert parse_labels(["2", "tumour", 3]) == (2, "tumour", 3)
    with pytest.raises(ValueError, match="positive integers or label names"):
        parse_labels(["0"])
    assert parse_window(["-160", "240"]) == (-160.0, 240.0)
    assert parse_window(["none"]) is None and parse_window(None) is None
    for bad in (["1"], ["a", "b"], ["10", "5"]):
        with pytest.raises(ConfigError, match="window"):
            parse_window(bad)


# --- the same data in either layout -------------------------------------------------------------


def test_same_data_in_either_layout_gives_identical_outputs(tmp_path: Path) -> None:
    cases = make_cases()
    folders = {
        "msd": write_msd(tmp_path, "Task50_Discs", cases),
        "nnunet": write_nnunet(tmp_path, "Dataset050_Discs", cases),
    }
    # nnU-Net's other form: dataset.json lists the files itself (here the MSD task's, relative paths)
    listed = tmp_path / "Dataset052_Listed"
    listed.mkdir()
    meta = json.loads((folders["nnunet"] / "dataset.json").read_text())
    meta["dataset"] = {
        c: {"images": [f"../Task50_Discs/imagesTr/{c}.nii.gz"], "label": f"../Task50_Discs/labelsTr/{c}.nii.gz"}
        for c in cases
    }
    (listed / "dataset.json").write_text(json.dumps(meta))
    folders["listed"] = listed
    labels = {"msd": (1, 2), "nnunet": ("disc", "core"), "listed": ("core", 1)}  # by value or name
    out = {}
    for name, folder in folders.items():
        o = tmp_path / "out" / name
        out[name] = run_extract(
            folder, cfg(labels=labels[name]), o / "slices.npz", o / "manifest.csv", o / "skipped.csv"
        )
    m = pd.read_csv(tmp_path / "out" / "msd" / "manifest.csv")
    assert set(m["split"]) == {"train", "val", "test"} and len(m) == 16
    assert set(m["case"]) <= set(cases)
    for other in ("nnunet", "listed"):
        for name in ("manifest.csv", "skipped.csv"):
            assert (tmp_path / "out" / "msd" / name).read_bytes() == (tmp_path / "out" / other / name).read_bytes()
        np.testing.assert_array_equal(out["msd"].images, out[other].images)
        np.testing.assert_array_equal(out["msd"].labels, out[other].labels)


def test_nnunets_own_msd_conversion_reads_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2-channel MSD task (4D images) converted by nnU-Net's convert_msd_dataset (split into
    _0000/_0001 files by SimpleITK) gives the same slices of each channel."""
    from nnunetv2.dataset_conversion.convert_MSD_dataset import convert_msd_dataset

    cases = make_cases(n=4, channels=2)
    msd = write_msd(tmp_path / "msd", "Task05_Discs", cases, modality={"0": "T2", "1": "ADC"})
    (msd / "imagesTs").mkdir()
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "raw"))
    (tmp_path / "raw").mkdir()
    convert_msd_dataset(str(msd), overwrite_target_id=505, num_processes=1)
    nnu = tmp_path / "raw" / "Dataset505_Discs"
    assert read_dataset(nnu).layout == NNUNET_V2 and read_dataset(nnu).channels == {0: "T2", 1: "ADC"}
    for channel in (0, 1):
        c = cfg(channel=channel, n_train=4, n_test=4, n_val=0, window=None)
        a, b = extract_slices(msd, c), extract_slices(nnu, c)
        pd.testing.assert_frame_equal(a.manifest, b.manifest)
        np.testing.assert_array_equal(a.images, b.images)


# --- channels and percentile normalisation ------------------------------------------------------


def _two_channel_folders(tmp_path: Path, cases: Cases) -> dict[str, Path]:
    return {
        "msd": write_msd(tmp_path, "Task51_Discs", cases, modality={"0": "T2", "1": "ADC"}),
        "nnunet": write_nnunet(tmp_path, "Dataset051_Discs", cases, channel_names={0: "T2", 1: "ADC"}),
    }


@pytest.mark.parametrize("layout", ["msd", "nnunet"])
def test_multichannel_needs_a_channel(tmp_path: Path, layout: str) -> None:
    folder = _two_channel_folders(tmp_path, make_cases(n=2, channels=2))[layout]
    with pytest.raises(
        ConfigError,
        match=rf"dataset 'prostate' \(.*{folder.name}.*\) has 2 channels "
        r"\(0 = 'T2', 1 = 'ADC'\): set datasets.prostate.channel",
    ):
        extract_slices(folder, cfg(dataset="prostate"))
    with pytest.raises(ConfigError, match=r"channel 2 is not one of its channels \(0 = 'T2', 1 = 'ADC'\)"):
        resolve_channel(read_dataset(folder), 2)


@pytest.mark.parametrize("layout", ["msd", "nnunet"])
def test_channel_and_percentile_normalisation_match_numpy(tmp_path: Path, layout: str) -> None:
    """window null: each volume clipped to its own 0.5/99.5 percentiles and scaled to [0, 1],
    computed here independently in float64, for the chosen channel's data only."""
    cases = make_cases(channels=2)
    folder = _two_channel_folders(tmp_path, cases)[layout]
    s = extract_slices(folder, cfg(channel=1, window=None, size=SHAPE[0], denoise=0.0))
    assert len(s.manifest) == 16
    for image, label, case, z in zip(s.images, s.labels, s.manifest["case"], s.manifest["slice_z"], strict=True):
        expected = {}
        for c in (0, 1):
            vol = cases[case][0][c].astype(np.float64)
            lo, hi = np.percentile(vol, [0.5, 99.5])
            expected[c] = (np.clip(vol[:, :, z].T, lo, hi) - lo) / (hi - lo)
        np.testing.assert_allclose(image, expected[1], atol=1e-5)
        assert np.abs(image - expected[0]).max() > 0.1  # not the other channel
        np.testing.assert_array_equal(label, np.isin(cases[case][1][:, :, z].T, (1, 2)))


def test_percentile_window_is_numpys() -> None:
    vol = np.random.default_rng(1).gamma(2.0, 50.0, (20, 20, 5)).astype(np.float32)
    assert PERCENTILES == (0.5, 99.5)
    np.testing.assert_allclose(percentile_window(vol), np.percentile(vol.astype(np.float64), [0.5, 99.5]))
    out = window_normalise(vol, *percentile_window(vol))
    assert out.min() == 0.0 and out.max() == pytest.approx(1.0, abs=1e-6)
    assert (out == 0).mean() == pytest.approx(0.005, abs=0.003)  # the lowest 0.5 % clipped


def test_single_channel_ignores_the_channel_setting(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = write_nnunet(tmp_path, "Dataset050_Discs", make_cases())
    plain = extract_slices(folder, CFG)
    with caplog.at_level(logging.WARNING, logger="gdgp.data.layouts"):
        other = extract_slices(folder, cfg(channel=3))
    np.testing.assert_array_equal(plain.images, other.images)
    assert "single channel" in caplog.text and "channel 3 is ignored" in caplog.text


def test_constant_volume_without_a_window_is_named(tmp_path: Path) -> None:
    cases = make_cases()
    cases["case_002"][0][0][:] = 7
    folder = write_nnunet(tmp_path, "Dataset050_Discs", cases)
    with pytest.raises(InputDataError, match=r"case_002_0000.nii.gz: constant intensity"):
        extract_slices(folder, cfg(window=None, n_train=100, n_test=4, n_val=0))


# --- clear errors for bad cases ----------------------------------------------------------------


def _expect(folder: Path, c: ExtractConfig, match: str) -> None:
    with pytest.raises(InputDataError, match=match):
        extract_slices(folder, c)


def test_nnunet_missing_files_are_named(tmp_path: Path) -> None:
    folder = write_nnunet(tmp_path, "Dataset051_Discs", make_cases(channels=2), channel_names={0: "T2", 1: "ADC"})
    (folder / "imagesTr" / "case_001_0001.nii.gz").unlink()
    _expect(folder, cfg(channel=1), r"imagesTr/case_001_0001.nii.gz: expected for case case_001 .*but missing")
    assert len(extract_slices(folder, cfg(channel=0)).manifest)  # channel 0 is complete
    (folder / "labelsTr" / "case_003.nii.gz").unlink()
    _expect(folder, cfg(channel=0), r"labelsTr/case_003.nii.gz: expected for case case_003 .*but missing")
    s = extract_slices(folder, cfg(channel=1, on_bad_case="skip", n_val=0))
    assert list(s.skipped["case"]) == ["case_001", "case_003"] and s.skipped["reason"].str.contains("missing").all()
    assert not {"case_001", "case_003"} & set(s.manifest["case"])
    for f in (folder / "imagesTr").glob("case_003_*"):
        f.unlink()  # a whole case gone: only numTraining knows
    _expect(folder, cfg(channel=0), r"numTraining is 5 but imagesTr/ and labelsTr/ hold 4 case")


@pytest.mark.parametrize("layout", ["msd", "nnunet"])
def test_affine_mismatch_names_both_files(tmp_path: Path, layout: str) -> None:
    cases = make_cases()
    folder = (
        write_msd(tmp_path, "Task50_Discs", cases)
        if layout == "msd"
        else write_nnunet(tmp_path, "Dataset050_Discs", cases)
    )
    label = folder / "labelsTr" / "case_002.nii.gz"
    image = "case_002.nii.gz" if layout == "msd" else "case_002_0000.nii.gz"
    nearly = AFFINE.copy()
    nearly[:3, 3] += 2e-4  # header round-off: still the same grid
    nib.save(nib.Nifti1Image(cases["case_002"][1], nearly), label)
    assert len(extract_slices(folder, CFG).manifest) == 16
    shifted = AFFINE.copy()
    shifted[0, 3] += 2.0  # the label 2 mm off
    nib.save(nib.Nifti1Image(cases["case_002"][1], shifted), label)
    _expect(
        folder,
        CFG,
        rf"labelsTr/case_002.nii.gz: label affine differs from image \S*imagesTr/{image}'s by up "
        r"to 2 mm",
    )
    s = extract_slices(folder, cfg(on_bad_case="skip"))
    assert list(s.skipped["case"]) == ["case_002"] and "affine" in s.skipped["reason"][0]


@pytest.mark.parametrize("layout", ["msd", "nnunet"])
def test_case_without_the_target_is_named_or_skipped(tmp_path: Path, layout: str) -> None:
    cases = make_cases()
    for name in ("case_001", "case_003"):
        cases[name][1][cases[name][1] == 2] = 1  # no core in these two
    folder = (
        write_msd(tmp_path, "Task50_Discs", cases)
        if layout == "msd"
        else write_nnunet(tmp_path, "Dataset050_Discs", cases)
    )
    core = cfg(labels=("core",), n_train=4, n_test=4, n_val=0, min_pixels=1)
    _expect(
        folder,
        core,
        r"labelsTr/case_001.nii.gz: case case_001 holds none of the target label value\(s\) \[2\]; "
        r"its label values are \[0, 1\]; 1 more case\(s\) lack them too: case_003 "
        r"\(preprocess.on_bad_case: skip",
    )
    out = tmp_path / "out"
    s = run_extract(
        folder,
        ExtractConfig(**{**core.__dict__, "on_bad_case": "skip"}),
        out / "s.npz",
        out / "m.csv",
        out / "skipped.csv",
    )
    skipped = pd.read_csv(out / "skipped.csv")
    assert list(skipped["case"]) == ["case_001", "case_003"]
    assert skipped["reason"].str.contains(r"its label values are \[0, 1\]").all()
    assert set(s.manifest["case"]) <= {"case_000", "case_002", "case_004"}
    assert len(extract_slices(folder, cfg(labels=(1,))).manifest)  # the disc is in every case: no error
    _expect(
        folder,
        cfg(labels=(7,), on_bad_case="skip"),
        r"no valid slice: no case holds the target label value\(s\) \[7\] \(the label values present are "
        r"\[0, 1, 2\]",
    )


# --- the command line and the workflow ----------------------------------------------------------


def test_cli_reads_nnunet_with_names_channel_and_no_window(tmp_path: Path) -> None:
    folder = write_nnunet(tmp_path, "Dataset051_Discs", make_cases(channels=2), channel_names={0: "T2", 1: "ADC"})
    out = tmp_path / "out"
    code = gdgp_main(
        [
            "extract",
            "--task-dir",
            str(folder),
            "--dataset",
            "discs",
            "--labels",
            "disc",
            "2",
            "--window",
            "none",
            "--channel",
            "1",
            "--size",
            "16",
            "--n-train",
            "8",
            "--n-test",
            "4",
            "--out-slices",
            str(out / "s.npz"),
            "--out-manifest",
            str(out / "m.csv"),
        ]
    )
    assert code == 0 and len(pd.read_csv(out / "m.csv")) == 12


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({"task": "Dataset005_Prostate", "labels": ["PZ", 2], "window": None, "channel": 1}, True),
        ({"task": "Task05_Prostate", "labels": ["peripheral zone"], "window": [-160, 240], "channel": None}, True),
        ({"task": "Prostate"}, False),
        ({"labels": [0]}, False),
        ({"labels": [""]}, False),
        ({"window": [100]}, False),
        ({"channel": -1}, False),
        ({"channel": "ADC"}, False),
    ],
)
def test_schema_takes_layouts_names_channel_and_null_window(change: dict, ok: bool) -> None:
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "tests" / "workflow" / "config.yaml").read_text())
    config["datasets"]["tiny_spleen"].update(change)
    schema = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
    if ok:
        validate(config, schema=schema)
    else:
        with pytest.raises(WorkflowError):
            validate(config, schema=schema)


@pytest.mark.slow
def test_workflow_passes_names_channel_and_null_window(tmp_path: Path) -> None:
    """The extract rule's command line (label names with spaces quoted, --window none,
    --channel) as Snakemake prints it, then run as printed."""
    bin_dir = Path(sys.executable).parent
    work = tmp_path / "proj"
    (work / "config").mkdir(parents=True)
    (work / "workflow").symlink_to(REPO / "workflow")
    write_nnunet(
        work / "data",
        "Dataset051_Discs",
        make_cases(channels=2),
        channel_names={0: "T2", 1: "ADC"},
        labels={"background": 0, "outer disc": 1, "core": 2},
    )
    config = yaml.safe_load((REPO / "tests" / "workflow" / "config.yaml").read_text())
    config["demo"]["generate"] = False
    config["experiments"]["datasets"] = []
    config["datasets"] = {
        "discs_adc": {
            "task": "Dataset051_Discs",
            "labels": ["outer disc", 2],
            "window": None,
            "channel": 1,
            "n_train": 8,
            "n_test": 4,
        }
    }
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    dry = subprocess.run(
        [str(bin_dir / "snakemake"), "-n", "-p", "--forceall", "extract_all"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    lines = [ln.strip().removeprefix("Shell command: ") for ln in dry.stdout.splitlines()]
    lines = [ln for ln in lines if ln.startswith("gdgp extract ")]
    assert len(lines) == 1, dry.stdout[-3000:]
    line = lines[0]
    assert "--dataset discs_adc --labels 'outer disc' 2 --window none " in line
    assert '"datasets.*.channel": 1' in line  # the channel travels in --params (gdgp/job_params.py)
    (work / "results" / "logs" / "extract").mkdir(parents=True)
    run = subprocess.run(line, shell=True, cwd=work, env=env, capture_output=True, text=True)
    log = (work / "results" / "logs" / "extract" / "discs_adc.log").read_text()
    assert run.returncode == 0, log[-3000:]
    assert len(pd.read_csv(work / "results" / "slices" / "discs_adc" / "manifest.csv")) == 12


# --- real CT: the NIH Pancreas-CT development set in both layouts -------------------------------


@pytest.mark.skipif(
    not (REAL_PANCREAS / "dataset.json").is_file(),
    reason=f"real NIH Pancreas-CT development set (MSD layout) not found at {REAL_PANCREAS}",
)
def test_real_pancreas_in_nnunet_layout_gives_identical_slices(tmp_path: Path) -> None:
    """The real MSD task, and an nnU-Net v2 view of it made of symlinks (never a copy)."""
    nnu = msd_as_nnunet_symlinks(REAL_PANCREAS, tmp_path / "Dataset507_PancreasNIHdev")
    assert all(p.is_symlink() for p in nnu.glob("*Tr/*"))
    c = ExtractConfig(labels=(1,), window=(-160.0, 240.0), size=64, n_train=6, n_test=3, seed=0, denoise=0.0)
    a = extract_slices(REAL_PANCREAS, c)
    b = extract_slices(nnu, ExtractConfig(**{**c.__dict__, "labels": ("pancreas",)}))
    assert read_dataset(nnu).layout == NNUNET_V2 and len(a.manifest) >= 6
    pd.testing.assert_frame_equal(a.manifest, b.manifest)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
