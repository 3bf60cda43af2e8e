"""The paper's GDGP experiments: which variant changes which setting, and which table shows it.

Pure data without heavy imports, so the Snakefile can read it when it builds the DAG.
Each variant takes the configured ``methods.gdgp`` hyperparameters and overrides only
the setting it studies (:mod:`gdgp.methods.gdgp_variants` turns these into methods).
"""

from __future__ import annotations

from typing import Any

#: Variant name -> the GDGP settings it overrides.
VARIANT_SETTINGS: dict[str, dict[str, Any]] = {
    "gdgp_fixed": {"learnable": False},  # Table 3: sigma, alpha1, alpha2, tau, l fixed
    "gdgp_enc_edv": {"encoding": "edv"},  # Table 5: Euclidean distance maps
    "gdgp_enc_gh": {"encoding": "gh"},  # Table 5: Gaussian heatmaps
    "gdgp_enc_geo": {"encoding": "geo"},  # Table 5: geodesic distance maps
    "gdgp_abl_fgbg": {"interaction": "fgbg"},  # Table 6, ablation 1: conventional fg/bg clicks
    "gdgp_abl_noenc": {"encoding": "points"},  # Table 6, ablation 2: raw point maps, no encoding
    "gdgp_abl_cnn": {"head": "cnn"},  # Table 6, ablation 3: CNN (sigmoid) head, no GP
    # Table 6, extra row (not in the paper): the RBF term also sees the fg/bg maps
    "gdgp_abl_rbfmaps": {"rbf_inputs": "intensity_and_maps"},
}

#: GDGP's learned parameters (Table 2): the ``methods.gdgp`` settings that initialise them and
#: the ``loss.csv`` columns their trained values are logged in.
LEARNED_PARAMETERS: tuple[str, ...] = ("sigma", "alpha1", "alpha2", "tau", "l")

#: Table -> its variants (each table also has the full ``gdgp`` row).
TABLES: dict[str, tuple[str, ...]] = {
    "table3": ("gdgp_fixed",),
    "table5": ("gdgp_enc_edv", "gdgp_enc_gh", "gdgp_enc_geo"),
    "table6": ("gdgp_abl_fgbg", "gdgp_abl_noenc", "gdgp_abl_cnn", "gdgp_abl_rbfmaps"),
}

#: Row labels as the paper prints them.
ROW_LABELS: dict[str, str] = {
    "gdgp": "GDGP (learned parameters, Gaussian geodesic, hybrid, GP)",
    "gdgp_fixed": "fixed parameters",
    "gdgp_enc_edv": "EDV",
    "gdgp_enc_gh": "GH",
    "gdgp_enc_geo": "GEO",
    "gdgp_abl_fgbg": "ablation 1: fg/bg clicks instead of hybrid",
    "gdgp_abl_noenc": "ablation 2: no encoding (raw point maps)",
    "gdgp_abl_cnn": "ablation 3: CNN head instead of GP",
    "gdgp_abl_rbfmaps": "extra: RBF kernel on intensity + click maps (not the paper's eq. 13)",
}

TITLES: dict[str, str] = {
    "table3": "Table 3: fixed vs learned sigma, alpha1, alpha2, tau, l",
    "table5": "Table 5: click encodings (everything else GDGP)",
    "table6": "Table 6: ablations",
}


def tables_for(variants: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """The tables that have at least one of ``variants``, each with its variants among them."""
    out = {t: [v for v in vs if v in variants] for t, vs in TABLES.items()}
    return {t: vs for t, vs in out.items() if vs}
