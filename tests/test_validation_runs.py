"""Validation runs and seeds across stages: `gdgp evaluate --split`, empty splits through the
report (`--skip-empty`, `--no-figures`), and Fig. 2 over several training seeds."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from gdgp.cli import main
from gdgp.errors import InputDataError
from gdgp.evaluation.columns import CLICKS_COLUMNS, FIRST_INTERACTION_COLUMNS
from gdgp.report import build_report
from gdgp.report import experiments as ex
from gdgp.report.tables import CLICKS_COLUMNS as REQUIRED_CLICKS_COLUMNS


def run(argv: list) -> int:
    return main([str(a) for a in argv])


@pytest.fixture
def val_runs(msd_task: Path, tmp_path: Path) -> dict[str, Path]:
    """A click_unet model evaluated on the validation slices of a split that has them, and
    on the (empty) validation split of one that has none; each run in a seed0 folder."""
    out = tmp_path / "r"
    common = [
        "extract",
        "--task-dir",
        msd_task,
        "--labels",
        1,
        2,
        "--window",
        -100,
        200,
        "--size",
        16,
        "--n-train",
        8,
        "--n-test",
        4,
    ]
    assert run([*common, "--n-val", 4, "--out-slices", out / "v.npz", "--out-manifest", out / "v.csv"]) == 0
    assert run([*common, "--out-slices", out / "n.npz", "--out-manifest", out / "n.csv"]) == 0
    assert (
        run(
            [
                "train",
                "--slices",
                out / "v.npz",
                "--manifest",
                out / "v.csv",
                "--method",
                "click_unet",
                "--set",
                "channels=[4, 8]",
                "--set",
                "max_train_rounds=1",
                "--epochs",
                1,
                "--batch-size",
                4,
                "--device",
                "cpu",
                "--out-checkpoint",
                out / "final.pt",
                "--out-loss",
                out / "loss.csv",
            ]
        )
        == 0
    )
    runs = {}
    for name, data in (("val", "v"), ("empty", "n")):
        d = tmp_path / name / "tiny" / "click_unet" / "seed0"
        assert (
            run(
                [
                    "evaluate",
                    "--slices",
                    out / f"{data}.npz",
                    "--manifest",
                    out / f"{data}.csv",
                    "--split",
                    "val",
                    "--checkpoint",
                    out / "final.pt",
                    "--dataset",
                    "tiny",
                    "--rounds",
                    2,
                    "--overlay-slices",
                    2,
                    "--device",
                    "cpu",
                    "--out-clicks",
                    d / "clicks.csv",
                    "--out-first-interaction",
                    d / "first.csv",
                    "--out-overlays",
                    d / "overlays.npz",
                ]
            )
            == 0
        )
        runs[name] = d
    runs["manifest"] = out / "v.csv"
    return runs


def test_evaluate_split_val_scores_the_validation_slices(val_runs: dict[str, Path]) -> None:
    manifest = pd.read_csv(val_runs["manifest"])
    clicks = pd.read_csv(val_runs["val"] / "clicks.csv")
    assert tuple(clicks.columns) == CLICKS_COLUMNS  # what gdgp.evaluation.metrics.score returns, in the written order
    want = set(manifest.loc[manifest["split"] == "val", "slice_id"])
    assert want and set(clicks["slice_id"]) == want and len(clicks) == 3 * len(want)
    assert not want & set(manifest.loc[manifest["split"] == "test", "slice_id"])
    assert set(manifest.loc[manifest["split"] == "val", "case"]).isdisjoint(
        manifest.loc[manifest["split"] != "val", "case"]
    )


def test_an_empty_split_writes_header_only_tables_and_no_overlay_slices(val_runs: dict[str, Path]) -> None:
    d = val_runs["empty"]
    assert (d / "clicks.csv").read_text().strip() == ",".join(CLICKS_COLUMNS)
    assert (d / "first.csv").read_text().strip() == ",".join(FIRST_INTERACTION_COLUMNS)
    with np.load(d / "overlays.npz") as ov:
        assert ov["image"].shape == (0, 16, 16) and ov["pred"].shape == (0, 3, 16, 16)
        assert ov["click_slice"].shape == (0,) and list(ov["rounds"]) == [0, 1, 2]


def test_the_report_skips_empty_runs_only_when_told(val_runs: dict[str, Path], tmp_path: Path) -> None:
    clicks = [val_runs["val"] / "clicks.csv", val_runs["empty"] / "clicks.csv"]
    overlays = [val_runs["val"] / "overlays.npz", val_runs["empty"] / "overlays.npz"]
    with pytest.raises(InputDataError, match="no rows"):
        build_report(clicks, [], [], tmp_path / "strict", budgets=(2,), noc_budget=3, n_boot=50)
    with pytest.raises(InputDataError, match="no slices"):
        build_report(clicks[:1], [], overlays, tmp_path / "strict", budgets=(2,), noc_budget=3, n_boot=50)
    build_report(clicks, [], overlays, tmp_path / "out", budgets=(2,), noc_budget=3, n_boot=50, skip_empty=True)
    table = pd.read_csv(tmp_path / "out" / "table4.csv")
    assert list(table["method"]) == ["click_unet"] and table["dice_mean"].notna().all()
    assert (tmp_path / "out" / "overlays_tiny.png").exists()
    # tables only
    out = tmp_path / "tables"
    assert (
        run(
            [
                "report",
                "--clicks",
                *clicks,
                "--out-dir",
                out,
                "--budgets",
                2,
                "--noc-budget",
                3,
                "--reference",
                "click_unet",
                "--skip-empty",
                "--no-figures",
                "--n-boot",
                50,
            ]
        )
        == 0
    )
    for name in ("table4.csv", "table4.md", "noc.csv", "noc.md", "significance.csv"):
        assert (out / name).exists(), name
    assert not list(out.glob("*.png"))


def test_a_report_of_only_empty_runs_has_header_only_tables(val_runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        run(
            [
                "report",
                "--clicks",
                val_runs["empty"] / "clicks.csv",
                "--overlays",
                val_runs["empty"] / "overlays.npz",
                "--out-dir",
                out,
                "--budgets",
                2,
                4,
                "--noc-budget",
                3,
                "--reference",
                "click_unet",
                "--skip-empty",
                "--no-figures",
            ]
        )
        == 0
    )
    for name in ("table4.csv", "noc.csv", "significance.csv", "empty_predictions.csv", "dice_per_click.csv"):
        df = pd.read_csv(out / name)
        assert df.empty and len(df.columns) > 3, name
    assert "No evaluated slices" in (out / "table4.md").read_text()
    assert (out / "table4.tex").read_text().startswith("%")
    assert json.loads((out / "metrics.json").read_text()) == {}


def test_report_reads_the_required_clicks_columns_from_the_evaluator() -> None:
    assert set(REQUIRED_CLICKS_COLUMNS) <= set(CLICKS_COLUMNS)


def test_fig2_averages_the_seeds_of_a_dataset(tmp_path: Path) -> None:
    losses, datasets = [], []
    for d, seeds in (("spleen", 3), ("colon", 1)):
        for k in range(seeds):
            e = np.arange(1, 11)
            p = tmp_path / d / "gdgp" / f"seed{k}" / "loss.csv"
            p.parent.mkdir(parents=True)
            pd.DataFrame(
                {
                    "epoch": e,
                    "loss": 1 / e + k,
                    "lr": 1e-3,
                    "seconds": 1.0,
                    "seg": 1 / e + k,
                    "nll": 5 - e / 10,
                    "kl": 1 + e / 10,
                }
            ).to_csv(p, index=False)
            losses.append(p)
            datasets.append(d)
    mean, band = ex._seed_mean_loss(losses[:3])
    assert np.allclose(mean["loss"], 1 / np.arange(1, 11) + 1) and np.allclose(band["max"] - band["min"], 2)
    out = tmp_path / "fig2.png"
    assert (
        main(["experiment", "fig2", "--losses", *map(str, losses), "--datasets", *datasets, "--out-png", str(out)]) == 0
    )
    img = mpimg.imread(out)
    assert img.shape[1] > img.shape[0] * 1.5  # two panels (spleen, colon) side by side, not four
    fig = ex.plot_gdgp_loss(losses, datasets)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()] == ["spleen", "colon"]
