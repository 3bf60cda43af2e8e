"""The SLURM profile on a real one-node Slurm (slurm-wlm + munge, started by scripts/local_slurm.sh).

Needs root (apt-get install, munged as user munge, slurmd as root): skipped with the reason
where that is not possible; `.ci/run` runs as root, so CI runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).parents[1]
SCRIPT = REPO / "scripts" / "local_slurm.sh"
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _run(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment pointing the Slurm commands at a freshly started local cluster."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the local Slurm cluster needs Linux")
    if os.geteuid() != 0:
        pytest.skip("the local Slurm cluster needs root (apt-get install, munged as user munge, slurmd)")
    if not shutil.which("slurmctld"):
        if not shutil.which("apt-get"):
            pytest.skip("slurm-wlm is not installed and there is no apt-get to install it")
        proc = _run(["bash", str(SCRIPT), "install"])
        if proc.returncode != 0:
            pytest.skip(f"could not install slurm-wlm + munge with apt-get: {proc.stderr.strip()[-500:]}")
    if os.path.lexists("/etc/slurm/slurm.conf"):
        pytest.skip("this machine already has /etc/slurm/slurm.conf (a real cluster): no test cluster here")
    state = tmp_path_factory.mktemp("slurm")
    t0 = time.monotonic()
    proc = _run(["bash", str(SCRIPT), "start", str(state)])
    assert proc.returncode == 0, f"local Slurm did not start:\n{proc.stdout}\n{proc.stderr}"
    print(f"local Slurm started in {time.monotonic() - t0:.1f} s")
    env = {
        **os.environ,
        "SLURM_CONF": str(state / "slurm.conf"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    try:
        yield env
    finally:
        _run(["bash", str(SCRIPT), "stop", str(state)])


def jobs(env: dict[str, str]) -> list[dict[str, str]]:
    """Every job the controller remembers, as scontrol's key=value fields."""
    out = _run(["scontrol", "show", "job", "-o"], env=env).stdout
    rows = []
    for line in out.splitlines():
        if line.startswith("JobId="):
            rows.append(dict(field.split("=", 1) for field in line.split() if "=" in field))
    return rows


def test_local_cluster_schedules_gpu_requests_needs_root(slurm_env: dict[str, str], tmp_path: Path) -> None:
    ok = _run(
        ["sbatch", "--parsable", "--gpus=1", "-p", "gpu", "--mem", "100", "-t", "1", "--wrap", "true"],
        env=slurm_env,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    too_many = _run(
        ["sbatch", "--parsable", "--gpus=3", "--mem", "100", "-t", "1", "--wrap", "true"], env=slurm_env, cwd=tmp_path
    )
    assert too_many.returncode != 0 and "not available" in too_many.stderr  # the node has 2 (fake) GPUs


def test_tiny_workflow_runs_through_slurm_with_the_profile_needs_root(
    slurm_env: dict[str, str], tmp_path: Path
) -> None:
    work = tmp_path / "proj"
    (work / "config").mkdir(parents=True)
    (work / "workflow").symlink_to(REPO / "workflow")
    cfg = yaml.safe_load((REPO / "tests" / "workflow" / "config.yaml").read_text())
    cfg["methods"] = {"auto_unet": cfg["methods"]["auto_unet"], "click_unet": cfg["methods"]["click_unet"]}
    cfg["experiments"] = {"datasets": []}
    cfg["resources"] = {"train_mem_mb": 1500, "evaluate_mem_mb": 1500, "train_runtime": 20, "evaluate_runtime": 20}
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    before = {row["JobId"] for row in jobs(slurm_env)}
    t0 = time.monotonic()
    proc = _run(
        [
            str(BIN / "snakemake"),
            "--profile",
            "workflow/profiles/slurm",
            "--jobs",
            "4",
            "--slurm-status-command",
            "squeue",
            "--slurm-init-seconds-before-status-checks",
            "1",
        ],
        env=slurm_env,
        cwd=work,
    )
    wall = time.monotonic() - t0
    assert proc.returncode == 0, f"snakemake through Slurm failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    print(f"tiny workflow through Slurm: {wall:.1f} s")
    table = pd.read_csv(work / "results" / "report" / "table4.csv")
    assert set(table["method"]) == {"auto_unet", "click_unet"}
    clicks = pd.read_csv(work / "results" / "runs" / "tiny_spleen" / "click_unet" / "seed0" / "clicks.csv")
    n_test = cfg["datasets"]["tiny_spleen"]["n_test"]  # test slices x (first interaction + 3 rounds)
    assert clicks["dice"].between(0, 1).all() and len(clicks) == n_test * 4
    assert (work / "results" / "report" / "val" / "table4.csv").exists()
    assert (work / "results" / "report" / "protocol_sensitivity.csv").exists()

    # Every job went through sbatch, with the profile's and the config's resources.
    submitted = [row for row in jobs(slurm_env) if row["JobId"] not in before]
    by_rule = {}
    for row in submitted:
        assert row["JobState"] == "COMPLETED", row
        by_rule.setdefault(row["Comment"].split("_wildcards")[0].removeprefix("rule_"), []).append(row)
    # two models (one seed), each evaluated by one job on the test split, the validation split
    # and under the tiny config's second click protocol
    assert sorted((rule, len(rows)) for rule, rows in by_rule.items()) == [
        ("demo_data", 1),
        ("evaluate", 2),
        ("extract", 1),
        ("protocol_sensitivity", 1),
        ("report", 1),
        ("report_val", 1),
        ("train", 2),
    ]
    for rule in ("train", "evaluate"):
        for row in by_rule[rule]:
            assert row["Partition"] == "gpu" and "gpu:1" in row["TresPerJob"], row
            assert row["MinMemoryNode"].startswith("15") and row["TimeLimit"] == "00:20:00", row
    for row in by_rule["extract"]:
        assert row["Partition"] == "debug" and "gpu" not in row.get("TresPerJob", ""), row
    # Nothing left to do afterwards.
    dry = _run([str(BIN / "snakemake"), "-n"], env=slurm_env, cwd=work)
    assert "Nothing to be done" in dry.stdout + dry.stderr
