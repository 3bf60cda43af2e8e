"""The source files a job runs (gdgp/code_deps.py) and Snakemake's reruns after an edit of one module."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from gdgp.code_deps import job_code, method_files, method_modules, module_file, verb_files
from tests.test_workflow import TINY, option, rule_counts, shell_lines, snakemake

REPO = Path(__file__).parents[1]
PKG = REPO / "gdgp"


def rel(files) -> set[str]:
    return {Path(f).resolve().relative_to(PKG).as_posix() for f in files}


def test_a_method_depends_on_its_module_and_what_it_imports_not_on_other_methods() -> None:
    dextr = rel(method_files("gdgp.methods.dextr"))
    assert {"methods/dextr.py", "methods/point_crop.py", "clicks/crop.py", "clicks/encodings.py"} <= dextr
    assert {"methods/base.py", "methods/settings.py", "clicks/robot.py", "__init__.py"} <= dextr
    # the registry imports every method: cut, so no method depends on another
    assert "methods/__init__.py" not in dextr
    assert not {"methods/gdgp.py", "methods/click_unet.py", "methods/nnunet.py", "methods/gp/laplace.py"} & dextr
    gdgp = rel(method_files("gdgp.methods.gdgp"))
    assert {"methods/gdgp.py", "methods/gp/__init__.py", "methods/gp/laplace.py", "methods/fast_dropout.py"} <= gdgp
    assert "methods/dextr.py" not in gdgp
    # a variant's module makes its class from GDGP's
    assert {"methods/gdgp_variants.py", "methods/gdgp.py", "experiment_plan.py"} <= rel(
        method_files("gdgp.methods.gdgp_variants")
    )


def test_a_verb_depends_on_its_own_command_only() -> None:
    train = rel(verb_files("train"))
    assert {"cli.py", "errors.py", "device.py", "training/trainer.py", "training/checkpoint.py"} <= train
    # other verbs' imports in cli.py, the `if TYPE_CHECKING:` import of evaluation, the methods: out
    assert not {p for p in train if p.startswith(("evaluation/", "report/", "data/demo/", "methods/"))}
    evaluate = rel(verb_files("evaluate"))
    assert {
        "evaluation/evaluate.py",
        "evaluation/loop.py",
        "evaluation/metrics.py",
        "training/checkpoint.py",
    } <= evaluate
    assert "training/trainer.py" not in evaluate
    report = rel(verb_files("report"))
    assert {"report/build.py", "report/tables.py", "cli.py"} <= report
    # of the evaluation stage only the clicks.csv column list (no evaluator, no methods, no torch)
    assert {p for p in report if p.startswith("evaluation/")} == {"evaluation/__init__.py", "evaluation/columns.py"}
    assert not {p for p in report if p.startswith(("training/", "methods/"))}
    assert "report/protocols.py" in rel(verb_files("report-protocols"))
    assert {"data/extract.py", "data/msd.py"} <= rel(verb_files("extract"))
    with pytest.raises(ValueError, match="cmd_no_such_verb"):
        verb_files("no-such-verb")


@pytest.mark.parametrize("module", ["gdgp.report.build", "gdgp.data.extract", "gdgp.clicks.hybrid"])
def test_the_static_closure_holds_every_gdgp_module_python_imports(module: str) -> None:
    """Independent reference: the gdgp modules a fresh interpreter loads for the import (the
    static closure may hold more: imports inside functions run only when called)."""
    code = f"import sys, json, {module}; print(json.dumps(sorted(m for m in sys.modules if m.startswith('gdgp'))))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    runtime = {module_file(m) for m in loaded} - {None}
    assert runtime and runtime <= set(method_files(module))


def test_a_plugin_method_depends_on_its_package_modules_and_the_gdgp_ones_it_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plug = tmp_path / "site" / "myplug"
    (plug / "nets").mkdir(parents=True)
    (plug / "__init__.py").write_text("")
    (plug / "nets" / "__init__.py").write_text("")
    (plug / "nets" / "unet.py").write_text("import numpy\n")
    (plug / "helpers.py").write_text("X = 1\n")
    (plug / "lazy.py").write_text("Y = 2\n")
    (plug / "unused.py").write_text("Z = 3\n")
    (plug / "method.py").write_text(
        textwrap.dedent(
            """
            from typing import TYPE_CHECKING

            from gdgp.methods.base import Method
            from . import helpers
            from .nets.unet import *

            if TYPE_CHECKING:
                from myplug import unused

            class Mine(Method):
                name = "mine"

                def predict(self):
                    from myplug.lazy import Y
                    return Y
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    files = method_files("myplug.method")
    local = {f.relative_to(plug).as_posix() for f in files if plug in f.parents}
    assert local == {"__init__.py", "method.py", "helpers.py", "lazy.py", "nets/__init__.py", "nets/unet.py"}
    assert {"methods/base.py", "methods/settings.py"} <= rel(f for f in files if PKG in f.parents)
    assert not [f for f in files if "numpy" in f.parts]
    # outside the working directory: absolute paths
    code = job_code("train", "myplug.method", root=REPO)
    assert str((plug / "method.py").resolve()) in code and "gdgp/training/trainer.py" in code
    with pytest.raises(FileNotFoundError, match="myplug.gone"):
        method_files("myplug.gone")


