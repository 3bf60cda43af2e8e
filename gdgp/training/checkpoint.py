"""Checkpoints hold plain data only (weights, optimizer state, epoch, init kwargs), never pickled objects.

The method is rebuilt as ``get_method_class(name)(**init_kwargs)`` and its weights loaded, as
nnU-Net rebuilds its trainer from ``init_args``. A pretrained method's checkpoint is the record of
its weights file instead (:mod:`gdgp.training.pretrained`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gdgp import __version__
from gdgp.atomic import atomic_path
from gdgp.errors import InputDataError
from gdgp.methods import Method, build_method
from gdgp.training.pretrained import load_pretrained_record


def save_checkpoint(
    path: str | Path,
    method: Method,
    optimizer: torch.optim.Optimizer | None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    epoch: int,
    history: list[dict[str, float]],
    train_config: dict[str, Any],
) -> None:
    """Write a checkpoint atomically (temporary file, then rename).

    ``optimizer``/``scheduler`` are ``None`` for externally trained methods (nnU-Net keeps
    its own); their network is rebuilt from ``extra_state`` (plain strings) before loading.
    """
    state = {
        "method": method.name,
        "init_kwargs": method.hparams,
        "extra_state": method.extra_state(),
        "network_weights": method.network.state_dict(),
        "optimizer_state": None if optimizer is None else optimizer.state_dict(),
        "scheduler_state": None if scheduler is None else scheduler.state_dict(),
        "epoch": epoch,
        "history": history,
        "train_config": train_config,
        "gdgp_version": __version__,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint's raw dict (weights-only unpickling: plain data and tensors)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise InputDataError(f"{path}: cannot read checkpoint ({err})") from err


def load_method(path: str | Path, device: torch.device | str = "cpu") -> Method:
    """Rebuild the method stored in a checkpoint, weights loaded, on ``device`` (a pretrained
    method's record: its weights file checked against the recorded sha256, then loaded)."""
    state = read_checkpoint(path)
    if state.get("pretrained") is not None:
        return load_pretrained_record(state, Path(path)).to(device)
    method = build_method(state["method"], **state["init_kwargs"])
    method.load_extra_state(state.get("extra_state") or {})
    method.network.load_state_dict(state["network_weights"])
    return method.to(device)
