"""The ``gdgp`` command line: one verb per pipeline step, each a thin wrapper of one API call.

Snakemake rules call these verbs; tests call the same API functions directly. An option that is
a workflow setting (``--epochs`` is ``train.epochs``) defaults to the config schema's default
(:func:`_setting`), so a verb run by hand does what the workflow does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gdgp import __version__
from gdgp.clicks.protocols import PROTOCOLS
from gdgp.errors import ConfigError, GdgpError
from gdgp.job_params import JOB_SETTINGS
from gdgp.schema_defaults import schema_default

if TYPE_CHECKING:
    from gdgp.evaluation.evaluate import EvalRun

#: Manifest splits a run can evaluate.
SPLITS = ("test", "val", "train")

log = logging.getLogger("gdgp")


def _parse_sets(items: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    """``key=value`` pairs, values parsed as YAML (numbers, lists, booleans)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects key=value, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def _start_torch(threads: int) -> None:
    """Set torch's CPU threads and import MONAI lean, before a train or evaluate job imports the methods."""
    import torch

    from gdgp.monai_import import import_monai_without_unused_extras

    torch.set_num_threads(max(1, threads))
    import_monai_without_unused_extras()


def cmd_demo(a: argparse.Namespace) -> None:
    from gdgp.data.demo import make_demo

    for path in make_demo(Path(a.out), seed=a.seed, n_patients=a.patients, tasks=a.task or None):
        log.info("wrote %s", path)


def cmd_extract(a: argparse.Namespace) -> None:
    from gdgp.data.extract import ExtractConfig, parse_labels, parse_window, run_extract

    cfg = ExtractConfig(
        labels=parse_labels(a.labels),
        window=parse_window(a.window),
        size=a.size,
        n_train=a.n_train,
        n_test=a.n_test,
        n_val=a.n_val,
        split=a.split,
        seed=a.seed,
        denoise=a.denoise,
        min_pixels=a.min_pixels,
        on_bad_case=a.on_bad_case,
        channel=a.channel,
        dataset=a.dataset,
    )
    slices = run_extract(a.task_dir, cfg, a.out_slices, a.out_manifest, a.out_skipped)
    counts = slices.manifest["split"].value_counts().to_dict()
    log.info(
        "%s: %d train / %d val / %d test slices",
        a.task_dir,
        counts.get("train", 0),
        counts.get("val", 0),
        counts.get("test", 0),
    )
    if len(slices.skipped):
        log.warning(
            "%s: %d case(s) skipped (unreadable, or without the target): %s",
            a.task_dir,
            len(slices.skipped),
            ", ".join(slices.skipped["case"]),
        )


def cmd_train(a: argparse.Namespace) -> None:
    _start_torch(a.threads)
    from gdgp.data.slice_set import load_slices
    from gdgp.device import resolve_device
    from gdgp.methods import get_method_class
    from gdgp.training.trainer import TrainConfig, train_method

    get_method_class(a.method)
    hparams = _parse_sets(a.set)
    cfg = TrainConfig(
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        lr_step=a.lr_step,
        lr_gamma=a.lr_gamma,
        rotate_deg=a.rotate_deg,
        scale=a.scale,
        flip_prob=a.flip_prob,
        seed=a.seed,
    )
    train_set = load_slices(a.slices, a.manifest).subset("train")
    device = resolve_device(a.device)
    log.info("training %s on %d slices, device %s", a.method, len(train_set.images), device)
    train_method(a.method, hparams, train_set, a.out_checkpoint, a.out_loss, cfg, device)


def cmd_methods(a: argparse.Namespace) -> None:
    from tabulate import tabulate

    from gdgp.methods.catalogue import catalogue

    infos = catalogue()
    if a.json:
        print(json.dumps([dataclasses.asdict(i) for i in infos], indent=2))
        return
    show_needs = any(i.needs for i in infos)  # a method whose packages are missing: how to install them
    rows = [
        (
            i.name,
            f"{i.kind} ({i.package})",
            "interactive" if i.interactive else "automatic",
            i.first_interaction,
            "pretrained" if i.pretrained else "trainable",
            ", ".join(i.trained_on) or "–",
            *([i.needs or "–"] if show_needs else []),
        )
        for i in infos
    ]
    headers = ["method", "from", "use", "first interaction", "weights", "trained on"]
    if show_needs:
        headers.append("needs")
    print(tabulate(rows, headers=headers, disable_numparse=True))


