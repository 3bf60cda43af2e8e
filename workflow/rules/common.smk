import json
import os
import re
import shlex
import sys

from snakemake.utils import validate

from gdgp.config_compat import (
    coerce_command_line_seeds,
    compared_protocols,
    explicit_seed_keys,
    training_seeds,
)
from gdgp.experiment_plan import (
    LEARNED_PARAMETERS as GDGP_LEARNED_PARAMETERS,
    tables_for,
)
from gdgp.tuning_plan import EXTERNALLY_TRAINED, method_learning_rate

from gdgp.parse_cache import (
    checked_method_facts,
    checked_method_settings,
    checked_tuning_plan,
)
from gdgp.code_deps import job_code, method_modules
from gdgp.job_params import job_params
from gdgp.run_datasets import run_dataset_names

# `--config "train={seeds: [0, 1, 2]}"` arrives as strings; which seed keys the user wrote
# is read before validate() fills in train.seeds' default.
coerce_command_line_seeds(config)
_SEED_KEYS_GIVEN = explicit_seed_keys(config)
validate(config, schema="../schemas/config.schema.yaml")
# The schema checks only the method names; each method's Settings dataclass
# (gdgp/methods/<module>.py) checks its settings and gives their defaults, so a bad key or
# value stops here, before any job, and methods.<name> holds every setting from now on.
# Checked once per config and code version (that imports torch; gdgp/parse_cache.py).
config["methods"] = checked_method_settings(config["methods"])

if "table_round" in config["report"]:
    print(
        "gdgp config: report.table_round is deprecated and ignored; methods are compared "
        f"at total-click budgets (report.budgets = {config['report']['budgets']})",
        file=sys.stderr,
    )

DATA_DIR = config["data_dir"].rstrip("/")
# The datasets this run benchmarks (run_datasets; default: every configured one,
# gdgp/run_datasets.py). The experiments and the tuning sweep may name any configured dataset.
DATASETS = run_dataset_names(config)
# resolved once: the report template lists these names
config["run_datasets"] = DATASETS
CONFIGURED_DATASETS = list(config["datasets"])
METHODS = list(config["methods"])
# The paper's GDGP experiments: variants of gdgp trained on EXPERIMENT_DATASETS only.
EXPERIMENT_DATASETS = list(config["experiments"]["datasets"])
VARIANTS = list(config["experiments"]["variants"]) if EXPERIMENT_DATASETS else []
# Training seeds of every method and variant (train.seeds; the deprecated train.seed and
# experiments.extra_seeds still count, with a warning: gdgp/config_compat.py).
SEEDS, _seed_warnings = training_seeds(config, _SEED_KEYS_GIVEN)
for _warning in _seed_warnings:
    print(f"gdgp config: {_warning}", file=sys.stderr)
# The first seed's loss curves and overlays illustrate the report.
FIRST_SEED = SEEDS[0]
# Datasets with validation slices (n_val > 0): every model is evaluated on them too.
VAL_DATASETS = [d for d in DATASETS if config["datasets"][d]["n_val"] > 0]
# Click protocols of the sensitivity comparison ([] = none); the main runs use evaluate.protocol.
PROTOCOL = config["evaluate"]["protocol"]
COMPARED_PROTOCOLS = compared_protocols(PROTOCOL, config["evaluate"]["protocols"])
OTHER_PROTOCOLS = [p for p in COMPARED_PROTOCOLS if p != PROTOCOL]
# Corrective rounds of the main and validation runs.
ROUNDS = config["evaluate"]["rounds"]
# The other protocols' runs only feed protocol_sensitivity.csv, read at report.budgets: round r
# has used at least r clicks (one per corrective round; an automatic round 0 has none), so
# max(budgets) corrective rounds reach every budget.
PROTOCOL_ROUNDS = min(ROUNDS, max(config["report"]["budgets"]))
# The evaluate rule serves the benchmarked methods, evaluate_variant the experiment variants
# ("(?!)" matches nothing: no variant configured).
METHOD_PATTERN = "|".join(re.escape(m) for m in METHODS)
VARIANT_PATTERN = "|".join(re.escape(v) for v in VARIANTS) or "(?!)"
if EXPERIMENT_DATASETS and "gdgp" not in config["methods"]:
    raise ValueError(
        "config: experiments.datasets is set but methods has no 'gdgp' entry; "
        "the experiment variants take methods.gdgp's settings"
    )
