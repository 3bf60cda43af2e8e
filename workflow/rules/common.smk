import json
import os
import shlex
import sys

from snakemake.utils import validate

from gdgp.experiment_plan import tables_for

validate(config, schema="../schemas/config.schema.yaml")

if "table_round" in config["report"]:
    print(
        "gdgp config: report.table_round is deprecated and ignored; methods are compared "
        f"at total-click budgets (report.budgets = {config['report']['budgets']})",
        file=sys.stderr,
    )

DATA_DIR = config["data_dir"].rstrip("/")
DATASETS = list(config["datasets"])
METHODS = list(config["methods"])
# The paper's GDGP experiments: variants of gdgp trained on EXPERIMENT_DATASETS only.
EXPERIMENT_DATASETS = list(config["experiments"]["datasets"])
VARIANTS = list(config["experiments"]["variants"]) if EXPERIMENT_DATASETS else []
# Extra training seeds of gdgp and the variants on the experiment datasets (seed replicates).
EXTRA_SEEDS = list(config["experiments"]["extra_seeds"]) if EXPERIMENT_DATASETS else []
if config["train"]["seed"] in EXTRA_SEEDS:
    raise ValueError(
        f"config: experiments.extra_seeds {EXTRA_SEEDS} repeats train.seed "
        f"({config['train']['seed']}), whose runs are already the first replicate"
    )
if EXPERIMENT_DATASETS and "gdgp" not in config["methods"]:
    raise ValueError(
        "config: experiments.datasets is set but methods has no 'gdgp' entry; "
        "the experiment variants take methods.gdgp's settings"
    )
_unknown = sorted(set(EXPERIMENT_DATASETS) - set(DATASETS))
if _unknown:
    raise ValueError(
        f"config: experiments.datasets names {_unknown}, which are not in datasets ({DATASETS})"
    )
DEMO_TASKS = (
    sorted({d["task"] for d in config["datasets"].values()})
    if config["demo"]["generate"]
    else []
)


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHODS + VARIANTS),
    task=r"Task\d\d\d*_[A-Za-z0-9][A-Za-z0-9]*",
    seed=r"\d+",


def dataset_cfg(wildcards):
    return config["datasets"][wildcards.dataset]


def task_dir(wildcards):
    return f"{DATA_DIR}/{dataset_cfg(wildcards)['task']}"


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


def training_seed(wildcards):
    """train.seed, or the extra seed of a replicate job (its {seed} wildcard)."""
    return int(wildcards.get("seed", config["train"]["seed"]))


def slices(dataset):
    return {
        "slices": f"results/slices/{dataset}/slices.npz",
        "manifest": f"results/slices/{dataset}/manifest.csv",
    }


def skipped_cases(dataset):
    """Cases the extraction left out (preprocess.on_bad_case: skip); the report lists them."""
    return f"results/slices/{dataset}/skipped.csv"


def _replicate(seed):
    """Sub-folder of an extra training seed's model and run ('' for train.seed)."""
    return "" if seed is None else f"seed{seed}/"


def model(dataset, method, seed=None):
    sub = _replicate(seed)
    return {
        "checkpoint": f"results/models/{dataset}/{method}/{sub}final.pt",
        "loss": f"results/models/{dataset}/{method}/{sub}loss.csv",
    }


def run(dataset, method, seed=None):
    sub = _replicate(seed)
    return {
        "clicks": f"results/runs/{dataset}/{method}/{sub}clicks.csv",
        "first_interaction": f"results/runs/{dataset}/{method}/{sub}first_interaction.csv",
        "overlays": f"results/runs/{dataset}/{method}/{sub}overlays.npz",
    }


def all_runs(key):
    """Runs of the configured methods on every dataset (the main report's inputs)."""
    return [run(d, m)[key] for d in DATASETS for m in METHODS]


def all_models(key):
    return [model(d, m)[key] for d in DATASETS for m in METHODS]


def variant_pairs():
    return [(d, v) for d in EXPERIMENT_DATASETS for v in VARIANTS]


def replicate_triples():
    """(dataset, method, seed) of every extra-seed replicate (gdgp and the variants)."""
    return [
        (d, m, k)
        for d in EXPERIMENT_DATASETS
        for m in ["gdgp", *VARIANTS]
        for k in EXTRA_SEEDS
    ]


def table2_models():
    """(dataset, seed) of the gdgp models in Table 2: every dataset, plus the extra seeds
    on the experiment datasets (averaged per dataset by gdgp experiment table2)."""
    return [(d, None) for d in DATASETS] + [
        (d, k) for d in EXPERIMENT_DATASETS for k in EXTRA_SEEDS
    ]


def every_run(key):
    """Main runs, the experiment variants' runs and the seed replicates (target of evaluate_all)."""
    return (
        all_runs(key)
        + [run(d, v)[key] for d, v in variant_pairs()]
        + [run(d, m, k)[key] for d, m, k in replicate_triples()]
    )


def every_model(key):
    """Main models, the experiment variants' models and the seed replicates (train_all)."""
    return (
        all_models(key)
        + [model(d, v)[key] for d, v in variant_pairs()]
        + [model(d, m, k)[key] for d, m, k in replicate_triples()]
    )


def experiment_runs(key, variants):
    """gdgp and the given variants on the experiment datasets, every training seed."""
    return [
        run(d, m, k)[key]
        for d in EXPERIMENT_DATASETS
        for m in ["gdgp", *variants]
        for k in [None, *EXTRA_SEEDS]
    ]


def experiment_outputs():
    """Files of the paper's GDGP experiments (empty when gdgp is not configured)."""
    if "gdgp" not in config["methods"]:
        return []
    names = ["table2.csv", "table2.md", "fig2_loss.png"]
    for table in tables_for(VARIANTS):
        names += [f"{table}.csv", f"{table}.md"]
    return [f"results/experiments/{n}" for n in names]


REPORT_TABLES = [
    f"results/report/{name}"
    for name in (
        "table4.csv",
        "table4.md",
        "table4.tex",
        "noc.csv",
        "noc.md",
        "significance.csv",
        "empty_predictions.csv",
        "skipped.csv",
    )
]


def report_figures():
    return {
        "curves": [f"results/report/dice_per_click_{d}.png" for d in DATASETS],
        "overlays": [f"results/report/overlays_{d}.png" for d in DATASETS],
        "loss": "results/report/loss_curves.png",
    }


def get_final_output():
    figures = report_figures()
    return [
        *REPORT_TABLES,
        *figures["curves"],
        *figures["overlays"],
        figures["loss"],
        "results/metrics.json",
        "results/dice_per_click.csv",
        *experiment_outputs(),
    ]
