"""TIS baseline: automatic round 0, label assignment by feature similarity, prediction, training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gdgp.clicks.robot import Click, Robot
from gdgp.errors import ConfigError
from gdgp.methods.tis import TIS, assign_labels
from tests.phantoms import disc as _disc
from tests.phantoms import image_of


def disc(shape=(32, 32), centre=(16, 13), r=6.0) -> np.ndarray:
    return _disc(shape, centre, r)


TINY = {"channels": [4, 8, 16], "feature_channels": 8, "heads": 2, "decoder_layers": 1}


@pytest.mark.parametrize("assignment", ["auto_slot", "category_tokens"])
def test_round_zero_needs_no_click_and_is_the_automatic_prediction(assignment: str) -> None:
    gt = disc()
    m = TIS(**TINY, assignment=assignment)
    robot = Robot(gt)
    assert m.first_interaction(image_of(gt), robot) == [] and robot.clicks == []
    prob = m.predict(image_of(gt), [], np.zeros(gt.shape, np.float32))
    with torch.no_grad():
        m.network.eval()
        auto = torch.sigmoid(m.network.backbone(torch.from_numpy(image_of(gt))[None, None])[0, 0]).numpy()
    np.testing.assert_allclose(prob, auto, atol=1e-6)


@pytest.mark.parametrize("positive", [True, False])
def test_one_click_and_identical_features_send_every_pixel_to_that_click(positive: bool) -> None:
    feat = torch.tensor([0.3, -1.0, 2.0, 0.5])
    pixels = feat.expand(1, 50, 4)
    tokens = (3.0 * feat)[None, None]  # the click's token points the same way
    auto = torch.linspace(0, 1, 50)[None]
    prob, assign = assign_labels(
        pixels, tokens, torch.tensor([[positive]]), torch.tensor([[True]]), auto, torch.tensor(0.0), temperature=0.1
    )
    assert (assign.argmax(-1) == 0).all()  # slot 0 = the click, slot 1 = the automatic prediction
    assert torch.allclose(assign[..., 0], torch.full((1, 50), 1 / (1 + np.exp(-10.0))))
    expected = assign[..., 0] + assign[..., 1] * auto if positive else assign[..., 1] * auto
    assert torch.allclose(prob, expected)
    assert (prob > 0.999).all() if positive else (prob < 1e-3).all()


def test_pixels_group_with_the_most_similar_click_and_no_click_keeps_the_automatic_prediction() -> None:
    fg, bg = torch.tensor([1.0, 0.0, 0.2]), torch.tensor([0.0, 1.0, -0.2])
    pixels = torch.stack([fg, 0.9 * fg + 0.1 * bg, bg, 0.2 * fg + 0.8 * bg])[None]
    tokens = torch.stack([bg, fg])[None]
    auto = torch.full((1, 4), 0.5)
    prob, assign = assign_labels(
        pixels,
        tokens,
        torch.tensor([[False, True]]),
        torch.tensor([[True, True]]),
        auto,
        torch.tensor(-100.0),
        temperature=0.1,
    )
    assert assign[0].argmax(-1).tolist() == [1, 1, 0, 0]
    assert (prob[0, :2] > 0.99).all() and (prob[0, 2:] < 0.01).all()
    padded, _ = assign_labels(
        pixels,
        tokens,
        torch.tensor([[False, True]]),
        torch.tensor([[False, False]]),
        auto,
        torch.tensor(0.0),
        temperature=0.1,
    )
    assert torch.equal(padded, auto)


@pytest.mark.parametrize("assignment", ["auto_slot", "category_tokens"])
def test_prediction_shapes_range_and_mixed_click_counts(assignment: str) -> None:
    torch.manual_seed(0)
    m = TIS(**TINY, assignment=assignment)
    gts = [disc(), disc(centre=(12, 18), r=5.0), disc(centre=(20, 20), r=4.0)]
    images = [image_of(g, i) for i, g in enumerate(gts)]
    clicks = [[Click(16, 13, True, 0), Click(3, 3, False, 1)], [Click(12, 18, True, 0)], []]
    prev = [np.zeros((32, 32), np.float32)] * 3
    probs = m.predict_batch(images, clicks, prev)
    assert probs.shape == (3, 32, 32) and probs.dtype == np.float32 and np.isfinite(probs).all()
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    for i in range(3):  # padding does not leak between slices; a slice without clicks stays automatic
        np.testing.assert_allclose(probs[i], m.predict(images[i], clicks[i], prev[i]), atol=1e-5)
    assert not np.allclose(probs[0], m.predict(images[0], [], prev[0]), atol=1e-4)  # clicks change the mask


@pytest.mark.parametrize("assignment", ["auto_slot", "category_tokens"])
def test_a_slice_without_clicks_in_a_clicked_batch_gives_finite_gradients(assignment: str) -> None:
    torch.manual_seed(0)
    m = TIS(**TINY, assignment=assignment)
    images = [image_of(disc(), 0), image_of(disc(), 1)]
    out = m._forward(images, [[Click(16, 13, True, 0), Click(3, 3, False, 1)], []])
    (out["refined"].mean() + out["auto"].mean()).backward()
    assert torch.isfinite(out["refined"]).all()
    assert all(torch.isfinite(p.grad).all() for p in m.network.parameters() if p.grad is not None)


def _step(m: TIS, seed: int) -> dict[str, float]:
    gts = np.stack([disc(), disc(centre=(12, 18), r=5.0)]).astype(np.uint8)
    images = np.stack([image_of(g, i) for i, g in enumerate(gts)])
    opt, _ = m.configure_optimizers(1e-3, 20, 0.5)
    return m.train_step(images, gts, opt, np.random.default_rng(seed))


@pytest.mark.parametrize("assignment", ["auto_slot", "category_tokens"])
def test_train_step_is_finite_and_changes_backbone_and_decoder(assignment: str) -> None:
    torch.manual_seed(0)
    m = TIS(**TINY, assignment=assignment)
    before = {n: p.detach().clone() for n, p in m.network.named_parameters()}
    assert np.random.default_rng(0).integers(0, 4) == 3  # seed 0 draws 3 corrective rounds: clicks present
    out = _step(m, 0)
    assert {"loss", "refined", "auto"} <= set(out) and all(np.isfinite(v) for v in out.values())
    changed = {n for n, p in m.network.named_parameters() if not torch.equal(before[n], p)}
    assert any(n.startswith("backbone.") for n in changed) and any(n.startswith("decoder.") for n in changed)
    assert "label_embed.weight" in changed
    # the keep-automatic slot learns under auto_slot; category_tokens has none (its logit is unused)
    assert ("auto_logit" in changed) == (assignment == "auto_slot")


def test_same_seed_same_step() -> None:
    results = []
    for _ in range(2):
        torch.manual_seed(3)
        m = TIS(**TINY)
        out = _step(m, 5)
        results.append((out, [p.detach().clone() for p in m.network.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))


@pytest.mark.parametrize(
    "bad",
    [
        {"temperature": 0.0},
        {"heads": 3},
        {"feature_channels": 0},
        {"decoder_layers": 0},
        {"channels": [8]},
        {"auto_loss_weight": -1.0},
        {"memory_stride": 0},
        {"nonsense": 1},
    ],
)
def test_bad_hyperparameter_is_a_config_error(bad: dict) -> None:
    with pytest.raises(ConfigError):
        TIS(**{**TINY, **bad})


def test_category_tokens_leave_no_keep_automatic_slot() -> None:
    """assignment: category_tokens gives the automatic slot logit -inf: its mass is 0, so the
    probability is the fg tokens' share alone, whatever the automatic probability says."""
    torch.manual_seed(0)
    pixels, tokens = torch.randn(2, 30, 4), torch.randn(2, 3, 4)
    positive = torch.tensor([[True, False, True], [True, False, False]])
    valid = torch.ones(2, 3, dtype=torch.bool)
    no_slot = torch.tensor(float("-inf"))
    p0, a0 = assign_labels(pixels, tokens, positive, valid, torch.zeros(2, 30), no_slot, 0.5)
    p1, _ = assign_labels(pixels, tokens, positive, valid, torch.ones(2, 30), no_slot, 0.5)
    assert torch.equal(p0, p1) and torch.all(a0[..., -1] == 0)
    sim = torch.nn.functional.cosine_similarity(pixels[:, :, None], tokens[:, None], dim=-1) / 0.5
    expected = (torch.softmax(sim, -1) * positive[:, None].float()).sum(-1)  # brute force
    torch.testing.assert_close(p0, expected)
    # the network: a clicked slice's prediction no longer depends on a keep-automatic logit
    m = TIS(**TINY, assignment="category_tokens")
    images = [image_of(disc(), 0)]
    clicks = [[Click(16, 13, True, 0)]]
    before = m.predict_batch(images, clicks, [np.zeros((32, 32), np.float32)])
    with torch.no_grad():
        m.network.auto_logit.fill_(25.0)
    np.testing.assert_array_equal(before, m.predict_batch(images, clicks, [np.zeros((32, 32), np.float32)]))