_unknown = sorted(set(config["train"]["method_lr"]) - set(METHODS))
if _unknown:
    raise ValueError(
        f"config: train.method_lr names {_unknown}, which are not in methods ({METHODS})"
    )
for _method in sorted(EXTERNALLY_TRAINED & set(config["train"]["method_lr"])):
    raise ValueError(
        f"config: train.method_lr.{_method} is not allowed: it trains with its own schedule"
    )
_unknown = sorted(set(EXPERIMENT_DATASETS) - set(CONFIGURED_DATASETS))
if _unknown:
    raise ValueError(
        f"config: experiments.datasets names {_unknown}, which are not in datasets ({CONFIGURED_DATASETS})"
    )
# The source each job runs, as its inputs (gdgp/code_deps.py): editing a module reruns the
# jobs that run it, and what reads their files, only. A train or evaluate job also runs its
# method's module (the class the registry names; cached like the settings).
METHOD_MODULES = method_modules(METHODS + VARIANTS)


def code(verb):
    """Source files of every `gdgp <verb>` job (extract, report, ...)."""
    return job_code(verb)


def method_code(verb):
    """Input function: source files of a `gdgp <verb>` job of the job's method (train, evaluate)."""
    return lambda wildcards: job_code(verb, METHOD_MODULES[wildcards.method])


DEMO_TASKS = (
    sorted({d["task"] for d in config["datasets"].values()})
    if config["demo"]["generate"]
    else []
)


wildcard_constraints:
    dataset="|".join(CONFIGURED_DATASETS),
    method="|".join(METHODS + VARIANTS),
    task=r"Task\d\d\d*_[A-Za-z0-9][A-Za-z0-9]*",
    seed=r"\d+",
    protocol="|".join(OTHER_PROTOCOLS) if OTHER_PROTOCOLS else "(?!)",


def dataset_cfg(wildcards):
    return config["datasets"][wildcards.dataset]


def task_dir(wildcards):
    return f"{DATA_DIR}/{dataset_cfg(wildcards)['task']}"


def method_lr(wildcards):
    """train.method_lr's value for the method (a variant: gdgp's), else train.lr."""
    method = wildcards.method
    return method_learning_rate(
        config, method if method in config["methods"] else "gdgp"
    )


def method_sets(wildcards):
    """The method's hyperparameters as repeated --set key=value options (YAML values).

    A GDGP variant takes gdgp's settings; the variant's own setting wins inside gdgp.
    """
    hparams = config["methods"].get(wildcards.method)
    if hparams is None:
        hparams = config["methods"]["gdgp"]
    return " ".join(
        f"--set {shlex.quote(f'{key}={json.dumps(value)}')}"
        for key, value in sorted(hparams.items())
    )


def slices(dataset):
    return {
        "slices": f"results/slices/{dataset}/slices.npz",
        "manifest": f"results/slices/{dataset}/manifest.csv",
    }


def skipped_cases(dataset):
    """Cases the extraction left out (preprocess.on_bad_case: skip); the report lists them."""
    return f"results/slices/{dataset}/skipped.csv"


def model(dataset, method, seed):
    base = f"results/models/{dataset}/{method}/seed{seed}"
    return {"checkpoint": f"{base}/final.pt", "loss": f"{base}/loss.csv"}


def run(dataset, method, seed, root="results/runs"):
    """One evaluation's files: the test runs (root results/runs), the validation runs
    (results/val) or a protocol-sensitivity run (results/protocols/<protocol>)."""
    base = f"{root}/{dataset}/{method}/seed{seed}"
    return {
        "clicks": f"{base}/clicks.csv",
        "first_interaction": f"{base}/first_interaction.csv",
        "overlays": f"{base}/overlays.npz",
    }


def extra_runs():
    """(output-key prefix, split, protocol, rounds, paths) of each run a benchmarked method's evaluate
    job adds to its test run: the validation run (when any dataset has validation slices) and
    the test run under each other compared protocol; paths(dataset, method, seed) -> files.
    """
    runs = [("val_", "val", PROTOCOL, ROUNDS, val_run)] if VAL_DATASETS else []
    return runs + [
        (
            f"{p}_",
            "test",
            p,
            PROTOCOL_ROUNDS,
            lambda d, m, k, p=p: protocol_run(p, d, m, k),
        )
        for p in OTHER_PROTOCOLS
    ]


