"""The gdgp CLI: each verb end to end on tiny data, bad input -> exit 1 with a message naming the
culprit; every default of a workflow setting, on the command line and in the stage settings, is the
config schema's."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gdgp.cli import build_parser, main
from gdgp.data.extract import ExtractConfig
from gdgp.errors import ConfigError
from gdgp.evaluation.evaluate import EvalConfig
from gdgp.schema_defaults import schema_default
from gdgp.training.trainer import TrainConfig


def run(argv: list[str]) -> int:
    return main([str(a) for a in argv])


def test_extract_train_evaluate_chain(msd_task: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert (
        run(
            [
                "extract",
                "--task-dir",
                msd_task,
                "--labels",
                1,
                2,
                "--window",
                -100,
                200,
                "--size",
                16,
                "--n-train",
                8,
                "--n-test",
                4,
                "--out-slices",
                out / "s.npz",
                "--out-manifest",
                out / "m.csv",
            ]
        )
        == 0
    )
    assert (
        run(
            [
                "train",
                "--slices",
                out / "s.npz",
                "--manifest",
                out / "m.csv",
                "--method",
                "click_unet",
                "--set",
                "channels=[4, 8]",
                "--set",
                "max_train_rounds=1",
                "--epochs",
                2,
                "--batch-size",
                4,
                "--device",
                "cpu",
                "--out-checkpoint",
                out / "final.pt",
                "--out-loss",
                out / "loss.csv",
            ]
        )
        == 0
    )
    loss = pd.read_csv(out / "loss.csv")
    assert list(loss["epoch"]) == [1, 2] and np.isfinite(loss["loss"]).all()
    assert (
        run(
            [
                "evaluate",
                "--slices",
                out / "s.npz",
                "--manifest",
                out / "m.csv",
                "--checkpoint",
                out / "final.pt",
                "--dataset",
                "tiny",
                "--rounds",
                3,
                "--overlay-slices",
                2,
                "--out-clicks",
                out / "clicks.csv",
                "--out-first-interaction",
                out / "first.csv",
                "--out-overlays",
                out / "ov.npz",
            ]
        )
        == 0
    )
    clicks = pd.read_csv(out / "clicks.csv")
    assert len(clicks) == 4 * 4  # 4 test slices x rounds 0..3
    assert set(clicks["round"]) == {0, 1, 2, 3}
    assert (clicks.groupby("slice_id")["n_clicks"].first() == 1).all()
    # click_unet's first interaction is one positive click on the target's deepest pixel
    first_clicks = pd.read_csv(out / "first.csv")
    assert sorted(first_clicks["slice_id"]) == sorted(clicks["slice_id"].unique())
    assert first_clicks["positive"].all() and (first_clicks["index"] == 0).all()
    assert clicks["dice"].between(0, 1).all() and (clicks["assd_mm"] >= 0).all()
    assert clicks["nsd"].between(0, 1).all() and (clicks["nsd"][clicks["dice"] == 1] == 1).all()
    ov = np.load(out / "ov.npz")
    assert ov["pred"].shape == (2, 4, 16, 16) and list(ov["rounds"]) == [0, 1, 2, 3]
    first = clicks[clicks["slice_id"] == clicks["slice_id"].min()].sort_values("round")
    np.testing.assert_allclose(
        first["dice"],
        [
            2 * (p & g).sum() / (p.sum() + g.sum())  # overlays = scored masks
            for p, g in ((pr.astype(bool), ov["gt"][0].astype(bool)) for pr in ov["pred"][0])
        ],
    )
    assert (ov["click_round"][ov["click_slice"] == 0] == np.arange((ov["click_slice"] == 0).sum())).all()


def test_unknown_method_is_a_clear_error(msd_task: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r"
    run(
        [
            "extract",
            "--task-dir",
            msd_task,
            "--labels",
            1,
            "--window",
            -100,
            200,
            "--size",
            16,
            "--n-train",
            8,
            "--n-test",
            4,
            "--out-slices",
            out / "s.npz",
            "--out-manifest",
            out / "m.csv",
        ]
    )
    code = run(
        [
            "train",
            "--slices",
            out / "s.npz",
            "--manifest",
            out / "m.csv",
            "--method",
            "magic",
            "--out-checkpoint",
            out / "final.pt",
            "--out-loss",
            out / "loss.csv",
        ]
    )
    assert code == 1
    assert "unknown method 'magic'; known methods: auto_unet, " in capsys.readouterr().err
    assert not (out / "final.pt").exists()


def test_missing_task_folder_exits_1_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = run(
        [
            "extract",
            "--task-dir",
            tmp_path / "Task05_Missing",
            "--labels",
            1,
            "--window",
            0,
            1,
            "--n-train",
            1,
            "--n-test",
            1,
            "--out-slices",
            tmp_path / "s.npz",
            "--out-manifest",
            tmp_path / "m.csv",
        ]
    )
    assert code == 1
    assert "Task05_Missing" in capsys.readouterr().err
    assert not (tmp_path / "s.npz").exists() and not (tmp_path / "m.csv").exists()


def test_bad_set_option(msd_task: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = run(
        [
            "train",
            "--slices",
            "x.npz",
            "--manifest",
            "x.csv",
            "--method",
            "auto_unet",
            "--set",
            "oops",
            "--out-checkpoint",
            tmp_path / "f.pt",
            "--out-loss",
            tmp_path / "l.csv",
        ]
    )
    assert code == 1 and "key=value" in capsys.readouterr().err


def test_evaluate_also_runs_equal_separate_runs_and_bad_runs_write_nothing(
    msd_task: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """One process evaluating test + val + another protocol writes what three processes write."""
    out = tmp_path / "r"
    assert (
        run(
            [
                "extract",
                "--task-dir",
                msd_task,
                "--labels",
                1,
                2,
                "--window",
                -100,
                200,
                "--size",
                16,
                "--n-train",
                4,
                "--n-val",
                4,
                "--n-test",
                4,
                "--out-slices",
                out / "s.npz",
                "--out-manifest",
                out / "m.csv",
            ]
        )
        == 0
    )
    assert (
        run(
            [
                "train",
                "--slices",
                out / "s.npz",
                "--manifest",
                out / "m.csv",
                "--method",
                "click_unet",
                "--set",
                "channels=[4, 8]",
                "--set",
                "max_train_rounds=1",
                "--epochs",
                1,
                "--batch-size",
                4,
                "--device",
                "cpu",
                "--out-checkpoint",
                out / "final.pt",
                "--out-loss",
                out / "loss.csv",
            ]
        )
        == 0
    )
    common = [
        "evaluate",
        "--slices",
        out / "s.npz",
        "--manifest",
        out / "m.csv",
        "--checkpoint",
        out / "final.pt",
        "--dataset",
        "tiny",
        "--rounds",
        2,
        "--overlay-slices",
        1,
        "--device",
        "cpu",
    ]

    def files(name: str) -> list[Path]:
        return [out / name / "clicks.csv", out / name / "first.csv", out / name / "ov.npz"]

    def separate(name: str, split: str, protocol: str) -> None:
        clicks, first, overlays = files(name)
        assert (
            run(
                [
                    *common,
                    "--split",
                    split,
                    "--protocol",
                    protocol,
                    "--out-clicks",
                    clicks,
                    "--out-first-interaction",
                    first,
                    "--out-overlays",
                    overlays,
                ]
            )
            == 0
        )

    separate("test", "test", "ritm")
    separate("val", "val", "ritm")
    separate("wr", "test", "weighted_random")
    clicks, first, overlays = files("one")
    assert (
        run(
            [
                *common,
                "--out-clicks",
                clicks,
                "--out-first-interaction",
                first,
                "--out-overlays",
                overlays,
                "--also",
                "val",
                "ritm",
                2,
                *files("one_val"),
                "--also",
                "test",
                "weighted_random",
                2,
                *files("one_wr"),
                "--also",
                "test",
                "weighted_random",
                1,
                *files("one_wr1"),
            ]
        )
        == 0
    )
    for alone, together in (("test", "one"), ("val", "one_val"), ("wr", "one_wr")):
        for a, b in zip(files(alone)[:2], files(together)[:2], strict=True):
            pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))
        with np.load(files(alone)[2]) as a, np.load(files(together)[2]) as b:
            assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)
    val, test = pd.read_csv(files("one_val")[0]), pd.read_csv(files("one")[0])
    assert len(val) and not set(val["slice_id"]) & set(test["slice_id"])
    assert not pd.read_csv(files("one_wr")[0])["dice"].equals(test["dice"])  # another click rule, other clicks
    # a run with fewer rounds is the same run cut short
    wr, wr1 = pd.read_csv(files("one_wr")[0]), pd.read_csv(files("one_wr1")[0])
    assert wr1["round"].max() == 1 and wr["round"].max() == 2
    pd.testing.assert_frame_equal(wr1, wr[wr["round"] <= 1].reset_index(drop=True))
    # a bad --also (unknown protocol; a file used twice) is refused before anything is written
    capsys.readouterr()
    assert (
        run(
            [
                *common,
                *[
                    arg
                    for pair in zip(
                        ("--out-clicks", "--out-first-interaction", "--out-overlays"), files("bad"), strict=True
                    )
                    for arg in pair
                ],
                "--also",
                "val",
                "magic",
                2,
                *files("bad_val"),
            ]
        )
        == 1
    )
    assert "protocol 'magic' is not one of" in capsys.readouterr().err
    assert (
        run(
            [
                *common,
                "--out-clicks",
                out / "bad" / "c.csv",
                "--out-first-interaction",
                out / "bad" / "f.csv",
                "--out-overlays",
                out / "bad" / "o.npz",
                "--also",
                "val",
                "ritm",
                "-1",
                *files("bad_val"),
            ]
        )
        == 1
    )
    assert "--also run 1: ROUNDS must be a whole number >= 0, got '-1'" in capsys.readouterr().err
    assert (
        run(
            [
                *common,
                "--out-clicks",
                out / "bad" / "c.csv",
                "--out-first-interaction",
                out / "bad" / "f.csv",
                "--out-overlays",
                out / "bad" / "o.npz",
                "--also",
                "val",
                "ritm",
                2,
                out / "bad" / "c.csv",
                out / "bad" / "f2.csv",
                out / "bad" / "o2.npz",
            ]
        )
        == 1
    )
    assert "is given twice" in capsys.readouterr().err
    assert not (out / "bad").exists()


def test_runs_cut_at_the_largest_budget_give_the_same_budget_table(msd_task: Path, tmp_path: Path) -> None:
    """The workflow stops the other protocols' runs after max(budgets) corrective rounds: for an
    automatic round 0 (InterCNN: 0 clicks) and a one-click start (click_unet) the budget table
    from the cut run equals the one from the full run, and no run ends below a budget."""
    from gdgp.report.budgets import budget_table

    out, budgets = tmp_path / "r", [1, 2, 3]
    assert (
        run(
            [
                "extract",
                "--task-dir",
                msd_task,
                "--labels",
                1,
                2,
                "--window",
                -100,
                200,
                "--size",
                16,
                "--n-train",
                4,
                "--n-test",
                4,
                "--out-slices",
                out / "s.npz",
                "--out-manifest",
                out / "m.csv",
            ]
        )
        == 0
    )
    for method, sets in (
        ("intercnn", ["channels=[4, 8]", "train_rounds=1"]),
        ("click_unet", ["channels=[4, 8]", "max_train_rounds=1"]),
    ):
        assert (
            run(
                [
                    "train",
                    "--slices",
                    out / "s.npz",
                    "--manifest",
                    out / "m.csv",
                    "--method",
                    method,
                    *[arg for s in sets for arg in ("--set", s)],
                    "--epochs",
                    1,
                    "--batch-size",
                    4,
                    "--device",
                    "cpu",
                    "--out-checkpoint",
                    out / method / "final.pt",
                    "--out-loss",
                    out / method / "loss.csv",
                ]
            )
            == 0
        )
        full, cut = out / method / "full", out / method / "cut"
        assert (
            run(
                [
                    "evaluate",
                    "--slices",
                    out / "s.npz",
                    "--manifest",
                    out / "m.csv",
                    "--checkpoint",
                    out / method / "final.pt",
                    "--dataset",
                    "tiny",
                    "--rounds",
                    6,
                    "--protocol",
                    "weighted_random",
                    "--device",
                    "cpu",
                    "--out-clicks",
                    full / "c.csv",
                    "--out-first-interaction",
                    full / "f.csv",
                    "--out-overlays",
                    full / "o.npz",
                    "--also",
                    "test",
                    "weighted_random",
                    max(budgets),
                    cut / "c.csv",
                    cut / "f.csv",
                    cut / "o.npz",
                ]
            )
            == 0
        )
        tables = [budget_table(pd.read_csv(d / "c.csv").assign(seed=0), budgets) for d in (full, cut)]
        assert (tables[1]["n_run_ended"] == 0).all(), method
        pd.testing.assert_frame_equal(tables[0], tables[1])


# --- defaults: the config schema's, and nowhere else ----------------------------------------------

#: (verb, option dest) -> the workflow setting it is. Written out here, not read from the CLI, so
#: that an option losing its schema default fails as well as one whose default differs.
CLI_SETTINGS = {
    ("demo", "seed"): "demo.seed",
    ("demo", "patients"): "demo.patients",
    ("extract", "channel"): "datasets.*.channel",
    ("extract", "n_val"): "datasets.*.n_val",
    ("extract", "size"): "preprocess.size",
    ("extract", "denoise"): "preprocess.denoise",
    ("extract", "min_pixels"): "preprocess.min_pixels",
    ("extract", "on_bad_case"): "preprocess.on_bad_case",
    ("extract", "split"): "split.mode",
    ("extract", "seed"): "split.seed",
    **{
        ("train", k): f"train.{k}"
        for k in ("epochs", "batch_size", "lr", "lr_step", "lr_gamma", "rotate_deg", "scale", "flip_prob", "device")
    },
    ("train", "seed"): "train.seeds",
    **{
        ("evaluate", k): f"evaluate.{k}"
        for k in ("rounds", "noise_px", "seed", "protocol", "threshold", "nsd_tolerance_mm", "overlay_slices")
    },
    ("evaluate", "device"): "train.device",
    ("report", "noc"): "report.noc",
    ("report", "reference_method"): "report.reference_method",
}
#: Options with a default of their own that are no workflow setting (process and report options).
NOT_SETTINGS = {
    ("train", "threads"),
    ("evaluate", "threads"),
    ("extract", "dataset"),
    ("evaluate", "split"),
    ("report", "split_name"),
    *((v, k) for v in ("report", "table3", "table5", "table6") for k in ("n_boot", "boot_seed", "default_seed")),
    ("report-tuning", "default_seed"),
}


def _verb_parsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every verb's parser by name (experiment's sub-verbs by theirs: table3, fig2, ...)."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = sub
                out.update(_verb_parsers(sub))
    return out


def _schema_value(key: str) -> object:
    return schema_default(key)[0] if key == "train.seeds" else schema_default(key)  # --seed: one of the seeds


def test_every_cli_setting_defaults_to_the_schema() -> None:
    """An option that is a workflow setting defaults to the schema's default (or is required); any
    other option with a default of its own is listed as no setting. A literal default added to a
    setting later, or a new option with one, fails here."""
    found = {}
    for verb, sub in _verb_parsers(build_parser()).items():
        for action in sub._actions:
            key = CLI_SETTINGS.get((verb, action.dest))
            if key is not None:
                found[verb, action.dest] = key
                assert action.required or action.default == _schema_value(key), (verb, action.option_strings, key)
            elif not action.required and action.default not in (None, False, [], argparse.SUPPRESS):
                assert (verb, action.dest) in NOT_SETTINGS, (
                    f"gdgp {verb} {action.option_strings}: a default "
                    f"({action.default!r}) that is no schema default; map it to its config key"
                )
    assert found == CLI_SETTINGS, f"options gone: {CLI_SETTINGS.keys() - found.keys()}"


def test_stage_settings_default_to_the_schema() -> None:
    """The stage dataclasses: a field with a config key has the schema's default under the key's
    name (split/seed of extract: split.mode/split.seed); n_train and n_test, which the schema
    requires, have none."""
    expect = {
        ExtractConfig: {
            "n_val": "datasets.*.n_val",
            "channel": "datasets.*.channel",
            "size": "preprocess.size",
            "denoise": "preprocess.denoise",
            "min_pixels": "preprocess.min_pixels",
            "on_bad_case": "preprocess.on_bad_case",
            "split": "split.mode",
            "seed": "split.seed",
        },
        TrainConfig: {f.name: f"train.{f.name}" for f in dataclasses.fields(TrainConfig)} | {"seed": "train.seeds"},
        EvalConfig: {f.name: f"evaluate.{f.name}" for f in dataclasses.fields(EvalConfig) if f.name != "batch_size"},
    }
    own = {(ExtractConfig, "dataset"), (EvalConfig, "batch_size")}  # no config key
    for cls, keys in expect.items():
        for f in dataclasses.fields(cls):
            if f.name in keys:
                assert f.default == _schema_value(keys[f.name]), (cls.__name__, f.name)
            else:
                assert (cls, f.name) in own or f.default is dataclasses.MISSING, (cls.__name__, f.name)
    required = {f.name for f in dataclasses.fields(ExtractConfig) if f.default is dataclasses.MISSING}
    assert required == {"labels", "window", "n_train", "n_test"}


def test_schema_default_names_a_bad_key() -> None:
    assert schema_default("datasets.*.n_val") == 0 and schema_default("report.noc") is not schema_default("report.noc")
    with pytest.raises(KeyError, match="'train.epoch' is not a key"):
        schema_default("train.epoch")
    with pytest.raises(KeyError, match="'train.seed' has no default"):
        schema_default("train.seed")


def test_train_by_hand_trains_as_the_workflow(msd_task: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`gdgp train` without --epochs/--lr trains as the workflow does without train.epochs/lr in
    its config: the schema's 300 epochs at 1e-4."""
    import gdgp.training.trainer as trainer

    out, seen = tmp_path / "r", {}
    monkeypatch.setattr(trainer, "train_method", lambda *args: seen.setdefault("cfg", args[5]))
    assert (
        run(
            [
                "extract",
                "--task-dir",
                msd_task,
                "--labels",
                1,
                "--window",
                -100,
                200,
                "--size",
                16,
                "--n-train",
                4,
                "--n-test",
                4,
                "--out-slices",
                out / "s.npz",
                "--out-manifest",
                out / "m.csv",
            ]
        )
        == 0
    )
    assert (
        run(
            [
                "train",
                "--slices",
                out / "s.npz",
                "--manifest",
                out / "m.csv",
                "--method",
                "click_unet",
                "--device",
                "cpu",
                "--out-checkpoint",
                out / "final.pt",
                "--out-loss",
                out / "loss.csv",
            ]
        )
        == 0
    )
    cfg = seen["cfg"]
    assert cfg == TrainConfig() and cfg.epochs == schema_default("train.epochs") == 300
    assert cfg.lr == schema_default("train.lr") == 1e-4


