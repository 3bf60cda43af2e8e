"""DVC: data.dvc matches the demo generator; push/pull round trip; dvc repro + metrics + plots."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gdgp.data.demo import make_demo
from gdgp.dvc_stages import dvc_yaml
from gdgp.run_datasets import run_dataset_names
from tests.test_workflow import rule_counts

REPO = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def sh(args: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONPATH": str(cwd),  # a project's own copy of gdgp, where it has one
    }
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], path)
    sh([str(BIN / "dvc"), "init", "-q"], path)
    sh([str(BIN / "dvc"), "config", "core.analytics", "false"], path)
    return path


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_data_dvc_matches_the_demo_generator_and_round_trips(tmp_path: Path) -> None:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    repo = new_repo(tmp_path / "a")
    make_demo(repo / cfg["data_dir"], seed=cfg["demo"]["seed"], n_patients=cfg["demo"]["patients"])
    sh([str(BIN / "dvc"), "add", "-q", "data"], repo)
    ours = yaml.safe_load((repo / "data.dvc").read_text())["outs"][0]
    committed = yaml.safe_load((REPO / "data.dvc").read_text())["outs"][0]
    assert {k: ours[k] for k in ("md5", "size", "nfiles")} == {k: committed[k] for k in ("md5", "size", "nfiles")}, (
        "data.dvc does not match `gdgp demo` output: regenerate it (see docs/operations.md, DVC)"
    )
    assert (
        "up to date" in sh([str(BIN / "dvc"), "status"], repo).lower()
        or "data and pipelines are up to date" in sh([str(BIN / "dvc"), "status"], repo).lower()
    )

    remote = tmp_path / "remote"
    sh([str(BIN / "dvc"), "remote", "add", "-d", "local", str(remote)], repo)
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "data"], repo)
    sh([str(BIN / "dvc"), "push", "-q"], repo)
    clone = tmp_path / "b"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "data").exists()
    sh([str(BIN / "dvc"), "pull", "-q"], clone)
    assert tree_digest(clone / "data") == tree_digest(repo / "data")


def jobs_run(out: str) -> dict[str, int]:
    """Job counts per rule from the job tables Snakemake printed (one per Snakemake call)."""
    counts: dict[str, int] = {}
    for rule, n in rule_counts(out).items():
        if rule != "total" and not rule.endswith(":"):
            counts[rule] = counts.get(rule, 0) + n
    return counts


def test_dvc_repro_metrics_plots_and_reruns_on_tiny_config(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "p")
    for name in ("workflow", "gdgp"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("environment.yml", ".dvcignore"):
        shutil.copy(REPO / name, repo / name)
    tiny = yaml.safe_load((REPO / "tests" / "workflow" / "config.yaml").read_text())
    tiny["experiments"] = {"datasets": []}  # the variants are the workflow tests' business; DVC sees the same stages
    (repo / "config").mkdir()
    (repo / "config" / "config.yaml").write_text(yaml.safe_dump(tiny))
    # the generator, as a user runs it for another config (the repository's copy of the package:
    # every gdgp and snakemake call of sh() imports the repository's own gdgp)
    sh([str(BIN / "gdgp"), "dvc-yaml", "--out", "dvc.yaml"], repo)
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())
    assert stages["plots"][0]["results/dice_per_click.csv"]["y"]["results/dice_per_click.csv"] == [
        f"tiny_spleen/{m}" for m in tiny["methods"]
    ]
    assert "gdgp/methods/click_unet.py" not in stages["stages"]["extract"]["deps"]
    (repo / ".gitignore").write_text("/data/\n/results/logs/\n/results/benchmarks/\n/.snakemake/\n__pycache__/\n")
    make_demo(repo / "data", seed=0, n_patients=tiny["demo"]["patients"], tasks=["Task93_DemoSpleen"])
    sh([str(BIN / "dvc"), "add", "-q", "data"], repo)
    sh([str(BIN / "dvc"), "repro", "-q"], repo)
    assert "up to date" in sh([str(BIN / "dvc"), "repro"], repo).lower()
    metrics = sh([str(BIN / "dvc"), "metrics", "show"], repo)
    assert "tiny_spleen" in metrics and "click_unet" in metrics
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "run"], repo)
    assert sh([str(BIN / "dvc"), "metrics", "diff"], repo).strip() in ("", "No changes.")
    sh([str(BIN / "dvc"), "plots", "show", "-o", str(tmp_path / "plots")], repo)
    html = (tmp_path / "plots" / "index.html").read_text()
    assert "tiny_spleen/click_unet" in html

    # Round trip: push data and results to a local remote; a fresh clone pulls them and finds
    # nothing to re-run and no metric changed.
    dvc = str(BIN / "dvc")
    sh([dvc, "remote", "add", "-d", "store", str(tmp_path / "remote")], repo)
    sh(["git", "commit", "-qam", "remote"], repo)
    sh([dvc, "push", "-q"], repo)
    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "results" / "metrics.json").exists()
    sh([dvc, "pull", "-q"], clone)
    assert tree_digest(clone / "results" / "report") == tree_digest(repo / "results" / "report")
    assert "up to date" in sh([dvc, "repro"], clone).lower()
    assert sh([dvc, "metrics", "diff"], clone).strip() in ("", "No changes.")

    # An experiment with one config value changed re-runs only the jobs that read it: DVC starts
    # Snakemake, which decides from the pulled results and their metadata (files restored in any
    # order: time stamps say nothing here, checksums do), and its metrics are comparable.
    out = sh([dvc, "exp", "run", "-S", "config/config.yaml:report.noc_budget=4"], clone)
    assert "Running stage 'run'" in out and "Running stage 'extract'" not in out
    assert jobs_run(out) == {"report": 1, "report_val": 1, "all": 1}
    diff = sh([dvc, "metrics", "diff", "--md"], clone)
    assert "tiny_spleen" in diff and "auc" in diff.lower()  # the Dice AUC up to the NoC budget moved
    shown = sh([dvc, "exp", "show", "--csv"], clone)
    assert "report.noc_budget" in shown and ",4," in shown

    # Editing one method's module re-runs that method's jobs and the report only (DVC persists
    # the other models; Snakemake sees which jobs run the edited file).
    module = clone / "gdgp" / "methods" / "click_unet.py"
    module.write_text(module.read_text() + "\n# edited\n")
    models = {p: p.stat().st_mtime_ns for p in (clone / "results" / "models").rglob("final.pt")}
    out = sh([dvc, "repro"], clone)
    assert "Running stage 'run'" in out and "Running stage 'extract'" not in out
    ran = jobs_run(out)
    assert ran == {"train": 1, "evaluate": 1, "report": 1, "report_val": 1, "protocol_sensitivity": 1, "all": 1}
    assert {p.parts[-3] for p, t in models.items() if p.stat().st_mtime_ns != t} == {"click_unet"}
    assert "up to date" in sh([dvc, "repro"], clone).lower()


def test_the_committed_dvc_yaml_is_the_demo_configs() -> None:
    assert (REPO / "dvc.yaml").read_text() == dvc_yaml("config/config.yaml", root=REPO), (
        "dvc.yaml is not what `gdgp dvc-yaml` makes of config/config.yaml (the config or the extraction "
        "code's imports changed): run `gdgp dvc-yaml --config config/config.yaml --out dvc.yaml`"
    )
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    series = stages["plots"][0]["results/dice_per_click.csv"]["y"]["results/dice_per_click.csv"]
    assert series == [f"{d}/{m}" for d in run_dataset_names(cfg) for m in cfg["methods"]]
    # every output persists: DVC never deletes a model before Snakemake decides it is stale
    outs = stages["stages"]["run"]["outs"] + stages["stages"]["run"]["metrics"]
    assert all(next(iter(o.values())) == {"persist": True} for o in outs)