def model_runs(dataset, method, seed):
    """Every run of a benchmarked method's model, all written by its one evaluate job: the
    test run under evaluate.protocol (keys clicks, first_interaction, overlays) and each of
    extra_runs() under its prefix (val_clicks, <protocol>_clicks, ...)."""
    out = run(dataset, method, seed)
    for prefix, _, _, _, paths in extra_runs():
        out |= {
            prefix + key: path for key, path in paths(dataset, method, seed).items()
        }
    return out


def also_runs(wildcards, output):
    """gdgp evaluate's --also SPLIT PROTOCOL ROUNDS CLICKS FIRST_INTERACTION OVERLAYS, once for
    each extra run among the job's outputs (experiment variants: none)."""
    keys = set(output.keys())
    return " ".join(
        f"--also {split} {protocol} {rounds} "
        + " ".join(
            output[prefix + key] for key in ("clicks", "first_interaction", "overlays")
        )
        for prefix, split, protocol, rounds, _ in extra_runs()
        if f"{prefix}clicks" in keys
    )


def val_run(dataset, method, seed):
    return run(dataset, method, seed, root="results/val")


def protocol_run(protocol, dataset, method, seed):
    return run(dataset, method, seed, root=f"results/protocols/{protocol}")


def seeds_of(method):
    """Training seeds of a method: every seed, but only the first for a pretrained method,
    which is loaded, not trained, so each further seed would repeat the same runs (and count
    them again in the statistics). METHOD_FACTS is defined below, before any rule asks.
    """
    facts = METHOD_FACTS.get(method, {})
    return [FIRST_SEED] if facts.get("pretrained") else SEEDS


def trained():
    """(dataset, method, seed) of every model: the methods on every dataset, then the
    experiment variants on the experiment datasets, each with its training seeds."""
    pairs = [(d, m) for d in DATASETS for m in METHODS]
    pairs += [(d, v) for d in EXPERIMENT_DATASETS for v in VARIANTS]
    return [(d, m, k) for d, m in pairs for k in seeds_of(m)]


def main_models():
    """(dataset, method, seed) of the configured methods (no experiment variants)."""
    return [(d, m, k) for d in DATASETS for m in METHODS for k in seeds_of(m)]


def all_runs(key):
    """Test runs of the configured methods, every dataset and seed (the main report's inputs)."""
    return [run(d, m, k)[key] for d, m, k in main_models()]


def first_seed_runs(key):
    """The first seed's test runs (the report's overlay figures)."""
    return [run(d, m, FIRST_SEED)[key] for d in DATASETS for m in METHODS]


def first_seed_losses():
    """The first seed's loss curves of the configured methods (the report's loss figure)."""
    return [model(d, m, FIRST_SEED)["loss"] for d in DATASETS for m in METHODS]


def val_runs(key):
    """Validation runs of the configured methods on the datasets with validation slices
    (settings are chosen for them; the experiment variants take gdgp's)."""
    return [val_run(d, m, k)[key] for d, m, k in main_models() if d in VAL_DATASETS]


def protocol_runs(protocol, key):
    """Test runs of the configured methods under one compared protocol: the main runs for
    evaluate.protocol itself, results/protocols/<protocol>/... for the others. The
    experiment variants are left out: the comparison ranks the benchmarked methods."""
    if protocol == PROTOCOL:
        return [run(d, m, k)[key] for d, m, k in main_models()]
    return [protocol_run(protocol, d, m, k)[key] for d, m, k in main_models()]


def protocol_clicks_args():
    """--clicks <protocol> <files...> once per compared protocol (gdgp report-protocols)."""
    return " ".join(
        f"--clicks {p} " + " ".join(protocol_runs(p, "clicks"))
        for p in COMPARED_PROTOCOLS
    )


def every_run(key):
    """Test runs of every model, and the configured methods' validation runs and runs
    under the other compared protocols (target of evaluate_all)."""
    return (
        [run(d, m, k)[key] for d, m, k in trained()]
        + val_runs(key)
        + [f for p in OTHER_PROTOCOLS for f in protocol_runs(p, key)]
    )


