"""The Snakemake workflow: formatting, lint, DAG, config validation, one tiny end-to-end run."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gdgp.experiment_plan import VARIANT_SETTINGS
from gdgp.run_datasets import run_dataset_names

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


@pytest.mark.slow
def test_lint_clean() -> None:
    proc = snakemake(["--lint"], REPO)
    assert "Congratulations" in proc.stdout + proc.stderr


def rule_counts(out: str) -> dict[str, int]:
    """Job counts per rule from the table `snakemake -n --quiet rules` prints."""
    return {
        line.split()[0]: int(line.split()[1])
        for line in out.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }


def shell_lines(out: str, verb: str) -> list[str]:
    """The `gdgp <verb>` commands of a `snakemake -n -p` run."""
    lines = [line.removeprefix("Shell command: ") for line in out.splitlines()]
    return [line for line in lines if line.startswith(f"gdgp {verb} ")]


def option(line: str, name: str) -> str:
    """A flag's value in a job's command, or a setting's in its --params JSON object
    (gdgp/job_params.py): ``--epochs`` is ``train.epochs`` there."""
    if f"{name} " in line:
        return line.split(f"{name} ")[1].split()[0]
    words = shlex.split(line)
    settings = json.loads(words[words.index("--params") + 1])
    suffix = "." + name.removeprefix("--").replace("-", "_")
    (value,) = [value for key, value in settings.items() if key.endswith(suffix)]
    return str(value)


def evaluation_runs(line: str) -> list[tuple[str, str, str]]:
    """(split, protocol, clicks.csv) of every run of one `gdgp evaluate` command: its main
    run and each --also run."""
    return [run[:3] for run in evaluation_runs_with_rounds(line)]


def evaluation_runs_with_rounds(line: str) -> list[tuple[str, str, str, int]]:
    """(split, protocol, clicks.csv, corrective rounds) of every run of one `gdgp evaluate` command."""
    runs = [
        (
            option(line, "--split"),
            option(line, "--protocol"),
            option(line, "--out-clicks"),
            int(option(line, "--rounds")),
        )
    ]
    for part in line.split("--also ")[1:]:
        split, protocol, rounds, clicks = part.split()[:4]
        runs.append((split, protocol, clicks, int(rounds)))
    return runs


@pytest.mark.slow
def test_dry_run_of_demo_config_shows_full_dag() -> None:
    counts = rule_counts(snakemake(["-n", "--forceall", "--quiet", "rules"], REPO).stdout)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    variants = cfg["experiments"].get("variants", list(VARIANT_SETTINGS))  # schema default: all
    n_variants = len(cfg["experiments"]["datasets"]) * len(variants)
    seeds = cfg["train"]["seeds"]
    datasets = run_dataset_names(cfg)  # the targets the default run benchmarks (run_datasets)
    # every method and every variant, once per training seed
    n_models = (len(datasets) * len(cfg["methods"]) + n_variants) * len(seeds)
    n_method_models = len(datasets) * len(cfg["methods"]) * len(seeds)
    assert counts.get("train") == n_models and counts.get("evaluate") == n_method_models
    assert counts.get("evaluate_variant", 0) == n_variants * len(seeds)
    assert "train_seed" not in counts and "evaluate_seed" not in counts
    # one evaluation job per model: a method's job also runs the validation slices and every
    # other protocol (--also), a variant's the test slices only
    assert not {"evaluate_val", "evaluate_protocol"} & set(counts)
    protocols = cfg["evaluate"].get("protocols", ["ritm", "largest_component_centre", "weighted_random"])
    has_val = any(cfg["datasets"][d].get("n_val", 0) > 0 for d in datasets)
    lines = shell_lines(snakemake(["-n", "-p", "--forceall"], REPO).stdout, "evaluate")
    also = sorted(line.count("--also ") for line in lines)
    assert also == sorted([0] * n_variants * len(seeds) + [has_val + len(protocols) - 1] * n_method_models)
    # the other protocols' runs stop once every report budget is reachable; test and validation run all rounds
    rounds = cfg["evaluate"]["rounds"]
    for line in lines:
        for split, protocol, _, n in evaluation_runs_with_rounds(line):
            other = protocol != cfg["evaluate"]["protocol"]
            assert n == (min(rounds, max(cfg["report"]["budgets"])) if other else rounds), (split, protocol, n)
    assert counts.get("protocol_sensitivity") == 1 and ("report_val" in counts) == has_val
    assert counts.get("extract") == len(datasets) and counts.get("report") == 1
    # the demo data of every configured target, so that data/ matches data.dvc
    assert counts.get("demo_data") == len({d["task"] for d in cfg["datasets"].values()})
    assert counts.get("table2") == 1 and counts.get("fig2") == 1
    assert counts.get("variant_table", 0) == (3 if n_variants else 0)


@pytest.mark.slow
def test_demo_config_runs_its_run_datasets_and_every_target_one_option_away() -> None:
    """The default run trains on run_datasets only; --config run_datasets=all trains on all five."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    chosen = run_dataset_names(cfg)
    assert 0 < len(chosen) < len(cfg["datasets"]), "the demo's default run takes a subset of its targets"

    def trained(args: list[str]) -> set[str]:
        out = snakemake(["-n", "-p", "--forceall", *args], REPO).stdout
        return {option(line, "--slices").split("/")[2] for line in shell_lines(out, "train")}

    assert trained([]) == set(chosen)
    assert trained(["--config", "run_datasets=all"]) == set(cfg["datasets"])


