"""The paper's GDGP experiment outputs: Table 2 from loss.csv, Tables 3/5/6 from clicks, Fig. 2."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gdgp.cli import main
from gdgp.errors import InputDataError
from gdgp.experiment_plan import ROW_LABELS
from gdgp.report import experiments as ex
from tests.test_report import make_clicks, write_clicks

INITIAL = {"sigma": 1.0, "alpha1": 0.5, "alpha2": 0.2, "tau": 1.0, "l": 2.0}


def gdgp_loss(path: Path, **last: float) -> Path:
    """A gdgp loss.csv of 3 epochs, written out of order, whose last epoch holds ``last``
    (earlier epochs hold other values, so reading any row but the last epoch's fails)."""
    rows = [{"epoch": e, "loss": 1.0 / e, **{k: v + (3 - e) * 0.5 for k, v in last.items()}} for e in (2, 3, 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_table2_has_initial_row_and_learned_values_per_dataset(tmp_path: Path) -> None:
    a = gdgp_loss(tmp_path / "a.csv", sigma=0.9, alpha1=0.6, alpha2=0.4, tau=0.8, l=1.8)
    b = gdgp_loss(tmp_path / "b.csv", sigma=0.5, alpha1=1.5, alpha2=0.3, tau=2.0, l=3.0)
    df = ex.learned_parameters_table([a, b], ["spleen", "colon"], {**INITIAL, "sigma": 0.7})
    assert list(df["row"]) == ["initial", "learned (spleen)", "learned (colon)"]
    np.testing.assert_allclose(df.loc[0, list(ex.PARAMETERS)].to_numpy(float), [0.7, 0.5, 0.2, 1.0, 2.0])
    np.testing.assert_allclose(df.loc[1, list(ex.PARAMETERS)].to_numpy(float), [0.9, 0.6, 0.4, 0.8, 1.8])
    np.testing.assert_allclose(df.loc[2, list(ex.PARAMETERS)].to_numpy(float), [0.5, 1.5, 0.3, 2.0, 3.0])
    assert "| learned (colon) | 0.50 | 1.50 | 0.30 | 2.00 | 3.00 |" in ex.table2_markdown(df)


def test_table2_rejects_a_model_without_the_gp_and_a_missing_initial_value(tmp_path: Path) -> None:
    cnn = gdgp_loss(tmp_path / "cnn" / "loss.csv")  # gdgp_abl_cnn logs no kernel parameters
    with pytest.raises(InputDataError, match="cnn/loss.csv"):
        ex.learned_parameters_table([cnn], ["spleen"], INITIAL)
    good = gdgp_loss(tmp_path / "a.csv", sigma=0.9, alpha1=0.6, alpha2=0.4, tau=0.8, l=1.8)
    with pytest.raises(InputDataError, match="tau"):
        ex.learned_parameters_table([good], ["spleen"], {k: v for k, v in INITIAL.items() if k != "tau"})


def test_table2_cli_reads_initial_values_and_rejects_a_malformed_one(tmp_path: Path) -> None:
    a = gdgp_loss(tmp_path / "a.csv", sigma=0.9, alpha1=0.6, alpha2=0.4, tau=0.8, l=1.8)
    out = tmp_path / "t2.csv"
    argv = [
        "experiment",
        "table2",
        "--losses",
        str(a),
        "--datasets",
        "spleen",
        "--out-csv",
        str(out),
        "--out-md",
        str(tmp_path / "t2.md"),
        "--initial",
    ]
    assert main([*argv, *(f"{k}={v}" for k, v in INITIAL.items())]) == 0
    assert pd.read_csv(out).loc[0, list(ex.PARAMETERS)].tolist() == list(INITIAL.values())
    assert main([*argv, "sigma:1.0"]) != 0
    assert main([*argv, *(f"{k}={v}" for k, v in INITIAL.items() if k != "l"), "l=long"]) != 0


def _patient_means(values: np.ndarray, slices: np.ndarray) -> np.ndarray:
    """Per patient (slice_id // 10, the test helper's case), the mean of the slices' values, by hand."""
    acc: dict[int, list[float]] = {}
    for sid, v in zip(slices, values, strict=True):
        acc.setdefault(int(sid) // 10, []).append(float(v))
    return np.array([sum(v) / len(v) for _, v in sorted(acc.items())])


def test_variant_table_means_and_patient_level_p_values_match_scipy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    slices = np.array([10 * p + j for p in range(12) for j in range(1 + p % 3)])  # 12 patients, 1-3 slices
    full = np.clip(0.85 + 0.05 * rng.standard_normal((len(slices), 4)), 0, 1)
    worse = np.clip(full - 0.05 + 0.02 * rng.standard_normal((len(slices), 4)), 0, 1)
    paths = [
        write_clicks(tmp_path, make_clicks("spleen", "gdgp", full, slice_ids=slices, n_first=7)),
        write_clicks(tmp_path, make_clicks("spleen", "gdgp_fixed", worse, slice_ids=slices, n_first=7)),
    ]
    df = ex.variant_table(paths, "table3", budget=9, n_boot=300)  # 9 total clicks = round 2 (7 + 2)
    assert list(df.columns) == list(ex.VARIANT_COLUMNS)
    assert list(df["method"]) == ["gdgp", "gdgp_fixed"] and (df["budget"] == 9).all()
    row = df.set_index("method").loc["gdgp_fixed"]
    assert row["dice_mean"] == pytest.approx(worse[:, 2].mean())
    assert row["dice_std"] == pytest.approx(worse[:, 2].std(ddof=1))
    a, o = _patient_means(full[:, 2], slices), _patient_means(worse[:, 2], slices)
    want = stats.wilcoxon(a, o)
    assert row["n_units"] == 12 and row["n_patients"] == 12
    assert row["p"] == pytest.approx(want.pvalue, rel=1e-12) and row["p_holm"] == pytest.approx(want.pvalue)
    assert row["mean_diff"] == pytest.approx((a - o).mean(), rel=1e-12)
    # the slice-level test would be another one, so the check above means something
    assert stats.wilcoxon(full[:, 2], worse[:, 2]).pvalue != pytest.approx(want.pvalue)
    md = ex.variant_markdown(df, "table3")
    assert f"{100 * full[:, 2].mean():.2f} ± {100 * full[:, 2].std(ddof=1):.2f}" in md and "fixed parameters" in md
    assert f"Δ {100 * (a - o).mean():+.1f}," in md and "9 total clicks" in md and "over patients" in md


def test_variant_below_its_first_interaction_has_no_entry(tmp_path: Path) -> None:
    dice = np.full((3, 3), 0.8)
    paths = [
        write_clicks(tmp_path, make_clicks("spleen", "gdgp", dice, n_first=7)),
        write_clicks(tmp_path, make_clicks("spleen", "gdgp_fixed", dice, n_first=7)),
    ]
    df = ex.variant_table(paths, "table3", budget=6, n_boot=100)
    assert not df["reachable"].any() and df["dice_mean"].isna().all() and df["p"].isna().all()
    md = ex.variant_markdown(df, "table3")
    assert f"| {ROW_LABELS['gdgp_fixed']} | – | – |" in md and f"| {ROW_LABELS['gdgp']} | – | – |" in md


def test_variant_table_rejects_clicks_of_another_table(tmp_path: Path) -> None:
    dice = np.full((3, 3), 0.8)
    paths = [
        write_clicks(tmp_path, make_clicks("spleen", "gdgp", dice)),
        write_clicks(tmp_path, make_clicks("spleen", "gdgp_enc_gh", dice)),
    ]
    with pytest.raises(InputDataError, match="gdgp_enc_gh"):
        ex.variant_table(paths, "table3", 8)


def test_fig2_cli_plots_every_dataset_and_rejects_non_gdgp_losses(tmp_path: Path) -> None:
    losses = []
    for i, d in enumerate(["spleen", "colon"]):
        e = np.arange(1, 11)
        p = tmp_path / d / "loss.csv"
        p.parent.mkdir()
        pd.DataFrame(
            {
                "epoch": e,
                "loss": 1 / e + i,
                "lr": 1e-3,
                "seconds": 1.0,
                "seg": 1 / e,
                "nll": 5 - e / 10,
                "kl": 1 + e / 10,
            }
        ).to_csv(p, index=False)
        losses.append(p)
    out = tmp_path / "fig2.png"
    assert (
        main(
            [
                "experiment",
                "fig2",
                "--losses",
                *map(str, losses),
                "--datasets",
                "spleen",
                "colon",
                "--out-png",
                str(out),
            ]
        )
        == 0
    )
    img = mpimg.imread(out)
    assert img.shape[1] > img.shape[0] * 1.5  # two panels side by side (up to 3 per row)
    bad = tmp_path / "auto.csv"
    pd.DataFrame({"epoch": [1], "loss": [1.0], "lr": [1e-3], "seconds": [1.0]}).to_csv(bad, index=False)
    assert (
        main(["experiment", "fig2", "--losses", str(bad), "--datasets", "x", "--out-png", str(tmp_path / "bad.png")])
        == 1
    )
    assert not (tmp_path / "bad.png").exists()


def _replicate(tmp_path: Path, seed: int, df: pd.DataFrame) -> Path:
    """A clicks file as the workflow writes it: train.seed's run at <dataset>/<method>/clicks.csv,
    an extra training seed k at <dataset>/<method>/seed<k>/clicks.csv."""
    return write_clicks(tmp_path, df, seed_folder=None if seed == 0 else seed)


def test_seed_replicates_are_averaged_before_the_patient_level_test(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    slices = np.array([10 * p + j for p in range(10) for j in range(2)])  # 10 patients, 2 slices each
    full = np.clip(0.8 + 0.08 * rng.standard_normal((3, len(slices), 3)), 0, 1)  # 3 seeds
    var = np.clip(full - 0.03 + 0.06 * rng.standard_normal((3, len(slices), 3)), 0, 1)
    paths = []
    for k in range(3):
        paths += [
            _replicate(tmp_path, k, make_clicks("colon", "gdgp", full[k], slice_ids=slices, n_first=7, seed=k)),
            _replicate(tmp_path, k, make_clicks("colon", "gdgp_enc_gh", var[k], slice_ids=slices, n_first=7, seed=k)),
        ]
    df = ex.variant_table(paths, "table5", budget=8, n_boot=300).set_index("method")  # 8 clicks = round 1
    g, v = full[:, :, 1].mean(0), var[:, :, 1].mean(0)  # per-slice seed means
    assert (df["n_seeds"] == 3).all()
    assert df.loc["gdgp_enc_gh", "dice_mean"] == pytest.approx(v.mean())
    assert df.loc["gdgp_enc_gh", "dice_std"] == pytest.approx(v.std(ddof=1))
    assert df.loc["gdgp_enc_gh", "dice_seed_std"] == pytest.approx(var[:, :, 1].mean(1).std(ddof=1))
    gp, vp = _patient_means(g, slices), _patient_means(v, slices)
    assert df.loc["gdgp_enc_gh", "p"] == pytest.approx(stats.wilcoxon(gp, vp).pvalue, rel=1e-12)
    # pooling the (seed, slice) pairs, or pairing slices, would be other tests
    assert stats.wilcoxon(full[:, :, 1].ravel(), var[:, :, 1].ravel()).pvalue != pytest.approx(
        df.loc["gdgp_enc_gh", "p"]
    )
    assert stats.wilcoxon(g, v).pvalue != pytest.approx(df.loc["gdgp_enc_gh", "p"])
    md = ex.variant_markdown(df.reset_index(), "table5")
    assert f"[seeds ± {100 * full[:, :, 1].mean(1).std(ddof=1):.1f}]" in md and "mean over 3 training seeds" in md


def test_seed_replicates_must_cover_the_same_slices(tmp_path: Path) -> None:
    dice = np.full((4, 3), 0.8)
    a = _replicate(tmp_path, 0, make_clicks("colon", "gdgp", dice, slice_ids=np.arange(4), n_first=7))
    b = _replicate(tmp_path, 1, make_clicks("colon", "gdgp", dice, slice_ids=np.arange(1, 5), n_first=7))
    c = _replicate(tmp_path, 0, make_clicks("colon", "gdgp_fixed", dice, slice_ids=np.arange(4), n_first=7))
    with pytest.raises(InputDataError, match=r"seed1.*other slices or rounds"):
        ex.variant_table([a, b, c], "table3", 8)
    with pytest.raises(InputDataError, match="more than once"):
        ex.variant_table([a, a, c], "table3", 8)
    single = ex.variant_table([a, c], "table3", 8, n_boot=100)  # one seed: no spread, no seed note
    assert (single["n_seeds"] == 1).all() and single["dice_seed_std"].isna().all()
    assert "training seeds" not in ex.variant_markdown(single, "table3")


def test_variant_table_cli_takes_a_budget(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dice = np.full((3, 3), 0.8)
    paths = [
        write_clicks(tmp_path, make_clicks("spleen", "gdgp", dice, n_first=7)),
        write_clicks(tmp_path, make_clicks("spleen", "gdgp_abl_cnn", dice * 0.9, n_first=7)),
    ]
    out = tmp_path / "t6.csv"
    argv = [
        "experiment",
        "table6",
        "--clicks",
        *map(str, paths),
        "--budget",
        "8",
        "--n-boot",
        "50",
        "--out-csv",
        str(out),
        "--out-md",
        str(tmp_path / "t6.md"),
    ]
    with caplog.at_level("WARNING", logger="gdgp"):
        assert main([*argv, "--round", "5"]) == 0
    assert any("deprecated" in r.getMessage() for r in caplog.records)
    t6 = pd.read_csv(out)
    assert t6["method"].tolist() == ["gdgp", "gdgp_abl_cnn"] and (t6["budget"] == 8).all()
    assert t6["dice_mean"].tolist() == pytest.approx([0.8, 0.72])


def test_table2_averages_the_seed_replicates_of_a_dataset(tmp_path: Path) -> None:
    a = gdgp_loss(tmp_path / "a.csv", sigma=0.9, alpha1=0.6, alpha2=0.4, tau=0.8, l=1.8)
    b = gdgp_loss(tmp_path / "b.csv", sigma=0.5, alpha1=1.5, alpha2=0.3, tau=2.0, l=3.0)
    c = gdgp_loss(tmp_path / "c.csv", sigma=0.3, alpha1=1.0, alpha2=0.2, tau=1.0, l=2.0)
    df = ex.learned_parameters_table([a, c, b], ["spleen", "colon", "spleen"], INITIAL)
    assert list(df["row"]) == ["initial", "learned (spleen)", "learned (colon)"]
    spleen = df.iloc[1]
    np.testing.assert_allclose(spleen[list(ex.PARAMETERS)].to_numpy(float), [0.7, 1.05, 0.35, 1.4, 2.4], rtol=1e-5)
    np.testing.assert_allclose(
        spleen[[f"{k}_std" for k in ex.PARAMETERS]].to_numpy(float),
        np.std([[0.9, 0.6, 0.4, 0.8, 1.8], [0.5, 1.5, 0.3, 2.0, 3.0]], axis=0, ddof=1),
        rtol=1e-5,
    )
    assert spleen["n_seeds"] == 2 and df.iloc[2]["n_seeds"] == 1
    md = ex.table2_markdown(df)
    assert "| learned (spleen) | 0.70 ± 0.28 | 1.05 ± 0.64 |" in md and "| learned (colon) | 0.30 | 1.00 |" in md
