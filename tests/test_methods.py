"""Method contract (abstract hooks, bases), hooks: shapes, first interaction, encodings; every method's Settings
(defaults, errors, round trip)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

from gdgp.clicks.robot import Click, Robot
from gdgp.errors import ConfigError
from gdgp.evaluation.loop import run_interactions
from gdgp.methods import (
    METHODS,
    EncodedNetworkMethod,
    ExternallyTrainedMethod,
    Method,
    PretrainedMethod,
    build_method,
    method_settings,
)
from gdgp.methods.settings import MethodSettings, describe, field_types, matches

#: Methods whose network takes ``encode``'s output directly; the others (GDGP, nnU-Net and the
#: baselines with their own prediction) have their own test files.
PLAIN = sorted(n for n, cls in METHODS.items() if issubclass(cls, EncodedNetworkMethod))
#: Every registered method, the GDGP experiment variants included (they take gdgp's Settings).
ALL = sorted(METHODS)


@pytest.mark.parametrize("name", PLAIN)
def test_network_maps_batch_to_one_logit_channel(name: str) -> None:
    m = build_method(name, channels=[4, 8, 16])
    x = np.stack([m.encode(np.random.rand(32, 32).astype(np.float32), [], np.zeros((32, 32))) for _ in range(3)])
    out = m.network(torch.from_numpy(x))
    assert out.shape == (3, 1, 32, 32)
    probs = m.predict_batch(list(x[:, 0]), [[], [], []], list(np.zeros((3, 32, 32))))
    assert probs.shape == (3, 32, 32) and probs.min() >= 0 and probs.max() <= 1


def test_click_unet_first_interaction_is_one_click_at_the_innermost_pixel() -> None:
    gt = np.zeros((20, 20), dtype=bool)
    gt[4:15, 6:13] = True  # 11 x 7 rectangle: rows 7..11 of col 9 are 4 px deep; first in raster order
    m = build_method("click_unet", channels=[4, 8])
    robot = Robot(gt)
    clicks = m.first_interaction(np.zeros((20, 20), np.float32), robot)
    assert [(c.y, c.x, c.positive) for c in clicks] == [(7, 9, True)]
    enc = m.encode(np.zeros((20, 20), np.float32), clicks, np.zeros((20, 20)))
    # image, fg and bg distance maps, the previous mask (mask guidance, on by default)
    assert enc.shape == (4, 20, 20) and enc[1, 7, 9] == 0.0 and enc[2].min() == 1.0


def test_click_unet_mask_guidance_feeds_the_previous_mask_as_a_fourth_channel() -> None:
    m = build_method("click_unet", channels=[4, 8], mask_guidance=True)
    prev = np.zeros((16, 16), np.float32)
    prev[3:9, 2:7] = 1.0
    enc = m.encode(np.random.rand(16, 16).astype(np.float32), [Click(5, 5, True, 0)], prev)
    assert enc.shape == (4, 16, 16) and np.array_equal(enc[3], prev)
    plain = build_method("click_unet", channels=[4, 8], mask_guidance=False)
    assert plain.encode(np.zeros((16, 16), np.float32), [], prev).shape == (3, 16, 16)
    # the network reads the mask: two previous masks give two predictions
    image = np.random.rand(16, 16).astype(np.float32)
    a, b = m.predict_batch([image, image], [[Click(5, 5, True, 0)]] * 2, [prev, 1.0 - prev])
    assert not np.allclose(a, b)


def test_auto_unet_takes_no_clicks_and_its_curve_is_flat() -> None:
    m = build_method("auto_unet", channels=[4, 8])
    assert m.first_interaction(np.zeros((8, 8)), Robot(np.ones((8, 8)))) == []
    gts = np.zeros((2, 16, 16), dtype=bool)
    gts[:, 4:10, 4:10] = True
    res = run_interactions(np.random.rand(2, 16, 16).astype(np.float32), m, [Robot(g) for g in gts], n_rounds=3)
    for per_slice in res:
        assert [r.round for r in per_slice] == [0, 1, 2, 3]
        assert all(r.n_clicks == 0 and r.click is None for r in per_slice)
        assert all(np.array_equal(r.pred, per_slice[0].pred) for r in per_slice)


def test_interactive_loop_adds_one_click_per_round() -> None:
    m = build_method("click_unet", channels=[4, 8])
    gts = np.zeros((2, 16, 16), dtype=bool)
    gts[0, 2:12, 3:9] = True
    gts[1, 5:15, 5:15] = True
    res = run_interactions(np.random.rand(2, 16, 16).astype(np.float32), m, [Robot(g) for g in gts], n_rounds=4)
    for per_slice in res:
        counts = [r.n_clicks for r in per_slice]
        assert counts[0] == 1
        assert all(b - a in (0, 1) for a, b in zip(counts, counts[1:]))


@pytest.mark.parametrize("name", ALL)
def test_settings_are_one_frozen_typed_dataclass_with_help(name: str) -> None:
    cls = METHODS[name].Settings
    assert dataclasses.is_dataclass(cls) and issubclass(cls, MethodSettings) and cls.__dataclass_params__.frozen
    settings = cls()  # every default is valid
    for key, tp in field_types(cls).items():
        assert matches(getattr(settings, key), tp), (key, tp)
    assert all(cls.help().values()), "every setting has a line of help"
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings, next(iter(field_types(cls))), None)


@pytest.mark.parametrize("name", ALL)
def test_defaults_build_and_round_trip_through_plain_data(name: str) -> None:
    cls = METHODS[name]
    plain = method_settings(name)
    assert plain == dataclasses.asdict(cls.Settings())
    assert cls.Settings(**plain) == cls.Settings()  # asdict -> Settings -> the same settings
    if name == "nnunet" or name.startswith("gdgp"):  # quick enough; the rest build their networks below
        m = build_method(name, **plain)
        assert m.settings == cls.Settings(**{**plain, **getattr(cls, "variant", {})})
        assert m.hparams == dataclasses.asdict(m.settings)


@pytest.mark.parametrize("name", ALL)
def test_unknown_key_and_wrong_type_name_the_method_and_the_key(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"method '{name}': unknown hyperparameter\(s\) \['no_such_key'\]; known: "):
        method_settings(name, {"no_such_key": 1})
    for key, tp in field_types(METHODS[name].Settings).items():  # a mapping is no setting's type
        with pytest.raises(ConfigError) as err:
            method_settings(name, {key: {"a": 1}})
        assert str(err.value) == f"method '{name}': {key} must be {describe(tp)}, got {{'a': 1}}"


@pytest.mark.parametrize("name", PLAIN)
def test_method_keeps_its_settings_as_plain_hparams(name: str) -> None:
    m = build_method(name, channels=[4, 8, 16])
    assert m.settings == METHODS[name].Settings(channels=[4, 8, 16])
    assert m.hparams == method_settings(name, {"channels": [4, 8, 16]}) and m.hparams["channels"] == [4, 8, 16]


# --- the contract ---------------------------------------------------------------------------
#: The base each built-in subclasses: "encode, then a network" where prediction is
#: sigmoid(network(encode)), the external framework for nnU-Net, the bare contract for the rest.
BASES = {
    "auto_unet": EncodedNetworkMethod,
    "click_unet": EncodedNetworkMethod,
    "intercnn": EncodedNetworkMethod,
    "nnunet": ExternallyTrainedMethod,
    **dict.fromkeys(["gdgp", "dextr", "deepigeos", "mideepseg", "bs_iris", "tis"], Method),
    **dict.fromkeys(["sam", "sam_box", "medsam", "sam2", "sam2_box"], PretrainedMethod),
}


@pytest.mark.parametrize("name", ALL)
def test_each_builtin_subclasses_its_base(name: str) -> None:
    cls, base = METHODS[name], BASES["gdgp" if name.startswith("gdgp") else name]
    assert issubclass(cls, base)
    assert issubclass(cls, EncodedNetworkMethod) == (base is EncodedNetworkMethod)
    assert issubclass(cls, ExternallyTrainedMethod) == (base is ExternallyTrainedMethod) == cls.external_training
    assert not inspect.isabstract(cls), cls.__abstractmethods__


def test_every_registered_name_has_a_base() -> None:
    assert {"gdgp" if n.startswith("gdgp") else n for n in METHODS} == set(BASES)


def test_nnunet_has_no_encode() -> None:
    assert not hasattr(METHODS["nnunet"], "encode")


def _settings_only(**members: object) -> dict[str, object]:
    return {"name": "t", "Settings": MethodSettings, **members}


def _predict(self, images, clicks, prev_masks):
    return np.zeros(np.shape(images), np.float32)


def _train(self, images, labels, optimizer, rng):
    return {"loss": 0.0}


@pytest.mark.parametrize(
    ("base", "members", "missing"),
    [
        (Method, {"train_step": _train}, "predict_batch"),
        (Method, {"predict_batch": _predict}, "train_step"),
        (ExternallyTrainedMethod, {"predict_batch": _predict}, "train_external"),
        (PretrainedMethod, {"predict_batch": _predict}, "load_pretrained"),
        (EncodedNetworkMethod, {"build_network": lambda self: torch.nn.Identity()}, "encode"),
        (EncodedNetworkMethod, {"encode": lambda self, i, c, p: i[None]}, "build_network"),
    ],
)
def test_a_method_missing_a_required_hook_cannot_be_instantiated(base: type, members: dict, missing: str) -> None:
    cls = type("Incomplete", (base,), _settings_only(**members))
    with pytest.raises(TypeError, match=missing):
        cls()


def test_a_complete_method_instantiates_and_a_pretrained_one_needs_no_encode(tmp_path: Path) -> None:
    full = type("Full", (Method,), _settings_only(predict_batch=_predict, train_step=_train))()
    assert len(list(full.network.parameters())) == 0  # Method's default network: an empty module

    class Pretrained(PretrainedMethod):
        name = "pretrained"

        def build_network(self) -> torch.nn.Module:
            return torch.nn.Conv2d(1, 1, 1)

        def predict_batch(self, images, clicks, prev_masks):
            return _predict(self, images, clicks, prev_masks)

        def load_pretrained(self, checkpoint: Path) -> None:
            self.network.load_state_dict(torch.load(checkpoint, weights_only=True))

    torch.save(torch.nn.Conv2d(1, 1, 1).state_dict(), tmp_path / "w.pt")
    m = Pretrained()
    m.load_pretrained(tmp_path / "w.pt")
    assert torch.equal(m.network.weight, torch.load(tmp_path / "w.pt")["weight"])
    assert m.pretrained and not m.external_training and not hasattr(m, "encode")
    with pytest.raises(TypeError, match="is pretrained: it is loaded"):
        m.train_step(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), torch.optim.SGD(m.network.parameters(), lr=1), None)


def test_external_method_does_not_train_step() -> None:
    ext = type("Ext", (ExternallyTrainedMethod,), _settings_only(predict_batch=_predict, train_external=_train))()
    assert ext.external_training and not ext.pretrained
    with pytest.raises(TypeError, match="trains through its own framework"):
        ext.train_step(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), None, None)


def test_the_training_flags_agree_with_the_hooks_at_class_creation() -> None:
    with pytest.raises(TypeError, match="subclasses ExternallyTrainedMethod"):
        type("Flagged", (Method,), _settings_only(external_training=True))
    with pytest.raises(TypeError, match="subclasses ExternallyTrainedMethod"):
        type("HandRolled", (Method,), _settings_only(train_external=lambda self, *a: []))
    with pytest.raises(TypeError, match="pretrained = True without a train_step: subclass PretrainedMethod"):
        type("FlagOnly", (Method,), _settings_only(pretrained=True))
    with pytest.raises(TypeError, match="not both"):
        type("Both", (ExternallyTrainedMethod,), _settings_only(pretrained=True))
    # an existing method class made pretrained keeps its (unused) train_step: allowed
    assert type("PretrainedClickUNet", (METHODS["click_unet"],), {"pretrained": True}).pretrained


def test_encoded_network_prediction_is_the_sigmoid_of_the_network_on_encode() -> None:
    torch.manual_seed(0)
    m = build_method("click_unet", channels=[4, 8, 16])
    rng = np.random.default_rng(0)
    images = list(rng.random((2, 32, 32), dtype=np.float32))
    clicks = [[Click(10, 12, True, 0)], [Click(5, 5, True, 0), Click(20, 20, False, 1)]]
    prev = list(np.zeros((2, 32, 32), np.float32))
    m.network.train()  # predict_batch must switch to eval mode and back
    got = m.predict_batch(images, clicks, prev)
    assert m.network.training
    x = torch.from_numpy(np.stack([m.encode(i, c, p) for i, c, p in zip(images, clicks, prev, strict=True)]))
    m.network.eval()
    with torch.no_grad():
        want = torch.special.expit(m.network(x))[:, 0].numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)
    assert got.std() > 0  # a real map, not a constant


def test_encoded_network_train_step_is_one_dice_ce_step_of_the_optimizer() -> None:
    """auto_unet (no clicks: the step is deterministic) against a hand-written Adam step on a copy."""
    from monai.losses import DiceCELoss

    torch.manual_seed(0)
    m = build_method("auto_unet", channels=[4, 8])
    ref = copy.deepcopy(m.network)
    images = np.random.default_rng(1).random((2, 16, 16), dtype=np.float32)
    labels = np.zeros((2, 16, 16), np.uint8)
    labels[:, 4:10, 5:12] = 1
    opt, _ = m.configure_optimizers(1e-2, 10, 0.5)
    out = m.train_step(images, labels, opt, np.random.default_rng(2))
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    ref.train()
    loss = DiceCELoss(sigmoid=True, batch=True, lambda_dice=0.5, lambda_ce=0.5)(
        ref(torch.from_numpy(images[:, None])), torch.from_numpy(labels[:, None].astype(np.float32))
    )
    loss.backward()
    ref_opt.step()
    assert out == {"loss": pytest.approx(float(loss.detach()), abs=1e-6)}
    for a, b in zip(m.network.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b)
