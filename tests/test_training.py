"""Shared trainer: learning happens, resume after a kill is exact, checkpoints rebuild the method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gdgp.data.slice_set import SliceSet
from gdgp.errors import ConfigError
from gdgp.evaluation.evaluate import EvalConfig, evaluate_method
from gdgp.methods import METHODS, build_method
from gdgp.training.checkpoint import load_method, read_checkpoint
from gdgp.training.trainer import TrainConfig, train_method

CFG = TrainConfig(epochs=3, batch_size=4, lr=3e-3, seed=1)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["network_weights"]


SMALL = {
    "auto_unet": {"channels": [4, 8, 16]},
    "click_unet": {"channels": [4, 8, 16]},
    "gdgp": {"crop_size": 16, "filters": [4, 8, 16], "feature_channels": 4},
    "bs_iris": {"channels": [4, 8]},
    "tis": {"channels": [4, 8], "feature_channels": 4},
    "dextr": {"crop_size": 16, "channels": [4, 8], "crop_margin": 2},
    "mideepseg": {"crop_size": 16, "channels": [4, 8], "crop_margin": 2, "seed_radius": 0.0},
    "intercnn": {"channels": [4, 8], "train_rounds": 2},
    "deepigeos": {"channels": [4, 4, 4]},
}


def test_every_base_method_is_covered() -> None:
    # nnU-Net trains with its own framework (no resume; tests/test_nnunet.py); pretrained methods are not trained
    assert {
        n for n, c in METHODS.items() if not n.startswith("gdgp_") and not c.external_training and not c.pretrained
    } == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_resume_after_kill_gives_identical_weights(name: str, slice_set: SliceSet, tmp_path: Path) -> None:
    train = slice_set.subset("train")
    hp = SMALL[name]
    straight = tmp_path / "a" / "final.pt"
    train_method(name, hp, train, straight, tmp_path / "a" / "loss.csv", CFG)
    killed = tmp_path / "b" / "final.pt"
    train_method(name, hp, train, killed, tmp_path / "b" / "loss.csv", CFG, stop_after_epoch=1)
    assert not killed.exists() and (tmp_path / "b" / "latest.pt").exists()
    assert read_checkpoint(tmp_path / "b" / "latest.pt")["epoch"] == 1
    history = train_method(name, hp, train, killed, tmp_path / "b" / "loss.csv", CFG)
    assert list(history["epoch"]) == [1, 2, 3]
    assert not (tmp_path / "b" / "latest.pt").exists()
    wa, wb = _weights(straight), _weights(killed)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)
    la = pd.read_csv(tmp_path / "a" / "loss.csv")
    lb = pd.read_csv(tmp_path / "b" / "loss.csv")
    np.testing.assert_allclose(la["loss"], lb["loss"])
    assert list(la.columns)[:4] == ["epoch", "loss", "lr", "seconds"] and list(la.columns) == list(lb.columns)
    extra = list(la.columns)[4:]
    if name == "gdgp":
        assert extra == ["seg", "nll", "kl", "sigma", "alpha1", "alpha2", "tau", "l"]
    np.testing.assert_allclose(la[extra].to_numpy(), lb[extra].to_numpy())


@pytest.mark.slow  # a real training: 12 epochs
def test_training_reduces_loss_and_beats_chance(slice_set: SliceSet, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=12, batch_size=4, lr=5e-3, seed=0)
    hist = train_method(
        "auto_unet",
        {"channels": [8, 16, 32]},
        slice_set.subset("train"),
        tmp_path / "final.pt",
        tmp_path / "loss.csv",
        cfg,
    )
    assert hist["loss"].iloc[-1] < 0.7 * hist["loss"].iloc[0]
    method = load_method(tmp_path / "final.pt")
    records = evaluate_method(method, slice_set.subset("test"), "toy", EvalConfig(rounds=1)).records
    assert records["dice"].mean() > 0.6  # bright discs on noise are easy


def test_checkpoint_rebuilds_method_with_same_predictions(slice_set: SliceSet, tmp_path: Path) -> None:
    train_method(
        "click_unet",
        {"channels": [4, 8]},
        slice_set.subset("train"),
        tmp_path / "final.pt",
        tmp_path / "loss.csv",
        TrainConfig(epochs=1, batch_size=8),
    )
    state = read_checkpoint(tmp_path / "final.pt")
    assert state["method"] == "click_unet" and state["init_kwargs"]["channels"] == [4, 8]
    assert {"optimizer_state", "scheduler_state", "epoch", "gdgp_version"} <= state.keys()
    m1, m2 = load_method(tmp_path / "final.pt"), load_method(tmp_path / "final.pt")
    img = slice_set.images[0]
    np.testing.assert_array_equal(m1.predict(img, [], np.zeros_like(img)), m2.predict(img, [], np.zeros_like(img)))


def test_unknown_method_and_hyperparameter_raise() -> None:
    with pytest.raises(ConfigError, match="unknown method .samurai.; known methods: ") as err:
        build_method("samurai")
    assert str(err.value).endswith(", ".join(sorted(METHODS)))
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        build_method("auto_unet", depth=3)


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"lr": 0.0}, {"batch_size": 0}])
def test_bad_train_config(bad: dict) -> None:
    with pytest.raises(ValueError, match="train\\."):
        TrainConfig(**bad)
