"""dvc.yaml generated from a config (gdgp/dvc_stages.py): what depends on the config follows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gdgp.dvc_stages import EXTRACT_SECTIONS, dvc_stages, dvc_yaml, result_folders
from gdgp.errors import ConfigError

REPO = Path(__file__).parents[1]
TINY = yaml.safe_load((REPO / "tests" / "workflow" / "config.yaml").read_text())


def write(root: Path, config: dict, name: str = "config/config.yaml") -> str:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(yaml.safe_dump(config))
    return name


def outs(stages: dict) -> list[str]:
    return [next(iter(o)) for o in stages["stages"]["run"]["outs"]]


def test_result_folders_follow_the_config() -> None:
    assert result_folders(TINY) == [
        "results/models",
        "results/runs",
        "results/val",  # n_val > 0
        "results/protocols",  # two protocols
        "results/report",
        "results/experiments",  # gdgp configured
    ]
    bare = {**TINY, "datasets": {"d": {**TINY["datasets"]["tiny_spleen"], "n_val": 0}}, "methods": {"auto_unet": {}}}
    bare["evaluate"] = {"protocols": ["ritm"]}
    assert result_folders(bare) == ["results/models", "results/runs", "results/report"]
    # left out: the schema's defaults (n_val 0; three protocols)
    defaults = {**bare, "datasets": {"d": {"task": "Task01_X", "labels": [1]}}, "evaluate": {}}
    assert result_folders(defaults) == ["results/models", "results/runs", "results/protocols", "results/report"]


def test_another_config_gets_its_own_command_series_and_data(tmp_path: Path) -> None:
    cfg = {**TINY, "data_dir": "/scratch/msd", "methods": {"dextr": None, "gdgp": {}}}
    name = write(tmp_path, cfg, "config/other.yaml")
    stages = dvc_stages(name, root=tmp_path)
    assert stages["stages"]["run"]["cmd"] == "snakemake --cores all --configfile config/other.yaml"
    assert stages["stages"]["extract"]["cmd"] == "snakemake --cores all --configfile config/other.yaml extract_all"
    assert stages["stages"]["extract"]["params"] == [{name: list(EXTRACT_SECTIONS)}]
    assert stages["stages"]["run"]["params"] == [{name: None}]  # every value of the config
    series = stages["plots"][0]["results/dice_per_click.csv"]["y"]["results/dice_per_click.csv"]
    assert series == ["tiny_spleen/dextr", "tiny_spleen/gdgp"]
    deps = stages["stages"]["extract"]["deps"]
    assert "/scratch/msd" not in deps  # outside the repository: not DVC's
    # the extraction code, paths of the package the generator runs (outside tmp_path: absolute)
    assert any(d.endswith("gdgp/data/extract.py") for d in deps) and not any("methods" in d for d in deps)
    assert ".snakemake/metadata" in outs(stages) and "results/slices" not in outs(stages)
    text = dvc_yaml(name, root=tmp_path)
    assert text.startswith("# Generated: `gdgp dvc-yaml --config config/other.yaml --out dvc.yaml`")
    assert yaml.safe_load(text) == stages


def test_the_demo_config_data_folder_is_a_dep() -> None:
    deps = dvc_stages("config/config.yaml", root=REPO)["stages"]["extract"]["deps"]
    assert deps[0] == "data" and "gdgp/data/extract.py" in deps and "workflow/rules/extract.smk" in deps


def test_extract_params_are_the_sections_the_extraction_reads() -> None:
    """Every config section the extract and demo_data rules (and their helpers) read is a param
    of the extract stage, so DVC re-extracts when one changes."""
    text = (REPO / "workflow" / "rules" / "extract.smk").read_text()
    read = set(re.findall(r"config\[\"(\w+)\"\]", text)) | {"datasets", "data_dir"}  # dataset_cfg, task_dir
    assert read <= set(EXTRACT_SECTIONS)


def test_a_bad_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no 'methods'"):
        dvc_stages(write(tmp_path, {"data_dir": "data", "datasets": {"d": {}}}), root=tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        dvc_stages("config/missing.yaml", root=tmp_path)
    (tmp_path / "config" / "bad.yaml").write_text("a: [")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        dvc_stages("config/bad.yaml", root=tmp_path)


def test_run_datasets_choose_the_series_the_val_folder_and_are_an_extract_param(tmp_path: Path) -> None:
    """The plot's series are the benchmarked targets; which targets run decides what is
    extracted, so run_datasets is a param of the extract stage where the config has it."""
    two = {
        **TINY,
        "datasets": {
            "with_val": TINY["datasets"]["tiny_spleen"],
            "no_val": {**TINY["datasets"]["tiny_spleen"], "n_val": 0},
        },
        "methods": {"dextr": None},
        "run_datasets": ["no_val"],
    }
    stages = dvc_stages(write(tmp_path, two), root=tmp_path)
    assert stages["plots"][0]["results/dice_per_click.csv"]["y"]["results/dice_per_click.csv"] == ["no_val/dextr"]
    assert stages["stages"]["extract"]["params"] == [{"config/config.yaml": [*EXTRACT_SECTIONS, "run_datasets"]}]
    assert "results/val" not in outs(stages)  # the one target with validation slices does not run
    assert "results/val" in result_folders({**two, "run_datasets": "all"})
