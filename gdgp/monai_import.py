"""Import MONAI as if its optional extras were not installed, to start a job seconds sooner.

``import monai`` imports every MONAI submodule (``monai/__init__.py`` walks the package), and
those reach for optional packages the benchmark never uses through MONAI: torchvision (for
detection backbones; it pulls ``torch._dynamo`` and SymPy), matplotlib, scikit-image and
scikit-learn. Every ``gdgp train`` / ``gdgp evaluate`` process paid for them before any work
(about half of its import time; ``benchmarks/bench_import.py``). MONAI treats each of them as
an optional dependency and works without it, so hiding them while MONAI itself is imported
gives exactly MONAI's supported "extras not installed" state. They are visible again right
after, so nnU-Net (which needs torchvision) and the report's plots import them as usual.
Measured: an evaluate job starts ~3.5-5 s sooner; a train job less, because ``torch.optim``
imports ``torch._dynamo`` (and SymPy) at the first optimizer anyway.
"""

from __future__ import annotations

import importlib
import sys

#: Packages MONAI only optional-imports for features the benchmark does not use.
MONAI_UNUSED_EXTRAS = ("torchvision", "matplotlib", "skimage", "sklearn")


def import_monai_without_unused_extras() -> None:
    """Import MONAI while its unused optional extras look absent; then make them importable again.

    A no-op when MONAI is already imported. An extra that is already imported is left alone
    (MONAI then sees it, as usual): only names absent from ``sys.modules`` are hidden.
    """
    if "monai" in sys.modules:
        return
    importlib.import_module("torch")  # torch's own optional imports must not see the hidden names
    hidden = [name for name in MONAI_UNUSED_EXTRAS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not installed" marker
    try:
        importlib.import_module("monai")
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