def every_model(key):
    """Every model: methods and experiment variants, every seed (target of train_all)."""
    return [model(d, m, k)[key] for d, m, k in trained()]


def table2_models():
    """(dataset, seed) of the gdgp models in Table 2: every dataset and seed (averaged per
    dataset by gdgp experiment table2)."""
    return [(d, k) for d in DATASETS for k in SEEDS]


def experiment_runs(key, variants):
    """gdgp and the given variants on the experiment datasets, every training seed."""
    return [
        run(d, m, k)[key]
        for d in EXPERIMENT_DATASETS
        for m in ["gdgp", *variants]
        for k in SEEDS
    ]


def experiment_outputs():
    """Files of the paper's GDGP experiments (empty when gdgp is not configured)."""
    if "gdgp" not in config["methods"]:
        return []
    names = ["table2.csv", "table2.md", "fig2_loss.png"]
    for table in tables_for(VARIANTS):
        names += [f"{table}.csv", f"{table}.md"]
    return [f"results/experiments/{n}" for n in names]


# Table 4's caveats (docs/pretrained.md): the collections each dataset comes from
# (datasets.<name>.source), those the pretrained methods were trained on (their classes'
# trained_on; cached like the settings) and the methods run with random weights.
METHOD_FACTS = checked_method_facts(METHODS)


def dataset_sources(dataset):
    """datasets.<name>.source as a list ("" = unknown: none)."""
    source = config["datasets"][dataset]["source"] or []
    return [source] if isinstance(source, str) else list(source)


def report_caveats():
    """gdgp report's --sources, --trained-on and --random-weights: Table 4's contamination and
    random-weights marks."""
    sources = [
        f"{d}={','.join(dataset_sources(d))}" for d in DATASETS if dataset_sources(d)
    ]
    trained = [
        f"{m}={','.join(facts['trained_on'])}"
        for m, facts in METHOD_FACTS.items()
        if facts["trained_on"]
    ]
    random = [
        m
        for m in METHODS
        if METHOD_FACTS[m]["pretrained"] and config["methods"][m].get("random_weights")
    ]
    options = [
        ("--sources", sources),
        ("--trained-on", trained),
        ("--random-weights", random),
    ]
    return " ".join(
        f"{flag} {' '.join(shlex.quote(v) for v in values)}"
        for flag, values in options
        if values
    )


def report_tables(out_dir, names):
    """{key: path} of report tables; the key drops ".csv" and turns the other "." into "_"
    (table4.csv -> table4, table4.md -> table4_md): the report rules' output names."""
    return {
        name.removesuffix(".csv").replace(".", "_"): f"{out_dir}/{name}"
        for name in names
    }


REPORT_TABLES = report_tables(
    "results/report",
    (
        "table4.csv",
        "table4.md",
        "table4.tex",
        "noc.csv",
        "noc.md",
        "significance.csv",
        "empty_predictions.csv",
        "skipped.csv",
    ),
)
# The validation report (tables only): for choosing settings, never for the paper tables.
VAL_REPORT_TABLES = report_tables(
    "results/report/val",
    ("table4.csv", "table4.md", "noc.csv", "noc.md", "significance.csv"),
)
PROTOCOL_SENSITIVITY = "results/report/protocol_sensitivity.csv"


def report_figures():
    return {
        "curves": [f"results/report/dice_per_click_{d}.png" for d in DATASETS],
        "overlays": [f"results/report/overlays_{d}.png" for d in DATASETS],
        "loss": "results/report/loss_curves.png",
    }


def report_outputs():
    """Everything the report stage writes: the main report, the validation report (datasets
    with n_val > 0) and the protocol comparison (two or more evaluate.protocols)."""
    figures = report_figures()
    return [
        *REPORT_TABLES.values(),
        *figures["curves"],
        *figures["overlays"],
        figures["loss"],
        "results/metrics.json",
        "results/dice_per_click.csv",
        *(VAL_REPORT_TABLES.values() if VAL_DATASETS else []),
        *([PROTOCOL_SENSITIVITY] if COMPARED_PROTOCOLS else []),
    ]


def demo_data_outputs():
    """Every configured dataset's demo task folder, those of datasets left out of run_datasets
    too: the generated data/ then always matches data.dvc."""
    return [f"{DATA_DIR}/{task}" for task in DEMO_TASKS]


