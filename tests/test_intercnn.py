"""InterCNN: square scribbles, autoCNN at round 0, interCNN afterwards, iterative training."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch

from gdgp.clicks.robot import Click, Robot
from gdgp.errors import ConfigError
from gdgp.evaluation.loop import run_interactions
from gdgp.methods.intercnn import InterCNN, scribble_map
from tests.phantoms import assert_same_seed_same_steps, disc_batch, image_of
from tests.phantoms import disc as _disc


def disc(shape=(32, 32), centre=(16, 14), r=6.0) -> np.ndarray:
    return _disc(shape, centre, r)


TINY = {"channels": [4, 8], "train_rounds": 3}


@pytest.mark.parametrize("size", [1, 3, 5])
def test_scribble_is_a_square_of_the_stated_size_with_the_clicks_class(size: int) -> None:
    clicks = [Click(10, 10, True, 0), Click(20, 5, False, 1)]
    smap = scribble_map(clicks, (32, 32), size)
    h = size // 2
    expected = np.zeros((32, 32), np.float32)
    expected[10 - h : 10 + h + 1, 10 - h : 10 + h + 1] = 1.0
    expected[20 - h : 20 + h + 1, 5 - h : 5 + h + 1] = -1.0
    assert np.array_equal(smap, expected)
    assert (smap == 1).sum() == size * size and (smap == -1).sum() == size * size


def test_scribble_is_clipped_at_the_border_and_the_later_click_wins() -> None:
    smap = scribble_map([Click(0, 0, True, 0), Click(1, 1, False, 1)], (8, 8), 3)
    assert smap[0, 0] == -1.0  # inside both squares: the later (background) one
    assert (smap == -1).sum() == 9 and (smap == 1).sum() == 0  # the 2x2 fg corner is overwritten
    assert scribble_map([], (8, 8), 3).max() == 0.0


def test_round_zero_needs_no_click_and_uses_the_automatic_net() -> None:
    torch.manual_seed(0)
    m = InterCNN(**TINY)
    gt = disc()
    img = image_of(gt)
    robot = Robot(gt)
    assert m.first_interaction(img, robot) == [] and robot.clicks == []
    enc = m.encode(img, [], np.zeros_like(img))
    assert enc.shape == (3, 32, 32) and np.array_equal(enc[0], img) and not enc[1:].any()
    prob = m.predict(img, [], np.zeros_like(img))
    with torch.no_grad():
        m.network.eval()
        auto = torch.sigmoid(m.network.auto(torch.from_numpy(img)[None, None]))[0, 0].numpy()
    np.testing.assert_allclose(prob, auto, atol=1e-6)


def test_with_clicks_the_editing_net_sees_image_prediction_and_scribbles() -> None:
    torch.manual_seed(0)
    m = InterCNN(**TINY)
    img = image_of(disc())
    prev = np.zeros_like(img)
    prev[5:9, 5:9] = 1
    clicks = [Click(16, 14, True, 0)]
    enc = m.encode(img, clicks, prev)
    assert np.array_equal(enc[1], prev) and enc[2, 15:18, 13:16].min() == 1.0 and enc[2].sum() == 9
    prob = m.predict(img, clicks, prev)
    with torch.no_grad():
        m.network.eval()
        inter = torch.sigmoid(m.network.inter(torch.from_numpy(enc)[None]))[0, 0].numpy()
    np.testing.assert_allclose(prob, inter, atol=1e-6)


def test_predict_batch_shapes_range_and_interaction_loop() -> None:
    torch.manual_seed(0)
    m = InterCNN(**TINY)
    gts = np.stack([disc(), disc(centre=(12, 18), r=5)])
    imgs = np.stack([image_of(g, i) for i, g in enumerate(gts)])
    probs = m.predict_batch(list(imgs), [[], [Click(12, 18, True, 0)]], list(np.zeros_like(imgs)))
    assert probs.shape == (2, 32, 32) and probs.dtype == np.float32 and probs.min() >= 0 and probs.max() <= 1
    res = run_interactions(imgs, m, [Robot(g) for g in gts], n_rounds=3)
    for per_slice in res:
        assert per_slice[0].n_clicks == 0 and per_slice[0].click is None
        counts = [r.n_clicks for r in per_slice]
        assert all(b - a in (0, 1) for a, b in pairwise(counts))


def batch(n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    return disc_batch(n, (14, 16), (1, -1), 5)


def test_train_step_runs_the_stated_rounds_and_changes_both_nets(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    m = InterCNN(**TINY)
    images, labels = batch()
    robots: list[Robot] = []

    def keep(labs: np.ndarray, rng: np.random.Generator) -> list[Robot]:
        robots.extend(Robot(lab) for lab in labs)
        return robots

    monkeypatch.setattr(m, "training_robots", keep)
    opt, _ = m.configure_optimizers(1e-3, 20, 0.5)
    before = {k: v.clone() for k, v in m.network.state_dict().items()}
    out = m.train_step(images, labels, opt, np.random.default_rng(0))
    assert set(out) == {"loss", "auto", "inter", "inter_last"} and all(np.isfinite(v) for v in out.values())
    assert out["loss"] == pytest.approx(out["auto"] + out["inter"])
    # an untrained net errs every round, so the robot clicked once per interaction iteration
    assert [len(r.clicks) for r in robots] == [TINY["train_rounds"]] * len(labels)
    after = m.network.state_dict()
    for part in ("auto", "inter"):
        assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith(part + "."))


def test_same_seed_same_training_step() -> None:
    assert_same_seed_same_steps(lambda: InterCNN(**TINY), *batch(2), steps=1, torch_seed=3, rng_seed=7)


@pytest.mark.parametrize(
    "bad",
    [
        {"scribble_size": 4},
        {"scribble_size": 0},
        {"train_rounds": 0},
        {"channels": [8]},
        {"channels": [8, -1]},
        {"dropout": 1.0},
        {"res_units": -1},
        {"scribble_px": 3},
    ],
)
def test_bad_hyperparameter_raises_config_error(bad: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        InterCNN(**bad)
