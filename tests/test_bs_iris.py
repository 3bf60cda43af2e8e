"""BS-IRIS baseline: first click and hints, reward, actions, replayed prediction, A2C training step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from gdgp.clicks.robot import Click, Robot
from gdgp.errors import ConfigError
from gdgp.methods.bs_iris import BSIRIS, CE_EPS, apply_actions, boundary_weight_map, pixel_reward, sample_actions
from tests.phantoms import disc as _disc
from tests.phantoms import image_of


def disc(shape=(32, 32), centre=(16, 13), r=6.0) -> np.ndarray:
    return _disc(shape, centre, r)


TINY = {"channels": [4, 8, 16], "n_steps": 2, "hint_sigma": 3.0}


def test_first_click_is_the_innermost_pixel_and_hints_are_gaussians_of_the_stated_width() -> None:
    gt = disc()
    m = BSIRIS(**TINY)
    robot = Robot(gt)
    clicks = m.first_interaction(image_of(gt), robot)
    assert len(clicks) == 1 and clicks[0].positive and robot.clicks == clicks
    depth = distance_transform_edt(np.pad(gt, 1))[1:-1, 1:-1]
    assert depth[clicks[0].y, clicks[0].x] == depth.max()
    prev = np.zeros(gt.shape, np.float32)
    state = m.encode(image_of(gt), clicks, prev)
    assert state.shape == (4, 32, 32)
    np.testing.assert_array_equal(state[0], image_of(gt))
    np.testing.assert_array_equal(state[1], prev)
    fg, bg = state[2], state[3]
    c = clicks[0]
    assert fg[c.y, c.x] == 1.0 and fg.max() == 1.0 and bg.max() == 0.0  # no background click yet
    assert fg[c.y, c.x + 3] == pytest.approx(math.exp(-0.5), rel=1e-6)  # one sigma (3 px) away


def test_reward_equals_the_brute_force_cross_entropy_gain() -> None:
    gt = np.array([[0, 1, 1], [0, 1, 0], [0, 0, 0]], dtype=np.float32)
    before = np.array([[0.5, 0.5, 0.2], [0.9, 0.6, 0.0], [0.1, 1.0, 0.5]], dtype=np.float32)
    after = np.array([[0.2, 0.8, 0.5], [0.6, 0.6, 0.3], [0.0, 0.7, 0.5]], dtype=np.float32)
    reward = pixel_reward(
        torch.from_numpy(before), torch.from_numpy(after), torch.from_numpy(gt), torch.ones(3, 3)
    ).numpy()

    def ce(p: float, y: float) -> float:
        p = min(max(p, CE_EPS), 1 - CE_EPS)
        return -math.log(p) if y == 1 else -math.log(1 - p)

    for i in range(3):
        for j in range(3):
            expected = ce(float(before[i, j]), gt[i, j]) - ce(float(after[i, j]), gt[i, j])
            assert reward[i, j] == pytest.approx(expected, abs=1e-5)
    assert reward[0, 1] > 0 > reward[1, 2]  # moving towards the truth pays, away costs
    assert reward[1, 1] == 0.0 and reward[2, 2] == 0.0  # no change, no reward


def test_boundary_term_pays_more_for_the_same_gain_at_the_boundary() -> None:
    gt = np.zeros((15, 15), bool)
    gt[3:12, 3:12] = True
    weight = boundary_weight_map(gt, weight=2.0, sigma=1.5)
    assert weight[3, 7] == pytest.approx(3.0) and weight[2, 7] == pytest.approx(3.0)  # both sides of the edge
    assert weight[7, 7] == pytest.approx(1.0 + 2.0 * math.exp(-(4.0**2) / (2 * 1.5**2)))  # 4 px from the edge
    prob = torch.full((15, 15), 0.5)
    reward = pixel_reward(
        prob, torch.full((15, 15), 0.8), torch.from_numpy(gt.astype(np.float32)), torch.from_numpy(weight)
    )
    assert reward[3, 7] > reward[5, 7] > reward[7, 7] > 0
    assert reward[3, 7] == pytest.approx(3.0 / weight[7, 7] * float(reward[7, 7]), rel=1e-5)
    np.testing.assert_array_equal(boundary_weight_map(np.zeros((4, 4)), 2.0, 1.0), np.ones((4, 4)))


def test_each_action_moves_the_probability_by_its_value_within_zero_one() -> None:
    deltas = torch.tensor([-0.3, -0.1, 0.0, 0.1, 0.3])
    prob = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.5, 0.1, 0.95, 0.0, 1.0])
    action = torch.tensor([0, 1, 2, 3, 4, 0, 4, 1, 3])
    new = apply_actions(prob, action, deltas)
    np.testing.assert_allclose(new[:5].numpy(), 0.5 + deltas.numpy(), atol=1e-7)
    np.testing.assert_array_equal(new[5:].numpy(), [0.0, 1.0, 0.0, 1.0])


def test_sampled_actions_follow_the_policy_and_the_rng() -> None:
    logits = torch.zeros(2, 5, 8, 8)
    logits[:, 3] = 50.0  # a (numerically) certain action
    assert (sample_actions(logits, np.random.default_rng(0)) == 3).all()
    flat = torch.zeros(1, 5, 64, 64)
    a1 = sample_actions(flat, np.random.default_rng(1))
    assert torch.equal(a1, sample_actions(flat, np.random.default_rng(1)))
    counts = torch.bincount(a1.flatten(), minlength=5).float() / a1.numel()
    assert torch.allclose(counts, torch.full((5,), 0.2), atol=0.03)


def test_prediction_shapes_range_and_batched_replay_equals_single_slices() -> None:
    torch.manual_seed(0)
    m = BSIRIS(**TINY)
    gts = [disc(), disc(centre=(12, 18), r=5.0), np.zeros((32, 32), bool)]
    images = [image_of(g, i) for i, g in enumerate(gts)]
    clicks = [[Click(16, 13, True, 0), Click(20, 13, False, 1), Click(5, 5, False, 2)], [Click(12, 18, True, 0)], []]
    prev = [np.zeros((32, 32), np.float32)] * 3
    probs = m.predict_batch(images, clicks, prev)
    assert probs.shape == (3, 32, 32) and probs.dtype == np.float32
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    for i in range(3):  # samples with fewer clicks are not refined further in the batch
        np.testing.assert_allclose(probs[i], m.predict(images[i], clicks[i], prev[i]), atol=1e-6)
    # greedy (deterministic) actions; 0.5 plus sums of +-0.1/+-0.3, clipped: multiples of 0.1
    np.testing.assert_array_equal(probs, m.predict_batch(images, clicks, prev))
    np.testing.assert_allclose(probs * 10, np.round(probs * 10), atol=1e-4)


def _step(m: BSIRIS, seed: int) -> dict[str, float]:
    gts = np.stack([disc(), disc(centre=(12, 18), r=5.0)]).astype(np.uint8)
    images = np.stack([image_of(g, i) for i, g in enumerate(gts)])
    opt, _ = m.configure_optimizers(1e-3, 20, 0.5)
    return m.train_step(images, gts, opt, np.random.default_rng(seed))


def test_train_step_is_finite_and_changes_the_weights() -> None:
    torch.manual_seed(0)
    m = BSIRIS(**TINY)
    before = [p.detach().clone() for p in m.network.parameters()]
    out = _step(m, 0)
    assert {"loss", "policy", "value", "entropy", "reward"} <= set(out)
    assert all(np.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, m.network.parameters(), strict=True))


def test_same_seed_same_step() -> None:
    results = []
    for _ in range(2):
        torch.manual_seed(3)
        m = BSIRIS(**TINY)
        out = _step(m, 7)
        results.append((out, [p.detach().clone() for p in m.network.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))


@pytest.mark.parametrize(
    "bad",
    [
        {"actions": [0.1]},
        {"actions": [-2.0, 0.0]},
        {"n_steps": 0},
        {"gamma": 1.5},
        {"init_prob": -0.1},
        {"hint_sigma": 0.0},
        {"boundary_weight": -1.0},
        {"channels": [8]},
        {"nonsense": 1},
    ],
)
def test_bad_hyperparameter_is_a_config_error(bad: dict) -> None:
    with pytest.raises(ConfigError):
        BSIRIS(**bad)


def test_cached_rounds_equal_full_replays_and_weight_changes_invalidate_the_cache() -> None:
    """Round by round (one click more each time) the cached state gives the full replay's
    probability; changed weights or a click sequence that is not an extension replay anew."""
    torch.manual_seed(0)
    m = BSIRIS(**TINY)
    gts = [disc(), disc(centre=(12, 18), r=5.0)]
    images = [image_of(g, i) for i, g in enumerate(gts)]
    prev = [np.zeros((32, 32), np.float32)] * 2
    seq = [
        [Click(16, 13, True, 0), Click(20, 13, False, 1), Click(5, 5, False, 2), Click(15, 16, True, 3)],
        [Click(12, 18, True, 0), Click(3, 3, False, 1), Click(12, 14, True, 2), Click(28, 28, False, 3)],
    ]

    def fresh(clicks: list[list[Click]]) -> np.ndarray:
        m._stages.clear()
        return m.predict_batch(images, clicks, prev)

    calls = []
    real_greedy = m._greedy
    m._greedy = lambda *a: calls.append(int(a[3].sum())) or real_greedy(*a)  # active samples per stage
    m._stages.clear()
    for n in range(5):
        clicks = [s[:n] for s in seq]
        calls.clear()
        cached = m.predict_batch(images, clicks, prev)
        assert calls == [2]  # one stage per round, not n
        calls.clear()
        np.testing.assert_array_equal(cached, fresh(clicks))
        assert len(calls) == max(1, n)
    # a different history for the same image (not an extension of the cached clicks): a full replay
    m.predict_batch(images, [s[:3] for s in seq], prev)
    calls.clear()
    other = [[Click(10, 10, True, 0)] + s[1:3] for s in seq]
    replayed = m.predict_batch(images, other, prev)
    assert len(calls) == 3
    np.testing.assert_array_equal(replayed, fresh(other))
    # changed weights (an optimiser step) invalidate every cached stage
    m.predict_batch(images, [s[:3] for s in seq], prev)
    with torch.no_grad():
        next(m.network.parameters()).add_(0.05)
    after = m.predict_batch(images, [s[:4] for s in seq], prev)
    np.testing.assert_array_equal(after, fresh([s[:4] for s in seq]))
