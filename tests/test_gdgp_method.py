"""The GDGP method: hybrid first interaction, crop + encoding, GP head wiring, training step, variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gdgp.clicks.hybrid import HybridConfig, plain_interaction
from gdgp.clicks.robot import Robot
from gdgp.evaluation.loop import run_interactions
from gdgp.experiment_plan import TABLES, VARIANT_SETTINGS
from gdgp.methods import METHODS, build_method
from gdgp.methods.gdgp import GDGP
from gdgp.training.checkpoint import load_method, save_checkpoint
from tests.phantoms import disc, image_of

SCHEMA = Path(__file__).parents[1] / "workflow" / "schemas" / "config.schema.yaml"
TINY = {"crop_size": 32, "filters": [4, 8, 16], "feature_channels": 4, "edge_margin": 3.0, "crop_margin": 3}


def test_first_interaction_gives_inside_fg_and_outside_bg_clicks() -> None:
    gt = disc()
    m = build_method("gdgp", **TINY)
    robot = Robot(gt)
    clicks = m.first_interaction(image_of(gt), robot)
    fg = [c for c in clicks if c.positive]
    bg = [c for c in clicks if not c.positive]
    assert len(fg) == 3 and len(bg) == 4 and robot.clicks == clicks
    assert all(gt[c.y, c.x] for c in fg) and not any(gt[c.y, c.x] for c in bg)


def test_empty_target_gets_no_click_and_a_finite_prediction() -> None:
    m = build_method("gdgp", **TINY)
    gt = np.zeros((40, 40), bool)
    assert m.first_interaction(np.zeros((40, 40), np.float32), Robot(gt)) == []
    prob = m.predict(np.random.rand(40, 40).astype(np.float32), [], np.zeros((40, 40)))
    assert prob.shape == (40, 40) and np.isfinite(prob).all()


def test_encoding_is_one_on_the_clicks_and_prediction_is_zero_outside_the_box() -> None:
    gt = disc()
    img = image_of(gt)
    m = build_method("gdgp", **TINY)
    robot = Robot(gt)
    clicks = m.first_interaction(img, robot)
    enc = m.encode(img, clicks, np.zeros_like(img))
    assert enc.shape == (3, 32, 32)
    batch = m.prepare([img], [clicks])
    seeds = batch.seeds[0].numpy()
    assert np.all(enc[1][seeds[0]] == 1.0) and np.all(enc[2][seeds[1]] == 1.0)
    assert enc[1].min() < 1.0 and enc[2].min() < 1.0
    prob = m.predict(img, clicks, np.zeros_like(img))
    box = batch.boxes[0]
    outside = np.ones(gt.shape, bool)
    outside[box.y0 : box.y1, box.x0 : box.x1] = False
    assert prob.shape == gt.shape and prob[outside].max() == 0.0 and prob.min() >= 0 and prob.max() <= 1


def test_gp_head_is_trained_on_exactly_the_clicked_crop_pixels() -> None:
    gt = disc()
    img = image_of(gt)
    m = build_method("gdgp", **TINY)
    clicks = m.first_interaction(img, Robot(gt))
    batch = m.prepare([img], [clicks])
    flat = batch.seeds[0].flatten(1)  # (2, S*S)
    idx = batch.point_idx[0][batch.point_mask[0]].numpy()
    lab = batch.point_y[0][batch.point_mask[0]].numpy()
    assert set(idx[lab > 0]) == set(np.flatnonzero(flat[0].numpy()))
    assert set(idx[lab < 0]) == set(np.flatnonzero(flat[1].numpy()))


def test_train_step_moves_sigma_kernel_and_network_and_fixed_variant_keeps_them() -> None:
    rng = np.random.default_rng(0)
    labels = np.stack([disc(centre=(20 + i, 22 - i)) for i in range(4)]).astype(np.uint8)
    images = np.stack([image_of(lab, i) for i, lab in enumerate(labels)])
    for name in ("gdgp", "gdgp_fixed"):
        torch.manual_seed(0)
        m = build_method(name, **TINY)
        opt, _ = m.configure_optimizers(1e-3, 20, 0.5)
        before = m.learned_parameters()
        w0 = m.network.backbone.input_block.conv1.conv.weight.detach().clone()
        out = m.train_step(images, labels, opt, rng)
        assert set(out) == {"loss", "seg", "nll", "kl"} and all(np.isfinite(v) for v in out.values())
        assert out["nll"] > 0 and out["kl"] >= 0
        assert out["loss"] == pytest.approx(out["seg"] + 1e-3 * (out["nll"] + 1e-2 * out["kl"]), rel=1e-5)
        after = m.learned_parameters()
        assert set(after) == {"sigma", "alpha1", "alpha2", "tau", "l"}
        assert not torch.equal(w0, m.network.backbone.input_block.conv1.conv.weight)
        moved = {k for k in before if abs(after[k] - before[k]) > 1e-7}
        assert moved == (set(before) if name == "gdgp" else set())


def test_same_seed_same_training_step() -> None:
    labels = np.stack([disc() for _ in range(2)]).astype(np.uint8)
    images = np.stack([image_of(lab, i) for i, lab in enumerate(labels)])
    losses = []
    for _ in range(2):
        torch.manual_seed(3)
        m = build_method("gdgp", **TINY)
        opt, _ = m.configure_optimizers(1e-3, 20, 0.5)
        losses.append(m.train_step(images, labels, opt, np.random.default_rng(7)))
    assert losses[0] == losses[1]


@pytest.mark.parametrize("name", sorted(VARIANT_SETTINGS))
def test_variant_setting_wins_over_the_configured_gdgp_settings(name: str) -> None:
    configured = {**TINY, "encoding": "gaussian_geodesic", "interaction": "hybrid", "head": "gp", "learnable": True}
    m = build_method(name, **configured)
    for key, value in VARIANT_SETTINGS[name].items():
        assert m.hparams[key] == value
    gt = disc()
    img = image_of(gt)
    probs = run_interactions(img[None], m, [Robot(gt)], n_rounds=2)
    assert [r.round for r in probs[0]] == [0, 1, 2] and probs[0][0].n_clicks == 7


def test_registry_schema_and_plan_agree() -> None:
    assert {n for n, c in METHODS.items() if issubclass(c, GDGP)} == {"gdgp", *VARIANT_SETTINGS}
    assert {v for vs in TABLES.values() for v in vs} == set(VARIANT_SETTINGS)
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["experiments"]["properties"]["variants"]
    assert schema["items"]["enum"] == list(VARIANT_SETTINGS) and schema["default"] == list(VARIANT_SETTINGS)


def test_bad_setting_is_a_config_error() -> None:
    from gdgp.errors import ConfigError

    with pytest.raises(ConfigError, match="encoding must be one of"):
        build_method("gdgp", encoding="sobel")


def test_checkpoint_round_trip_keeps_learned_parameters(tmp_path: Path) -> None:
    m = build_method("gdgp", **TINY)
    m.network.head.kernel.set_hypers(alpha1=0.9, l=1.3)
    with torch.no_grad():
        m.network.encoder.log_sigma.fill_(np.log(0.7))
    opt, sched = m.configure_optimizers(1e-3, 20, 0.5)
    save_checkpoint(tmp_path / "c.pt", m, opt, sched, 1, [], {})
    back = load_method(tmp_path / "c.pt")
    assert back.learned_parameters() == pytest.approx({**m.learned_parameters()}, rel=1e-6)
    assert back.learned_parameters()["sigma"] == pytest.approx(0.7, rel=1e-6)


def test_cnn_head_variant_has_no_gp_terms() -> None:
    labels = np.stack([disc() for _ in range(2)]).astype(np.uint8)
    images = np.stack([image_of(lab, i) for i, lab in enumerate(labels)])
    m = build_method("gdgp_abl_cnn", **TINY)
    opt, _ = m.configure_optimizers(1e-3, 20, 0.5)
    out = m.train_step(images, labels, opt, np.random.default_rng(0))
    assert out["nll"] == 0 and out["kl"] == 0 and out["loss"] == out["seg"]
    assert set(m.learned_parameters()) == {"sigma"}


@pytest.mark.parametrize("seed", range(10))
def test_plain_fgbg_clicks_are_truthful_and_within_the_band(seed: int) -> None:
    from scipy.ndimage import distance_transform_edt

    gt = disc(r=6.0 + seed % 4)
    cfg = HybridConfig(n_centre=3, n_edge=4, edge_margin=3.0)
    pts = plain_interaction(gt, cfg, np.random.default_rng(seed))
    d_out = distance_transform_edt(~gt)
    assert len(pts.centre) == 3 and all(gt[y, x] for y, x in pts.centre)
    assert len(pts.edge) == 4 and all(1 <= d_out[y, x] <= 9 for y, x in pts.edge)


@pytest.mark.parametrize(("rbf_inputs", "channels"), [("intensity", 1), ("intensity_and_maps", 3)])
def test_rbf_term_sees_the_pixel_intensity_as_the_paper(
    rbf_inputs: str, channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paper eq. 13: the RBF term on the intensities I of the clicked and predicted pixels."""
    gt = disc()
    img = image_of(gt)
    m = build_method("gdgp", **TINY, rbf_inputs=rbf_inputs)
    clicks = m.first_interaction(img, Robot(gt))
    batch = m.prepare([img], [clicks])
    seen = {}
    forward = type(m.network.head).forward

    def spy(self, train_int, train_deep, train_y, train_mask, test_int, test_deep):
        seen.update(train_int=train_int, test_int=test_int)
        return forward(self, train_int, train_deep, train_y, train_mask, test_int, test_deep)

    monkeypatch.setattr(type(m.network.head), "forward", spy)
    with torch.no_grad():
        m.network(batch)
    assert seen["train_int"].shape[-1] == channels and seen["test_int"].shape == (1, 32 * 32, channels)
    crop = batch.images[0].flatten()
    idx = batch.point_idx[0][batch.point_mask[0]]
    torch.testing.assert_close(seen["train_int"][0, : len(idx), 0], crop[idx])
    torch.testing.assert_close(seen["test_int"][0, :, 0], crop)
    if channels == 3:  # the fg map is 1 on the fg clicks, the bg map on the bg clicks
        fg = batch.point_y[0][batch.point_mask[0]] > 0
        assert (seen["train_int"][0, : len(idx), 1][fg] == 1).all()
        assert (seen["train_int"][0, : len(idx), 2][~fg] == 1).all()