def test_experiments_may_run_on_a_dataset_outside_run_datasets(tmp_path: Path) -> None:
    """The methods train on run_datasets only; the experiment variants (and gdgp beside them) on
    their own dataset; DVC's extract stage (extract_all) extracts the slices of both."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["datasets"]["tiny_other"] = dict(cfg["datasets"]["tiny_spleen"])
    cfg["run_datasets"] = ["tiny_other"]  # experiments.datasets stays [tiny_spleen]
    work = project(tmp_path, cfg)
    trained: dict[str, set[str]] = {}
    for line in shell_lines(snakemake(["-n", "-p"], work).stdout, "train"):
        trained.setdefault(option(line, "--slices").split("/")[2], set()).add(option(line, "--method"))
    assert trained["tiny_other"] == set(cfg["methods"])
    assert trained["tiny_spleen"] == {"gdgp", *cfg["experiments"]["variants"]}
    extracted = shell_lines(snakemake(["-n", "-p", "extract_all"], work).stdout, "extract")
    assert sorted(option(line, "--dataset") for line in extracted) == ["tiny_other", "tiny_spleen"]


def test_run_datasets_naming_an_unknown_dataset_is_rejected(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["run_datasets"] = ["no_such_target"]
    proc = snakemake(["-n"], project(tmp_path, cfg), check=False)
    assert proc.returncode != 0
    assert "run_datasets names ['no_such_target'], which are not in datasets" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_demo_config_runs_the_variant_tables_one_option_away() -> None:
    """The default run leaves out the 8 variants; the documented --config adds them on one target."""
    out = snakemake(
        ["-n", "--forceall", "--quiet", "rules", "--config", "experiments={datasets: [demo_spleen]}"], REPO
    ).stdout
    counts = rule_counts(out)
    assert counts.get("evaluate_variant") == len(VARIANT_SETTINGS) and counts.get("variant_table") == 3


@pytest.mark.slow
def test_every_model_trains_and_is_evaluated_with_each_seed_in_its_folder(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["train"]["seeds"] = [0, 7]
    out = snakemake(["-n", "-p", "--forceall"], project(tmp_path, cfg)).stdout
    models = ["auto_unet", "click_unet", "gdgp", "gdgp_fixed", "gdgp_abl_cnn"]
    train = shell_lines(out, "train")
    got = sorted((option(line, "--method"), option(line, "--seed"), option(line, "--out-checkpoint")) for line in train)
    assert got == sorted(
        (m, str(k), f"results/models/tiny_spleen/{m}/seed{k}/final.pt") for m in models for k in (0, 7)
    )
    evaluate = shell_lines(out, "evaluate")
    by_split = {}
    for line in evaluate:
        for split, protocol, clicks in evaluation_runs(line):
            by_split.setdefault((split, protocol), []).append(clicks)
            seed_folder = clicks.split("/")[-2]
            assert option(line, "--checkpoint").endswith(f"/{seed_folder}/final.pt")
    assert sorted(by_split["test", "ritm"]) == sorted(
        f"results/runs/tiny_spleen/{m}/seed{k}/clicks.csv" for m in models for k in (0, 7)
    )
    assert sorted(by_split["val", "ritm"]) == sorted(
        f"results/val/tiny_spleen/{m}/seed{k}/clicks.csv" for m in ("auto_unet", "click_unet", "gdgp") for k in (0, 7)
    )
    # the protocol comparison ranks the configured methods; the experiment variants stay out
    assert sorted(by_split["test", "largest_component_centre"]) == sorted(
        f"results/protocols/largest_component_centre/tiny_spleen/{m}/seed{k}/clicks.csv"
        for m in ("auto_unet", "click_unet", "gdgp")
        for k in (0, 7)
    )
    assert len(by_split) == 3
    # Table 4 uses every seed's runs; its loss curves and overlays the first seed's
    report = next(line for line in shell_lines(out, "report") if "--out-dir results/report " in line)
    clicks = report.split("--clicks ")[1].split(" --")[0].split()
    assert sorted(clicks) == sorted(
        f"results/runs/tiny_spleen/{m}/seed{k}/clicks.csv" for m in ("auto_unet", "click_unet", "gdgp") for k in (0, 7)
    )
    for key, name in (("--losses", "loss.csv"), ("--overlays", "overlays.npz")):
        files = report.split(f"{key} ")[1].split(" --")[0].split()
        assert len(files) == 3 and all(f.endswith(f"/seed0/{name}") for f in files)
    # the experiment tables: every seed
    table3 = next(iter(shell_lines(out, "experiment table3")))
    assert "gdgp/seed7/clicks.csv" in table3 and "gdgp_fixed/seed0/clicks.csv" in table3
    assert "--default-seed" not in table3
    table2 = next(iter(shell_lines(out, "experiment table2")))
    assert "gdgp/seed0/loss.csv" in table2 and "gdgp/seed7/loss.csv" in table2 and "final.pt" not in table2
    assert "--initial sigma=" in table2
    assert "--datasets tiny_spleen tiny_spleen " in table2
    fig2 = next(iter(shell_lines(out, "experiment fig2")))
    assert "gdgp/seed0/loss.csv" in fig2 and "gdgp/seed7/loss.csv" in fig2


@pytest.mark.slow
def test_seeds_from_the_command_line(tmp_path: Path) -> None:
    work = project(tmp_path)
    out = snakemake(["-n", "-p", "--config", "train={seeds: [0, 1, 2]}"], work).stdout
    train = shell_lines(out, "train")
    assert sorted({option(line, "--seed") for line in train}) == ["0", "1", "2"] and len(train) == 15
    assert {option(line, "--epochs") for line in train} == {"1"}  # merged into train, not replacing it


@pytest.mark.slow
def test_old_seed_keys_still_validate_warn_and_train_every_method_with_their_seeds(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    del cfg["train"]["seeds"]
    cfg["train"]["seed"] = 3
    cfg["experiments"]["extra_seeds"] = [4]
    proc = snakemake(["-n", "-p"], project(tmp_path, cfg))
    assert "train.seed is deprecated" in proc.stderr and "experiments.extra_seeds is deprecated" in proc.stderr
    assert "every method" in proc.stderr
    train = shell_lines(proc.stdout, "train")
    assert sorted((option(line, "--method"), option(line, "--seed")) for line in train) == sorted(
        (m, k) for m in ("auto_unet", "click_unet", "gdgp", "gdgp_fixed", "gdgp_abl_cnn") for k in ("3", "4")
    )
    assert all(f"/seed{option(line, '--seed')}/final.pt" in line for line in train)
    # with train.seeds as well, the new key wins (and says so)
    cfg["train"]["seeds"] = [5]
    proc = snakemake(["-n", "-p"], project(tmp_path / "both", cfg))
    assert "train.seed is deprecated and ignored" in proc.stderr
    assert "experiments.extra_seeds is deprecated and ignored" in proc.stderr
    assert {option(line, "--seed") for line in shell_lines(proc.stdout, "train")} == {"5"}


@pytest.mark.slow
@pytest.mark.parametrize("n_val", [0, 4])
def test_validation_runs_exist_only_for_datasets_with_validation_slices(tmp_path: Path, n_val: int) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["datasets"]["tiny_spleen"]["n_val"] = n_val
    work = project(tmp_path, cfg)
    counts = rule_counts(snakemake(["-n", "--quiet", "rules"], work).stdout)
    assert counts.get("report_val", 0) == (1 if n_val else 0)
    assert counts.get("evaluate") == 3 and counts.get("evaluate_variant") == 2 and counts.get("report") == 1
    # the validation runs: in the jobs of the 3 methods (no variants), one seed
    runs = [r for line in shell_lines(snakemake(["-n", "-p"], work).stdout, "evaluate") for r in evaluation_runs(line)]
    assert sorted(c for split, _, c in runs if split == "val") == (
        sorted(f"results/val/tiny_spleen/{m}/seed0/clicks.csv" for m in ("auto_unet", "click_unet", "gdgp"))
        if n_val
        else []
    )
    if n_val:
        out = snakemake(["-n", "-p", "results/report/val/table4.csv"], work).stdout
        report = next(iter(shell_lines(out, "report")))
        assert "--out-dir results/report/val " in report and "--skip-empty --no-figures" in report
        assert "--split-name validation" in report
        clicks = report.split("--clicks ")[1].split(" --")[0].split()
        assert len(clicks) == 3 and all(c.startswith("results/val/tiny_spleen/") for c in clicks)
        # the main report stays on the test runs
        out = snakemake(["-n", "-p", "--forcerun", "report", "results/report/table4.csv"], work).stdout
        main = next(line for line in shell_lines(out, "report") if "--out-dir results/report " in line)
        assert "results/val/" not in main


@pytest.mark.slow
@pytest.mark.parametrize(
    ("protocols", "n_runs"),
    [
        ([], 0),
        (["ritm"], 0),
        (["ritm", "weighted_random"], 3),  # the 3 methods, not the 2 variants
        (["largest_component_centre", "ritm", "weighted_random"], 6),
    ],
)
def test_protocol_sensitivity_runs(tmp_path: Path, protocols: list[str], n_runs: int) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["evaluate"]["protocols"] = protocols
    work = project(tmp_path, cfg)
    out = snakemake(["-n", "-p"], work).stdout
    counts = rule_counts(snakemake(["-n", "--quiet", "rules"], work).stdout)
    runs = [r for line in shell_lines(out, "evaluate") for r in evaluation_runs(line)]
    assert sum(protocol != "ritm" for _, protocol, _ in runs) == n_runs
    assert counts.get("evaluate") == 3 and counts.get("evaluate_variant") == 2  # one job per model
    assert counts.get("protocol_sensitivity", 0) == (1 if n_runs else 0)
    if n_runs:
        line = next(iter(shell_lines(out, "report-protocols")))
        assert line.count("--clicks ") == len(protocols) and "--out-csv results/report/protocol_sensitivity.csv" in line
        assert "--clicks ritm results/runs/tiny_spleen/auto_unet/seed0/clicks.csv" in line
        other = "results/protocols/weighted_random/tiny_spleen/auto_unet/seed0/clicks.csv"
        assert f"--clicks weighted_random {other}" in line
        assert len(line.split("--clicks ritm ")[1].split(" --")[0].split()) == 3


@pytest.mark.slow
def test_main_protocol_must_be_among_the_compared_ones(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["evaluate"]["protocols"] = ["largest_component_centre", "weighted_random"]
    proc = snakemake(["-n"], project(tmp_path, cfg), check=False)
    assert proc.returncode != 0 and "evaluate.protocols" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_deprecated_table_round_still_validates_with_a_warning(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["report"]["table_round"] = 5
    proc = snakemake(["-n", "-p", "results/report/table4.csv"], project(tmp_path, cfg))
    assert "report.table_round is deprecated and ignored" in proc.stderr
    assert "--budgets 2 4 8 --noc-budget 8" in proc.stdout  # the report still uses the budgets


@pytest.mark.slow
def test_msd_config_replaces_demo_config() -> None:
    proc = snakemake(["-n", "--configfile", "config/msd.yaml"], REPO, check=False)
    text = proc.stdout + proc.stderr
    assert "Task06_Lung" in text and "demo_lung" not in text


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("train", "epochs"), 0, "epochs"),
        (("evaluate", "threshold"), 2, "threshold"),
        (("split", "mode"), "volume", "mode"),
        (("methods", "samurai"), {}, "unknown method 'samurai'"),  # no built-in, no installed plugin
        (("methods", "click_unet", "edv_scal"), 3, "edv_scal"),
        (("methods", "gdgp", "encoding"), "sobel", "encoding"),
        (("methods", "gdgp", "sigma"), "wide", "method 'gdgp': sigma must be a number, got 'wide'"),
        (("methods", "click_unet", "channels"), [4], "method 'click_unet': channels must be a list of >= 2 positive"),
        (("experiments", "variants"), ["gdgp_magic"], "gdgp_magic"),
        (("experiments", "extra_seeds"), [-1], "extra_seeds"),
        (("train", "seeds"), [1, 1], "seeds"),
        (("train", "seeds"), [], "seeds"),
        (("evaluate", "protocols"), ["ritm", "clicky"], "clicky"),
    ],
)
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
def test_jobs_get_every_method_setting_from_its_settings_dataclass(tmp_path: Path) -> None:
    """methods.<name> lists only what differs; each job gets every setting (defaults from the
    method's Settings), the same --set options `gdgp train` would fill in itself."""
    import shlex

    from gdgp.methods import method_settings

    cfg = yaml.safe_load(TINY.read_text())
    out = snakemake(
        ["-n", "-p", "--forceall", "results/models/tiny_spleen/auto_unet/seed0/final.pt"], project(tmp_path, cfg)
    ).stdout
    (line,) = shell_lines(out, "train")
    words = shlex.split(line)
    sets = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--set")
    expected = method_settings("auto_unet", cfg["methods"]["auto_unet"])
    assert sets == {k: json.dumps(v) for k, v in expected.items()} and sets["dropout"] == "0.0"


def report_results(html: str) -> dict:
    """The results table a `snakemake --report` HTML file embeds: {path: {caption, data_uri, ...}}."""
    start = html.index('{"results/')
    return json.JSONDecoder().raw_decode(html[start:])[0]


@pytest.mark.slow
def test_report_holds_the_tables_with_their_captions(tmp_path: Path) -> None:
    """`snakemake --report` on the report stage's files (stand-ins, no run): every table is in it
    with its caption, which shows the table's Markdown view or the CSV itself."""
    work = project(tmp_path)
    res = work / "results"
    csv = "dataset,method,budget,dice_mean\ntiny_spleen,gdgp,8,0.5\n"
    files = {
        f"report/{name}": csv
        for name in (
            "table4.csv",
            "noc.csv",
            "significance.csv",
            "empty_predictions.csv",
            "skipped.csv",
            "val/table4.csv",
            "val/noc.csv",
            "val/significance.csv",
            "protocol_sensitivity.csv",
        )
    }
    files |= {f"report/{name}.md": f"VIEW OF {name}" for name in ("table4", "noc", "val/table4", "val/noc")}
    files |= {
        "report/table4.tex": "",
        "report/val/table4.tex": "",
        "dice_per_click.csv": "clicks\n0\n",
        "metrics.json": "{}",
    }
    for name, text in files.items():
        (res / name).parent.mkdir(parents=True, exist_ok=True)
        (res / name).write_text(text)
    for name in ("dice_per_click_tiny_spleen.png", "overlays_tiny_spleen.png", "loss_curves.png"):
        (res / "report" / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    snakemake(["--report", "report.html", "report_all"], work)
    html = (work / "report.html").read_text()
    assert "on 1 dataset(s) (tiny_spleen)" in html  # the benchmarked datasets (run_datasets, resolved)
    results = report_results(html)
    table4 = results["results/report/table4.csv"]
    assert table4["mime_type"] == "text/csv" and table4["data_uri"].startswith("data:text/csv")
    assert "<strong>Table 4</strong> (test split)" in table4["caption"] and "VIEW OF table4" in table4["caption"]
    assert "2, 4, 8" in table4["caption"]  # the configured budgets
    val = results["results/report/val/table4.csv"]["caption"]
    assert "(validation split)" in val and "VIEW OF val/table4" in val
    significance = results["results/report/significance.csv"]["caption"]
    assert "<strong>patient</strong>" in significance and "<td>tiny_spleen</td>" in significance  # rendered CSV
    for path in (
        "noc.csv",
        "val/noc.csv",
        "val/significance.csv",
        "protocol_sensitivity.csv",
        "empty_predictions.csv",
        "skipped.csv",
    ):
        assert results[f"results/report/{path}"]["caption"], path
    assert "System Message" not in json.dumps(results)  # no docutils error in a caption


@pytest.mark.slow
def test_tiny_end_to_end_run(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["train"]["seeds"] = [0, 1]  # every method and variant trained with two seeds
    work = project(tmp_path, cfg)
    snakemake(["--cores", "2"], work)
    res = work / "results"
    manifest = pd.read_csv(res / "slices" / "tiny_spleen" / "manifest.csv")
    test_ids, val_ids = (set(manifest.loc[manifest["split"] == s, "slice_id"]) for s in ("test", "val"))
    assert test_ids and val_ids and not test_ids & val_ids
    for method in ("auto_unet", "click_unet", "gdgp", "gdgp_fixed", "gdgp_abl_cnn"):
        for seed in (0, 1):
            run_dir = Path("tiny_spleen") / method / f"seed{seed}"
            clicks = pd.read_csv(res / "runs" / run_dir / "clicks.csv")
            assert len(clicks) == len(test_ids) * 4 and sorted(clicks["round"].unique()) == [0, 1, 2, 3]
            assert set(clicks["slice_id"]) == test_ids and clicks["dice"].between(0, 1).all()
            assert (res / "models" / run_dir / "final.pt").exists()
            assert (res / "logs" / "train" / run_dir.with_suffix(".log")).stat().st_size > 0
            variant = method.startswith("gdgp_")  # no validation or protocol runs for variants
            assert (res / "val" / run_dir).exists() != variant
            if variant:
                continue
            assert set(pd.read_csv(res / "val" / run_dir / "clicks.csv")["slice_id"]) == val_ids
            other = pd.read_csv(res / "protocols" / "largest_component_centre" / run_dir / "clicks.csv")
            assert set(other["slice_id"]) == test_ids and len(other) == len(clicks)
            log = (res / "logs" / "evaluate" / run_dir.with_suffix(".log")).read_text()  # one job, three runs
            assert f"on {len(val_ids)} val slices (protocol ritm)" in log
            assert f"on {len(test_ids)} test slices (protocol largest_component_centre)" in log
    metrics = json.loads((res / "metrics.json").read_text())
    assert set(metrics["tiny_spleen"]) == {"auto_unet", "click_unet", "gdgp"}  # variants stay out of Table 4
    table = pd.read_csv(res / "report" / "table4.csv")
    assert set(table["method"]) == {"auto_unet", "click_unet", "gdgp"} and set(table["budget"]) == {2, 4, 8}
    assert (table["n_seeds"] == 2).all()
    # equal cost: gdgp's 7-click first interaction has no entry below 8 clicks
    gdgp = table[table["method"] == "gdgp"].set_index("budget")
    assert gdgp.loc[[2, 4], "dice_mean"].isna().all() and np.isfinite(gdgp.at[8, "dice_mean"])
    # The validation report: every model's validation runs, tables only; never the test slices.
    val = pd.read_csv(res / "report" / "val" / "table4.csv")
    assert set(val["method"]) == {"auto_unet", "click_unet", "gdgp"}
    assert (val["n_seeds"] == 2).all() and val["n_slices"].max() <= len(val_ids)
    assert (res / "report" / "val" / "significance.csv").exists() and not list((res / "report" / "val").glob("*.png"))
    # Protocol sensitivity: under evaluate.protocol it is Table 4's Dice; both protocols rank the same models.
    sens = pd.read_csv(res / "report" / "protocol_sensitivity.csv")
    assert len(sens) == 3 * 3 and {"rank_ritm", "rank_largest_component_centre"} <= set(sens.columns)
    merged = table.merge(sens, on=["dataset", "method", "budget"])
    assert len(merged) == 9 and np.allclose(merged["dice_mean"], merged["dice_ritm"], equal_nan=True)
    tau = sens["kendall_tau_ritm__largest_component_centre"]
    assert tau[sens["budget"] == 8].between(-1, 1).all()
    # The experiment tables: Table 2 averages the two seeds' learned parameters; Table 3 compares
    # gdgp with gdgp_fixed; Table 6 holds only the configured ablation; no Table 5 (no variant).
    t2 = pd.read_csv(res / "experiments" / "table2.csv")
    assert list(t2["row"]) == ["initial", "learned (tiny_spleen)"] and t2.loc[1, "n_seeds"] == 2
    assert t2.loc[0, ["sigma", "alpha1", "alpha2", "tau", "l"]].tolist() == [1.0, 0.5, 0.2, 1.0, 2.0]
    t3 = pd.read_csv(res / "experiments" / "table3.csv")
    assert set(t3["method"]) == {"gdgp", "gdgp_fixed"} and (t3["n_seeds"] == 2).all()
    # the seed-1 model is another model (other initial weights), scored on the same slices
    seed0 = pd.read_csv(res / "runs" / "tiny_spleen" / "gdgp" / "seed0" / "clicks.csv")
    seed1 = pd.read_csv(res / "runs" / "tiny_spleen" / "gdgp" / "seed1" / "clicks.csv")
    assert seed0["slice_id"].tolist() == seed1["slice_id"].tolist() and not seed0["dice"].equals(seed1["dice"])
    at8 = [c[c["n_clicks"] <= 8].sort_values("round").groupby("slice_id")["dice"].last() for c in (seed0, seed1)]
    assert t3.loc[t3["method"] == "gdgp", "dice_mean"].item() == pytest.approx(((at8[0] + at8[1]) / 2).mean())
    assert gdgp.at[8, "dice_mean"] == pytest.approx(((at8[0] + at8[1]) / 2).mean())
    assert set(pd.read_csv(res / "experiments" / "table6.csv")["method"]) == {"gdgp", "gdgp_abl_cnn"}
    assert not (res / "experiments" / "table5.csv").exists()
    # Nothing left to do on a second run; the report renders.
    assert "Nothing to be done" in snakemake(["-n"], work).stdout + snakemake(["-n"], work).stderr
    snakemake(["--report", "report.html"], work)
    html = (work / "report.html").read_text(errors="ignore")
    assert "dice_per_click_tiny_spleen.png" in html and "loss_curves.png" in html
    # every table with its caption; Table 4's caption shows its Markdown view
    results = report_results(html)
    tables = {
        "results/report/table4.csv",
        "results/report/noc.csv",
        "results/report/significance.csv",
        "results/report/val/table4.csv",
        "results/report/protocol_sensitivity.csv",
        "results/experiments/table2.csv",
        "results/experiments/table3.csv",
        "results/experiments/table6.csv",
    }
    assert tables <= set(results) and all(results[t]["caption"] for t in tables)
    table4 = results["results/report/table4.csv"]["caption"]
    assert "<strong>Table 4</strong> (test split)" in table4 and "click_unet" in table4
    assert "<strong>Table 3</strong>" in results["results/experiments/table3.csv"]["caption"]
    assert "System Message" not in json.dumps(results)
    # Changing a robot-user setting re-runs evaluation and the reports, not training.
    cfg = yaml.safe_load((work / "config" / "config.yaml").read_text())
    cfg["evaluate"]["rounds"] = 2
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    dry = rule_counts(snakemake(["-n", "--quiet", "rules"], work).stdout)
    # 3 methods (their jobs also run validation and the other protocol) + 2 variants, 2 seeds
    assert dry.get("evaluate") == 6 and dry.get("evaluate_variant") == 4
    assert dry.get("report") == dry.get("report_val") == dry.get("protocol_sensitivity") == 1
    assert "train" not in dry and "extract" not in dry


def test_a_pretrained_method_runs_with_the_first_seed_only(tmp_path: Path) -> None:
    """Loaded, not trained: further seeds would repeat its runs and count them again in the statistics."""
    cfg = yaml.safe_load((REPO / "tests" / "workflow" / "sam.yaml").read_text())
    cfg["methods"] = {m: cfg["methods"][m] for m in ("click_unet", "sam")}
    cfg["train"]["seeds"] = [3, 5]
    out = snakemake(["-n", "-p", "--forceall"], project(tmp_path, cfg)).stdout
    trained = sorted((option(line, "--method"), option(line, "--seed")) for line in shell_lines(out, "train"))
    assert trained == [("click_unet", "3"), ("click_unet", "5"), ("sam", "3")]
    runs = [clicks for line in shell_lines(out, "evaluate") for _, _, clicks in evaluation_runs(line)]
    assert not [r for r in runs if "/sam/seed5/" in r] and any("/sam/seed3/" in r for r in runs)
    report = next(line for line in shell_lines(out, "report") if "--out-dir results/report " in line)
    assert "sam/seed3/clicks.csv" in report and "click_unet/seed5/clicks.csv" in report
