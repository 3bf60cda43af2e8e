"""Pick the torch device for a job: CUDA when the job has one, else CPU."""

from __future__ import annotations

import torch

from gdgp.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` if a GPU is visible (``CUDA_VISIBLE_DEVICES`` respected), else ``cpu``.

    On CUDA, cuDNN is told to pick deterministic convolution algorithms and not to
    benchmark (autotuning picks per run, so two runs could differ): the same config gives
    the same numbers on the same GPU, as it does on the CPU.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but no CUDA device is visible")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from err
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return device
