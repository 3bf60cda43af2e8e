"""Method plugins (entry-point group ``gdgp.methods``): lookup, listing, clashes, import errors, the
parse-cache key; the slow test installs a real package with pip and runs the workflow into Table 4.

The fast tests put a package's ``*.dist-info`` (what pip writes) and its module on ``sys.path``, so
``importlib.metadata`` finds real entry points without touching the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gdgp import parse_cache, plugins
from gdgp.cli import main
from gdgp.errors import ConfigError
from gdgp.methods import METHODS, get_method_class, method_names, method_settings
from gdgp.methods.catalogue import catalogue
from gdgp.methods.click_unet import ClickUNet
from tests.test_workflow import TINY, project, snakemake

#: A plugin method: click_unet with other default channels (a plugin may subclass a built-in).
UNET_MODULE = """
from dataclasses import dataclass

import gdgp
from gdgp.methods.settings import setting

ClickUNet = gdgp.get_method_class("click_unet")


class {cls}(ClickUNet):
    \"\"\"click_unet with a narrower default U-Net.\"\"\"

    name = "{name}"

    @dataclass(frozen=True)
    class Settings(ClickUNet.Settings):
        channels: list[int] = setting([4, 8, 16], "U-Net channels per level.")
"""

Writer = Callable[..., Path]


def write_dist(root: Path, dist: str, version: str, entries: dict[str, str], modules: dict[str, str]) -> Path:
    """A package as pip installs it: ``<dist>-<version>.dist-info`` (METADATA, entry_points.txt) and its modules."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = [f"{name} = {value}" for name, value in entries.items()]
    (info / "entry_points.txt").write_text("[gdgp.methods]\n" + "\n".join(lines) + "\n")
    for filename, source in modules.items():
        (root / filename).write_text(textwrap.dedent(source))
    return root


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for this test's plugin packages; the registry forgets them afterwards."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    plugins.refresh()
    yield root
    monkeypatch.undo()
    plugins.refresh()


