"""The shared training loop: every method trains through :func:`train_method`.

Reproducible and resumable: each epoch reseeds torch, NumPy and the MONAI transforms from
(seed, epoch), and ``latest.pt`` is written (atomically) after every epoch, so a job killed
at epoch k and re-run continues at k + 1 and ends with the same weights as an
uninterrupted run. ``final.pt`` is written at the end and ``latest.pt`` then removed.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from gdgp.atomic import atomic_path
from gdgp.data.slice_set import SliceSet
from gdgp.methods import ExternallyTrainedMethod, Method, build_method, get_method_class
from gdgp.schema_defaults import schema_default
from gdgp.training.augment import augment_batch, build_augmentation
from gdgp.training.checkpoint import read_checkpoint, save_checkpoint
from gdgp.training.pretrained import record_pretrained

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by all methods: the workflow config's ``train``, each field
    its key's name (``seed``: one of ``train.seeds``). Defaults are the config schema's
    (:mod:`gdgp.schema_defaults`)."""

    epochs: int = schema_default("train.epochs")
    batch_size: int = schema_default("train.batch_size")
    lr: float = schema_default("train.lr")
    lr_step: int = schema_default("train.lr_step")
    lr_gamma: float = schema_default("train.lr_gamma")
    rotate_deg: float = schema_default("train.rotate_deg")
    scale: float = schema_default("train.scale")
    flip_prob: float = schema_default("train.flip_prob")
    seed: int = schema_default("train.seeds")[0]

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "lr_step"):
            if getattr(self, key) < 1:
                raise ValueError(f"train.{key} must be >= 1, got {getattr(self, key)}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def _resume_state(latest: Path, method: Method, cfg: TrainConfig) -> dict[str, Any] | None:
    if not latest.exists():
        return None
    state = read_checkpoint(latest)
    if (
        state["method"] != method.name
        or state["init_kwargs"] != method.hparams
        or state["train_config"] != dataclasses.asdict(cfg)
    ):
        log.warning("%s was written with other settings; starting from epoch 0", latest)
        return None
    return state


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    """loss.csv: epoch, loss, lr, seconds, then the method's loss components and learned parameters."""
    frame = pd.DataFrame(history)
    first = ["epoch", "loss", "lr", "seconds"]
    with atomic_path(path) as tmp:
        frame[first + [c for c in frame.columns if c not in first]].to_csv(tmp, index=False)


def _train_external(
    method: ExternallyTrainedMethod, train_set: SliceSet, final_path: Path, loss_path: Path, cfg: TrainConfig
) -> pd.DataFrame:
    """A method with its own training framework: one call, then the same outputs as the loop.

    The framework's files live in ``<model dir>/work/`` while it runs and are removed after
    ``final.pt`` (which holds everything prediction needs) is written. A killed job leaves
    them behind and its re-run resumes through the framework's own mechanism (nnU-Net's
    ``--c``: :meth:`gdgp.methods.nnunet.NNUNet.train_external`).
    """
    work = final_path.parent / "work"
    history = method.train_external(train_set.images, train_set.labels, work, cfg.epochs, cfg.seed)
    _write_history(loss_path, history)
    save_checkpoint(final_path, method, None, None, len(history), history, dataclasses.asdict(cfg))
    shutil.rmtree(work, ignore_errors=True)
    return pd.DataFrame(history)


def train_method(
    method_name: str,
    hparams: dict[str, Any],
    train_set: SliceSet,
    final_path: str | Path,
    loss_path: str | Path,
    cfg: TrainConfig,
    device: torch.device | str = "cpu",
    stop_after_epoch: int | None = None,
) -> pd.DataFrame:
    """Train one method on the training slices; write ``final.pt`` and ``loss.csv``.

    Args:
        method_name: registry name.
        hparams: the method's hyperparameters (``methods.<name>`` in the config).
        train_set: the training slices (images (N, H, W) in [0, 1], binary labels).
        final_path: where the final checkpoint goes; ``latest.pt`` lives beside it.
        loss_path: per-epoch loss CSV (epoch, loss, lr, seconds).
        cfg: optimisation settings.
        device: torch device.
        stop_after_epoch: stop after this epoch without writing ``final.pt`` (used by
            tests to simulate a killed job).

    A pretrained method is not trained: ``final.pt`` is the record of its weights file
    (:mod:`gdgp.training.pretrained`) and ``loss.csv`` has no epoch rows.

    Returns:
        The loss history as a DataFrame.

    Raises:
        ConfigError, InputDataError: a pretrained method's weights file is not set or missing
            (nothing is written).
    """
    final_path, loss_path = Path(final_path), Path(loss_path)
    cls = get_method_class(method_name)
    if cls.pretrained:
        log.info("%s is pretrained: recording its weights file instead of training", method_name)
        return record_pretrained(cls, hparams, final_path, loss_path, dataclasses.asdict(cfg))
    latest = final_path.with_name("latest.pt")
    torch.manual_seed(cfg.seed)
    method = build_method(method_name, **hparams).to(device)
    if isinstance(method, ExternallyTrainedMethod):  # the class that sets external_training
        return _train_external(method, train_set, final_path, loss_path, cfg)
    optimizer, scheduler = method.configure_optimizers(cfg.lr, cfg.lr_step, cfg.lr_gamma)
    history: list[dict[str, float]] = []
    start = 0
    state = _resume_state(latest, method, cfg)
    if state is not None:
        method.network.load_state_dict(state["network_weights"])
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        history, start = list(state["history"]), int(state["epoch"])
        log.info("resuming %s from %s at epoch %d", method_name, latest, start + 1)
    aug = build_augmentation(cfg.rotate_deg, cfg.scale, cfg.flip_prob)
    n = len(train_set.images)
    bar = tqdm(range(start, cfg.epochs), desc=f"train {method_name}", unit="epoch", initial=start, total=cfg.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        seed = _epoch_seed(cfg.seed, epoch)
        torch.manual_seed(seed)
        aug.set_random_state(seed=seed % 2**32)
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        sums: dict[str, float] = {}
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            images, labels = augment_batch(aug, train_set.images[idx], train_set.labels[idx])
            for key, value in method.train_step(images, labels, optimizer, rng).items():
                sums[key] = sums.get(key, 0.0) + value * len(idx)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        history.append(
            {
                "epoch": epoch + 1,
                "loss": sums["loss"] / n,
                "lr": lr,
                "seconds": time.perf_counter() - t0,
                **{k: v / n for k, v in sums.items() if k != "loss"},
                **method.learned_parameters(),
            }
        )
        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
        log.info("epoch %d/%d loss %.4f (%.1f s)", epoch + 1, cfg.epochs, history[-1]["loss"], history[-1]["seconds"])
        save_checkpoint(latest, method, optimizer, scheduler, epoch + 1, history, dataclasses.asdict(cfg))
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < cfg.epochs:
            return pd.DataFrame(history)
    _write_history(loss_path, history)
    save_checkpoint(final_path, method, optimizer, scheduler, cfg.epochs, history, dataclasses.asdict(cfg))
    latest.unlink(missing_ok=True)
    return pd.DataFrame(history)
