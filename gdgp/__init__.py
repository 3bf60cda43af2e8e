"""gdgp: reproducible benchmark of interactive medical image segmentation.

Gaussian geodesic click encoding + hybrid-kernel Gaussian-process classification (GDGP)
and the baselines it is compared with, trained and scored by one simulated user.

The public API for writing a method (docs/adding-a-method.md): :class:`Method`,
:class:`EncodedNetworkMethod`, :class:`ExternallyTrainedMethod`, :class:`PretrainedMethod` and
:func:`get_method_class`.
They are imported on first use (PEP 562), so ``import gdgp`` stays light (no torch, no MONAI)
and a plugin module that imports ``gdgp`` while the registry loads it causes no circular import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gdgp.methods import get_method_class
    from gdgp.methods.base import EncodedNetworkMethod, ExternallyTrainedMethod, Method, PretrainedMethod

__version__ = "0.1.0"

#: Public name -> the module that defines it. The classes come from ``gdgp.methods.base``, not the
#: registry, so they resolve while the registry itself is still importing (plugins).
_LAZY = {
    "EncodedNetworkMethod": "gdgp.methods.base",
    "ExternallyTrainedMethod": "gdgp.methods.base",
    "Method": "gdgp.methods.base",
    "PretrainedMethod": "gdgp.methods.base",
    "get_method_class": "gdgp.methods",
}

__all__ = [
    "EncodedNetworkMethod",
    "ExternallyTrainedMethod",
    "Method",
    "PretrainedMethod",
    "__version__",
    "get_method_class",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gdgp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
