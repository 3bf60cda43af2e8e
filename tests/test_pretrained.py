"""Pretrained methods: the train job records the weights file (path, sha256, licence) or fails
naming it, where to obtain it and its licence, writing nothing; evaluate loads the recorded file and
refuses a changed one; random_weights needs no file.

The pretrained method is a test plugin (a click_unet subclass with ``pretrained = True`` whose
weights the test saves), registered through a ``*.dist-info`` on sys.path (tests/test_plugins.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import torch

from gdgp.cli import main
from gdgp.data.slice_set import save_slices
from gdgp.errors import ConfigError, InputDataError
from gdgp.methods import build_method, method_settings
from gdgp.methods.catalogue import describe
from gdgp.training.checkpoint import load_method, read_checkpoint
from gdgp.training.trainer import TrainConfig, train_method
from tests.conftest import make_slice_set
from tests.test_plugins import plugin_dir, unique, write_dist

__all__ = ["plugin_dir"]  # the fixture, imported for pytest

SOURCE = "https://example.org/tiny (model card: Tiny-Pretrained)"
LICENCE = "CC-BY-4.0"

PRETRAINED_MODULE = f"""
from dataclasses import dataclass
from pathlib import Path

import torch

import gdgp
from gdgp.methods.settings import setting

ClickUNet = gdgp.get_method_class("click_unet")


class TinyPretrained(ClickUNet):
    name = "{{name}}"
    pretrained = True
    weights_source = "{SOURCE}"
    weights_licence = "{LICENCE}"
    trained_on = ("MSD", "BTCV")

    @dataclass(frozen=True)
    class Settings(ClickUNet.Settings):
        channels: list[int] = setting([4, 8], "U-Net channels per level.")
        checkpoint: str = setting("", "The weights file.")
        random_weights: bool = setting(False, "Tests only: random initialisation, no file.")

    def load_pretrained(self, checkpoint: Path) -> None:
        self.network.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
"""


def pretrained_plugin(root: Path) -> str:
    name, module = unique("tiny_pre"), unique("premod")
    write_dist(
        root,
        "gdgp-test-pretrained",
        "0.1",
        {name: f"{module}:TinyPretrained"},
        {f"{module}.py": PRETRAINED_MODULE.format(name=name)},
    )
    return name


def save_weights(name: str, path: Path, seed: int) -> dict[str, torch.Tensor]:
    """Weights of the method's network (seeded random), saved as the method's loader reads them."""
    torch.manual_seed(seed)
    weights = build_method(name).network.state_dict()
    torch.save(weights, path)
    return weights


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_records_the_file_and_evaluate_loads_it(plugin_dir: Path, tmp_path: Path) -> None:
    name = pretrained_plugin(plugin_dir)
    assert describe(name).pretrained and describe(name).trained_on == ("MSD", "BTCV")
    weights_path = tmp_path / "weights" / "tiny.pt"
    weights_path.parent.mkdir()
    saved = save_weights(name, weights_path, seed=7)
    final, loss = tmp_path / "m" / "final.pt", tmp_path / "m" / "loss.csv"
    history = train_method(
        name, {"checkpoint": str(weights_path)}, make_slice_set().subset("train"), final, loss, TrainConfig(epochs=3)
    )
    assert history.empty and list(pd.read_csv(loss).columns) == ["epoch", "loss", "lr", "seconds"]
    assert pd.read_csv(loss).empty and not (final.parent / "latest.pt").exists()
    state = read_checkpoint(final)
    assert state["network_weights"] is None and state["method"] == name
    assert state["pretrained"] == {
        "checkpoint": str(weights_path.resolve()),
        "sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(),
        "licence": LICENCE,
        "source": SOURCE,
        "trained_on": ["MSD", "BTCV"],
        "random_weights": False,
    }
    assert state["init_kwargs"] == method_settings(name, {"checkpoint": str(weights_path)})
    loaded = load_method(final)
    assert same_weights(loaded.network.state_dict(), saved)
    assert not same_weights(build_method(name).network.state_dict(), saved)  # the load did it, not the seed
    # The file changes after the train job: evaluate refuses it, naming both hashes.
    save_weights(name, weights_path, seed=8)
    with pytest.raises(InputDataError, match=rf"{weights_path.resolve()} of method '{name}' changed since its train"):
        load_method(final)
    weights_path.unlink()
    with pytest.raises(InputDataError, match="which no longer exists"):
        load_method(final)


def test_missing_weights_file_fails_naming_it_and_writes_nothing(
    plugin_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's check, through the train job's command: the message names the missing file, where
    to obtain it and its licence, and no checkpoint or loss file is left."""
    name = pretrained_plugin(plugin_dir)
    slices, manifest = tmp_path / "slices.npz", tmp_path / "manifest.csv"
    save_slices(make_slice_set(), slices, manifest)
    out = tmp_path / "model"
    args = ["train", "--slices", str(slices), "--manifest", str(manifest), "--method", name]
    args += ["--set", "checkpoint=weights/absent.pt", "--out-checkpoint", str(out / "final.pt")]
    assert main([*args, "--out-loss", str(out / "loss.csv")]) == 1
    err = capsys.readouterr().err
    assert f"the pretrained weights file {Path('weights/absent.pt').resolve()}" in err
    assert SOURCE in err and f"licence: {LICENCE}" in err and "never downloaded" in err
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ConfigError, match=rf"methods\.{name}\.checkpoint \(its weights file\) is not set: obtain it"):
        train_method(name, {}, make_slice_set().subset("train"), out / "final.pt", out / "loss.csv", TrainConfig())
    assert not out.exists() or not any(out.iterdir())


def test_random_weights_need_no_file_and_are_reproducible(plugin_dir: Path, tmp_path: Path) -> None:
    name = pretrained_plugin(plugin_dir)
    final = tmp_path / "final.pt"
    train_method(name, {"random_weights": True}, make_slice_set(), final, tmp_path / "loss.csv", TrainConfig(seed=3))
    info = read_checkpoint(final)["pretrained"]
    assert info["random_weights"] is True and info["checkpoint"] == "" and info["sha256"] == ""
    first, again = load_method(final), load_method(final)
    assert same_weights(first.network.state_dict(), again.network.state_dict())
    other = tmp_path / "other.pt"
    train_method(name, {"random_weights": True}, make_slice_set(), other, tmp_path / "l2.csv", TrainConfig(seed=4))
    assert not same_weights(first.network.state_dict(), load_method(other).network.state_dict())


def test_evaluate_command_scores_a_pretrained_record(plugin_dir: Path, tmp_path: Path) -> None:
    name = pretrained_plugin(plugin_dir)
    slices, manifest = tmp_path / "slices.npz", tmp_path / "manifest.csv"
    save_slices(make_slice_set(n=9), slices, manifest)
    weights_path = tmp_path / "w.pt"
    save_weights(name, weights_path, seed=1)
    data = ["--slices", str(slices), "--manifest", str(manifest)]
    record = tmp_path / "final.pt"
    train = ["train", *data, "--method", name, "--set", f"checkpoint={weights_path}"]
    assert main([*train, "--out-checkpoint", str(record), "--out-loss", str(tmp_path / "loss.csv")]) == 0
    out = [f"--out-{k}={tmp_path / k}.out" for k in ("clicks", "first-interaction", "overlays")]
    assert main(["evaluate", *data, "--checkpoint", str(record), "--dataset", "d", "--rounds", "2", *out]) == 0
    clicks = pd.read_csv(tmp_path / "clicks.out")
    assert set(clicks["method"]) == {name} and len(clicks) == 3 * 3 and clicks["dice"].between(0, 1).all()
