"""The top-level public API (``gdgp.Method`` & co., loaded lazily) and docs/adding-a-method.md's example."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import gdgp
from gdgp.clicks.robot import Robot
from gdgp.methods import METHODS
from gdgp.methods.base import EncodedNetworkMethod, ExternallyTrainedMethod, Method, PretrainedMethod

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-a-method.md"


def _run(code: str, cwd: Path | None = None) -> None:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr


def test_import_gdgp_loads_neither_torch_nor_monai() -> None:
    _run(
        """
        import sys
        import gdgp
        assert "__version__" in dir(gdgp) and "Method" in dir(gdgp)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "monai", "numpy") or m == "gdgp.methods")
        assert not heavy, heavy
        """
    )


def test_public_names_are_the_registry_s_and_the_base_s() -> None:
    assert set(gdgp.__all__) == {
        "Method",
        "EncodedNetworkMethod",
        "ExternallyTrainedMethod",
        "PretrainedMethod",
        "get_method_class",
        "__version__",
    }
    assert (gdgp.Method, gdgp.EncodedNetworkMethod, gdgp.ExternallyTrainedMethod, gdgp.PretrainedMethod) == (
        Method,
        EncodedNetworkMethod,
        ExternallyTrainedMethod,
        PretrainedMethod,
    )
    assert gdgp.get_method_class("click_unet") is METHODS["click_unet"]
    assert set(gdgp.__all__) <= set(dir(gdgp))
    with pytest.raises(AttributeError, match="module 'gdgp' has no attribute 'nope'"):
        gdgp.nope  # noqa: B018 - the attribute access is the test


def test_a_plugin_importing_gdgp_causes_no_circular_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin module that subclasses ``gdgp.Method`` at import time, imported before and after the registry."""
    (tmp_path / "gdgp_plugin_probe.py").write_text(
        textwrap.dedent(
            """
            import gdgp
            from gdgp.methods.settings import MethodSettings

            class Probe(gdgp.ExternallyTrainedMethod):
                name = "probe"
                Settings = MethodSettings

                def predict_batch(self, images, clicks, prev_masks):
                    return images

                def train_external(self, images, labels, work_dir, epochs, seed):
                    return []
            """
        )
    )
    _run("import gdgp_plugin_probe, gdgp.methods; gdgp_plugin_probe.Probe()", cwd=tmp_path)  # plugin first
    monkeypatch.syspath_prepend(str(tmp_path))  # this process has the registry loaded: the plugin second
    monkeypatch.delitem(sys.modules, "gdgp_plugin_probe", raising=False)
    assert issubclass(importlib.import_module("gdgp_plugin_probe").Probe, ExternallyTrainedMethod)


def test_the_docs_example_method_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/adding-a-method.md, executed; the example method then predicts and trains."""
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```", DOC.read_text(), flags=re.S | re.M)
    assert blocks, f"{DOC}: no python block"
    module = types.ModuleType("adding_a_method_example")  # a real module: dataclasses look their class's up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for _indent, code in blocks:
        exec(compile(textwrap.dedent(code), str(DOC), "exec"), module.__dict__)
    cls = module.MyMethod
    assert issubclass(cls, gdgp.EncodedNetworkMethod)
    m = cls(channels=[4, 8], sigma=3.0)
    gt = np.zeros((16, 16), bool)
    gt[4:12, 5:11] = True
    images = np.random.default_rng(0).random((2, 16, 16), dtype=np.float32)
    robots = [Robot(gt), Robot(gt)]
    clicks = [m.first_interaction(img, r) for img, r in zip(images, robots, strict=True)]
    assert [len(c) for c in clicks] == [1, 1]
    assert m.encode(images[0], clicks[0], gt).shape == (3, 16, 16)
    probs = m.predict_batch(images, clicks, np.zeros_like(images))
    assert probs.shape == (2, 16, 16) and 0 <= probs.min() <= probs.max() <= 1
    opt, _ = m.configure_optimizers(1e-3, 10, 0.5)
    assert np.isfinite(m.train_step(images, np.stack([gt, gt]).astype(np.uint8), opt, np.random.default_rng(0))["loss"])
    with pytest.raises(gdgp.errors.ConfigError, match="method 'my_method': sigma must be > 0 px"):
        cls(sigma=0.0)