# --- --params: the workflow's one JSON object of settings per job ------------------------------

JOB_PATHS = {
    "extract": ["--task-dir", "t", "--labels", "1", "--window", "none", "--n-train", "4", "--n-test", "2"]
    + ["--out-slices", "s.npz", "--out-manifest", "m.csv"],
    "train": ["--slices", "s.npz", "--manifest", "m.csv", "--method", "dextr"]
    + ["--out-checkpoint", "c.pt", "--out-loss", "l.csv"],
    "evaluate": ["--slices", "s.npz", "--manifest", "m.csv", "--checkpoint", "c.pt", "--dataset", "d"]
    + ["--out-clicks", "c.csv", "--out-first-interaction", "f.csv", "--out-overlays", "o.npz"],
}


def _parse_with_params(argv: list[str]) -> argparse.Namespace:
    from gdgp.cli import _apply_params

    parser = build_parser()
    args = parser.parse_args(argv)
    return _apply_params(parser, args, argv) if args.params is not None else args


def test_job_settings_name_exactly_the_verbs_setting_options() -> None:
    from gdgp.cli import _CONFIG_KEY
    from gdgp.job_params import JOB_SETTINGS

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for verb, keys in JOB_SETTINGS.items():
        options = {_CONFIG_KEY[a] for a in subparsers.choices[verb]._actions if a in _CONFIG_KEY}
        assert options == set(keys), verb