def cmd_evaluate(a: argparse.Namespace) -> None:
    _start_torch(a.threads)
    from gdgp.data.slice_set import load_slices
    from gdgp.device import resolve_device
    from gdgp.evaluation.evaluate import EvalConfig, EvalRun, evaluate_method, save_evaluation
    from gdgp.training.checkpoint import load_method

    runs = [EvalRun(a.split, a.protocol, a.rounds, a.out_clicks, a.out_first_interaction, a.out_overlays)]
    runs += [
        EvalRun(split, protocol, _also_rounds(rounds, i + 1), *files)
        for i, (split, protocol, rounds, *files) in enumerate(a.also)
    ]
    _check_runs(runs)
    base = EvalConfig(
        rounds=a.rounds,
        noise_px=a.noise_px,
        seed=a.seed,
        threshold=a.threshold,
        overlay_slices=a.overlay_slices,
        protocol=a.protocol,
        nsd_tolerance_mm=a.nsd_tolerance_mm,
    )
    method = load_method(a.checkpoint, resolve_device(a.device))
    all_slices = load_slices(a.slices, a.manifest)
    for run in runs:  # one process, one checkpoint load, every run of the model
        cfg = dataclasses.replace(base, protocol=run.protocol, rounds=run.rounds)
        eval_set = all_slices.subset(run.split)
        if not len(eval_set.images):
            log.warning(
                "%s has no %s slices: writing header-only tables and an overlays file with no slices",
                a.manifest,
                run.split,
            )
        result = evaluate_method(method, eval_set, a.dataset, cfg)
        save_evaluation(result, run.clicks, run.first_interaction, run.overlays)
        records = result.records
        last = records[records["round"] == records["round"].max()]
        log.info(
            "%s/%s on %d %s slices (protocol %s): Dice round 0 %.3f, round %d %.3f",
            a.dataset,
            method.name,
            len(eval_set.images),
            run.split,
            cfg.protocol,
            records[records["round"] == 0]["dice"].mean(),
            cfg.rounds,
            last["dice"].mean(),
        )


def _also_rounds(value: str, i: int) -> int:
    """The ROUNDS of the i-th --also run: a whole number >= 0, or a clear error naming the run."""
    try:
        rounds = int(value)
    except ValueError:
        rounds = -1
    if rounds < 0:
        raise ValueError(f"--also run {i}: ROUNDS must be a whole number >= 0, got {value!r}")
    return rounds


def _check_runs(runs: list[EvalRun]) -> None:
    """Refuse, before any work, an --also run with an unknown split or protocol or a reused output path."""
    seen: dict[str, int] = {}
    for i, run in enumerate(runs):
        if run.split not in SPLITS:
            raise ValueError(f"--also run {i}: split {run.split!r} is not one of {list(SPLITS)}")
        if run.protocol not in PROTOCOLS:
            raise ValueError(f"--also run {i}: protocol {run.protocol!r} is not one of {sorted(PROTOCOLS)}")
        for path in (run.clicks, run.first_interaction, run.overlays):
            if path in seen:
                raise ValueError(
                    f"output {path} is given twice (runs {seen[path]} and {i}): each run needs its own files"
                )
            seen[path] = i


def _warn_table_round(a: argparse.Namespace) -> None:
    if a.table_round is not None:
        log.warning(
            "--table-round/--round %d is deprecated and ignored: methods are compared at total-click "
            "budgets (--budgets/--budget), not at a corrective round",
            a.table_round,
        )


