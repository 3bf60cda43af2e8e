"""nnU-Net baseline: the raw-dataset export, settings checks, and a tiny real nnU-Net run end to end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from gdgp.data.slice_set import SliceSet
from gdgp.errors import ConfigError, GdgpError
from gdgp.methods import build_method
from gdgp.methods.nnunet import DATASET_NAME, RUN_RECORD, can_resume, export_raw_dataset
from gdgp.methods.nnunet_train import atomic_checkpoints
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


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("configuration", "3d_fullres"),
        ("trainer", "MyTrainer"),
        ("epochs", 0),
        ("augmentation_processes", -1),
        ("save_every", 0),
    ],
)
def test_bad_settings_are_config_errors(key: str, value) -> None:
    with pytest.raises(ConfigError, match=key):
        build_method("nnunet", **{key: value})


def test_untrained_model_cannot_predict() -> None:
    m = build_method("nnunet")
    with pytest.raises(Exception, match="no trained model"):
        m.predict_batch([np.zeros((16, 16), np.float32)], [[]], [np.zeros((16, 16))])


def test_a_work_folder_resumes_only_after_a_finished_plan_of_the_same_run(tmp_path: Path) -> None:
    images, labels = discs(2)
    method = build_method("nnunet", epochs=3)
    record = method.run_record(images, labels, seed=0)
    work = tmp_path / "work"
    assert not can_resume(work, record)  # nothing there yet
    (work / "preprocessed").mkdir(parents=True)
    assert not can_resume(work, record) and not work.exists()  # planning cut short: start afresh
    (work / "results").mkdir(parents=True)
    (work / RUN_RECORD).write_text(json.dumps(record))
    assert can_resume(work, record) and (work / "results").is_dir()  # kept
    # Other data, seed or trained-model settings: another run, whose files are removed.
    assert can_resume(
        work, build_method("nnunet", epochs=3, save_every=1, use_mirroring=False).run_record(images, labels, seed=0)
    )  # checkpoint interval and TTA do not count
    other = [
        method.run_record(images, labels, seed=1),
        method.run_record(images, 1 - labels, seed=0),
        build_method("nnunet", epochs=4).run_record(images, labels, seed=0),
    ]
    for rec in other:
        (work / "results").mkdir(parents=True, exist_ok=True)
        (work / RUN_RECORD).write_text(json.dumps(record))
        assert not can_resume(work, rec) and not work.exists()


def test_nnunet_checkpoints_are_replaced_atomically(tmp_path: Path) -> None:
    class Trainer:  # nnU-Net's save_checkpoint: torch.save straight onto the name
        def __init__(self) -> None:
            self.fail = False

        def save_checkpoint(self, filename: str) -> None:
            Path(filename).write_bytes(b"half" if self.fail else b"complete checkpoint")
            if self.fail:
                raise KeyboardInterrupt  # killed while writing

    trainer = Trainer()
    atomic_checkpoints(trainer)
    target = tmp_path / "checkpoint_latest.pth"
    trainer.save_checkpoint(str(target))
    assert target.read_bytes() == b"complete checkpoint" and sorted(tmp_path.iterdir()) == [target]
    trainer.fail = True
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint(str(target))
    assert target.read_bytes() == b"complete checkpoint"  # the previous one is intact


@pytest.mark.slow
def test_tiny_nnunet_trains_resumes_after_a_kill_and_predicts(tmp_path: Path, caplog) -> None:
    images, labels = discs(8)
    slices = SliceSet(
        images, labels, pd.DataFrame({"slice_id": range(8), "split": "train", "spacing_y": 1.0, "spacing_x": 1.0})
    )
    hp = {"epochs": 1, "iterations_per_epoch": 3, "val_iterations_per_epoch": 1, "augmentation_processes": 0}
    history = train_method(
        "nnunet", hp, slices, tmp_path / "m" / "final.pt", tmp_path / "m" / "loss.csv", TrainConfig(epochs=1)
    )
    assert list(history["epoch"]) == [1] and np.isfinite(history["loss"]).all()
    assert not (tmp_path / "m" / "work").exists()  # nnU-Net's folders are cleaned up
    state = read_checkpoint(tmp_path / "m" / "final.pt")
    assert json.loads(state["extra_state"]["plans"])["configurations"]["2d"]["patch_size"]
    method = load_method(tmp_path / "m" / "final.pt")
    probs = method.predict_batch(list(images[:2]), [[], []], list(np.zeros_like(images[:2])))
    assert probs.shape == (2, 32, 32) and probs.min() >= 0 and probs.max() <= 1
    assert not np.allclose(probs[0], probs[0].flat[0])  # a real prediction, not a constant

    # A 3-epoch run killed after its first epoch (nnU-Net's epoch 0), checkpointing every epoch.
    hp3 = {**hp, "epochs": 3, "save_every": 1}
    final = tmp_path / "k" / "final.pt"
    work = final.parent / "work"  # where train_method keeps nnU-Net's folders
    fold = work / "results" / DATASET_NAME / "nnUNetTrainer__nnUNetPlans__2d" / "fold_all"
    with pytest.raises(GdgpError, match="exit 3"):
        build_method("nnunet", **hp3).train_external(images, labels, work, 1, 0, stop_after_epoch=1)
    assert not (fold / "checkpoint_final.pth").exists()
    killed = torch.load(fold / "checkpoint_latest.pth", map_location="cpu", weights_only=False)
    assert killed["current_epoch"] == 1 and len(killed["logging"]["train_losses"]) == 1
    # Augmenting in-process (augmentation_processes=0) makes nnU-Net's training reproducible:
    # the first epoch of this second training gives the first training's weights to the bit.
    assert all(torch.equal(state["network_weights"][k], w) for k, w in killed["network_weights"].items())

    # The re-run (the trainer's own path) continues at epoch 2 through nnU-Net's --c.
    with caplog.at_level(logging.INFO, logger="gdgp.methods.nnunet"):
        history = train_method("nnunet", hp3, slices, final, final.parent / "loss.csv", TrainConfig(epochs=1))
    assert "resuming nnU-Net" in caplog.text and "afresh" not in caplog.text
    assert "nnU-Net continues at epoch 1 (0-based; 1 of 3 done before)" in caplog.text
    assert list(history["epoch"]) == [1, 2, 3] and np.isfinite(history["loss"]).all()
    logs = killed["logging"]
    # Epoch 1 is the killed run's, carried over from its checkpoint (same duration to the bit);
    # epochs 2 and 3 were trained after the kill.
    assert history.loc[0, "seconds"] == float(logs["epoch_end_timestamps"][0] - logs["epoch_start_timestamps"][0])
    assert history.loc[0, "loss"] == float(logs["train_losses"][0])
    assert not work.exists()  # removed after the successful finish
    assert read_checkpoint(final)["epoch"] == 3
    probs = load_method(final).predict_batch(list(images[:2]), [[], []], list(np.zeros_like(images[:2])))
    assert probs.shape == (2, 32, 32) and np.isfinite(probs).all()
    assert not np.allclose(probs[0], probs[0].flat[0])