def test_params_parse_to_the_same_arguments_as_the_flags() -> None:
    from gdgp.job_params import job_params

    config = {
        "datasets": {"d": {"n_val": 3, "channel": 1}},
        "preprocess": {"size": 32, "denoise": 0.5, "min_pixels": 7, "on_bad_case": "skip"},
        "split": {"mode": "slice", "seed": 4},
        "train": {"epochs": 3, "batch_size": 2, "lr": 0.01, "lr_step": 5, "lr_gamma": 0.3, "rotate_deg": 5.0}
        | {"scale": 0.2, "flip_prob": 0.25, "device": "cpu", "seeds": [0, 1]},
        "evaluate": {"rounds": 6, "noise_px": 1.5, "seed": 2, "protocol": "weighted_random", "threshold": 0.4}
        | {"nsd_tolerance_mm": 1.0, "overlay_slices": 2},
    }
    flags = {
        "extract": ["--channel", "1", "--n-val", "3", "--size", "32", "--denoise", "0.5", "--min-pixels", "7"]
        + ["--on-bad-case", "skip", "--split", "slice", "--seed", "4"],
        "train": ["--epochs", "3", "--batch-size", "2", "--lr", "0.01", "--lr-step", "5", "--lr-gamma", "0.3"]
        + ["--rotate-deg", "5", "--scale", "0.2", "--flip-prob", "0.25", "--device", "cpu"],
        "evaluate": ["--rounds", "6", "--noise-px", "1.5", "--seed", "2", "--protocol", "weighted_random"]
        + ["--threshold", "0.4", "--nsd-tolerance-mm", "1.0", "--overlay-slices", "2", "--device", "cpu"],
    }
    for verb, paths in JOB_PATHS.items():
        by_flags = vars(_parse_with_params([verb, *paths, *flags[verb]]))
        params = job_params(config, verb, dataset="d")
        by_params = vars(_parse_with_params([verb, *paths, "--params", params]))
        by_params.pop("params")
        by_flags.pop("params")
        defaults = vars(_parse_with_params([verb, *paths]))
        assert by_params == by_flags, verb
        assert by_params != {k: v for k, v in defaults.items() if k != "params"}, verb  # the values arrived


def test_a_flag_wins_over_params_and_bad_params_are_named() -> None:
    train = ["train", *JOB_PATHS["train"]]
    args = _parse_with_params([*train, "--params", '{"train.epochs": 9, "train.lr": 0.5}', "--epochs", "2"])
    assert (args.epochs, args.lr) == (2, 0.5)
    with pytest.raises(ConfigError, match=r"reads no setting 'train\.seeds'"):
        _parse_with_params([*train, "--params", '{"train.seeds": [0]}'])
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        _parse_with_params([*train, "--params", '{"train.epochs": "many"}'])
    with pytest.raises(ConfigError, match="not a JSON object"):
        _parse_with_params([*train, "--params", "[1, 2]"])
    with pytest.raises(ConfigError, match=r"evaluate\.protocol must be one of"):
        _parse_with_params(["evaluate", *JOB_PATHS["evaluate"], "--params", '{"evaluate.protocol": "magic"}'])
    assert main([*train, "--params", "{oops"]) == 1  # the CLI reports it as an error, no traceback
