"""The registry of benchmarked methods: the one place a new method is registered.

A built-in method is one module with its class and the class's ``Settings`` (its hyperparameters,
their defaults and checks: :mod:`gdgp.methods.settings`), plus one line in :data:`METHODS`. A
method from another installed package (a plugin, entry-point group ``gdgp.methods``:
:mod:`gdgp.plugins`) is found by the same lookups, its entry points read at the first one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gdgp import plugins
from gdgp.errors import ConfigError
from gdgp.methods.auto_unet import AutoUNet
from gdgp.methods.base import EncodedNetworkMethod, ExternallyTrainedMethod, Method, PretrainedMethod
from gdgp.methods.bs_iris import BSIRIS
from gdgp.methods.click_unet import ClickUNet
from gdgp.methods.deepigeos import DeepIGeoS
from gdgp.methods.dextr import DEXTR
from gdgp.methods.gdgp import GDGP
from gdgp.methods.gdgp_variants import VARIANTS
from gdgp.methods.intercnn import InterCNN
from gdgp.methods.mideepseg import MIDeepSeg
from gdgp.methods.nnunet import NNUNet
from gdgp.methods.sam import SAM, MedSAM, SAMBox
from gdgp.methods.sam2 import SAM2, SAM2Box
from gdgp.methods.settings import MethodSettings, build_settings
from gdgp.methods.tis import TIS

METHODS: dict[str, type[Method]] = {
    AutoUNet.name: AutoUNet,
    ClickUNet.name: ClickUNet,
    GDGP.name: GDGP,
    NNUNet.name: NNUNet,
    DEXTR.name: DEXTR,
    InterCNN.name: InterCNN,
    DeepIGeoS.name: DeepIGeoS,
    MIDeepSeg.name: MIDeepSeg,
    BSIRIS.name: BSIRIS,
    TIS.name: TIS,
    **{variant.name: variant for variant in VARIANTS},
    SAM.name: SAM,
    SAMBox.name: SAMBox,
    MedSAM.name: MedSAM,
    SAM2.name: SAM2,
    SAM2Box.name: SAM2Box,
}


def method_names() -> list[str]:
    """Every method's name: the built-ins (:data:`METHODS`), then the installed plugins' (not imported)."""
    return [*METHODS, *(name for name in sorted(plugins.plugins()) if name not in METHODS)]


def plugin_of(name: str) -> plugins.Plugin | None:
    """The plugin that registers ``name`` (None for a built-in or an unknown name).

    Raises:
        ConfigError: a name clash (a built-in's name, or two plugins with one name).
    """
    found = plugins.plugins().get(name)
    return None if not found else plugins.check_name(name, found, METHODS.keys())


def get_method_class(name: str) -> type[Method]:
    """Look a method up by name: a built-in, else an installed plugin (imported now, once).

    Raises:
        ConfigError: an unknown name (listing the known ones), a name clash naming both packages,
            or a plugin that fails to import (naming its package and the exception).
    """
    plugin = plugin_of(name)
    if plugin is not None:
        return plugins.load(plugin)
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(sorted(method_names()))}") from None


def build_method(name: str, **hparams: Any) -> Method:
    """Instantiate a registered method with hyperparameters."""
    return get_method_class(name)(**hparams)


def method_settings(name: str, hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    """The method's complete, checked settings as plain data: its ``Settings`` defaults with
    ``hparams`` in place (what the workflow fills ``methods.<name>`` with; no network is built).

    Raises:
        ConfigError: an unknown method, an unknown key or a bad value, naming the method and key.
    """
    cls = get_method_class(name)
    return dataclasses.asdict(build_settings(name, cls.Settings, dict(hparams or {})))


__all__ = [
    "METHODS",
    "EncodedNetworkMethod",
    "ExternallyTrainedMethod",
    "Method",
    "MethodSettings",
    "PretrainedMethod",
    "build_method",
    "get_method_class",
    "method_names",
    "method_settings",
    "plugin_of",
]
