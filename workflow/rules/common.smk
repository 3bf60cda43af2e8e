import json
import os
import shlex

from snakemake.utils import validate

from gdgp.experiment_plan import tables_for

validate(config, schema="../schemas/config.schema.yaml")

DATA_DIR = config["data_dir"].rstrip("/")
DATASETS = list(config["datasets"])
METHODS = list(config["methods"])
# The paper's GDGP experiments: variants of gdgp trained on EXPERIMENT_DATASETS only.
EXPERIMENT_DATASETS = list(config["experiments"]["datasets"])
VARIANTS = list(config["experiments"]["variants"]) if EXPERIMENT_DATASETS else []
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


def slices(dataset):
    return {
        "slices": f"results/slices/{dataset}/slices.npz",
        "manifest": f"results/slices/{dataset}/manifest.csv",
    }


def skipped_cases(dataset):
    """Cases the extraction left out (preprocess.on_bad_case: skip); the report lists them."""
    return f"results/slices/{dataset}/skipped.csv"


def model(dataset, method):
    return {
        "checkpoint": f"results/models/{dataset}/{method}/final.pt",
        "loss": f"results/models/{dataset}/{method}/loss.csv",
    }


def run(dataset, method):
    return {
        "clicks": f"results/runs/{dataset}/{method}/clicks.csv",
        "overlays": f"results/runs/{dataset}/{method}/overlays.npz",
    }


def all_runs(key):
    """Runs of the configured methods on every dataset (the main report's inputs)."""
    return [run(d, m)[key] for d in DATASETS for m in METHODS]


def all_models(key):
    return [model(d, m)[key] for d in DATASETS for m in METHODS]


def variant_pairs():
    return [(d, v) for d in EXPERIMENT_DATASETS for v in VARIANTS]


def every_run(key):
    """Main runs plus the experiment variants' runs (target of evaluate_all)."""
    return all_runs(key) + [run(d, v)[key] for d, v in variant_pairs()]


def every_model(key):
    """Main models plus the experiment variants' models (target of train_all)."""
    return all_models(key) + [model(d, v)[key] for d, v in variant_pairs()]


def experiment_runs(key, variants):
    """gdgp and the given variants on the experiment datasets."""
    return [run(d, m)[key] for d in EXPERIMENT_DATASETS for m in ["gdgp", *variants]]


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
