"""The benchmark scripts' timing helper and the GP benchmark's report, on tiny sizes."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

from _timing import alternating_blocks_ms, median_ms  # noqa: E402


def test_alternating_blocks_time_each_function_in_turn_after_its_warmup() -> None:
    calls: list[str] = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = alternating_blocks_ms(fns, blocks=3, per_block=2, warmup=1)
    # each block: a's warm-up + 2 timed calls, then b's; three times over
    assert calls == (["a"] * 3 + ["b"] * 3) * 3
    assert {k: [len(b) for b in v] for k, v in times.items()} == {"a": [2, 2, 2], "b": [2, 2, 2]}
    assert all(t >= 0.0 for v in times.values() for b in v for t in b)


def test_median_ms_times_the_repeats_after_the_warmup() -> None:
    calls: list[int] = []
    ms = median_ms(lambda: calls.append(1), repeats=5, warmup=3)
    assert len(calls) == 8 and 0.0 <= ms < 1e3


@pytest.mark.slow
def test_bench_gp_reports_speedups_and_errors_against_sklearn() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_gp.py"), "--repeats", "4", "--sizes", "16", "--threads", "1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line for line in out.splitlines() if "gdgp head" in line]
    assert len(rows) == 4, out
    for line in rows:
        speedup = float(re.search(r"speed-up x\s*([0-9.]+)", line).group(1))
        err = float(re.search(r"max\|d(?:prob|mean)\| ([0-9.e+-]+)", line).group(1))
        assert speedup > 0.0
        assert err < 1e-5, line  # same numbers as scikit-learn (float32 rounding)


@pytest.mark.slow
def test_bench_paper_scale_measures_each_method_and_extrapolates(tmp_path: Path) -> None:
    root = BENCH.parent
    out = tmp_path / "scale.csv"
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_paper_scale.py"),
            "--methods",
            "gdgp",
            "nnunet",
            "--size",
            "32",
            "--slices",
            "8",
            "--batch",
            "2",
            "--steps",
            "1",
            "--clicks",
            "3",
            "--threads",
            "1",
            "--config",
            str(root / "tests" / "workflow" / "config.yaml"),
            "--estimate",
            str(root / "tests" / "workflow" / "config.yaml"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    rows = list(csv.DictReader(out.open()))
    assert [r["method"] for r in rows] == ["gdgp", "nnunet"], run.stdout + run.stderr
    for r in rows:
        assert float(r["train_s_per_epoch"]) > 0 and float(r["click_median_ms"]) > 0, r
        assert float(r["click_p90_ms"]) >= float(r["click_median_ms"]) and int(r["clicks_timed"]) == 4
        assert float(r["peak_rss_mb"]) > 0
        assert r["method"] in run.stdout.split("| method |")[1]  # the Markdown table
    nnunet = rows[1]
    assert nnunet["interactive"] == "False" and float(nnunet["plan_s"]) > 0 and "iterations of batch" in nnunet["note"]
    assert "Estimate for" in run.stdout and "longest job: train" in run.stdout  # the tiny config has no nnunet
    assert "not counted (not measured): auto_unet, click_unet" in run.stdout


@pytest.mark.slow
def test_bench_dropout_times_both_dropouts() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / "bench_dropout.py"), "--size", "32", "--batch", "2", "--repeats", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    step = re.search(r"torch dropout\s+([0-9.]+) ms\s+with FastDropout\s+([0-9.]+) ms", run.stdout)
    assert step and float(step.group(1)) > 0 and float(step.group(2)) > 0, run.stdout


def test_bench_trained_latency_times_every_round_of_each_session(tmp_path: Path) -> None:
    import numpy as np
    from bench_trained_latency import click_latencies_ms

    from gdgp.methods import build_method
    from gdgp.training.checkpoint import save_checkpoint

    yy, xx = np.mgrid[:32, :32]
    labels = np.stack([np.hypot(yy - 16, xx - c) < 6 for c in (12, 18)])
    images = (0.3 + 0.4 * labels).astype(np.float32)
    timed = {}
    for name, hp in (("click_unet", {"channels": [4, 8]}), ("auto_unet", {"channels": [4, 8]})):
        path = tmp_path / f"{name}.pt"
        save_checkpoint(path, build_method(name, **hp), None, None, 0, [], {})
        method, times = click_latencies_ms(path, images, labels, clicks=3)
        assert method == name and all(t > 0 for t in times)
        timed[name] = len(times)
    # first interaction + 3 corrections per slice (an automatic method's one prediction as often)
    assert timed == {"click_unet": 2 * 4, "auto_unet": 2 * 4}
