"""The registry of benchmarked methods: the one place a new method is registered."""

from __future__ import annotations

from typing import Any

from gdgp.errors import ConfigError
from gdgp.methods.auto_unet import AutoUNet
from gdgp.methods.base import Method
from gdgp.methods.click_unet import ClickUNet
from gdgp.methods.gdgp import GDGP
from gdgp.methods.gdgp_variants import VARIANTS
from gdgp.methods.nnunet import NNUNet

METHODS: dict[str, type[Method]] = {
    AutoUNet.name: AutoUNet,
    ClickUNet.name: ClickUNet,
    GDGP.name: GDGP,
    NNUNet.name: NNUNet,
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


__all__ = ["METHODS", "Method", "build_method", "get_method_class"]