def cmd_report(a: argparse.Namespace) -> None:
    from gdgp.report import build_report
    from gdgp.report.build import write_dvc_files
    from gdgp.report.caveats import Caveats, parse_name_lists

    _warn_table_round(a)
    caveats = Caveats(
        dataset_sources=parse_name_lists(a.sources, "--sources"),
        trained_on=parse_name_lists(a.trained_on, "--trained-on"),
        random_weights=frozenset(a.random_weights),
    )
    metrics = build_report(
        [Path(p) for p in a.clicks],
        [Path(p) for p in a.losses],
        [Path(p) for p in a.overlays],
        Path(a.out_dir),
        budgets=a.budgets,
        noc_budget=a.noc_budget,
        noc_thresholds=tuple(a.noc),
        reference_method=a.reference_method,
        method_order=a.order,
        skipped_csvs=[Path(p) for p in a.skipped],
        n_boot=a.n_boot,
        seed=a.boot_seed,
        default_seed=a.default_seed,
        skip_empty=a.skip_empty,
        with_figures=not a.no_figures,
        split=a.split_name,
        caveats=caveats,
    )
    write_dvc_files(Path(a.out_dir), Path(a.metrics) if a.metrics else None, Path(a.curves) if a.curves else None)
    log.info("report written to %s", a.out_dir)
    print(json.dumps(metrics, indent=2, sort_keys=True))


def cmd_report_protocols(a: argparse.Namespace) -> None:
    from gdgp.report.protocols import write_protocol_sensitivity

    groups: dict[str, list[Path]] = {}
    for protocol, *files in a.clicks:
        if not files:
            raise ValueError(f"--clicks {protocol}: give the protocol's clicks.csv files after its name")
        if protocol in groups:
            raise ValueError(f"--clicks {protocol} is given twice; list all its files after one --clicks")
        groups[protocol] = [Path(f) for f in files]
    table = write_protocol_sensitivity(
        groups, a.budgets, Path(a.out_csv), method_order=a.order, skip_empty=a.skip_empty
    )
    log.info("protocol sensitivity: %d rows -> %s", len(table), a.out_csv)


def cmd_report_tuning(a: argparse.Namespace) -> None:
    from gdgp.report.tuning import write_tuning_report

    groups = []
    for method, *rest in a.clicks:
        if len(rest) < 2:
            raise ValueError(f"--clicks {method}: give KEY=VALUE and then the setting's clicks.csv files")
        groups.append((method, rest[0], rest[1:]))
    write_tuning_report(
        groups,
        a.budget,
        Path(a.out_csv),
        Path(a.out_md),
        configured=a.configured or [],
        method_order=a.order,
        skip_empty=a.skip_empty,
        default_seed=a.default_seed,
    )


def cmd_dvc_yaml(a: argparse.Namespace) -> None:
    from gdgp.atomic import write_text_atomic
    from gdgp.dvc_stages import DEFAULT_CONFIG, dvc_yaml

    config = a.config or DEFAULT_CONFIG
    text = dvc_yaml(config)
    if a.out is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(a.out, text)
        log.info("wrote %s for %s", a.out, config)


def cmd_experiment(a: argparse.Namespace) -> None:
    from gdgp.report import experiments as ex
    from gdgp.report.build import save_figure

    if a.what == "table2":
        df = ex.write_table2(
            [Path(p) for p in a.losses],
            a.datasets,
            _parse_sets(a.initial, "--initial"),
            Path(a.out_csv),
            Path(a.out_md),
        )
        log.info("table2: %d rows -> %s", len(df), a.out_csv)
    elif a.what == "fig2":
        save_figure(ex.plot_gdgp_loss([Path(p) for p in a.losses], a.datasets), Path(a.out_png))
        log.info("fig2 -> %s", a.out_png)
    else:
        _warn_table_round(a)
        df = ex.write_variant_table(
            [Path(p) for p in a.clicks],
            a.what,
            a.budget,
            Path(a.out_csv),
            Path(a.out_md),
            n_boot=a.n_boot,
            seed=a.boot_seed,
            default_seed=a.default_seed,
        )
        log.info("%s: %d rows -> %s", a.what, len(df), a.out_csv)


def _setting(
    parser: argparse.ArgumentParser, *flags: str, key: str, help: str, seed_of: bool = False, **kwargs: Any
) -> argparse.Action:
    """An option that is the workflow setting ``key``: its default is the config schema's, the one
    source of every setting's default (``seed_of``: the first of the list ``key`` holds), and its
    help says so. tests/test_cli.py checks every setting option against the schema."""
    default = schema_default(key)
    default = default[0] if seed_of else default
    where = f"the first of {key}" if seed_of else key
    action = parser.add_argument(*flags, default=default, help=f"{help} (default: %(default)s, {where})", **kwargs)
    if not seed_of:  # a list's one value (the training seed) is per job, never part of --params
        _CONFIG_KEY[action] = key
    return action


