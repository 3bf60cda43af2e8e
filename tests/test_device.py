"""Device selection: CUDA when visible, CPU otherwise, clear error for impossible requests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from gdgp.device import resolve_device
from gdgp.errors import ConfigError


def test_auto_picks_cuda_only_when_visible() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_gpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda:0")


def test_unknown_device_name() -> None:
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_hidden_gpus_mean_cpu() -> None:
    # A job given no GPU (CUDA_VISIBLE_DEVICES empty, as Slurm sets it) runs on the CPU,
    # whatever the machine has; checked in a fresh interpreter (CUDA initialises once).
    code = "from gdgp.device import resolve_device; print(resolve_device('auto'))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_jobs_use_deterministic_cudnn() -> None:
    assert resolve_device("auto").type == "cuda"
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
