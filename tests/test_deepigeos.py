"""DeepIGeoS: geodesic click maps, P-Net at round 0, R-Net afterwards, training."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from torch import nn

from gdgp.clicks.geodesic_encodings import geodesic_map
from gdgp.clicks.robot import Click, Robot
from gdgp.errors import ConfigError
from gdgp.evaluation.loop import run_interactions
from gdgp.methods.deepigeos import DeepIGeoS, geodesic_maps
from gdgp.methods.graph_cut import graph_cut
from tests.phantoms import assert_same_seed_same_steps, disc_batch, image_of
from tests.phantoms import disc as _disc


def disc(shape=(32, 32), centre=(16, 14), r=6.0) -> np.ndarray:
    return _disc(shape, centre, r)


TINY = {"channels": [4, 4, 4], "max_train_rounds": 2}


# --- encoding ---------------------------------------------------------------------------------
def test_geodesic_maps_are_zero_at_the_clicks_and_equal_geodesic_map() -> None:
    gts = [disc(), disc(centre=(10, 20), r=5)]
    imgs = np.stack([image_of(g, i) for i, g in enumerate(gts)])
    clicks = [
        [Click(16, 14, True, 0), Click(2, 2, False, 1), Click(16, 17, True, 2)],
        [Click(10, 20, True, 0)],
    ]  # the second image has no background click
    maps = geodesic_maps(imgs, clicks, lamb=1.0)
    assert maps.shape == (2, 2, 32, 32) and maps.dtype == np.float32
    for b, cl in enumerate(clicks):
        for ch, positive in enumerate((True, False)):
            np.testing.assert_allclose(maps[b, ch], geodesic_map(imgs[b], cl, positive, lamb=1.0), atol=1e-6)
        for c in cl:
            assert maps[b, 0 if c.positive else 1, c.y, c.x] == 0.0
    assert maps[0].max() == 1.0 and maps.min() >= 0.0
    assert np.all(maps[1, 1] == 1.0)  # no background click: "infinitely far" everywhere
    # geodesic, not Euclidean: both pixels lie 4 px from the nearest fg click, but reaching
    # (16, 21) crosses the disc's edge (x = 20) while (16, 10) stays inside
    fg = maps[0, 0]
    assert fg[16, 10] < fg[16, 21]


# --- network and interaction ------------------------------------------------------------------
def test_pnet_keeps_the_resolution_with_dilations_1_to_16() -> None:
    m = DeepIGeoS()
    for net in (m.network.pnet, m.network.rnet):
        dil = [mod.dilation[0] for block in net.blocks for mod in block.modules() if isinstance(mod, nn.Conv2d)]
        assert dil == [1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 16, 16, 16]
    x = torch.rand(2, 1, 40, 36)
    assert m.network.pnet(x).shape == (2, 1, 40, 36)
    assert m.network.rnet(torch.rand(2, 4, 40, 36)).shape == (2, 1, 40, 36)


def test_round_zero_needs_no_click_and_is_the_pnet_graph_cut() -> None:
    torch.manual_seed(0)
    m = DeepIGeoS(**TINY)
    gt = disc()
    img = image_of(gt)
    robot = Robot(gt)
    assert m.first_interaction(img, robot) == [] and robot.clicks == []
    enc = m.encode(img, [], np.zeros_like(img))
    assert enc.shape == (4, 32, 32) and np.array_equal(enc[0], img) and not enc[1].any() and np.all(enc[2:] == 1)
    out = m.predict(img, [], np.zeros_like(img))
    with torch.no_grad():
        m.network.eval()
        prob = torch.sigmoid(m.network.pnet(torch.from_numpy(img)[None, None]))[0, 0].numpy()
    none = np.zeros_like(gt)
    expected = graph_cut(
        prob.astype(np.float64),
        img,
        none,
        none,
        weight=m.hparams["graphcut_weight"],
        sigma=m.hparams["graphcut_sigma"],
        neighbours=8,
    )
    assert np.array_equal(out > 0.5, expected)


def test_with_clicks_rnet_refines_and_the_output_obeys_the_clicks() -> None:
    torch.manual_seed(0)
    m = DeepIGeoS(**TINY)
    gts = np.stack([disc(), disc(centre=(12, 18), r=5)])
    imgs = np.stack([image_of(g, i) for i, g in enumerate(gts)])
    prev = np.zeros_like(imgs)
    prev[0, 10:20, 10:20] = 1
    clicks = [[Click(16, 14, True, 0), Click(11, 11, False, 1)], [Click(12, 18, True, 0), Click(0, 0, False, 1)]]
    enc = m.encode(imgs[0], clicks[0], prev[0])
    assert np.array_equal(enc[1], prev[0]) and enc[2, 16, 14] == 0 and enc[3, 11, 11] == 0
    out = m.predict_batch(list(imgs), clicks, list(prev))
    assert out.shape == (2, 32, 32) and out.dtype == np.float32 and set(np.unique(out)) <= {0.0, 1.0}
    for b, cl in enumerate(clicks):
        assert all(out[b, c.y, c.x] == (1.0 if c.positive else 0.0) for c in cl)
    res = run_interactions(imgs, m, [Robot(g) for g in gts], n_rounds=3)
    for per_slice in res:
        assert per_slice[0].n_clicks == 0
        counts = [r.n_clicks for r in per_slice]
        assert all(b - a in (0, 1) for a, b in pairwise(counts))
        for r in per_slice[1:]:  # every click so far is honoured by the hard seeds
            if r.click is not None:
                assert r.pred[r.click.y, r.click.x] == r.click.positive


# --- training -----------------------------------------------------------------------------------
def batch(n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    return disc_batch(n, (14, 16), (1, -1), 5)


def test_train_step_returns_finite_losses_and_changes_both_nets() -> None:
    torch.manual_seed(0)
    m = DeepIGeoS(**TINY)
    images, labels = batch()
    opt, _ = m.configure_optimizers(1e-3, 20, 0.5)
    before = {k: v.clone() for k, v in m.network.state_dict().items()}
    out = m.train_step(images, labels, opt, np.random.default_rng(0))
    assert set(out) == {"loss", "pnet", "rnet"} and all(np.isfinite(v) for v in out.values())
    assert out["loss"] == pytest.approx(out["pnet"] + out["rnet"], rel=1e-5)
    after = m.network.state_dict()
    for part in ("pnet", "rnet"):
        assert any(
            not torch.equal(before[k], after[k])
            for k in after
            if k.startswith(part + ".") and after[k].is_floating_point()
        )


def test_same_seed_same_training_step() -> None:
    assert_same_seed_same_steps(lambda: DeepIGeoS(**TINY), *batch(2), steps=1, torch_seed=3, rng_seed=7)


@pytest.mark.parametrize(
    "bad",
    [
        {"channels": []},
        {"channels": [8, 0]},
        {"dropout": 1.0},
        {"geodesic_lambda": 1.5},
        {"graphcut_weight": -1.0},
        {"graphcut_sigma": 0.0},
        {"max_train_rounds": -1},
        {"graphcut_beta": 1.0},
    ],
)
def test_bad_hyperparameter_raises_config_error(bad: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        DeepIGeoS(**bad)