def unique(prefix: str) -> str:
    """A method (and module) name no other test, worker or installed plugin uses."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def unet_plugin(root: Path, dist: str = "gdgp-test-unet", version: str = "1.2") -> tuple[str, str]:
    name, module = unique("plug_unet"), unique("plugmod")
    source = UNET_MODULE.format(cls="NarrowUNet", name=name)
    write_dist(root, dist, version, {name: f"{module}:NarrowUNet"}, {f"{module}.py": source})
    return name, module


def test_plugin_is_found_imported_once_and_checks_its_settings(plugin_dir: Path) -> None:
    name, module = unet_plugin(plugin_dir)
    assert name in method_names() and module not in sys.modules  # listed by name, not imported
    cls = get_method_class(name)
    assert module in sys.modules and issubclass(cls, ClickUNet) and get_method_class(name) is cls
    assert method_settings(name)["channels"] == [4, 8, 16]  # the plugin's own default
    assert method_settings("click_unet")["channels"] == [16, 32, 64, 128]  # the built-in's untouched
    with pytest.raises(ConfigError, match=rf"method '{name}': unknown hyperparameter\(s\) \['chanels'\]"):
        method_settings(name, {"chanels": [4, 8]})
    with pytest.raises(ConfigError, match=rf"method '{name}': dropout must be in \[0, 1\)"):
        method_settings(name, {"dropout": 1.5})


def test_unknown_method_lists_plugins(plugin_dir: Path) -> None:
    name, _ = unet_plugin(plugin_dir)
    with pytest.raises(ConfigError, match=rf"unknown method 'nope'; known methods: .*{name}"):
        get_method_class("nope")


def test_listing_names_the_plugin_package(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, _ = unet_plugin(plugin_dir, dist="gdgp-test-unet", version="1.2")
    rows = {info.name: info for info in catalogue()}
    assert set(METHODS) <= set(rows)  # other installed plugins may be listed too
    assert rows["click_unet"].kind == "built-in" and rows["dextr"].first_interaction == "4 extreme points (4 clicks)"
    assert rows["auto_unet"].first_interaction == "none" and rows["click_unet"].first_interaction == "1 click"
    plug = rows[name]
    assert (plug.kind, plug.package, plug.interactive, plug.pretrained) == ("plugin", "gdgp-test-unet 1.2", True, False)
    assert main(["methods", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed[name]["package"] == "gdgp-test-unet 1.2" and listed[name]["first_interaction"] == "1 click"
    assert main(["methods"]) == 0
    table = capsys.readouterr().out
    line = next(line for line in table.splitlines() if line.startswith(name + " "))
    assert "plugin (gdgp-test-unet 1.2)" in line and "interactive" in line and "trainable" in line


def test_clash_with_a_builtin_names_both(plugin_dir: Path) -> None:
    write_dist(plugin_dir, "clashing-pkg", "0.3", {"dextr": "nowhere:Nothing"}, {})
    with pytest.raises(ConfigError, match=r"'dextr' clash: it is a built-in method of gdgp and .*clashing-pkg 0\.3"):
        get_method_class("dextr")
    with pytest.raises(ConfigError, match="clashing-pkg 0.3"):
        catalogue()
    assert get_method_class("click_unet") is ClickUNet  # the other names still work


def test_clash_between_two_plugins_names_both(plugin_dir: Path) -> None:
    name = unique("twin")
    write_dist(plugin_dir, "twin-a", "1.0", {name: "twin_a:M"}, {})
    write_dist(plugin_dir, "twin-b", "2.0", {name: "twin_b:M"}, {})
    with pytest.raises(ConfigError, match=rf"'{name}' clash: .*twin-a 1\.0 \(twin_a:M\) and twin-b 2\.0"):
        get_method_class(name)


def test_broken_plugin_fails_only_when_used_or_listed(plugin_dir: Path) -> None:
    name, module = unique("broken"), unique("brokenmod")
    write_dist(
        plugin_dir, "broken-plugin", "0.1", {name: f"{module}:M"}, {f"{module}.py": "raise RuntimeError('boom')\n"}
    )
    assert get_method_class("click_unet") is ClickUNet and method_settings("dextr")
    message = (
        rf"method '{name}' of plugin package broken-plugin 0\.1 \({module}:M\) failed to import: RuntimeError: boom"
    )
    with pytest.raises(ConfigError, match=message):
        get_method_class(name)
    with pytest.raises(ConfigError, match=message):
        catalogue()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("M = 3\n", r"is 3, not a subclass of gdgp\.Method"),
        (
            "import gdgp\nclass M(gdgp.get_method_class('click_unet')):\n    pass\n",
            r"class M has name = 'click_unet'; set name = '{name}'",
        ),
    ],
)
def test_plugin_class_is_checked(plugin_dir: Path, body: str, message: str) -> None:
    name, module = unique("bad"), unique("badmod")
    write_dist(plugin_dir, "bad-plugin", "0.1", {name: f"{module}:M"}, {f"{module}.py": body})
    with pytest.raises(ConfigError, match=message.format(name=name)):
        get_method_class(name)


def test_bad_plugin_name_is_refused(plugin_dir: Path) -> None:
    write_dist(plugin_dir, "odd-plugin", "0.1", {"my-method": "mod:M"}, {})
    with pytest.raises(ConfigError, match="odd-plugin 0.1 registers method 'my-method': a method name is letters"):
        get_method_class("my-method")


def test_parse_cache_key_follows_installed_and_edited_plugins(plugin_dir: Path) -> None:
    before = parse_cache._cache_key("methods", {"click_unet": {}})
    _, module = unet_plugin(plugin_dir)
    plugins.refresh()
    installed = parse_cache._cache_key("methods", {"click_unet": {}})
    assert installed != before
    source = plugin_dir / f"{module}.py"
    source.write_text(source.read_text().replace("[4, 8, 16]", "[4, 8]"))  # an editable install: same version
    plugins.refresh()
    assert parse_cache._cache_key("methods", {"click_unet": {}}) != installed


def test_import_gdgp_reads_no_entry_point(plugin_dir: Path) -> None:
    """``import gdgp.methods`` (what a plugin module itself does) neither scans nor imports plugins."""
    name, module = unet_plugin(plugin_dir)
    code = (
        "import sys, gdgp, gdgp.methods, gdgp.plugins as p\n"
        f"assert p._scan.cache_info().currsize == 0 and {module!r} not in sys.modules\n"
        f"cls = gdgp.methods.get_method_class({name!r})\n"
        f"assert {module!r} in sys.modules and cls.name == {name!r}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


#: The installed test package: a click_unet with narrower defaults and a pretrained click_unet (trained
#: on "MSD": the tiny dataset names that source, so Table 4 marks it), both through the public API.
PACKAGE_MODULE = """
from dataclasses import dataclass
from pathlib import Path

import torch

import gdgp
from gdgp.methods.settings import setting

ClickUNet = gdgp.get_method_class("click_unet")