def test_job_code_paths_are_relative_below_the_root_else_absolute(tmp_path: Path) -> None:
    inside = job_code("train", "gdgp.methods.dextr", root=REPO)
    assert "gdgp/methods/dextr.py" in inside and inside == sorted(inside)
    outside = job_code("train", "gdgp.methods.dextr", root=tmp_path)
    assert str(PKG / "methods" / "dextr.py") in outside and len(outside) == len(inside)


def test_every_registered_method_maps_to_its_module(tmp_path: Path) -> None:
    from gdgp.methods import METHODS

    modules = method_modules(list(METHODS), cache_dir=tmp_path)
    assert modules["dextr"] == "gdgp.methods.dextr" and modules["gdgp"] == "gdgp.methods.gdgp"
    assert modules["gdgp_fixed"] == "gdgp.methods.gdgp_variants"  # made by type(): __module__ set by hand
    for name, module in modules.items():
        assert module_file(module) is not None and module_file(module).is_relative_to(PKG / "methods"), name
    assert method_modules(["dextr"], cache_dir=tmp_path) == {"dextr": "gdgp.methods.dextr"}
    assert len(list(tmp_path.iterdir())) == 2  # one cached answer per set of names


# ---------------------------------------------------------------------------------------------
# Snakemake decides: an edited module reruns the jobs that run it, and what reads their files.


def staleness_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with its own copy of the package (imported through PYTHONPATH, so the real one
    is never touched) and every output of the tiny config present and up to date: empty
    placeholders, then `snakemake --touch`, which stamps them in the DAG's order."""
    work = tmp_path / "proj"
    (work / "config").mkdir(parents=True)
    shutil.copytree(PKG, work / "gdgp", ignore=shutil.ignore_patterns("__pycache__"))
    (work / "workflow").symlink_to(REPO / "workflow")
    (work / "config" / "config.yaml").write_text(TINY.read_text())
    monkeypatch.setenv("PYTHONPATH", str(work))
    summary = snakemake(["--summary"], work).stdout.splitlines()
    rows = [
        line.split("\t")
        for line in summary[summary.index(next(s for s in summary if s.startswith("output_file"))) + 1 :]
    ]
    for row in rows:
        path = work / row[0]
        if row[2] == "demo_data":
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    snakemake(["--touch", "--cores", "1"], work)
    assert "Nothing to be done" in snakemake(["-n"], work).stdout
    return work


@contextlib.contextmanager
def edited(path: Path):
    """The module with its content changed and newer than every output; restored afterwards
    (content and time stamp), so that the project is up to date again."""
    text, stat = path.read_text(), path.stat()
    path.write_text(text + "\n# edited\n")
    # newer than the outputs, whatever the copied file's own time stamp (copytree keeps it)
    os.utime(path, (stat.st_atime, time.time() + 3600))
    try:
        yield
    finally:
        path.write_text(text)
        os.utime(path, (stat.st_atime, stat.st_mtime))


def scheduled(work: Path) -> tuple[dict[str, int], set[str], set[str]]:
    """Job counts per rule (the dry run's job table), and the methods of the scheduled train and
    evaluate jobs."""
    out = snakemake(["-n", "-p"], work).stdout
    trained = {option(line, "--method") for line in shell_lines(out, "train")}
    evaluated = {option(line, "--checkpoint").split("/")[3] for line in shell_lines(out, "evaluate")}
    counts = {rule: n for rule, n in rule_counts(out).items() if not rule.endswith(":")}  # not "jobid: 3"
    return counts, trained, evaluated


@pytest.mark.slow
def test_editing_one_methods_module_reruns_its_jobs_and_the_report_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = staleness_project(tmp_path, monkeypatch)
    cfg = yaml.safe_load(TINY.read_text())
    assert list(cfg["methods"]) == ["auto_unet", "click_unet", "gdgp"]
    package = work / "gdgp"
    report = {"report": 1, "report_val": 1, "protocol_sensitivity": 1, "all": 1}

    with edited(package / "methods" / "click_unet.py"):
        counts, trained, evaluated = scheduled(work)
    assert counts == {"train": 1, "evaluate": 1, **report, "total": 6}
    assert trained == evaluated == {"click_unet"}

    # gdgp's module: gdgp and its two experiment variants, and the experiment tables
    with edited(package / "methods" / "gdgp.py"):
        counts, trained, evaluated = scheduled(work)
    experiments = {"table2": 1, "fig2": 1, "variant_table": 2}
    assert counts == {"train": 3, "evaluate": 1, "evaluate_variant": 2, **report, **experiments, "total": 14}
    assert trained == evaluated == {"gdgp", "gdgp_fixed", "gdgp_abl_cnn"}

    # the report's code: no model is retrained or re-evaluated
    with edited(package / "report" / "tables.py"):
        counts, trained, evaluated = scheduled(work)
    assert not trained and not evaluated and counts.get("report") == 1

    # the registry (one line per method) and code no job runs (this module): nothing
    with edited(package / "methods" / "__init__.py"), edited(package / "code_deps.py"):
        assert "Nothing to be done" in snakemake(["-n"], work).stdout
