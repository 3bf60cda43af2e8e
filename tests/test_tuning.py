"""The tuning sweep: setting names, config checks, the workflow's jobs (dry runs only) and the
tuning table against an independent brute-force computation."""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gdgp.cli import main
from gdgp.errors import ConfigError, InputDataError
from gdgp.methods import method_settings
from gdgp.report.tables import CLICKS_COLUMNS
from gdgp.report.tuning import TUNING_COLUMNS, SettingRuns, tuning_table
from gdgp.tuning_plan import (
    check_tuning,
    cli_value,
    parse_setting,
    setting_label,
    value_label,
)

REPO = Path(__file__).parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
TINY = REPO / "tests" / "workflow" / "config.yaml"
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- setting names


def test_one_spelling_per_value() -> None:
    assert value_label(1) == value_label(1.0) == "1.0"
    assert setting_label("hyper_lr_scale", 50) == "hyper_lr_scale=50.0"
    assert setting_label("lr", 0.001) == "lr=0.001" and setting_label("lr", 3e-4) == "lr=0.0003"
    assert value_label(True) == "true" and value_label("edv") == "edv"
    assert parse_setting("lr=1e-3") == parse_setting("lr=0.001") == ("lr", "0.001")  # YAML 1.2-style floats too
    assert parse_setting("hyper_lr_scale=50") == ("hyper_lr_scale", "50.0")
    for bad in (math.inf, "a/b", [1], None):
        with pytest.raises(ValueError):
            value_label(bad)
    # --set values come back as the same type (PyYAML reads "1e-05" as a string)
    for value in (1e-05, 0.001, 3, True, "edv", 2.5e20):
        assert yaml.safe_load(cli_value(value)) == value and type(yaml.safe_load(cli_value(value))) is type(value)


# --------------------------------------------------------------------------- config checks


def tiny_config(**tuning) -> dict:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["tuning"] = tuning
    return cfg


def validated(cfg: dict) -> dict:
    """The config as the workflow sees it after validate() (methods' settings complete, as common.smk makes them)."""
    for method, hparams in cfg["methods"].items():
        cfg["methods"][method] = method_settings(method, hparams)
    return cfg


def test_a_good_plan() -> None:
    dataset = next(iter(tiny_config()["datasets"]))
    plan = check_tuning(
        validated(
            tiny_config(
                datasets=[dataset],
                grids={"gdgp": {"hyper_lr_scale": [1, 10.0, 50]}, "click_unet": {"lr": [0.0003, 0.001]}},
            )
        ),
        SCHEMA,
    )
    assert plan.active and plan.datasets == (dataset,)
    assert plan.grids["gdgp"].settings == ("hyper_lr_scale=1.0", "hyper_lr_scale=10.0", "hyper_lr_scale=50.0")
    assert plan.grids["gdgp"].values == (1.0, 10.0, 50.0)  # a number-typed key trains with floats
    assert plan.grids["click_unet"].value_of("lr=0.001") == 0.001
    with pytest.raises(ValueError, match="lr=0.1"):
        plan.grids["click_unet"].value_of("lr=0.1")
    assert not check_tuning(validated(tiny_config()), SCHEMA).active  # no tuning section: no sweep
    assert not check_tuning(validated(tiny_config(datasets=[], grids={"gdgp": {"sigma": [1, 2]}})), SCHEMA).active


