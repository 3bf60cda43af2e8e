"""The registry of benchmarked methods: the one place a new method is registered.

A method is one module with its class and the class's ``Settings`` (its hyperparameters, their
defaults and checks: :mod:`gdgp.methods.settings`), plus one line in :data:`METHODS`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gdgp.errors import ConfigError
from gdgp.methods.auto_unet import AutoUNet
from gdgp.methods.base import Method
from gdgp.methods.bs_iris import BSIRIS
from gdgp.methods.click_unet import ClickUNet
from gdgp.methods.deepigeos import DeepIGeoS
from gdgp.methods.dextr import DEXTR
from gdgp.methods.gdgp import GDGP
from gdgp.methods.gdgp_variants import VARIANTS
from gdgp.methods.intercnn import InterCNN
from gdgp.methods.mideepseg import MIDeepSeg
from gdgp.methods.nnunet import NNUNet
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
}


def get_method_class(name: str) -> type[Method]:
    """Look a method up by name; unknown names raise listing the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(sorted(METHODS))}") from None


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


__all__ = ["METHODS", "Method", "MethodSettings", "build_method", "get_method_class", "method_settings"]
