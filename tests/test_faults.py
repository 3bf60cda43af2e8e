"""Faults a long run meets: a killed job, a half-written output, a repeated run, a corrupt case.

Each test runs the real workflow (tests/workflow/config.yaml, trimmed) with Snakemake.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch
import yaml

from gdgp.data.demo import make_demo
from tests.test_workflow import TINY, project, snakemake

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow
MODEL = Path("results/models/tiny_spleen/click_unet/seed0")


def one_method_config(epochs: int) -> dict:
    """The tiny config with click_unet only, one seed, no experiment variants, no validation or
    protocol-sensitivity runs (the faults under test are in training and extraction)."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["methods"] = {"click_unet": cfg["methods"]["click_unet"]}
    cfg["experiments"] = {"datasets": []}
    cfg["datasets"]["tiny_spleen"]["n_val"] = 0
    cfg["evaluate"]["protocols"] = []
    assert cfg["train"]["seeds"] == [0]
    cfg["report"]["reference_method"] = None
    cfg["train"]["epochs"] = epochs
    return cfg


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL Snakemake and every job it started, as a node failure or `scancel` would."""
    parent = psutil.Process(proc.pid)
    for child in parent.children(recursive=True) + [parent]:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_killed_training_resumes_and_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg = one_method_config(epochs=80)
    work = project(tmp_path / "a", cfg)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(
        [str(BIN / "snakemake"), "--cores", "1"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    latest = work / MODEL / "latest.pt"
    deadline = time.monotonic() + 300
    while not latest.exists():
        assert proc.poll() is None, "snakemake ended before training wrote latest.pt"
        assert time.monotonic() < deadline, "training never wrote latest.pt"
        time.sleep(0.02)
    kill_tree(proc)
    assert not (work / MODEL / "final.pt").exists(), "training finished before the kill: raise epochs"
    killed_at = int(torch.load(latest, map_location="cpu", weights_only=False)["epoch"])
    assert 1 <= killed_at < cfg["train"]["epochs"]

    # A writer that is not atomic would leave a half-written output behind; Snakemake must not
    # take it as complete (it marked the job incomplete when it started it).
    (work / MODEL / "final.pt").write_bytes(b"half a checkpoint")
    strict = snakemake(["-n", "--workflow-profile", "none"], work, check=False)
    assert strict.returncode != 0 and "incomplete" in (strict.stdout + strict.stderr).lower()
    assert "final.pt" in strict.stdout + strict.stderr

    # After a hard kill the working directory stays locked until `--unlock` (docs/operations.md, faults);
    # then the default profile's rerun-incomplete re-runs the job, which resumes from latest.pt.
    snakemake(["--unlock"], work)
    snakemake(["--cores", "1"], work)
    train_log = (work / "results" / "logs" / "train" / "tiny_spleen" / "click_unet" / "seed0.log").read_text()
    assert f"at epoch {killed_at + 1}" in train_log, train_log[-2000:]
    assert not latest.exists()  # removed once final.pt is written
    history = pd.read_csv(work / MODEL / "loss.csv")
    assert list(history["epoch"]) == list(range(1, cfg["train"]["epochs"] + 1))

    # Same config, same seed, no interruption: the same bytes of demo data and the same numbers.
    fresh = project(tmp_path / "b", cfg)
    snakemake(["--cores", "1"], fresh)
    assert digest(work / "data") == digest(fresh / "data")
    pd.testing.assert_frame_equal(
        history.drop(columns="seconds"), pd.read_csv(fresh / MODEL / "loss.csv").drop(columns="seconds")
    )
    for name in ("runs/tiny_spleen/click_unet/seed0/clicks.csv", "report/table4.csv", "dice_per_click.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(work / "results" / name), pd.read_csv(fresh / "results" / name))
    assert json.loads((work / "results" / "metrics.json").read_text()) == json.loads(
        (fresh / "results" / "metrics.json").read_text()
    )


def test_a_corrupt_case_stops_naming_it_or_is_skipped_and_reported(tmp_path: Path) -> None:
    cfg = one_method_config(epochs=1)
    cfg["demo"] = {"generate": False}
    cfg["evaluate"]["rounds"] = 2
    cfg["report"]["budgets"] = [1, 2]
    cfg["report"]["noc_budget"] = 3
    work = project(tmp_path, cfg)
    make_demo(work / "data", seed=0, n_patients=4, tasks=["Task93_DemoSpleen"])
    task = work / "data" / "Task93_DemoSpleen"
    bad = sorted((task / "labelsTr").glob("*.nii.gz"))[1]
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # truncated, as an interrupted copy leaves it

    failed = snakemake(["--cores", "1"], work, check=False)
    assert failed.returncode != 0 and "Error in rule extract" in failed.stdout + failed.stderr
    log = (work / "results" / "logs" / "extract" / "tiny_spleen.log").read_text()
    assert bad.name in log and "cannot read NIfTI" in log
    # The failed job left nothing Snakemake would take as done: it is scheduled again.
    assert not (work / "results" / "slices" / "tiny_spleen" / "slices.npz").exists()
    assert "extract" in snakemake(["-n", "--quiet", "rules"], work).stdout

    cfg["preprocess"] = {"on_bad_case": "skip"}
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(["--cores", "1"], work)
    case = bad.name.removesuffix(".nii.gz")
    manifest = pd.read_csv(work / "results" / "slices" / "tiny_spleen" / "manifest.csv")
    assert case not in set(manifest["case"]) and manifest["case"].nunique() >= 2
    skipped = pd.read_csv(work / "results" / "report" / "skipped.csv")
    assert list(skipped["case"]) == [case] and bad.name in skipped.loc[0, "reason"]
    assert f"Task93_DemoSpleen / {case}" in (work / "results" / "report" / "table4.md").read_text()
