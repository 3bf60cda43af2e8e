"""The paper's GDGP experiments as registered methods: GDGP with one setting changed.

One class per entry of :data:`gdgp.experiment_plan.VARIANT_SETTINGS` (Table 3: fixed
parameters; Table 5: EDV, GH, GEO encodings; Table 6: fg/bg clicks, no encoding, CNN head).
Each takes the configured ``methods.gdgp`` hyperparameters, so it trains exactly like GDGP,
and its own setting wins over them.
"""

from __future__ import annotations

from gdgp.experiment_plan import VARIANT_SETTINGS
from gdgp.methods.gdgp import GDGP


def _variant(name: str, settings: dict) -> type[GDGP]:
    doc = f"GDGP with {settings} (experiment variant ``{name}``)."
    # __module__ set here: type() under GDGP's ABCMeta would take it from abc.py's frame
    namespace = {"__module__": __name__, "name": name, "variant": dict(settings), "__doc__": doc}
    return type(f"GDGP_{name}", (GDGP,), namespace)


VARIANTS: tuple[type[GDGP], ...] = tuple(_variant(n, s) for n, s in VARIANT_SETTINGS.items())