def test_default_settings_are_the_paper_settings() -> None:
    """One learning rate, no training click noise, RBF on intensity."""
    defaults = GDGP.Settings()
    assert defaults.hyper_lr_scale == 1.0 and defaults.train_click_noise == 0.0
    assert defaults.rbf_inputs == "intensity"


def test_evaluation_records_every_first_interaction_click(slice_set) -> None:
    from gdgp.clicks.hybrid import hybrid_interaction
    from gdgp.evaluation.evaluate import FIRST_INTERACTION_COLUMNS, EvalConfig, evaluate_method

    m = build_method("gdgp", **TINY)
    test = slice_set.subset("test")
    result = evaluate_method(m, test, "toy", EvalConfig(rounds=2))
    first = result.first_interaction
    assert tuple(first.columns) == FIRST_INTERACTION_COLUMNS
    cfg = HybridConfig(edge_margin=TINY["edge_margin"], crop_margin=TINY["crop_margin"])
    for sid, lab in zip(test.manifest["slice_id"], test.labels, strict=True):
        rows = first[first["slice_id"] == sid].sort_values("index")
        pts = hybrid_interaction(lab, cfg)
        np.testing.assert_array_equal(rows[["y", "x"]].to_numpy(), np.concatenate([pts.centre, pts.edge]))
        assert list(rows["positive"]) == [True] * 3 + [False] * 4
    rec = result.records
    assert (rec[rec["round"] == 0]["n_clicks"] == 7).all() and rec[rec["round"] == 0]["click_y"].isna().all()
