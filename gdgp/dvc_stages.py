"""``dvc.yaml`` for a workflow config: DVC tracks data, params, results, metrics and plots;
Snakemake decides which jobs are stale.

Two stages. ``extract`` is DVC's: the raw data folder (``data_dir``, when inside the repository),
the extraction settings and the extraction code (:func:`gdgp.code_deps.job_code`, listed file by
file) are its deps; when one changes, DVC removes ``results/slices`` and Snakemake extracts again
(identical slices re-run nothing downstream: Snakemake compares their checksums). ``run`` runs the
whole workflow; its deps are the slices, the package, the workflow and every config value, so DVC
starts Snakemake when any of them changed, and Snakemake reruns the jobs whose inputs (data, code)
or params changed, nothing else. Its outputs are ``persist``: DVC must not delete them before the
run (it would retrain every model). ``.snakemake/metadata`` (Snakemake's record of each output's
params, code and input checksums) is one of them, so that a clone that ``dvc pull``-ed the results
decides the same way as the machine that made them.

What depends on the config is generated here, never hand-edited: the config file's name, the
data folder, the result folders the config produces and the plot's series (one per dataset and
method). ``gdgp dvc-yaml --config <file>`` writes it; tests/test_dvc.py checks the committed
``dvc.yaml`` is the demo config's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gdgp.code_deps import job_code
from gdgp.config_compat import compared_protocols
from gdgp.errors import ConfigError
from gdgp.run_datasets import KEY as RUN_DATASETS_KEY
from gdgp.run_datasets import run_datasets
from gdgp.schema_defaults import schema_default

#: The config the Snakefile reads when no ``--configfile`` is given.
DEFAULT_CONFIG = "config/config.yaml"
#: Config sections the extraction reads (workflow/rules/extract.smk and its helpers): DVC's
#: params of the extract stage (with ``run_datasets`` where the config has it: DVC stops on a
#: params key the file lacks).
EXTRACT_SECTIONS = ("data_dir", "demo", "datasets", "preprocess", "split")

HEADER = """\
# Generated: `gdgp dvc-yaml --config {config} --out dvc.yaml`; do not edit by hand
# (tests/test_dvc.py checks it). DVC tracks data, params, results, metrics and plots;
# Snakemake decides which jobs are stale (docs/operations.md, DVC):
# - extract: the raw data, the extraction settings and code are DVC's deps; a change removes
#   results/slices, Snakemake extracts again (identical slices re-run nothing downstream).
# - run: the whole workflow. DVC starts Snakemake when the slices, the package, the workflow or
#   a config value changed; Snakemake reruns only the jobs whose inputs (code included) or params
#   changed. Outputs persist (DVC must not delete them first), .snakemake/metadata included:
#   Snakemake's record of params and input checksums travels with the results.
"""


def _load(config_path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{config_path}: cannot read the config: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{config_path}: not valid YAML: {err}") from err
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path}: a config is a mapping of sections, got {type(config).__name__}")
    for key in ("data_dir", "datasets", "methods"):
        if not config.get(key):
            raise ConfigError(f"{config_path}: the config has no {key!r}")
    return config


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return config.get(name) or {}


def result_folders(config: Mapping[str, Any]) -> list[str]:
    """The folders (and files) under results/ the default target writes for this config,
    besides the slices, the metrics and the plot file; schema defaults where a key is left out."""
    evaluate = _section(config, "evaluate")
    protocol = evaluate.get("protocol", schema_default("evaluate.protocol"))
    protocols = evaluate.get("protocols", schema_default("evaluate.protocols"))
    n_val = schema_default("datasets.*.n_val")
    folders = ["results/models", "results/runs"]
    if any((d or {}).get("n_val", n_val) > 0 for d in run_datasets(config).values()):
        folders.append("results/val")
    if len(compared_protocols(protocol, protocols)) > 1:
        folders.append("results/protocols")
    folders.append("results/report")
    if "gdgp" in config["methods"]:
        folders.append("results/experiments")
    return folders


def dvc_stages(config_path: str, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``dvc.yaml`` content for the config at ``config_path`` (relative to ``root``, the
    repository; default: the working directory)."""
    base = Path(root if root is not None else os.getcwd())
    config = _load(base / config_path)
    snakemake = "snakemake --cores all" + ("" if config_path == DEFAULT_CONFIG else f" --configfile {config_path}")
    data_dir = str(config["data_dir"]).rstrip("/")
    inside = not os.path.isabs(data_dir) and not Path(data_dir).as_posix().startswith("..")
    extract_deps = ([data_dir] if inside else []) + job_code("extract", root=base) + ["workflow/rules/extract.smk"]
    series = [f"{d}/{m}" for d in run_datasets(config) for m in config["methods"]]
    extract_params = [*EXTRACT_SECTIONS, *([RUN_DATASETS_KEY] if RUN_DATASETS_KEY in config else [])]
    name = Path(config_path).stem
    return {
        "stages": {
            "extract": {
                "cmd": f"{snakemake} extract_all",
                "deps": extract_deps,
                "params": [{config_path: extract_params}],
                "outs": ["results/slices"],
            },
            "run": {
                "cmd": snakemake,
                "deps": ["results/slices", "gdgp", "workflow"],
                "params": [{config_path: None}],
                "outs": [
                    *({folder: {"persist": True}} for folder in result_folders(config)),
                    {"results/dice_per_click.csv": {"persist": True}},
                    {".snakemake/metadata": {"persist": True}},
                ],
                "metrics": [{"results/metrics.json": {"persist": True}}],
            },
        },
        "plots": [
            {
                "results/dice_per_click.csv": {
                    "x": "clicks",
                    "y": {"results/dice_per_click.csv": series},
                    "x_label": "total clicks (first interaction included)",
                    "y_label": "mean Dice",
                    "title": f"Dice per click ({name})",
                }
            }
        ],
    }


def dvc_yaml(config_path: str, root: str | os.PathLike[str] | None = None) -> str:
    """:func:`dvc_stages` as the text of ``dvc.yaml``, with a header saying how it was made."""
    body = yaml.safe_dump(dvc_stages(config_path, root), sort_keys=False, width=100)
    return HEADER.format(config=config_path) + body


__all__ = ["DEFAULT_CONFIG", "EXTRACT_SECTIONS", "dvc_stages", "dvc_yaml", "result_folders"]
