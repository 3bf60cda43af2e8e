"""nnU-Net baseline: the raw-dataset export, settings checks, and a tiny real nnU-Net run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import SimpleITK as sitk  # noqa: N813

from gdgp.errors import ConfigError
from gdgp.extract import SliceSet
from gdgp.methods import build_method
from gdgp.methods.nnunet import DATASET_NAME, export_raw_dataset
from gdgp.training.checkpoint import load_method, read_checkpoint
from gdgp.training.trainer import TrainConfig, train_method


def discs(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    labels, images = [], []
    for _ in range(n):
        cy, cx, r = rng.uniform(10, size - 10), rng.uniform(10, size - 10), rng.uniform(4, 8)
        lab = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        labels.append(lab.astype(np.uint8))
        images.append(np.clip(0.3 + 0.4 * lab + 0.05 * rng.standard_normal((size, size)), 0, 1).astype(np.float32))
    return np.stack(images), np.stack(labels)


def test_export_writes_nnunet_raw_layout(tmp_path: Path) -> None:
    images, labels = discs(3)
    folder = export_raw_dataset(images, labels, tmp_path)
    assert folder.name == DATASET_NAME
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["numTraining"] == 3 and meta["labels"] == {"background": 0, "target": 1}
    assert meta["channel_names"] == {"0": "image"} and meta["file_ending"] == ".nii.gz"
    for i in range(3):
        img = sitk.ReadImage(str(folder / "imagesTr" / f"slice_{i:05d}_0000.nii.gz"))
        lab = sitk.ReadImage(str(folder / "labelsTr" / f"slice_{i:05d}.nii.gz"))
        assert img.GetSpacing() == (1.0, 1.0, 999.0)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(img)[0], images[i])
        np.testing.assert_array_equal(sitk.GetArrayFromImage(lab)[0], labels[i])


@pytest.mark.parametrize(("key", "value"), [("configuration", "3d_fullres"), ("trainer", "MyTrainer"),
                                             ("epochs", 0), ("augmentation_processes", -1)])
def test_bad_settings_are_config_errors(key: str, value) -> None:
    with pytest.raises(ConfigError, match=key):
        build_method("nnunet", **{key: value})


def test_untrained_model_cannot_predict() -> None:
    m = build_method("nnunet")
    with pytest.raises(Exception, match="no trained model"):
        m.predict_batch([np.zeros((16, 16), np.float32)], [[]], [np.zeros((16, 16))])


@pytest.mark.slow
def test_tiny_nnunet_trains_checkpoints_and_predicts(tmp_path: Path) -> None:
    images, labels = discs(8)
    manifest = pd.DataFrame({"slice_id": range(8), "split": "train", "spacing_y": 1.0, "spacing_x": 1.0})
    hp = {"epochs": 1, "iterations_per_epoch": 3, "val_iterations_per_epoch": 1, "augmentation_processes": 0}
    history = train_method("nnunet", hp, SliceSet(images, labels, manifest), tmp_path / "m" / "final.pt",
                           tmp_path / "m" / "loss.csv", TrainConfig(epochs=1))
    assert list(history["epoch"]) == [1] and np.isfinite(history["loss"]).all()
    assert not (tmp_path / "m" / "work").exists()  # nnU-Net's folders are cleaned up
    state = read_checkpoint(tmp_path / "m" / "final.pt")
    assert json.loads(state["extra_state"]["plans"])["configurations"]["2d"]["patch_size"]
    method = load_method(tmp_path / "m" / "final.pt")
    probs = method.predict_batch(list(images[:2]), [[], []], list(np.zeros_like(images[:2])))
    assert probs.shape == (2, 32, 32) and probs.min() >= 0 and probs.max() <= 1
    assert not np.allclose(probs[0], probs[0].flat[0])  # a real prediction, not a constant
    # Augmenting in-process (augmentation_processes=0) makes nnU-Net's training reproducible.
    train_method("nnunet", hp, SliceSet(images, labels, manifest), tmp_path / "m2" / "final.pt",
                 tmp_path / "m2" / "loss.csv", TrainConfig(epochs=1))
    again = read_checkpoint(tmp_path / "m2" / "final.pt")["network_weights"]
    assert all(torch.equal(again[k], w) for k, w in state["network_weights"].items())
