"""The Snakemake workflow: formatting, lint, DAG, config validation, one tiny end-to-end run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gdgp.experiment_plan import VARIANT_SETTINGS

REPO = Path(__file__).parents[1]
TINY = REPO / "tests" / "workflow" / "config.yaml"
BIN = Path(sys.executable).parent


def snakemake(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(BIN / "snakemake"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def project(tmp_path: Path, config: dict | None = None) -> Path:
    """A working copy: the real workflow/ linked in, config/config.yaml = the given config."""
    work = tmp_path / "proj"
    (work / "config").mkdir(parents=True)
    (work / "workflow").symlink_to(REPO / "workflow")
    cfg = yaml.safe_load(TINY.read_text()) if config is None else config
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return work


def test_snakefmt_clean() -> None:
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", "workflow"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_lint_clean() -> None:
    proc = snakemake(["--lint"], REPO)
    assert "Congratulations" in proc.stdout + proc.stderr


def test_dry_run_of_demo_config_shows_full_dag() -> None:
    out = snakemake(["-n", "--forceall", "--quiet", "rules"], REPO).stdout
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    variants = cfg["experiments"].get("variants", list(VARIANT_SETTINGS))  # schema default: all
    n_variants = len(cfg["experiments"]["datasets"]) * len(variants)
    n_jobs = len(cfg["datasets"]) * len(cfg["methods"]) + n_variants
    assert counts.get("train") == n_jobs and counts.get("evaluate") == n_jobs
    # every extra seed trains and evaluates gdgp and each variant again on the experiment datasets
    n_replicates = len(cfg["experiments"]["datasets"]) * (1 + len(variants)) * len(cfg["experiments"]["extra_seeds"])
    assert n_replicates > 0 and counts.get("train_seed") == n_replicates == counts.get("evaluate_seed")
    assert counts.get("extract") == len(cfg["datasets"]) and counts.get("report") == 1
    assert counts.get("table2") == 1 and counts.get("fig2") == 1 and counts.get("variant_table") == 3


def test_extra_seed_jobs_train_with_their_seed_into_their_own_folder(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["experiments"]["extra_seeds"] = [7]
    out = snakemake(["-n", "-p", "--forceall", "results/experiments/table3.csv"], project(tmp_path, cfg)).stdout
    shell = [line.removeprefix("Shell command: ") for line in out.splitlines()]
    train = [line for line in shell if line.startswith("gdgp train")]
    seeds = {line.split("--method ")[1].split()[0] + ("/seed7" if "/seed7/" in line else ""):
             line.split("--seed ")[1].split()[0] for line in train}
    assert seeds == {"gdgp": "0", "gdgp_fixed": "0", "gdgp/seed7": "7", "gdgp_fixed/seed7": "7"}
    table = next(line for line in shell if line.startswith("gdgp experiment table3"))
    assert "runs/tiny_spleen/gdgp/seed7/clicks.csv" in table and "runs/tiny_spleen/gdgp_fixed/clicks.csv" in table
    cfg["experiments"]["extra_seeds"] = [0, 1]  # 0 is train.seed: its runs are the first replicate already
    proc = snakemake(["-n"], project(tmp_path / "again", cfg), check=False)
    assert proc.returncode != 0 and "extra_seeds" in proc.stderr + proc.stdout


def test_deprecated_table_round_still_validates_with_a_warning(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["report"]["table_round"] = 5
    proc = snakemake(["-n", "-p", "results/report/table4.csv"], project(tmp_path, cfg))
    assert "report.table_round is deprecated and ignored" in proc.stderr
    assert "--budgets 2 4 8 --noc-budget 8" in proc.stdout  # the report still uses the budgets


def test_msd_config_replaces_demo_config() -> None:
    proc = snakemake(["-n", "--configfile", "config/msd.yaml"], REPO, check=False)
    text = proc.stdout + proc.stderr
    assert "Task06_Lung" in text and "demo_lung" not in text


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("train", "epochs"), 0, "epochs"),
    (("evaluate", "threshold"), 2, "threshold"),
    (("split", "mode"), "volume", "mode"),
    (("methods", "sam"), {}, "sam"),
    (("methods", "click_unet", "edv_scal"), 3, "edv_scal"),
    (("methods", "gdgp", "encoding"), "sobel", "encoding"),
    (("experiments", "variants"), ["gdgp_magic"], "gdgp_magic"),
    (("experiments", "extra_seeds"), [-1], "extra_seeds"),
])
def test_bad_config_value_is_rejected_naming_the_key(tmp_path: Path, path: tuple, value, expected: str) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    node = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    proc = snakemake(["-n"], project(tmp_path, cfg), check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr + proc.stdout
    assert not (tmp_path / "proj" / "results").exists()


@pytest.mark.slow
def test_tiny_end_to_end_run(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["experiments"]["extra_seeds"] = [1]  # a second training seed for gdgp and its variants
    work = project(tmp_path, cfg)
    snakemake(["--cores", "2"], work)
    res = work / "results"
    for method in ("auto_unet", "click_unet", "gdgp", "gdgp_fixed", "gdgp_abl_cnn"):
        clicks = pd.read_csv(res / "runs" / "tiny_spleen" / method / "clicks.csv")
        assert len(clicks) == 4 * 4 and sorted(clicks["round"].unique()) == [0, 1, 2, 3]
        assert clicks["dice"].between(0, 1).all()
        assert (res / "logs" / "train" / "tiny_spleen" / f"{method}.log").stat().st_size > 0
        assert (res / "benchmarks" / "train" / "tiny_spleen" / f"{method}.tsv").exists()
    metrics = json.loads((res / "metrics.json").read_text())
    assert set(metrics["tiny_spleen"]) == {"auto_unet", "click_unet", "gdgp"}  # variants stay out of Table 4
    table = pd.read_csv(res / "report" / "table4.csv")
    assert set(table["method"]) == {"auto_unet", "click_unet", "gdgp"} and set(table["budget"]) == {2, 4, 8}
    # equal cost: gdgp's 7-click first interaction has no entry below 8 clicks
    gdgp = table[table["method"] == "gdgp"].set_index("budget")
    assert gdgp.loc[[2, 4], "dice_mean"].isna().all() and np.isfinite(gdgp.at[8, "dice_mean"])
    # The experiment tables: Table 2 has the initial row and one learned row; Table 3 compares
    # gdgp with gdgp_fixed; Table 6 holds only the configured ablation; no Table 5 (no variant).
    t2 = pd.read_csv(res / "experiments" / "table2.csv")
    assert list(t2["row"]) == ["initial", "learned (tiny_spleen)"] and t2.loc[1, "n_seeds"] == 2
    assert t2.loc[0, ["sigma", "alpha1", "alpha2", "tau", "l"]].tolist() == [1.0, 0.5, 0.2, 1.0, 2.0]
    t3 = pd.read_csv(res / "experiments" / "table3.csv")
    assert set(t3["method"]) == {"gdgp", "gdgp_fixed"} and (t3["n_seeds"] == 2).all()
    # the seed-1 replicate is another model (other initial weights), scored on the same slices
    seed0 = pd.read_csv(res / "runs" / "tiny_spleen" / "gdgp" / "clicks.csv")
    seed1 = pd.read_csv(res / "runs" / "tiny_spleen" / "gdgp" / "seed1" / "clicks.csv")
    assert seed0["slice_id"].tolist() == seed1["slice_id"].tolist() and not seed0["dice"].equals(seed1["dice"])
    at8 = [c[c["n_clicks"] <= 8].sort_values("round").groupby("slice_id")["dice"].last() for c in (seed0, seed1)]
    assert t3.loc[t3["method"] == "gdgp", "dice_mean"].item() == pytest.approx(((at8[0] + at8[1]) / 2).mean())
    assert set(pd.read_csv(res / "experiments" / "table6.csv")["method"]) == {"gdgp", "gdgp_abl_cnn"}
    assert not (res / "experiments" / "table5.csv").exists()
    # Nothing left to do on a second run; the report renders.
    assert "Nothing to be done" in snakemake(["-n"], work).stdout + snakemake(["-n"], work).stderr
    snakemake(["--report", "report.html"], work)
    html = (work / "report.html").read_text(errors="ignore")
    assert "dice_per_click_tiny_spleen.png" in html and "loss_curves.png" in html
    # Changing a robot-user setting re-runs evaluation and the report, not training.
    cfg = yaml.safe_load((work / "config" / "config.yaml").read_text())
    cfg["evaluate"]["rounds"] = 2
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    dry = snakemake(["-n", "--quiet", "rules"], work).stdout
    assert "evaluate" in dry and "report" in dry and "train" not in dry and "extract" not in dry
