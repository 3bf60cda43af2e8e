"""Pretrained methods: the train job records the weights file instead of training.

A pretrained method (``pretrained = True`` on its class, e.g. a SAM adapter) is not trained: its
train job checks the weights file ``methods.<name>.checkpoint`` exists and writes, at the
checkpoint's path, a record in the checkpoint format (no weights) with the file's absolute path,
sha256, licence and source, and a ``loss.csv`` with no epoch rows. The evaluate stage rebuilds
the method from the record, refuses a file whose sha256 changed since and loads it with
:meth:`gdgp.methods.base.Method.load_pretrained`. Weights are never downloaded at run time: a
missing file stops the train job with where to obtain it and its licence, and writes nothing.
``methods.<name>.random_weights: true`` (tests and CI only) needs no file: the network keeps its
seeded random initialisation and the report marks the row "random weights, not a result".
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from gdgp import __version__
from gdgp.atomic import atomic_path
from gdgp.errors import ConfigError, InputDataError
from gdgp.methods import Method, build_method, method_settings

#: The header of a pretrained method's loss.csv (no epoch rows: it was not trained here).
LOSS_HEADER = ["epoch", "loss", "lr", "seconds"]


def file_sha256(path: Path) -> str:
    """The file's sha256, read in blocks (weights files are gigabytes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _obtain(cls: type[Method]) -> str:
    source = cls.weights_source or "the method's model card (its class sets no weights_source)"
    licence = cls.weights_licence or "not stated by the method"
    return f"obtain it from {source} (licence: {licence})"


def weights_file(cls: type[Method], settings: dict[str, Any]) -> Path:
    """The absolute path of ``methods.<name>.checkpoint`` (relative to the working directory).

    Raises:
        ConfigError: the setting is empty.
        InputDataError: the file does not exist; the message says where to obtain it and its licence.
    """
    name, written = cls.name, str(settings.get("checkpoint") or "")
    hint = (
        "weights are never downloaded at run time; for a test without weights set "
        f"methods.{name}.random_weights: true (the report marks it, never a result)"
    )
    if not written:
        raise ConfigError(
            f"method {name!r} is pretrained and methods.{name}.checkpoint (its weights file) is not set: "
            f"{_obtain(cls)} and set methods.{name}.checkpoint to its path; {hint}"
        )
    path = Path(written).expanduser().resolve()
    if not path.is_file():
        raise InputDataError(
            f"method {name!r}: the pretrained weights file {path} (methods.{name}.checkpoint = {written!r}) "
            f"does not exist: {_obtain(cls)}, put it there or set methods.{name}.checkpoint to its path; {hint}"
        )
    return path


def _check_settings(cls: type[Method], settings: dict[str, Any]) -> None:
    missing = [key for key in ("checkpoint", "random_weights") if key not in settings]
    if missing:
        raise ConfigError(
            f"method {cls.name!r} is pretrained but its Settings lacks {missing}: a pretrained method's settings "
            "have checkpoint: str (the weights file) and random_weights: bool (docs/pretrained.md)"
        )


def record_pretrained(
    cls: type[Method],
    hparams: dict[str, Any],
    final_path: Path,
    loss_path: Path,
    train_config: dict[str, Any],
) -> pd.DataFrame:
    """The train job of a pretrained method: check the weights file, write the record and an
    epoch-less ``loss.csv``; nothing is written when the file is missing.

    Returns:
        The (empty) loss history.
    """
    settings = method_settings(cls.name, hparams)
    _check_settings(cls, settings)
    random = bool(settings["random_weights"])
    path = None if random else weights_file(cls, settings)
    info = {
        "checkpoint": "" if path is None else str(path),
        "sha256": "" if path is None else file_sha256(path),
        "licence": cls.weights_licence,
        "source": cls.weights_source,
        "trained_on": list(cls.trained_on),
        "random_weights": random,
    }
    state: dict[str, Any] = {
        "method": cls.name,
        "init_kwargs": settings,
        "extra_state": {},
        "network_weights": None,
        "optimizer_state": None,
        "scheduler_state": None,
        "epoch": 0,
        "history": [],
        "train_config": train_config,
        "gdgp_version": __version__,
        "pretrained": info,
    }
    history = pd.DataFrame(columns=LOSS_HEADER)
    with atomic_path(loss_path) as tmp:
        history.to_csv(tmp, index=False)
    with atomic_path(final_path) as tmp:
        torch.save(state, tmp)
    return history


def load_pretrained_record(state: dict[str, Any], record: Path) -> Method:
    """Rebuild a pretrained method from its train record: the weights file's sha256 must still be
    the recorded one; random weights are re-drawn from the training seed (same network every load).

    Raises:
        InputDataError: the weights file is gone, changed since the train job, or cannot be loaded.
    """
    info = state["pretrained"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(state.get("train_config", {}).get("seed", 0)))
        method = build_method(state["method"], **state["init_kwargs"])
    if info["random_weights"]:
        return method
    path = Path(info["checkpoint"])
    rerun = f"re-run its train job (delete {record} or snakemake --forcerun train)"
    if not path.is_file():
        raise InputDataError(
            f"{record}: method {state['method']!r} was recorded with the weights file {path}, which no longer "
            f"exists; put it back or {rerun}"
        )
    digest = file_sha256(path)
    if digest != info["sha256"]:
        raise InputDataError(
            f"{record}: the weights file {path} of method {state['method']!r} changed since its train job "
            f"(sha256 recorded {info['sha256']}, now {digest}); restore it or {rerun}"
        )
    try:
        method.load_pretrained(path)
    except Exception as err:  # the method's loader: any failure is this file's
        raise InputDataError(
            f"{path}: method {state['method']!r} cannot load these weights: {type(err).__name__}: {err}"
        ) from err
    return method


__all__ = ["LOSS_HEADER", "file_sha256", "load_pretrained_record", "record_pretrained", "weights_file"]