@pytest.mark.parametrize(
    ("tuning", "named", "why"),
    [
        ({"grids": {"gdgp": {"sigma": [1.0, 2.0], "tau": [1.0, 2.0]}}}, "tuning.grids.gdgp", "exactly one"),
        ({"grids": {"gdgp": {}}}, "tuning.grids.gdgp", "exactly one"),
        ({"grids": {"gdgp": {"sigma": [1.0]}}}, "tuning.grids.gdgp.sigma", "at least 2 distinct"),
        ({"grids": {"gdgp": {"sigma": [1, 1.0, 2.0]}}}, "tuning.grids.gdgp.sigma", "twice"),
        ({"grids": {"dextr": {"lr": [0.001, 0.003]}}}, "tuning.grids.dextr", "not in methods"),
        ({"grids": {"gdgp": {"sigmaa": [1.0, 2.0]}}}, "tuning.grids.gdgp.sigmaa", "neither lr nor"),
        ({"grids": {"click_unet": {"lr": [0.001, -1.0]}}}, "tuning.grids.click_unet.lr", "train.lr"),
        ({"grids": {"gdgp": {"encoding": ["gaussian_geodesic", "sobel"]}}}, "tuning.grids.gdgp.encoding", "sobel"),
        ({"grids": {"gdgp": {"sigma": [1.0, "wide"]}}}, "tuning.grids.gdgp.sigma", "sigma must be a number"),
        (
            {"grids": {"gdgp": {"crop_size": [32, 8]}}},
            "tuning.grids.gdgp.crop_size",
            "crop_size must be an integer >= 16",
        ),
        ({"datasets": ["nowhere"], "grids": {"gdgp": {"sigma": [1.0, 2.0]}}}, "tuning.datasets", "not in datasets"),
        ({"datasets": ["DATASET"], "grids": {}}, "tuning.grids", "nothing to tune"),
    ],
)
def test_bad_tuning_config_names_the_key(tuning: dict, named: str, why: str) -> None:
    cfg = tiny_config(**tuning)
    dataset = next(iter(cfg["datasets"]))
    cfg["tuning"]["datasets"] = [dataset if d == "DATASET" else d for d in tuning.get("datasets", [])]
    with pytest.raises(ValueError, match=why) as err:
        check_tuning(validated(cfg), SCHEMA)
    assert named in str(err.value)


def test_tuning_datasets_need_validation_slices() -> None:
    cfg = tiny_config(grids={"gdgp": {"sigma": [1.0, 2.0]}})
    dataset = next(iter(cfg["datasets"]))
    cfg["tuning"]["datasets"] = [dataset]
    cfg["datasets"][dataset]["n_val"] = 0
    with pytest.raises(ValueError, match=f"tuning.datasets.*datasets.{dataset}.n_val"):
        check_tuning(validated(cfg), SCHEMA)


def test_nnunet_cannot_tune_the_shared_learning_rate() -> None:
    cfg = tiny_config(grids={"nnunet": {"lr": [0.001, 0.01]}})
    cfg["methods"]["nnunet"] = {}
    with pytest.raises(ValueError, match="tuning.grids.nnunet.lr"):
        check_tuning(validated(cfg), SCHEMA)


# --------------------------------------------------------------------------- workflow (dry runs)