#: The workflow setting each setting option stands for (what ``--params`` keys name).
_CONFIG_KEY: dict[argparse.Action, str] = {}


def _add_params_option(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--params",
        metavar="JSON",
        default=None,
        help=f'the settings as one JSON object of config keys, e.g. {{"{JOB_SETTINGS[verb][-1]}": ...}} '
        "(what the workflow passes; a flag given as well wins; docs/operations.md)",
    )


def _convert(action: argparse.Action, key: str, value: Any) -> Any:
    """A --params value as the option would have parsed it (its type, nargs and choices)."""
    if value is None:
        return None
    many = action.nargs in ("+", "*") or isinstance(action.nargs, int)
    items = value if many else [value]
    if many and not isinstance(value, list):
        raise ConfigError(f"--params: {key} must be a list, got {value!r}")
    if not many and isinstance(value, (list, dict)):
        raise ConfigError(f"--params: {key} must be a single value, got {value!r}")
    try:
        converted = [action.type(v) if callable(action.type) else v for v in items]
    except (TypeError, ValueError, argparse.ArgumentTypeError) as err:
        raise ConfigError(f"--params: {key}: {err}") from None
    if action.choices is not None and any(v not in action.choices for v in converted):
        raise ConfigError(f"--params: {key} must be one of {', '.join(map(str, action.choices))}, got {value!r}")
    return converted if many else converted[0]


def _apply_params(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse again with the --params values as the verb's defaults, so explicit flags still win."""
    try:
        values = json.loads(args.params)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--params: not a JSON object ({err})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--params: not a JSON object, got {type(values).__name__}")
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    verb_parser = subparsers.choices[args.verb]
    by_key = {_CONFIG_KEY[a]: a for a in verb_parser._actions if a in _CONFIG_KEY}
    defaults = {}
    for key, value in values.items():
        action = by_key.get(key)
        if action is None:
            raise ConfigError(
                f"--params: gdgp {args.verb} reads no setting {key!r}; it reads {', '.join(sorted(by_key))}"
            )
        defaults[action.dest] = _convert(action, key, value)
    verb_parser.set_defaults(**defaults)
    return parser.parse_args(argv)


def _statistics_options() -> argparse.ArgumentParser:
    """Options shared by the verbs that compare methods (report, experiment table3/5/6)."""
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--table-round",
        "--round",
        dest="table_round",
        type=int,
        default=None,
        help="deprecated and ignored (methods are compared at total-click budgets); "
        "accepted so that old command lines still run, with a warning",
    )
    shared.add_argument("--n-boot", type=int, default=10000, help="bootstrap resamples of the patient-level CIs")
    shared.add_argument("--boot-seed", type=int, default=0, help="seed of the bootstrap resampling")
    shared.add_argument(
        "--default-seed",
        type=int,
        default=0,
        help="training seed of a clicks.csv with neither a seed column nor a seed<k> folder "
        "(older layouts; the workflow writes every run into a seed<k> folder)",
    )
    return shared


