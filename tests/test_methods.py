"""Method hooks: shapes, first interaction, encodings; every method's Settings (defaults, errors, round trip)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gdgp.clicks.robot import Robot
from gdgp.errors import ConfigError
from gdgp.evaluation.loop import run_interactions
from gdgp.methods import METHODS, Method, build_method, method_settings
from gdgp.methods.settings import MethodSettings, describe, field_types, matches

#: Methods whose network takes ``encode``'s output directly; the others (GDGP, nnU-Net and the
#: baselines with their own prediction) have their own test files.
PLAIN = sorted(n for n, cls in METHODS.items() if cls.predict_batch is Method.predict_batch)
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
    assert enc.shape == (3, 20, 20) and enc[1, 7, 9] == 0.0 and enc[2].min() == 1.0


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