def snakemake(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [str(BIN / "snakemake"), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def project(tmp_path: Path, cfg: dict) -> Path:
    work = tmp_path / "proj"
    (work / "config").mkdir(parents=True)
    (work / "workflow").symlink_to(REPO / "workflow")
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return work


def commands(out: str, verb: str) -> list[str]:
    lines = [line.removeprefix("Shell command: ") for line in out.splitlines()]
    return [line for line in lines if line.startswith(f"gdgp {verb} ")]


def option(line: str, name: str) -> str:
    return line.split(f" {name} ")[1].split()[0]


def job_settings(line: str) -> dict:
    """The --params JSON object of a job's command (gdgp/job_params.py)."""
    words = shlex.split(line)
    return json.loads(words[words.index("--params") + 1])


def learning_rate(line: str) -> float:
    return float(job_settings(line)["train.lr"])


def sets(line: str) -> dict[str, str]:
    parts = line.split(" --set ")[1:]
    return dict(p.split(" --")[0].strip("'").split("=", 1) for p in parts)


@pytest.mark.slow
def test_tune_all_trains_every_value_and_seed_and_scores_validation(tmp_path: Path) -> None:
    cfg = tiny_config()
    dataset = next(iter(cfg["datasets"]))
    cfg["train"]["seeds"] = [0, 3]
    cfg["tuning"] = {
        "datasets": [dataset],
        "grids": {"gdgp": {"hyper_lr_scale": [1, 50.0]}, "click_unet": {"lr": [0.001, 0.01]}},
    }
    work = project(tmp_path, cfg)
    out = snakemake(["-n", "-p", "tune_all"], work).stdout
    base_lr = str(float(cfg["train"]["lr"]))
    # the main models' --set options, to compare the tuned ones with
    default = snakemake(["-n", "-p", "--forceall"], work).stdout
    main_sets = {option(line, "--method"): sets(line) for line in commands(default, "train")}
    train = commands(out, "train")
    got = {}
    for line in train:
        method, seed, checkpoint = option(line, "--method"), option(line, "--seed"), option(line, "--out-checkpoint")
        setting = checkpoint.split("/")[-3]
        assert checkpoint == f"results/tuning/models/{dataset}/{method}/{setting}/seed{seed}/final.pt"
        assert option(line, "--out-loss") == checkpoint.replace("final.pt", "loss.csv")
        assert f"results/logs/tuning/train/{dataset}/{method}/{setting}/seed{seed}.log" in line
        got[method, setting, seed] = (learning_rate(line), sets(line))
    assert sorted(got) == sorted(
        (m, s, k)
        for m, values in (
            ("gdgp", ("hyper_lr_scale=1.0", "hyper_lr_scale=50.0")),
            ("click_unet", ("lr=0.001", "lr=0.01")),
        )
        for s in values
        for k in ("0", "3")
    )
    for (method, setting, _), (lr, options) in got.items():
        key, value = setting.split("=")
        if key == "lr":  # --lr replaced, hyperparameters as configured
            assert float(lr) == float(value) and options == main_sets[method]
        else:  # train.lr kept, only the tuned key replaced
            assert lr == float(base_lr) and float(options.pop(key)) == float(value)
            assert options == {k: v for k, v in main_sets[method].items() if k != key}
    evaluate = commands(out, "evaluate")
    assert len(evaluate) == 8
    for line in evaluate:
        clicks = option(line, "--out-clicks")
        assert clicks.startswith(f"results/tuning/val/{dataset}/")
        assert option(line, "--checkpoint") == clicks.replace("/tuning/val/", "/tuning/models/").replace(
            "clicks.csv", "final.pt"
        )
        assert option(line, "--split") == "val" and job_settings(line)["evaluate.protocol"] == cfg["evaluate"].get(
            "protocol", "ritm"
        )
    (report,) = commands(out, "report-tuning")
    assert option(report, "--budget") == str(max(cfg["report"]["budgets"]))
    assert "--configured gdgp hyper_lr_scale=1.0" in report  # the schema default
    assert f"--configured click_unet lr={float(cfg['train']['lr'])!r}" in report
    assert report.count("--clicks ") == 4 and "--out-csv results/report/val/tuning.csv" in report
    # the default target has no tuning job
    rules = {line.removeprefix("rule ").rstrip(":") for line in default.splitlines() if line.startswith("rule ")}
    assert "train" in rules and not rules & {"tune_train", "tune_evaluate", "tuning_report", "tune_all"}
    assert "results/tuning/" not in default and "report-tuning" not in default


@pytest.mark.slow
def test_workflow_stops_on_a_bad_grid_and_on_tune_all_without_a_sweep(tmp_path: Path) -> None:
    cfg = tiny_config(datasets=[], grids={"gdgp": {"sigma": [1.0, 2.0], "tau": [1.0, 2.0]}})
    proc = snakemake(["-n"], project(tmp_path / "bad", cfg), check=False)
    assert proc.returncode != 0 and "tuning.grids.gdgp" in proc.stdout + proc.stderr
    assert not (tmp_path / "bad" / "proj" / "results").exists()
    proc = snakemake(["-n", "tune_all"], project(tmp_path / "none", tiny_config()), check=False)
    assert proc.returncode != 0 and "no tuning sweep configured" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_method_lr_sets_one_methods_learning_rate_and_is_what_the_sweep_compares_with(tmp_path: Path) -> None:
    """train.method_lr (a chosen lr copied into the config): that method trains with it, the
    experiment variants take gdgp's, the others keep train.lr; the tuning report names it as
    the configured value, and a non-lr grid of that method trains with it too."""
    cfg = tiny_config()
    dataset = next(iter(cfg["datasets"]))
    cfg["train"]["method_lr"] = {"click_unet": 0.02, "gdgp": 0.005}
    cfg["tuning"] = {
        "datasets": [dataset],
        "grids": {"click_unet": {"lr": [0.001, 0.02]}, "gdgp": {"hyper_lr_scale": [1.0, 50.0]}},
    }
    work = project(tmp_path, cfg)
    default = snakemake(["-n", "-p", "--forceall"], work).stdout
    rates = {option(line, "--method"): learning_rate(line) for line in commands(default, "train")}
    base = float(cfg["train"]["lr"])
    assert rates == {"auto_unet": base, "click_unet": 0.02, "gdgp": 0.005, "gdgp_fixed": 0.005, "gdgp_abl_cnn": 0.005}
    sweep = snakemake(["-n", "-p", "tune_all"], work).stdout
    (report,) = commands(sweep, "report-tuning")
    assert "--configured click_unet lr=0.02" in report
    assert {learning_rate(line) for line in commands(sweep, "train") if "--method gdgp" in line} == {0.005}
    # a method that is not configured, or nnunet (its own schedule), is refused naming the key
    for i, (rates, named) in enumerate(
        (({"nope": 0.1}, "train.method_lr names ['nope']"), ({"nnunet": 0.1}, "method_lr.nnunet"))
    ):
        bad = tiny_config()
        bad["train"]["method_lr"] = rates
        if "nnunet" in rates:
            bad["methods"]["nnunet"] = {}
        proc = snakemake(["-n"], project(tmp_path / f"bad{i}", bad), check=False)
        assert proc.returncode != 0 and named in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- the table vs brute force


BUDGET = 6
#: method -> its values (in grid order), each value's first-interaction cost and Dice offset
PLAN = {
    "alpha": [("1.0", 1, 0.0), ("10.0", 1, 0.1), ("50.0", 1, -0.2)],
    "tied": [("0.001", 4, 0.05), ("0.003", 4, 0.05)],  # identical runs: the first value wins
    "late": [("0.5", 7, 0.0), ("2.0", 7, 0.1)],  # first interaction above the budget: NaN
    "mixed": [("1.0", 9, 0.3), ("3.0", 2, 0.0)],  # only the second value has a Dice at 6
}
KEYS = {"alpha": "hyper_lr_scale", "tied": "lr", "late": "gc_lambda", "mixed": "n_points"}
DATASETS = {"ds_a": {"s0": "p0", "s1": "p0", "s2": "p1", "s3": "p2", "s4": "p2"}, "ds_b": {"s0": "q0", "s1": "q1"}}
SEEDS = (0, 1)


def synthetic_runs(method: str, cost: int, offset: float, tied_seed: int) -> pd.DataFrame:
    """Clicks rows of one (method, setting): every dataset, slice and seed, 5 rounds; the
    robot sometimes finds no error left (n_clicks stays)."""
    rows = []
    for dataset, slices in DATASETS.items():
        for seed in SEEDS:
            rng = np.random.default_rng([tied_seed, seed, len(dataset), len(method)])
            for sid, case in enumerate(slices.values()):
                n = cost
                for r in range(6):
                    if r and rng.random() < 0.8:
                        n += 1
                    rows.append(
                        {
                            "dataset": dataset,
                            "method": method,
                            "slice_id": 10 * sid + len(dataset),
                            "case": case,
                            "slice_z": sid,
                            "round": r,
                            "n_clicks": n,
                            "click_y": 1.0,
                            "click_x": 2.0,
                            "click_positive": 1.0,
                            "dice": float(np.clip(rng.uniform(0.2, 0.7) + offset, 0, 1)),
                            "assd_px": 1.0,
                            "assd_mm": 1.0,
                            "tp": 5,
                            "fp": 1,
                            "fn": 1,
                            "empty_pred": False,
                            "seed": seed,
                        }
                    )
    return pd.DataFrame(rows)


def brute_force(groups: dict[tuple[str, str], pd.DataFrame], budget: int) -> dict:
    """Per (method, value, dataset): Dice at the budget by plain loops; then the mean over
    datasets and the chosen value (first listed wins ties)."""
    out = {}
    for (method, value), df in groups.items():
        for dataset, patients in DATASETS.items():
            per_slice, reachable, cases = {}, True, {}
            for sid in sorted(set(df.loc[df["dataset"] == dataset, "slice_id"])):
                vals = []
                for seed in SEEDS:
                    run = [
                        r
                        for r in df.to_dict("records")
                        if (r["dataset"], r["slice_id"], r["seed"]) == (dataset, sid, seed)
                    ]
                    within = [r for r in run if r["n_clicks"] <= budget]
                    if not within:
                        reachable = False
                        continue
                    vals.append(max(within, key=lambda r: r["round"])["dice"])
                    cases[sid] = run[0]["case"]
                per_slice[sid] = sum(vals) / len(vals) if vals else math.nan
            xs = list(per_slice.values())
            mean = sum(xs) / len(xs) if reachable else math.nan
            std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if reachable else math.nan
            by_case: dict[str, list[float]] = {}
            for sid, x in per_slice.items():
                by_case.setdefault(cases.get(sid, "?"), []).append(x)
            patient = (sum(sum(v) / len(v) for v in by_case.values()) / len(by_case)) if reachable else math.nan
            out[method, value, dataset] = {
                "dice_mean": mean,
                "dice_std": std,
                "dice_patient_mean": patient,
                "n_slices": len(per_slice),
                "reachable": reachable,
                "n_patients": len(set(patients.values())),
            }
    scores, chosen = {}, {}
    for method, values in PLAN.items():
        best, best_score = None, -math.inf
        for value, _, _ in values:
            means = [out[method, value, d]["dice_mean"] for d in DATASETS]
            scores[method, value] = math.nan if any(math.isnan(m) for m in means) else sum(means) / len(means)
            if not math.isnan(scores[method, value]) and scores[method, value] > best_score:
                best, best_score = value, scores[method, value]
        chosen[method] = best
    return {"cells": out, "scores": scores, "chosen": chosen}


@pytest.fixture(scope="module")
def synthetic() -> dict[tuple[str, str], pd.DataFrame]:
    groups = {}
    for method, values in PLAN.items():
        for i, (value, cost, offset) in enumerate(values):
            groups[method, value] = synthetic_runs(method, cost, offset, 0 if method == "tied" else i)
    return groups


def check_against_brute_force(table: pd.DataFrame, expected: dict, configured: dict[str, str]) -> None:
    assert list(table.columns) == list(TUNING_COLUMNS)
    assert len(table) == sum(len(v) for v in PLAN.values()) * len(DATASETS)
    for r in table.to_dict("records"):
        want = expected["cells"][r["method"], r["value"], r["dataset"]]
        assert r["key"] == KEYS[r["method"]] and r["setting"] == f"{r['key']}={r['value']}"
        assert r["budget"] == BUDGET and r["n_seeds"] == len(SEEDS)
        assert bool(r["reachable"]) == want["reachable"]
        assert (r["n_slices"], r["n_patients"]) == (want["n_slices"], want["n_patients"])
        for col in ("dice_mean", "dice_std", "dice_patient_mean"):
            assert r[col] == pytest.approx(want[col], abs=1e-12, nan_ok=True), col
        assert r["dice_over_datasets"] == pytest.approx(
            expected["scores"][r["method"], r["value"]], abs=1e-12, nan_ok=True
        )
        assert bool(r["chosen"]) == (expected["chosen"][r["method"]] == r["value"])
        assert bool(r["configured"]) == (configured.get(r["method"]) == r["value"])


def test_tuning_table_equals_brute_force_with_ties_and_nan(synthetic: dict) -> None:
    expected = brute_force(synthetic, BUDGET)
    # the fixture is what the test means: a tie, an all-NaN method, a NaN value beside a number
    assert expected["scores"]["tied", "0.001"] == expected["scores"]["tied", "0.003"]
    assert expected["chosen"]["tied"] == "0.001"
    assert expected["chosen"]["late"] is None and math.isnan(expected["scores"]["late", "0.5"])
    assert expected["chosen"]["mixed"] == "3.0" and math.isnan(expected["scores"]["mixed", "1.0"])
    configured = {"alpha": "50.0", "tied": "0.001", "late": "0.5", "mixed": "3.0"}
    groups = [SettingRuns(m, KEYS[m], v, synthetic[m, v]) for m, vs in PLAN.items() for v, _, _ in vs]
    table = tuning_table(
        groups, BUDGET, {m: (KEYS[m], v) for m, v in configured.items()}, method_order=["mixed", "alpha"]
    )
    check_against_brute_force(table, expected, configured)
    assert list(dict.fromkeys(table["method"])) == ["mixed", "alpha", "late", "tied"]
    # ties go to the value listed first, whichever it is
    flipped = tuning_table(groups[3:5][::-1], BUDGET)
    assert flipped.loc[flipped["chosen"], "value"].unique().tolist() == ["0.003"]


def test_report_tuning_cli_writes_csv_and_markdown(
    synthetic: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expected = brute_force(synthetic, BUDGET)
    argv = ["report-tuning", "--budget", str(BUDGET)]
    for method, values in PLAN.items():
        for value, _, _ in values:
            files = []
            for (dataset, seed), g in synthetic[method, value].groupby(["dataset", "seed"]):
                path = tmp_path / "val" / dataset / method / f"{KEYS[method]}={value}" / f"seed{seed}" / "clicks.csv"
                path.parent.mkdir(parents=True)
                g[list(CLICKS_COLUMNS)].to_csv(path, index=False)  # seed from the folder, as the workflow writes
                files.append(str(path))
            value_arg = value.removesuffix(".0") if method == "alpha" else value  # 50 and 50.0 are one value
            argv += ["--clicks", method, f"{KEYS[method]}={value_arg}", *files]
    configured = {"alpha": "1.0", "tied": "0.003", "mixed": "3.0"}  # none for "late"
    for method, value in configured.items():
        argv += ["--configured", method, f"{KEYS[method]}={value}"]
    out_csv, out_md = tmp_path / "report" / "tuning.csv", tmp_path / "report" / "tuning.md"
    with caplog.at_level(logging.WARNING, logger="gdgp.report.tuning"):
        assert main([*argv, "--out-csv", str(out_csv), "--out-md", str(out_md)]) == 0
    table = pd.read_csv(out_csv, dtype={"value": str, "dataset": str})
    check_against_brute_force(table, expected, configured)
    warned = {r.getMessage().split(":")[0] for r in caplog.records}
    # alpha's configured value is not the chosen one, tied's differs (a tie keeps the first), late has none
    assert warned == {"tuning alpha", "tuning tied", "tuning late"}
    md = out_md.read_text()
    assert f"at **{BUDGET}** total clicks" in md and "| ds_a | ds_b |" in md
    assert "late: no value has a validation Dice at 6 clicks" in md
    assert "| late | gc_lambda=0.5 | – | – | – |" in md
    assert "mixed: configured n_points = 3.0 is the chosen value" in md
    assert "tied: **differs**" in md and "(a tie: the value listed first is chosen)" in md
    best = expected["chosen"]["alpha"]
    assert f"**hyper_lr_scale={best}**" in md and "alpha: **differs**" in md
    assert not list(out_csv.parent.glob(".*"))  # atomic writes leave no temporary file


def test_report_tuning_refuses_runs_of_another_method_and_two_keys(synthetic: dict) -> None:
    runs = synthetic["alpha", "1.0"]
    with pytest.raises(InputDataError, match="tied"):
        tuning_table([SettingRuns("tied", "lr", "0.1", runs)], BUDGET)
    with pytest.raises(ConfigError, match="one key per method"):
        tuning_table([SettingRuns("alpha", "a", "1.0", runs), SettingRuns("alpha", "b", "1.0", runs)], BUDGET)
    with pytest.raises(ConfigError, match="tunes hyper_lr_scale"):
        tuning_table([SettingRuns("alpha", "hyper_lr_scale", "1.0", runs)], BUDGET, {"alpha": ("lr", "0.1")})