def _slice_and_device_options() -> argparse.ArgumentParser:
    """Options shared by the verbs that read slices and run a network (train, evaluate)."""
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--slices", required=True, help="slices .npz from gdgp extract")
    shared.add_argument("--manifest", required=True, help="manifest.csv from gdgp extract")
    _setting(shared, "--device", key="train.device", help="auto (CUDA if visible), cpu, cuda, cuda:N")
    shared.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return shared


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gdgp", description=__doc__.splitlines()[0])
    shared = _slice_and_device_options()
    p.add_argument("--version", action="version", version=f"gdgp {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    s = sub.add_parser("demo", help="write the synthetic demo tasks in MSD layout")
    s.add_argument("--out", required=True, help="folder that receives one TaskXX_Name folder per demo task")
    _setting(s, "--seed", key="demo.seed", type=int, help="generator seed (same seed -> same bytes)")
    _setting(s, "--patients", key="demo.patients", type=int, help="patients (volumes) per task (3 slices each)")
    s.add_argument("--task", action="append", help="only this demo task (repeatable); default: all")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser(
        "methods",
        help="list every method: built-in or plugin (and its package), interactive or automatic, its first "
        "interaction, trainable or pretrained (and the public datasets it was trained on)",
    )
    s.add_argument("--json", action="store_true", help="one JSON object per method instead of the table")
    s.set_defaults(func=cmd_methods)

    s = sub.add_parser("extract", help="valid axial slices of one target: preprocess, split, save")
    s.add_argument(
        "--task-dir",
        required=True,
        help="MSD task folder (TaskXX_Name) or nnU-Net v2 raw dataset folder (DatasetXXX_Name)",
    )
    s.add_argument(
        "--labels",
        nargs="+",
        required=True,
        help="label value(s) or name(s) (from dataset.json) forming the target, e.g. 2 or tumour",
    )
    s.add_argument(
        "--window",
        nargs="+",
        required=True,
        metavar="LOWER UPPER | none",
        help="CT window in HU, or none: per-volume 0.5-99.5 percentile normalisation (non-CT data)",
    )
    _setting(
        s,
        "--channel",
        key="datasets.*.channel",
        type=int,
        help="channel index of a multi-channel dataset (nnU-Net: the _000K file; MSD: the 4th dimension)",
    )
    s.add_argument("--dataset", default="", help="the dataset's config name (for messages)")
    _setting(s, "--size", key="preprocess.size", type=int, help="slices are resized to SIZE x SIZE pixels")
    s.add_argument("--n-train", type=int, required=True, help="training slices wanted")
    s.add_argument("--n-test", type=int, required=True, help="test slices wanted")
    _setting(
        s,
        "--n-val",
        key="datasets.*.n_val",
        type=int,
        help="validation slices wanted, from patients in neither other set (0 = none)",
    )
    _setting(
        s,
        "--split",
        key="split.mode",
        choices=["patient", "slice"],
        help="patient: no patient in both sets; slice: random slices (paper)",
    )
    _setting(s, "--seed", key="split.seed", type=int, help="split seed")
    _setting(
        s,
        "--denoise",
        key="preprocess.denoise",
        type=float,
        help="non-local-means h as a multiple of noise sigma; 0 = off",
    )
    _setting(
        s,
        "--min-pixels",
        key="preprocess.min_pixels",
        type=int,
        help="a valid slice has at least this many target pixels",
    )
    s.add_argument("--out-slices", required=True, help="output .npz of images and labels")
    s.add_argument("--out-manifest", required=True, help="output manifest.csv (one row per slice)")
    _setting(
        s,
        "--on-bad-case",
        key="preprocess.on_bad_case",
        choices=["error", "skip"],
        help="an unreadable case (corrupt file, shape/affine mismatch) or one without the target: "
        "stop naming it, or skip it and list it",
    )
    s.add_argument(
        "--out-skipped", default=None, help="output skipped.csv (the skipped cases and why; header only if none)"
    )
    _add_params_option(s, "extract")
    s.set_defaults(func=cmd_extract)

    s = sub.add_parser(
        "train", parents=[shared], help="train one method on the training slices (resumes from latest.pt)"
    )
    s.add_argument("--method", required=True, help="registered method name")
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method hyperparameter (YAML value), repeatable; the keys, their defaults and help are "
        "the method's Settings dataclass (gdgp/methods/<module>.py)",
    )
    _setting(s, "--epochs", key="train.epochs", type=int, help="training epochs")
    _setting(s, "--batch-size", key="train.batch_size", type=int, help="slices per batch")
    _setting(s, "--lr", key="train.lr", type=float, help="Adam learning rate")
    _setting(s, "--lr-step", key="train.lr_step", type=int, help="epochs between learning-rate decays")
    _setting(s, "--lr-gamma", key="train.lr_gamma", type=float, help="learning-rate decay factor")
    _setting(s, "--rotate-deg", key="train.rotate_deg", type=float, help="max augmentation rotation, degrees")
    _setting(s, "--scale", key="train.scale", type=float, help="augmentation zoom range 1 +- SCALE")
    _setting(s, "--flip-prob", key="train.flip_prob", type=float, help="horizontal flip probability")
    _setting(s, "--seed", key="train.seeds", seed_of=True, type=int, help="training seed")
    s.add_argument("--out-checkpoint", required=True, help="final checkpoint path (latest.pt is kept beside it)")
    s.add_argument("--out-loss", required=True, help="per-epoch loss CSV")
    _add_params_option(s, "train")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", parents=[shared], help="robot user + medpy scores on the test (or val) slices")
    s.add_argument("--checkpoint", required=True, help="final.pt from gdgp train")
    s.add_argument("--dataset", required=True, help="dataset name written into every record")
    _setting(s, "--rounds", key="evaluate.rounds", type=int, help="corrective click rounds after the first interaction")
    _setting(s, "--noise-px", "--noise", key="evaluate.noise_px", type=float, help="click position noise, pixels (std)")
    _setting(s, "--seed", key="evaluate.seed", type=int, help="seed of the click noise and of random protocols")
    _setting(
        s,
        "--protocol",
        key="evaluate.protocol",
        choices=sorted(PROTOCOLS),
        help="corrective-click rule of the robot user (see gdgp.clicks.protocols)",
    )
    s.add_argument(
        "--split",
        choices=SPLITS,
        default="test",
        help="manifest split to evaluate: test (the tables) or val (choosing settings); a split with "
        "no slices writes header-only CSVs and an overlays file with zero slices",
    )
    _setting(s, "--threshold", key="evaluate.threshold", type=float, help="probability threshold")
    _setting(
        s,
        "--nsd-tolerance-mm",
        "--nsd-tolerance",
        key="evaluate.nsd_tolerance_mm",
        type=float,
        help="boundary tolerance (mm) of the normalised surface Dice",
    )
    _setting(
        s,
        "--overlay-slices",
        key="evaluate.overlay_slices",
        type=int,
        help="test slices whose predictions (every round) are kept for the qualitative figure",
    )
    s.add_argument("--out-clicks", required=True, help="output clicks.csv")
    s.add_argument(
        "--out-first-interaction",
        required=True,
        help="output first_interaction.csv (every click of each slice's first interaction)",
    )
    s.add_argument("--out-overlays", required=True, help="output overlays.npz")
    s.add_argument(
        "--also",
        nargs=6,
        action="append",
        default=[],
        metavar=("SPLIT", "PROTOCOL", "ROUNDS", "CLICKS", "FIRST_INTERACTION", "OVERLAYS"),
        help="another run of the same model (repeatable): another split and/or click protocol and "
        "number of corrective rounds, written to its own three files; one process and one "
        "checkpoint load for all runs (the workflow evaluates test, validation and every "
        "compared protocol this way)",
    )
    _add_params_option(s, "evaluate")
    s.set_defaults(func=cmd_evaluate)

    statistics = _statistics_options()
    s = sub.add_parser(
        "report",
        parents=[statistics],
        help="equal-cost tables (CSV/Markdown/LaTeX), NoC, Dice-vs-clicks curves, figures, metrics.json",
    )
    s.add_argument("--clicks", nargs="+", required=True, help="clicks.csv files (in a seed<k> folder: training seed k)")
    s.add_argument("--losses", nargs="*", default=[], help="loss.csv files")
    s.add_argument("--overlays", nargs="*", default=[], help="overlays.npz files")
    s.add_argument(
        "--skipped", nargs="*", default=[], help="skipped.csv files of the extractions (listed in the report)"
    )
    s.add_argument("--out-dir", required=True, help="report folder")
    s.add_argument(
        "--split-name",
        default="test",
        help="the slices the runs scored, as the table captions name them (validation report: validation)",
    )
    s.add_argument("--metrics", default=None, help="also write the headline metrics JSON here (for DVC)")
    s.add_argument(
        "--curves",
        default=None,
        help="also write the Dice-vs-total-clicks curve here, one <dataset>/<method> column per series (DVC plots)",
    )
    s.add_argument(
        "--budgets",
        type=int,
        nargs="+",
        required=True,
        metavar="B",
        help="total-click budgets of the main table, first interaction included (a point = 1 click, a box = 2)",
    )
    s.add_argument(
        "--noc-budget",
        type=int,
        required=True,
        metavar="N",
        help="common total-click budget of NoC/NoF (a failure counts N) and of the Dice AUC",
    )
    _setting(s, "--noc", key="report.noc", type=float, nargs="+", help="Dice thresholds for NoC")
    _setting(
        s,
        "--reference-method",
        "--reference",
        key="report.reference_method",
        help="method the others are tested against (paired Wilcoxon over patients)",
    )
    s.add_argument("--order", nargs="*", default=None, help="method order in tables and legends")
    s.add_argument(
        "--skip-empty",
        action="store_true",
        help="pass over clicks.csv files with a header but no rows and overlays.npz files with no slices "
        "(evaluations of an empty split, e.g. validation runs); without it they are errors",
    )
    s.add_argument(
        "--no-figures", action="store_true", help="write the tables only, no PNG figures (the validation report)"
    )
    s.add_argument(
        "--sources",
        nargs="*",
        default=[],
        metavar="DATASET=SOURCE[,SOURCE]",
        help="the public collection(s) each dataset comes from (datasets.<name>.source): with --trained-on, "
        "marks Table 4's possibly contaminated entries (docs/pretrained.md)",
    )
    s.add_argument(
        "--trained-on",
        nargs="*",
        default=[],
        metavar="METHOD=SOURCE[,SOURCE]",
        help="the collections a pretrained method was trained on (its class's trained_on; `gdgp methods` lists them)",
    )
    s.add_argument(
        "--random-weights",
        nargs="*",
        default=[],
        metavar="METHOD",
        help="pretrained methods run with random weights (tests only): Table 4 marks them, never a result",
    )
    s.set_defaults(func=cmd_report)

    s = sub.add_parser(
        "report-protocols",
        help="protocol sensitivity: each method's budget Dice and rank under each click protocol, and Kendall's "
        "tau between the protocols' rankings (protocol_sensitivity.csv)",
        description="Compare the methods' rankings under several click protocols (the same models evaluated "
        "under each). Writes one row per (dataset, budget, method): dice_<p> (Dice at the total-click "
        "budget as in Table 4, each slice averaged over the training seeds), rank_<p> (1 = best) per "
        "protocol p, and kendall_tau_<a>__<b> (scipy.stats.kendalltau of the two rankings over the "
        "methods with a value under both; NaN with fewer than 2) per protocol pair, the same on every "
        "row of a (dataset, budget). The workflow runs it when evaluate.protocols lists two or more.",
    )
    s.add_argument(
        "--clicks",
        nargs="+",
        action="append",
        required=True,
        metavar="PROTOCOL_OR_CSV",
        help="a protocol name followed by its clicks.csv files (every dataset, method and seed; the "
        "training seed comes from the seed<k> folder); repeat once per protocol, e.g. "
        "--clicks ritm a/clicks.csv b/clicks.csv --clicks weighted_random c/clicks.csv",
    )
    s.add_argument(
        "--budgets",
        type=int,
        nargs="+",
        required=True,
        metavar="B",
        help="total-click budgets, first interaction included (report.budgets)",
    )
    s.add_argument("--out-csv", required=True, help="output protocol_sensitivity.csv")
    s.add_argument("--order", nargs="*", default=None, help="method order of the rows within a dataset and budget")
    s.add_argument(
        "--skip-empty", action="store_true", help="pass over clicks.csv files with a header but no rows (else an error)"
    )
    s.set_defaults(func=cmd_report_protocols)

    s = sub.add_parser(
        "report-tuning",
        help="the tuning sweep: each method's validation Dice per value of its tuned hyperparameter, the "
        "value chosen and the configured one (tuning.csv, tuning.md)",
        description="Per method, one hyperparameter was swept (workflow: tuning.grids); every value was trained "
        "with each training seed and evaluated on the validation slices. Writes one row per (method, "
        "value, dataset) with the validation Dice at the total-click budget (as Table 4: each slice "
        "averaged over the seeds, then the mean over slices), the per-patient mean, the slice, "
        "patient and seed counts and the mean over datasets; the chosen value has the best mean "
        "(ties: the value listed first; a value with no Dice at the budget, because its first "
        "interaction costs more, is never chosen). Warns where the configured value is not the "
        "chosen one. Copying a value into the config is left to a person.",
    )
    s.add_argument(
        "--clicks",
        nargs="+",
        action="append",
        required=True,
        metavar="METHOD_SETTING_OR_CSV",
        help="a method, its setting KEY=VALUE, then that setting's clicks.csv files (every tuning "
        "dataset and seed; the seed from the seed<k> folder); repeat per setting, a method's "
        "settings in grid order (ties go to the first), e.g. --clicks gdgp hyper_lr_scale=1.0 "
        "a/seed0/clicks.csv --clicks gdgp hyper_lr_scale=50.0 b/seed0/clicks.csv",
    )
    s.add_argument(
        "--configured",
        nargs=2,
        action="append",
        metavar=("METHOD", "KEY=VALUE"),
        help="the value the config uses now for a tuned method (repeat per method)",
    )
    s.add_argument(
        "--budget",
        type=int,
        required=True,
        metavar="B",
        help="total-click budget, first interaction included (the workflow: max(report.budgets))",
    )
    s.add_argument("--order", nargs="*", default=None, help="method order of the rows")
    s.add_argument(
        "--skip-empty",
        action="store_true",
        help="pass over clicks.csv files with a header but no rows (an empty validation split)",
    )
    s.add_argument(
        "--default-seed",
        type=int,
        default=0,
        help="training seed of a clicks.csv in no seed<k> folder and without a seed column",
    )
    s.add_argument("--out-csv", required=True, help="output tuning.csv")
    s.add_argument("--out-md", required=True, help="output tuning.md")
    s.set_defaults(func=cmd_report_tuning)

    s = sub.add_parser("experiment", help="the paper's GDGP experiment tables (2, 3, 5, 6) and Fig. 2")
    exp = s.add_subparsers(dest="what", required=True, metavar="WHAT")
    e = exp.add_parser("table2", help="initial vs learned sigma, alpha1, alpha2, tau, l per dataset")
    e.add_argument(
        "--losses",
        nargs="+",
        required=True,
        help="gdgp loss.csv, one per dataset and training seed (a dataset's seeds are averaged); "
        "the last epoch's sigma, alpha1, alpha2, tau, l are the learned values",
    )
    e.add_argument(
        "--initial",
        nargs="+",
        required=True,
        metavar="KEY=VALUE",
        help="the configured initial values (methods.gdgp): sigma=1.0 alpha1=0.5 ...",
    )
    e.add_argument("--datasets", nargs="+", required=True, help="dataset names, same order (repeated per seed)")
    e.add_argument("--out-csv", required=True)
    e.add_argument("--out-md", required=True)
    for table, title in (
        ("table3", "fixed vs learned parameters"),
        ("table5", "click encodings"),
        ("table6", "ablations"),
    ):
        e = exp.add_parser(table, parents=[statistics], help=f"{title}: gdgp vs its variants")
        e.add_argument(
            "--clicks",
            nargs="+",
            required=True,
            help="clicks.csv of gdgp and the variants; files in seed<k> folders are training-seed "
            "replicates, averaged per slice",
        )
        e.add_argument(
            "--budget",
            type=int,
            required=True,
            metavar="B",
            help="total-click budget reported, first interaction (7 clicks for gdgp) included",
        )
        e.add_argument("--out-csv", required=True)
        e.add_argument("--out-md", required=True)
    e = exp.add_parser("fig2", help="gdgp's composite training loss and its parts per epoch")
    e.add_argument(
        "--losses",
        nargs="+",
        required=True,
        help="gdgp loss.csv, one per dataset and training seed (a dataset's seeds: mean and range)",
    )
    e.add_argument("--datasets", nargs="+", required=True, help="dataset names, same order (repeated per seed)")
    e.add_argument("--out-png", required=True)
    s.set_defaults(func=cmd_experiment)

    s = sub.add_parser("dvc-yaml", help="dvc.yaml for a workflow config: stages, params, result folders, plot series")
    s.add_argument(
        "--config", default=None, help="the workflow config, relative to the repository (here); default: the demo's"
    )
    s.add_argument("--out", default=None, help="write dvc.yaml here (atomically) instead of printing it")
    s.set_defaults(func=cmd_dvc_yaml)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gdgp`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if getattr(args, "params", None) is not None:
            args = _apply_params(parser, args, argv)
        args.func(args)
    except (GdgpError, ValueError) as err:
        print(f"gdgp {args.verb}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
