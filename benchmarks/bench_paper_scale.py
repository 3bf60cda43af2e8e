"""Benchmark: what the paper-scale run costs per method (training s/epoch, peak memory, per-click latency at 256 px).

Every registered method except the ``gdgp_*`` experiment variants (they cost what ``gdgp``
costs), with the MSD config's hyperparameters (``--config``'s ``methods``: the class
defaults, which are the paper-scale settings such as GDGP's 128-px crops, plus that file's
overrides: wider ``auto_unet`` / ``click_unet``). Each method runs in its own process, so
that its peak memory is its own and thread pools do not carry over.

* **Training**: one untimed then ``--steps`` timed steps of the shared trainer's inner loop
  (:func:`gdgp.training.augment.augment_batch` + ``method.train_step``, the simulated
  interaction rounds included, as :func:`gdgp.training.trainer.train_method` runs them) on
  batches of ``--batch`` synthetic slices (an irregular blob in noise). Seconds per epoch
  = mean step x ceil(``--slices`` / ``--batch``).
* **Peak memory** over the training steps: CPU, growth of the process's resident set
  (Linux ``VmHWM``, reset before the steps); CUDA, ``torch.cuda.max_memory_allocated``.
* **Per-click latency**: one interactive session on one slice: the method's first
  interaction, then ``--clicks`` robot corrections; every round's ``predict_batch`` on the
  slice (click encoding + prediction, as :mod:`gdgp.evaluation.loop` calls it; not the
  robot, not the metrics) is timed after two untimed calls; median and p90 of the rounds.
  Automatic methods predict once per slice: as many predictions of the slice are timed.
* **nnunet**: nnU-Net's own pipeline. Export + ``nnUNetv2_plan_and_preprocess`` of
  ``--slices`` slices (timed; the plan's batch size depends on the slice count), then its
  trainer's own iteration (data loader + ``train_step``; ``validation_step``) in this process,
  timed until ``--steps`` iterations or ``--nnunet-budget`` seconds; an epoch is nnU-Net's
  250 iterations + 50 validation iterations (not the slice count). Latency: nnU-Net's
  predictor (sliding window, Gaussian weighting, mirroring) on one slice.

Weights are untrained: the cost does not depend on them. ``--estimate CONFIG`` extrapolates
the measured figures to that workflow config (training and evaluation jobs, sequential and
the longest job).

Usage: ``python benchmarks/bench_paper_scale.py [--device cpu|cuda] [--threads 2] [--methods ...]
[--size 256] [--steps 4] [--slices 400] [--batch 16] [--clicks 20] [--out paper_scale.csv]
[--estimate config/msd.yaml]``
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
RESULT = "RESULT "
COLUMNS = [
    "method",
    "interactive",
    "train_s_per_epoch",
    "step_s",
    "steps_timed",
    "batch",
    "slices",
    "peak_mb",
    "peak_rss_mb",
    "eval_peak_mb",
    "click_median_ms",
    "click_p90_ms",
    "clicks_timed",
    "plan_s",
    "note",
]


# --- synthetic data ------------------------------------------------------------------------
def blob_slices(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` slices (float32 in [0, 1]) with one irregular blob target each (uint8 labels):
    12-40 px radius at 256 px (scaled with ``size``), a smooth background and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    scale = size / 256
    images, labels = [], []
    for _ in range(n):
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        radius = (
            rng.uniform(12, 40)
            * scale
            * (1 + 0.2 * np.sin(rng.integers(2, 6) * np.arctan2(yy - cy, xx - cx) + rng.uniform(0, 2 * np.pi)))
        )
        gt = np.hypot(yy - cy, xx - cx) <= radius
        background = 0.3 + 0.1 * np.sin(xx / (23 * scale) + rng.uniform(0, 6)) * np.cos(yy / (31 * scale))
        image = background + 0.25 * gt + 0.05 * rng.standard_normal((size, size))
        images.append(np.clip(image, 0, 1).astype(np.float32))
        labels.append(gt.astype(np.uint8))
    return np.stack(images), np.stack(labels)


# --- memory --------------------------------------------------------------------------------
def _status_mb(key: str) -> float:
    """A ``/proc/self/status`` memory line (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


class PeakMemory:
    """Peak memory of a block: resident set growth (Linux VmHWM, reset at entry by writing 5
    to /proc/self/clear_refs; without that reset, the process's peak so far) and, on CUDA,
    ``torch.cuda.max_memory_allocated``."""

    def __init__(self, device: Any) -> None:
        self.cuda = device.type == "cuda"

    def __enter__(self) -> PeakMemory:
        import torch

        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.base = _status_mb("VmRSS")
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        self.peak_rss = _status_mb("VmHWM")
        self.growth = self.peak_rss - self.base
        self.cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if self.cuda else float("nan")

    @property
    def peak(self) -> float:
        """The figure of the table: CUDA's peak allocation on a GPU, else the RSS growth."""
        return self.cuda_peak if self.cuda else self.growth


# --- one method, in a worker process -------------------------------------------------------
def click_latencies(method: Any, image: np.ndarray, gt: np.ndarray, clicks: int, sync: Any) -> list[float]:
    """Milliseconds of each round's ``predict_batch`` in one robot session on one slice."""
    from gdgp.clicks.robot import Robot

    robot = Robot(gt)
    method.first_interaction(image, robot)
    prev = np.zeros((1, *image.shape), dtype=np.float32)
    for _ in range(2):  # untimed: first-call allocations, lazy initialisation
        method.predict_batch([image], [list(robot.clicks)], prev)
    times = []
    for _ in range(clicks + 1):
        start = time.perf_counter()
        probs = method.predict_batch([image], [list(robot.clicks)], prev)
        sync()
        times.append(1e3 * (time.perf_counter() - start))
        prev = (probs > 0.5).astype(np.float32)
        if method.interactive:
            robot.next_click(prev[0])
    return times


def _hparams(config: Path, name: str) -> dict[str, Any]:
    cfg = yaml.safe_load(config.read_text()) if config.is_file() else {}
    return dict((cfg.get("methods") or {}).get(name) or {})


def measure_method(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Training step time, peak memory and click latency of one shared-loop method."""
    import torch
    from _timing import device_sync

    from gdgp.device import resolve_device
    from gdgp.methods import build_method
    from gdgp.training.augment import augment_batch, build_augmentation
    from gdgp.training.trainer import TrainConfig

    device = resolve_device(args.device)
    sync = device_sync(device)
    torch.manual_seed(0)
    method = build_method(name, **_hparams(args.config, name)).to(device)
    image, gt = (a[0] for a in blob_slices(1, args.size, seed=1))
    with PeakMemory(device) as eval_mem:
        times = click_latencies(method, image, gt, args.clicks, sync)

    cfg = TrainConfig(batch_size=args.batch)
    images, labels = blob_slices(2 * args.batch, args.size, seed=2)
    optimizer, _ = method.configure_optimizers(cfg.lr, cfg.lr_step, cfg.lr_gamma)
    aug = build_augmentation(cfg.rotate_deg, cfg.scale, cfg.flip_prob)
    aug.set_random_state(seed=0)
    rng = np.random.default_rng(0)

    def step() -> None:
        idx = rng.choice(len(images), args.batch, replace=False)
        batch_images, batch_labels = augment_batch(aug, images[idx], labels[idx])
        method.train_step(batch_images, batch_labels, optimizer, rng)
        sync()

    with PeakMemory(device) as train_mem:
        step()  # untimed
        steps = []
        for _ in range(args.steps):
            start = time.perf_counter()
            step()
            steps.append(time.perf_counter() - start)
    step_s = statistics.fmean(steps)
    return {
        "method": name,
        "interactive": method.interactive,
        "step_s": step_s,
        "steps_timed": len(steps),
        "train_s_per_epoch": step_s * math.ceil(args.slices / args.batch),
        "batch": args.batch,
        "slices": args.slices,
        "peak_mb": train_mem.peak,
        "peak_rss_mb": train_mem.peak_rss,
        "eval_peak_mb": eval_mem.peak,
        "click_median_ms": statistics.median(times),
        "click_p90_ms": float(np.percentile(times, 90)),
        "clicks_timed": len(times),
        "plan_s": float("nan"),
        "note": "" if method.interactive else "automatic: one prediction per slice",
    }


def measure_nnunet(args: argparse.Namespace) -> dict[str, Any]:
    """nnU-Net's plan/preprocess time, its own training iteration, memory and prediction latency."""
    from gdgp.methods import nnunet as nn_mod

    hp = _hparams(args.config, "nnunet")
    work = Path(tempfile.mkdtemp(prefix="bench_nnunet_"))
    try:
        images, labels = blob_slices(args.slices, args.size, seed=2)
        start = time.perf_counter()
        nn_mod.plan_and_preprocess(images, labels, work)
        plan_s = time.perf_counter() - start
        del images, labels
        # nnU-Net reads its folders from the environment when it is imported: set them first.
        os.environ.update(nn_mod._nnunet_env(work, 0))
        import torch
        from _timing import device_sync
        from nnunetv2.run.run_training import get_trainer_from_args

        from gdgp.device import resolve_device
        from gdgp.methods import build_method

        device = resolve_device(args.device)
        torch.backends.cudnn.deterministic = False  # as gdgp.methods.nnunet_train leaves it
        sync = device_sync(device)
        torch.manual_seed(0)
        np.random.seed(0)
        trainer = get_trainer_from_args(
            str(nn_mod.DATASET_ID), "2d", "all", hp.get("trainer", "nnUNetTrainer"), device=device
        )
        iterations = int(hp.get("iterations_per_epoch") or trainer.num_iterations_per_epoch)
        val_iterations = int(hp.get("val_iterations_per_epoch") or trainer.num_val_iterations_per_epoch)
        trainer.on_train_start()
        trainer.on_train_epoch_start()
        load, train, budget_hit = [], [], False
        with PeakMemory(device) as train_mem:
            trainer.train_step(next(trainer.dataloader_train))  # untimed
            sync()
            spent = 0.0
            while len(train) < args.steps:
                if spent > args.nnunet_budget:
                    budget_hit = True
                    break
                t0 = time.perf_counter()
                batch = next(trainer.dataloader_train)
                t1 = time.perf_counter()
                trainer.train_step(batch)
                sync()
                load.append(t1 - t0)
                train.append(time.perf_counter() - t1)
                spent += time.perf_counter() - t0
            trainer.on_validation_epoch_start()
            with torch.no_grad():
                t0 = time.perf_counter()
                trainer.validation_step(next(trainer.dataloader_val))
                sync()
                val_s = time.perf_counter() - t0
        iteration_s = statistics.fmean(load) + statistics.fmean(train)
        epoch_s = iterations * iteration_s + val_iterations * val_s
        batch_size, patch = trainer.batch_size, trainer.configuration_manager.patch_size
        axes = trainer.inference_allowed_mirroring_axes
        state = {
            "plans": json.dumps(trainer.plans_manager.plans),
            "dataset_json": json.dumps(trainer.dataset_json),
            "trainer_name": trainer.__class__.__name__,
            "mirroring_axes": json.dumps(None if axes is None else list(axes)),
        }
        del trainer
        method = build_method("nnunet", **hp)
        method.load_extra_state(state)
        method.to(device)
        image, gt = (a[0] for a in blob_slices(1, args.size, seed=1))
        with PeakMemory(device) as eval_mem:
            times = click_latencies(method, image, gt, args.clicks, sync)
        note = (
            f"nnU-Net's own trainer: epoch = {iterations} iterations of batch {batch_size} "
            f"({'x'.join(map(str, patch))} patches; mean load {1e3 * statistics.fmean(load):.0f} ms + "
            f"train_step {1e3 * statistics.fmean(train):.0f} ms) + {val_iterations} validation iterations "
            f"({1e3 * val_s:.0f} ms each); automatic: one prediction per slice (sliding window + mirroring)"
        )
        if budget_hit:
            note += f"; only {len(train)} iteration(s) timed within the {args.nnunet_budget:.0f} s budget"
        return {
            "method": "nnunet",
            "interactive": False,
            "step_s": iteration_s,
            "steps_timed": len(train),
            "train_s_per_epoch": epoch_s,
            "batch": batch_size,
            "slices": args.slices,
            "peak_mb": train_mem.peak,
            "peak_rss_mb": train_mem.peak_rss,
            "eval_peak_mb": eval_mem.peak,
            "click_median_ms": statistics.median(times),
            "click_p90_ms": float(np.percentile(times, 90)),
            "clicks_timed": len(times),
            "plan_s": plan_s,
            "note": note,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def worker(args: argparse.Namespace) -> None:
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    row = measure_nnunet(args) if args.worker == "nnunet" else measure_method(args, args.worker)
    row["peak_process_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(RESULT + json.dumps(row), flush=True)


# --- the driver: one worker per method, the table, the estimate ------------------------------
def default_methods() -> list[str]:
    from gdgp.experiment_plan import VARIANT_SETTINGS
    from gdgp.methods import METHODS

    return [name for name in METHODS if name not in VARIANT_SETTINGS]


def run_worker(args: argparse.Namespace, name: str, forwarded: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    if args.threads > 0:  # NumPy's BLAS and OpenMP pools too, not only torch's
        env.update({k: str(args.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, *forwarded]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"method": name, "note": f"not measured: over the {args.timeout} s limit per method"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"method": name, "note": "not measured: worker failed: " + " | ".join(tail)}


def _fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| method | train s/epoch | peak MB | click median ms | click p90 ms |", "|---|---|---|---|---|"]
    for r in rows:
        mark = "" if r.get("interactive", True) else " (auto)"
        lines.append(
            f"| {r['method']}{mark} | {_fmt(r.get('train_s_per_epoch'), 1)} | {_fmt(r.get('peak_mb'), 0)} | "
            f"{_fmt(r.get('click_median_ms'), 1)} | {_fmt(r.get('click_p90_ms'), 1)} |"
        )
    return "\n".join(lines)


def estimate(rows: list[dict[str, Any]], config: Path) -> str:
    """Extrapolate the measured figures to a workflow config: every training and evaluation job.

    Training: epochs x measured step x ceil(n_train / batch) (nnU-Net: its epochs, 1000 unless
    set, x its measured epoch, + planning scaled by the slice count). Evaluation: per model,
    (test + validation + test x other protocols) slices x (rounds + 1 predictions for
    interactive methods, 1 for automatic ones) x the measured median; variants like gdgp on
    the test slices only. Neither the metrics nor the report are counted.
    """
    from gdgp.experiment_plan import VARIANT_SETTINGS

    cfg = yaml.safe_load(config.read_text())
    by_name = {r["method"]: r for r in rows if r.get("step_s") is not None}
    seeds = len((cfg.get("train") or {}).get("seeds", [0]))
    epochs = int((cfg.get("train") or {}).get("epochs", 300))
    batch = int((cfg.get("train") or {}).get("batch_size", 16))
    ev = cfg.get("evaluate") or {}
    rounds = int(ev.get("rounds", 20))
    other_protocols = len(set(ev.get("protocols", [])) - {ev.get("protocol", "ritm")})
    exp = cfg.get("experiments") or {}
    variants = list(exp.get("variants", VARIANT_SETTINGS))
    datasets = cfg["datasets"]
    jobs: list[tuple[str, str, float, float]] = []  # (dataset, method, train s, evaluate s)
    missing = sorted(set(cfg.get("methods") or {}) - set(by_name))

    def train_s(name: str, n_train: int) -> float:
        r = by_name["gdgp" if name in VARIANT_SETTINGS else name]
        if name == "nnunet":
            nn_epochs = int(((cfg.get("methods") or {}).get("nnunet") or {}).get("epochs") or 1000)
            return nn_epochs * r["train_s_per_epoch"] + r["plan_s"] * n_train / r["slices"]
        return epochs * r["step_s"] * math.ceil(n_train / batch)

    def eval_s(name: str, slices: int) -> float:
        r = by_name["gdgp" if name in VARIANT_SETTINGS else name]
        return slices * (rounds + 1 if r["interactive"] else 1) * r["click_median_ms"] / 1e3

    for d, dc in datasets.items():
        for m in cfg.get("methods") or {}:
            if m in by_name:
                n_eval = dc["n_test"] * (1 + other_protocols) + dc.get("n_val", 0)
                jobs += [(d, m, train_s(m, dc["n_train"]), eval_s(m, n_eval))] * seeds
        if d in (exp.get("datasets") or []) and "gdgp" in by_name:
            jobs += [(d, v, train_s(v, dc["n_train"]), eval_s(v, dc["n_test"])) for v in variants] * seeds
    total_train = sum(j[2] for j in jobs)
    total_eval = sum(j[3] for j in jobs)
    longest = max(jobs, key=lambda j: j[2])
    longest_eval = max(jobs, key=lambda j: j[3])  # one job per model: test, validation, other protocols
    per_method: dict[str, float] = {}
    for _, m, t, e in jobs:
        key = "gdgp variants" if m in VARIANT_SETTINGS else m
        per_method[key] = per_method.get(key, 0.0) + t + e
    lines = [
        f"Estimate for {config} ({len(jobs)} trained models: {len(datasets)} datasets, {seeds} seeds, "
        f"{epochs} epochs, batch {batch}; {rounds} rounds, {other_protocols} extra protocols), from the "
        f"figures above:",
        f"  training   {total_train / 3600:10.1f} h   evaluation {total_eval / 3600:8.1f} h   "
        f"sequential total {(total_train + total_eval) / 3600:.1f} h",
        f"  longest job: train {longest[1]} on {longest[0]}, {longest[2] / 3600:.1f} h; "
        f"evaluate {longest_eval[1]} on {longest_eval[0]}, {longest_eval[3] / 3600:.1f} h",
        "  per method (train + evaluate, all datasets and seeds): "
        + ", ".join(f"{m} {s / 3600:.1f} h" for m, s in sorted(per_method.items(), key=lambda kv: -kv[1])),
    ]
    if missing:
        lines.append(f"  not counted (not measured): {', '.join(missing)}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    ap.add_argument("--threads", type=int, default=2, help="torch (and BLAS) CPU threads; 0: their defaults")
    ap.add_argument("--methods", nargs="+", default=None, help="default: every method but the gdgp_* variants")
    ap.add_argument("--size", type=int, default=256, help="slice side in px (the paper's 256)")
    ap.add_argument("--steps", type=int, default=4, help="timed training steps (after one untimed)")
    ap.add_argument("--batch", type=int, default=16, help="training batch (config/msd.yaml's train.batch_size)")
    ap.add_argument(
        "--slices",
        type=int,
        default=400,
        help="training slices per epoch (the paper's Table 1: 200-400 per target); nnU-Net plans on this many",
    )
    ap.add_argument("--clicks", type=int, default=20, help="robot corrections of the timed session (timed: clicks + 1)")
    ap.add_argument("--nnunet-budget", type=float, default=60.0, help="seconds of timed nnU-Net iterations at most")
    ap.add_argument("--config", type=Path, default=REPO / "config" / "msd.yaml", help="hyperparameters (methods)")
    ap.add_argument("--estimate", type=Path, default=None, help="extrapolate to this workflow config")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per method at most")
    ap.add_argument("--out", type=Path, default=None, help="CSV of the table (and the details)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    forwarded = [
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--size",
        str(args.size),
        "--steps",
        str(args.steps),
        "--batch",
        str(args.batch),
        "--slices",
        str(args.slices),
        "--clicks",
        str(args.clicks),
        "--nnunet-budget",
        str(args.nnunet_budget),
        "--config",
        str(args.config),
    ]
    import torch

    print(
        f"torch {torch.__version__}, device {args.device}, threads {args.threads}, slices {args.size}x{args.size}, "
        f"batch {args.batch}, {args.steps} timed steps, epoch = {args.slices} slices, "
        f"{args.clicks + 1} timed predictions, hyperparameters from {args.config}",
        flush=True,
    )
    rows = []
    for name in args.methods or default_methods():
        start = time.perf_counter()
        row = run_worker(args, name, forwarded)
        row["load_1min"] = os.getloadavg()[0]  # this worker's threads included: more means a busy host
        rows.append(row)
        print(
            f"  {name}: {time.perf_counter() - start:.0f} s, load {row['load_1min']:.1f}"
            + (f" ({row['note']})" if row.get("note") else ""),
            flush=True,
        )
    print()
    print(markdown_table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[*COLUMNS, "peak_process_mb", "load_1min"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    if args.estimate:
        print()
        print(estimate(rows, args.estimate))


if __name__ == "__main__":
    main()