def get_final_output():
    return [*report_outputs(), *experiment_outputs(), *demo_data_outputs()]


# The tuning sweep (rules/tuning.smk, target tune_all): the checked plan of config `tuning`
# (gdgp/tuning_plan.py names every setting <key>=<value>) and its paths.
from gdgp.tuning_plan import (
    SETTING_PATTERN,
    cli_value,
    configured_value,
    hyperparameters,
    learning_rate,
    setting_label,
)

TUNING = checked_tuning_plan(
    config, os.path.join(workflow.basedir, "schemas", "config.schema.yaml")
)
# Methods in the order of `methods` (the report's row order).
TUNED_METHODS = [m for m in METHODS if m in TUNING.grids] if TUNING.active else []
TUNING_REPORT = {
    "csv": "results/report/val/tuning.csv",
    "md": "results/report/val/tuning.md",
}


def tuning_model(dataset, method, setting, seed):
    base = f"results/tuning/models/{dataset}/{method}/{setting}/seed{seed}"
    return {"checkpoint": f"{base}/final.pt", "loss": f"{base}/loss.csv"}


def tuning_run(dataset, method, setting, seed):
    base = f"results/tuning/val/{dataset}/{method}/{setting}/seed{seed}"
    return {
        "clicks": f"{base}/clicks.csv",
        "first_interaction": f"{base}/first_interaction.csv",
        "overlays": f"{base}/overlays.npz",
    }


def tuning_grid(wildcards):
    """The grid of the job's method; its setting must be one of the grid's."""
    grid = TUNING.grids.get(wildcards.method) if TUNING.active else None
    if grid is None or wildcards.setting not in grid.settings:
        raise ValueError(
            f"{wildcards.method}/{wildcards.setting} is not a setting of the tuning sweep "
            f"(tuning.grids: { {m: list(g.settings) for m, g in TUNING.grids.items()} })"
        )
    return grid


def tuning_sets(wildcards):
    """--set options of a tuning model: methods.<method> with the grid's key replaced."""
    hparams = hyperparameters(config, tuning_grid(wildcards), wildcards.setting)
    return " ".join(
        f"--set {shlex.quote(f'{key}={cli_value(value)}')}"
        for key, value in sorted(hparams.items())
    )


def tuning_lr(wildcards):
    """--lr of a tuning model: the method's learning rate, or the grid's value when the grid tunes lr."""
    return learning_rate(config, tuning_grid(wildcards), wildcards.setting)


def tuning_jobs():
    """(dataset, method, setting) of the sweep: tuned methods, values in grid order."""
    return [
        (d, m, s)
        for m in TUNED_METHODS
        for s in TUNING.grids[m].settings
        for d in TUNING.datasets
    ]


def tuning_runs(key):
    """Every validation run of the sweep (each method's seeds)."""
    return [
        tuning_run(d, m, s, k)[key] for d, m, s in tuning_jobs() for k in seeds_of(m)
    ]


def tuning_clicks_args():
    """--clicks <method> <setting> <files...> once per setting (gdgp report-tuning)."""
    return " ".join(
        f"--clicks {m} {s} "
        + " ".join(
            tuning_run(d, m, s, k)["clicks"]
            for d in TUNING.datasets
            for k in seeds_of(m)
        )
        for m in TUNED_METHODS
        for s in TUNING.grids[m].settings
    )


def tuning_configured_args():
    """--configured <method> <key>=<value now in the config>, once per tuned method."""
    return " ".join(
        f"--configured {m} "
        + setting_label(TUNING.grids[m].key, configured_value(config, TUNING.grids[m]))
        for m in TUNED_METHODS
    )


def require_tuning():
    """An empty sweep stops a tuning target with a message instead of doing nothing."""
    if not TUNING.active:
        raise ValueError(
            "config: no tuning sweep configured (tuning.datasets and tuning.grids are empty); "
            "config/config.yaml ends with a commented example"
        )


def tuning_inputs(wildcards):
    """The sweep's validation clicks.csv files (input of tuning_report)."""
    require_tuning()
    return tuning_runs("clicks")


def tuning_outputs(wildcards):
    """The tuning report (target of tune_all)."""
    require_tuning()
    return list(TUNING_REPORT.values())
