"""The workflow's parse-time check cache: same answer as the check, reused only for the same input and code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdgp import parse_cache as cache
from gdgp.errors import ConfigError
from gdgp.methods import method_settings

METHODS = {"dextr": {"crop_size": 64, "crop_margin": 4}, "click_unet": None, "gdgp": {"hyper_lr_scale": 50.0}}


def test_a_miss_checks_and_a_hit_returns_the_same_settings_in_the_configs_order(tmp_path: Path) -> None:
    first = cache.checked_method_settings(METHODS, tmp_path)
    assert list(first) == list(METHODS)  # the tables' order is the config's
    assert first == {name: method_settings(name, hp) for name, hp in METHODS.items()}
    assert first["dextr"]["crop_size"] == 64 and first["gdgp"]["hyper_lr_scale"] == 50.0
    (stored,) = tmp_path.glob("*.json")
    # a hit reads the file: prove it by planting a marker in it
    planted = json.loads(stored.read_text())
    planted["dextr"]["crop_size"] = 32
    stored.write_text(json.dumps(planted))
    assert cache.checked_method_settings(METHODS, tmp_path)["dextr"]["crop_size"] == 32


def test_other_settings_order_or_code_miss_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.checked_method_settings(METHODS, tmp_path)
    cache.checked_method_settings({**METHODS, "dextr": {"crop_size": 32}}, tmp_path)
    cache.checked_method_settings(dict(reversed(list(METHODS.items()))), tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 3
    code = tmp_path / "a.py"
    code.write_text("x = 1\n")
    monkeypatch.setattr(cache, "_code_files", lambda: [code])
    key = cache._cache_key("methods", METHODS)
    code.write_text("x = 2\n")
    assert cache._cache_key("methods", METHODS) != key


def test_a_bad_setting_raises_every_time_and_is_never_stored(tmp_path: Path) -> None:
    for _ in range(2):
        with pytest.raises(ConfigError, match="method 'dextr'.*sigma"):
            cache.checked_method_settings({"dextr": {"sigma": 0.0}}, tmp_path)
    assert not list(tmp_path.glob("*.json"))


def test_an_unwritable_cache_folder_only_costs_the_check(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cache.checked_method_settings(METHODS, blocker / "cache") == {
        name: method_settings(name, hp) for name, hp in METHODS.items()
    }


def test_the_environment_names_the_shared_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "shared"))
    cache.checked_method_settings(METHODS)
    assert len(list((tmp_path / "shared").glob("methods-*.json"))) == 1


def test_the_tuning_plan_is_the_checked_one_and_a_bad_grid_fails_every_time(tmp_path: Path) -> None:
    import copy

    import yaml

    from gdgp.tuning_plan import check_tuning

    schema = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"
    config = yaml.safe_load((schema.parent.parent.parent / "config" / "config.yaml").read_text())
    config["methods"] = cache.checked_method_settings(config["methods"], tmp_path / "m")
    config["datasets"]["demo_spleen"]["n_val"] = config["datasets"]["demo_spleen"].get("n_val", 1) or 1
    config["tuning"] = {
        "datasets": ["demo_spleen"],
        "grids": {"dextr": {"sigma": [5.0, 10.0]}, "tis": {"lr": [1e-3, 3e-3]}},
    }
    expected = check_tuning(config, schema)
    for _ in range(2):  # a miss, then a hit
        assert cache.checked_tuning_plan(config, schema, tmp_path) == expected
    bad = copy.deepcopy(config)
    bad["tuning"]["grids"]["dextr"] = {"sigma": [0.0, 10.0]}
    for _ in range(2):
        with pytest.raises(ValueError, match="methods.dextr.sigma"):
            cache.checked_tuning_plan(bad, schema, tmp_path)
    assert len(list(tmp_path.glob("tuning-*.json"))) == 1