class NarrowUNet(ClickUNet):
    name = "{unet}"

    @dataclass(frozen=True)
    class Settings(ClickUNet.Settings):
        channels: list[int] = setting([4, 8, 16], "U-Net channels per level.")


class TinyPretrained(ClickUNet):
    name = "{pre}"
    pretrained = True
    weights_source = "https://example.org/tiny-pretrained"
    weights_licence = "CC-BY-4.0"
    trained_on = ("MSD",)

    @dataclass(frozen=True)
    class Settings(ClickUNet.Settings):
        channels: list[int] = setting([4, 8], "U-Net channels per level.")
        checkpoint: str = setting("", "The weights file.")
        random_weights: bool = setting(False, "Tests only: random initialisation, no file.")

    def load_pretrained(self, checkpoint: Path) -> None:
        self.network.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
"""


def write_package(root: Path, dist: str, package: str, unet: str, pre: str) -> Path:
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (root / package / "methods.py").write_text(PACKAGE_MODULE.format(unet=unet, pre=pre))
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=69"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "0.3.0"

            [project.entry-points."gdgp.methods"]
            {unet} = "{package}.methods:NarrowUNet"
            {pre} = "{package}.methods:TinyPretrained"

            [tool.setuptools]
            packages = ["{package}"]
            """
        )
    )
    return root


def pip(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_installed_plugin_runs_the_workflow_into_table4(tmp_path: Path) -> None:
    """A package installed with pip (no network) adds two methods: the workflow trains and scores the
    plain one into Table 4; the pretrained one's train job fails without its weights file, naming it,
    where to obtain it and its licence, and leaves no output; with random weights its row is marked,
    as is its contamination (trained on MSD, the tiny dataset's source)."""
    uid = uuid.uuid4().hex[:8]  # other xdist workers see the installed package: unique names
    dist, package = f"gdgp-test-plugin-{uid}", f"gdgp_test_plugin_{uid}"
    unet, pre = f"plug_unet_{uid}", f"plug_pre_{uid}"
    source = write_package(tmp_path / "src", dist, package, unet, pre)
    pip("install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation", str(source))
    try:
        listing = subprocess.run(
            [str(Path(sys.executable).parent / "gdgp"), "methods", "--json"], capture_output=True, text=True
        )
        rows = {row["name"]: row for row in json.loads(listing.stdout)}
        assert rows[unet]["package"] == f"{dist} 0.3.0" and rows[pre]["pretrained"] is True

        cfg = yaml.safe_load(TINY.read_text())
        cfg["datasets"]["tiny_spleen"] |= {"n_val": 0, "source": "MSD"}
        cfg["methods"] = {
            "click_unet": cfg["methods"]["click_unet"],
            unet: {"max_train_rounds": 1},
            pre: {"checkpoint": "weights/absent.pt"},
        }
        cfg["experiments"] = {"datasets": []}
        cfg["evaluate"]["protocols"] = [cfg["evaluate"].get("protocol", "ritm")]
        cfg["report"]["reference_method"] = "click_unet"
        work = project(tmp_path, cfg)
        record = f"results/models/tiny_spleen/{pre}/seed0/final.pt"
        failed = snakemake(["--cores", "2", record], work, check=False)
        assert failed.returncode != 0
        log = (work / "results" / "logs" / "train" / "tiny_spleen" / pre / "seed0.log").read_text()
        assert f"the pretrained weights file {work / 'weights' / 'absent.pt'}" in log, log[-2000:]
        assert "https://example.org/tiny-pretrained" in log and "licence: CC-BY-4.0" in log
        assert not (work / record).exists() and not (work / record).with_name("loss.csv").exists()

        cfg["methods"][pre] = {"random_weights": True}
        (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
        snakemake(["--cores", "2", "results/report/table4.csv"], work)
        table = pd.read_csv(work / "results" / "report" / "table4.csv")
        assert set(table["method"]) == {"click_unet", unet, pre}
        plugin_rows = table[table["method"] == unet]
        assert plugin_rows["dice_mean"].notna().any() and plugin_rows["dice_mean"].dropna().between(0, 1).all()
        assert not plugin_rows["contaminated"].any() and not plugin_rows["random_weights"].any()
        pre_rows = table[table["method"] == pre]
        assert pre_rows["contaminated"].all() and pre_rows["random_weights"].all()
        md = (work / "results" / "report" / "table4.md").read_text()
        assert f"{pre} (random weights, not a result)" in md and f"{pre} on tiny_spleen (MSD)" in md
    finally:
        pip("uninstall", "--quiet", "--yes", dist)
